"""Footprint and area of interest: windows outside never reach the model; outside stays masked."""
import json

import numpy as np
import pytest
import rasterio
from helpers import KOREA, LANDSAT, assert_one_line_error, run_cli, run_scene, scene_box, write_aoi

from geotrans.errors import InputError
from geotrans.io.scene import inspect_scene
from geotrans.run.options import RunOptions


@pytest.mark.parametrize("crs_member", [None, "EPSG:3857"])
def test_aoi_limits_windows_and_masks_outside(tmp_path, identity, crs_member):
    aoi = write_aoi(tmp_path / "aoi.geojson", scene_box(KOREA, 100, 150, 400, 380), crs_member=crs_member)
    out = tmp_path / "out.tif"
    report = run_scene(KOREA, out, identity, RunOptions(aoi=str(aoi)))
    # Window starts 0, 192, 384, 576, 768: columns 100-400 touch 3 of them, rows 150-380 touch 2.
    assert report.tiles_total == 25 and report.tiles_run == 3 * 2 and report.tiles_skipped == 19
    with rasterio.open(KOREA) as src, rasterio.open(out) as dst:
        valid = dst.dataset_mask() > 0
        a, b = src.read().astype(int), dst.read().astype(int)
    inside = np.zeros_like(valid)
    inside[150:380, 100:400] = True
    assert (valid == inside).mean() > 0.995  # the polygon's edge pixels are the only disagreement
    assert np.abs(a - b)[:, valid].max() <= 1 and b[:, ~valid].max() == 0


def test_aoi_outside_the_scene_is_refused(tmp_path, identity):
    aoi = tmp_path / "far.geojson"
    aoi.write_text(json.dumps({"type": "Polygon", "coordinates": [[[2, 48], [3, 48], [3, 49], [2, 49], [2, 48]]]}))
    with pytest.raises(InputError, match="does not intersect"):
        run_scene(KOREA, tmp_path / "out.tif", identity, RunOptions(aoi=str(aoi)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["far.geojson"]


def test_aoi_that_is_not_geojson_is_refused(tmp_path, identity):
    bad = tmp_path / "aoi.geojson"
    bad.write_text("not json")
    with pytest.raises(InputError, match="not a readable GeoJSON"):
        run_scene(KOREA, tmp_path / "out.tif", identity, RunOptions(aoi=str(bad)))


def test_footprint_follows_the_nodata_border():
    scene = inspect_scene(LANDSAT)
    with rasterio.open(LANDSAT) as ds:
        assert scene.footprint.area / (ds.width * ds.height) == pytest.approx((ds.dataset_mask() > 0).mean(), abs=1e-3)


def test_all_nodata_scene_is_refused(tmp_path, identity):
    # Synthetic emptiness on a real scene's grid: no sample is entirely nodata.
    with rasterio.open(LANDSAT) as ds:
        profile = ds.profile
    with rasterio.open(tmp_path / "empty.tif", "w", **profile) as out:
        out.write(np.zeros((3, profile["height"], profile["width"]), np.uint8))
    with pytest.raises(InputError, match="no valid pixels"):
        run_scene(tmp_path / "empty.tif", tmp_path / "out.tif", identity)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.tif"]


def test_pixels_inside_counts_pixel_centres_also_of_a_long_sliver():
    import shapely

    from geotrans.io.footprint import pixels_inside

    assert pixels_inside(shapely.box(10.2, 10.2, 10.4, 10.4)) == 0  # between the centres
    assert pixels_inside(shapely.box(10.2, 10.2, 12.8, 12.8), limit=100) == 9
    # A strip along the top that holds no centre, and one pixel's centre 9000 rows down, past the first band.
    sliver = shapely.union(shapely.box(0, 0.6, 9000, 0.9), shapely.box(8999.2, 8999.2, 8999.8, 8999.8))
    assert pixels_inside(sliver) == 1
    assert pixels_inside(shapely.box(0, 0.6, 9000, 0.9)) == 0


def _write_layers(path, driver, layers, scene=KOREA):
    """A user's vector file: each (name, polygon in the scene's CRS) a layer, saved in WGS84 by GDAL's driver."""
    import pyogrio.raw
    import shapely
    from rasterio.warp import transform_geom
    from shapely.geometry import mapping, shape

    with rasterio.open(scene) as ds:
        crs = ds.crs
    for i, (name, polygon) in enumerate(layers):
        wgs84 = shape(transform_geom(crs, "EPSG:4326", mapping(polygon)))
        pyogrio.raw.write(str(path), np.array([shapely.to_wkb(wgs84)], dtype=object), fields=[], field_data=[],
                          crs="EPSG:4326", geometry_type="Polygon", driver=driver, layer=name, append=i > 0)
    return path


@pytest.mark.parametrize("name, driver", [("aoi.gpkg", "GPKG"), ("aoi.shp", "ESRI Shapefile"),
                                          ("aoi.fgb", "FlatGeobuf"), ("aoi.kml", "KML")])
def test_an_aoi_in_any_vector_format_limits_windows_as_its_geojson_does(tmp_path, name, driver):
    area = scene_box(KOREA, 100, 150, 400, 380)
    geojson = write_aoi(tmp_path / "aoi.geojson", area)
    other = _write_layers(tmp_path / name, driver, [("area", area)])
    wanted = inspect_scene(KOREA, aoi_path=str(geojson)).aoi
    got = inspect_scene(KOREA, aoi_path=str(other)).aoi
    assert got.symmetric_difference(wanted).area < 1e-6 * wanted.area


def test_an_aoi_layer_is_chosen_qgis_s_way_and_a_missing_one_is_one_line(tmp_path):
    small, large = scene_box(KOREA, 100, 150, 400, 380), scene_box(KOREA, 0, 0, 1000, 1000)
    path = _write_layers(tmp_path / "areas.gpkg", "GPKG", [("small", small), ("large", large)])
    first = inspect_scene(KOREA, aoi_path=str(path)).aoi
    chosen = inspect_scene(KOREA, aoi_path=f"{path}|layername=large").aoi
    assert chosen.area > 5 * first.area
    result = run_cli("info", KOREA, "--aoi", f"{path}|layername=fields")
    assert_one_line_error(result, "layername=fields", "not a readable vector file")


def test_an_aoi_that_is_neither_geojson_nor_a_vector_file_is_one_line(tmp_path):
    bad = tmp_path / "aoi.gpkg"
    bad.write_bytes(b"\x00\x01 not a GeoPackage")
    assert_one_line_error(run_cli("info", KOREA, "--aoi", bad), "aoi.gpkg", "not a readable vector file")
