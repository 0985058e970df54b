"""Ground resolution: measured in metres whatever the CRS, and the model reads scenes at its own."""
import math

import numpy as np
import pytest
import rasterio
from affine import Affine
from helpers import KOREA, LANDSAT, VEGAS, run_scene, scene_box, write_aoi

from geotrans.errors import InputError
from geotrans.io.resolution import ground_resolution_m, metres_per_degree, processing_grid
from geotrans.io.scene import inspect_scene
from geotrans.model.weights import ModelInfo
from geotrans.run.options import RunOptions


def model_at(gsd):
    return ModelInfo(path="", name="identity", ngf=0, norm="none", sha256="0" * 64, card={"native_resolution_m": gsd})


def gsd_of(path):
    with rasterio.open(path) as ds:
        return ground_resolution_m(ds.crs, ds.transform, ds.width, ds.height), ds


def test_metres_per_degree_match_known_values():
    east, north = metres_per_degree(0)
    assert east == pytest.approx(111_319.5, abs=1) and north == pytest.approx(110_574.4, abs=1)
    assert metres_per_degree(60)[0] == pytest.approx(55_799.98, abs=2)


def test_geographic_scene_is_measured_in_metres_at_its_centre():
    gsd, ds = gsd_of(VEGAS)
    lat = (ds.transform * (ds.width / 2, ds.height / 2))[1]
    east, north = metres_per_degree(lat)
    assert gsd == pytest.approx(math.sqrt(2.7e-6 * east * 2.7e-6 * north), rel=1e-3)
    assert 0.26 < gsd < 0.28


def test_web_mercator_nominal_metres_are_corrected_for_latitude():
    gsd, ds = gsd_of(KOREA)
    lat = 37.6  # the Korea sample's latitude
    assert gsd == pytest.approx(ds.res[0] * math.cos(math.radians(lat)), rel=0.01)


def test_projected_metres_are_taken_as_they_are():
    gsd, ds = gsd_of(LANDSAT)
    assert gsd == pytest.approx(300, rel=0.002)


def test_grid_choice():
    t = Affine(0.5, 0, 500_000, 0, -0.5, 4_000_000)
    crs = "EPSG:32616"
    same = processing_grid(crs, t, 1000, 800, model_gsd_m=0.51)
    assert not same.resampled and (same.width, same.height) == (1000, 800)
    finer = processing_grid(crs, t, 1000, 800, model_gsd_m=1.0)
    # UTM's scale factor (0.9996 at the central meridian) makes 0.5 m nominal pixels 0.5002 m on the ground.
    assert finer.resampling.name == "average" and (finer.width, finer.height) == (501, 401)
    assert finer.transform.a == pytest.approx(0.5 * 1.0 / finer.scene_gsd_m) and finer.transform.c == t.c
    coarser = processing_grid(crs, t, 1000, 800, model_gsd_m=0.25)
    assert coarser.resampling.name == "bilinear" and coarser.width == 2001
    capped = processing_grid(crs, t, 100, 80, model_gsd_m=0.01)
    assert capped.width == 400  # upsampling capped at 4x
    overridden = processing_grid(crs, t, 1000, 800, model_gsd_m=1.0, gsd_override_m=1.0)
    assert not overridden.resampled


def test_scene_is_read_at_the_model_resolution_and_written_back_on_its_own_grid(tmp_path, identity):
    out = tmp_path / "out.tif"
    report = run_scene(KOREA, out, identity, RunOptions(), model_info=model_at(0.9))
    assert report.tiles_total == 9  # 538 x 538 px at 0.9 m, not 1024 x 1024 at 0.47 m (25 tiles)
    with rasterio.open(KOREA) as src, rasterio.open(out) as dst:
        assert (dst.crs, dst.transform, dst.shape) == (src.crs, src.transform, src.shape)
        a, b = src.read().astype(float), dst.read().astype(float)
    # Identity through a 1.9x down- and up-sampling: the same picture, a little softer.
    assert np.abs(a - b).mean() < 12
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9


def test_native_res_keeps_the_model_grid_with_a_correct_transform(tmp_path, identity):
    out = tmp_path / "out.tif"
    run_scene(KOREA, out, identity, RunOptions(native_res=True), model_info=model_at(0.9))
    with rasterio.open(KOREA) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs and dst.shape == (538, 538)
        assert dst.transform.c == src.transform.c and dst.transform.f == src.transform.f  # same origin
        src_gsd = ground_resolution_m(src.crs, src.transform, src.width, src.height)
        assert dst.transform.a == pytest.approx(src.res[0] * 0.9 / src_gsd)
        assert dst.bounds.right == pytest.approx(src.bounds.right, abs=dst.res[0])
        assert ground_resolution_m(dst.crs, dst.transform, dst.width, dst.height) == pytest.approx(0.9, rel=0.001)


def test_nodata_stays_masked_through_resampling(tmp_path, identity):
    out = tmp_path / "out.tif"
    run_scene(LANDSAT, out, identity, RunOptions(), model_info=model_at(100.0))
    with rasterio.open(LANDSAT) as src, rasterio.open(out) as dst:
        src_valid, dst_valid = src.dataset_mask() > 0, dst.dataset_mask() > 0
        pixels = dst.read()
    assert not (dst_valid & ~src_valid).any()  # masked input stays masked
    assert dst_valid[src_valid].mean() > 0.98  # valid input stays valid, but for the footprint's edge
    assert pixels[:, dst_valid].std() > 10 and pixels[:, ~dst_valid].max() == 0


@pytest.mark.parametrize("scene, gsd, aoi", [(KOREA, 0.9, (300, 200, 800, 700)), (LANDSAT, 100.0, None)],
                         ids=["korea-aoi-edge", "landsat-nodata-edge"])
def test_the_map_s_edges_are_as_true_as_its_middle_after_the_warp_back(tmp_path, identity, scene, gsd, aoi):
    """Where the map meets its mask (an AOI's edge, a nodata border), the mask is exactly the scene's own rule
    on its own grid, and a valid pixel warped back from the model's grid has the colour of the pixels inside,
    never a blend with the black outside."""
    from rasterio.features import geometry_mask
    from scipy.ndimage import binary_erosion

    area = scene_box(scene, *aoi) if aoi else None
    options = RunOptions(aoi=str(write_aoi(tmp_path / "aoi.geojson", area))) if aoi else RunOptions()
    run_scene(scene, tmp_path / "out.tif", identity, options, model_info=model_at(gsd))
    with rasterio.open(scene) as src, rasterio.open(tmp_path / "out.tif") as dst:
        a, b, valid = src.read().astype(float), dst.read().astype(float), dst.dataset_mask() > 0
        expected = src.dataset_mask() > 0
        if area is not None:
            expected &= geometry_mask([area], src.shape, src.transform, invert=True)
    assert np.array_equal(valid, expected)
    edge = valid & ~binary_erosion(valid, iterations=2)
    assert edge.sum() > 500
    darker = (a - b).mean(axis=0)  # identity: the map is the scene, a little softer
    assert np.percentile(darker[edge], 99) < 40, np.sort(darker[edge])[-20:]
    assert np.abs(darker[edge]).mean() < 3 * np.abs(darker[valid & ~edge]).mean() + 3


def test_gsd_override_decides_the_grid(tmp_path, identity):
    report = run_scene(KOREA, tmp_path / "o.tif", identity, RunOptions(gsd=0.9), model_info=model_at(0.9))
    assert report.tiles_total == 25 and report.width == 1024  # taken at its word: already at the model's resolution


def ungeoreferenced(tmp_path, gcps=False):
    with rasterio.open(KOREA) as ds:
        data = ds.read(window=rasterio.windows.Window(0, 0, 300, 200))
    path = tmp_path / ("gcps.tif" if gcps else "plain.tif")
    profile = {"driver": "GTiff", "width": 300, "height": 200, "count": 3, "dtype": "uint8"}
    with rasterio.open(path, "w", **profile) as out:
        out.write(data)
        if gcps:
            from rasterio.control import GroundControlPoint

            out.gcps = ([GroundControlPoint(0, 0, 127.0, 37.0), GroundControlPoint(200, 300, 127.01, 36.99),
                         GroundControlPoint(0, 300, 127.01, 37.0)], rasterio.crs.CRS.from_epsg(4326))
    return path


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_missing_crs_is_refused_unless_allowed(tmp_path, identity):
    src = ungeoreferenced(tmp_path)
    with pytest.raises(InputError, match="no CRS") as refused:
        run_scene(src, tmp_path / "o.tif", identity)
    assert "--allow-ungeoreferenced" in refused.value.hint
    assert not (tmp_path / "o.tif").exists()
    run_scene(src, tmp_path / "o.tif", identity, RunOptions(allow_ungeoreferenced=True), model_info=model_at(0.9))
    with rasterio.open(src) as a, rasterio.open(tmp_path / "o.tif") as b:
        assert b.crs is None and b.shape == a.shape
        assert np.abs(a.read().astype(int) - b.read().astype(int)).max() <= 1  # pixel space, no resampling


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_gcp_only_scene_is_refused_clearly(tmp_path):
    with pytest.raises(InputError, match="ground control points"):
        inspect_scene(ungeoreferenced(tmp_path, gcps=True))


def test_the_resampling_choice_reaches_the_read_and_auto_keeps_today_s(tmp_path):
    """Korea (0.47 m) is read at the shipped model's 0.9 m: averaged by default, as asked otherwise."""
    from rasterio.enums import Resampling

    from geotrans.model.weights import load_generator
    from geotrans.run.pipeline import translate
    from geotrans.run.plan import plan_run

    generator, info = load_generator()
    auto = plan_run(KOREA, RunOptions(), info)
    nearest = plan_run(KOREA, RunOptions(resampling="nearest"), info)
    assert auto.scene.grid.resampling == Resampling.average and nearest.scene.grid.resampling == Resampling.nearest
    assert auto.scene.grid.back_resampling == nearest.scene.grid.back_resampling == Resampling.bilinear
    maps = [translate(plan, tmp_path / f"{name}.tif", generator).dst
            for name, plan in (("auto", auto), ("nearest", nearest))]
    with rasterio.open(maps[0]) as a, rasterio.open(maps[1]) as b:
        assert a.shape == b.shape and not np.array_equal(a.read(), b.read())


def test_pixels_far_from_square_or_far_finer_than_the_model_are_warned(caplog):
    import logging

    from rasterio.crs import CRS

    with caplog.at_level(logging.WARNING, logger="geotrans.io.resolution"):
        # 0.00001 degree pixels at 89.9 N: 1.1 m north-south, 2 mm east-west
        processing_grid(CRS.from_epsg(4326), Affine(1e-5, 0, 10, 0, -1e-5, 89.9), 1000, 1000, 0.9)
    assert "longer one way than the other" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="geotrans.io.resolution"):
        processing_grid(CRS.from_epsg(32611), Affine(0.01, 0, 600000, 0, -0.01, 4000000), 1000, 1000, 0.9)
    assert "finer than the model" in caplog.text and "longer" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="geotrans.io.resolution"):
        processing_grid(CRS.from_epsg(32611), Affine(0.5, 0, 600000, 0, -0.5, 4000000), 1000, 1000, 0.9)
    assert caplog.text == ""
