"""Real scenes of every band layout and bit depth: bands chosen, values stretched once per scene."""
import logging

import numpy as np
import pytest
import rasterio
from helpers import ATLANTA, KOREA, LANDSAT, NAIP, ROTTERDAM, VEGAS, run_scene

from geotrans.io.bands import BandPlan
from geotrans.io.scene import inspect_scene
from geotrans.run.options import RunOptions


def test_rgb_uint8_is_used_as_is():
    plan = inspect_scene(KOREA).band_plan
    assert plan == BandPlan((1, 2, 3), None)


def test_rgba_uses_rgb_and_alpha_is_the_mask():
    scene = inspect_scene(VEGAS)
    assert scene.bands == (1, 2, 3) and scene.has_mask


def test_naip_without_colour_interpretation_takes_the_first_three_and_says_so(caplog):
    with caplog.at_level(logging.INFO, logger="geotrans"):
        assert inspect_scene(NAIP).bands == (1, 2, 3)
    assert "using bands 1, 2, 3" in caplog.text
    assert inspect_scene(NAIP, (4, 1, 2)).bands == (4, 1, 2)


def test_single_band_is_repeated_to_grey_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="geotrans"):
        scene = inspect_scene(ATLANTA)
    assert scene.bands == (1, 1, 1) and "grey" in caplog.text


def test_uint16_stretch_comes_from_scene_percentiles():
    scene = inspect_scene(ATLANTA)
    with rasterio.open(ATLANTA) as ds:
        full = ds.read(1, masked=True).compressed()
    low, high = np.percentile(full, [2, 98])
    (s_low, s_high), = set(scene.band_plan.stretch)
    assert s_low == pytest.approx(low, rel=0.02) and s_high == pytest.approx(high, rel=0.02)


def test_float_scene_with_nan_stretches_valid_pixels_and_masks_nan(tmp_path, identity):
    # Synthetic NaNs in a real float64 scene: none of the samples has NaN nodata.
    with rasterio.open(ROTTERDAM) as ds:
        data = ds.read()
        profile = ds.profile
    data[:, 50:90, 20:160] = np.nan
    data[:, 0:5, 0:5] = 1e12  # a few wild values must not set the stretch
    with rasterio.open(tmp_path / "nan.tif", "w", **profile) as out:
        out.write(data)
    scene = inspect_scene(tmp_path / "nan.tif")
    valid = np.isfinite(data).all(axis=0)
    for i, (low, high) in enumerate(scene.band_plan.stretch):
        assert np.isfinite([low, high]).all() and high < 1e11
        assert low == pytest.approx(np.percentile(data[i][valid], 2), rel=0.05)
    run_scene(tmp_path / "nan.tif", tmp_path / "out.tif", identity)
    with rasterio.open(tmp_path / "out.tif") as out:
        out_valid = out.dataset_mask() > 0
        pixels = out.read()
    np.testing.assert_array_equal(out_valid, valid)
    assert pixels[:, ~valid].max() == 0


@pytest.mark.parametrize("mode", ["own-resolution", "model-resolution", "native-res"])
@pytest.mark.parametrize("scene", [KOREA, LANDSAT, VEGAS, ATLANTA, ROTTERDAM, NAIP], ids=lambda p: p.stem)
def test_every_kind_runs_on_the_right_grid_keeps_masks_and_is_not_blank(tmp_path, identity, scene, mode):
    from test_resolution import model_at

    from geotrans.io.resolution import ground_resolution_m

    out = tmp_path / "out.tif"
    model = None if mode == "own-resolution" else model_at(0.9)
    run_scene(scene, out, identity, RunOptions(overlap=32, native_res=mode == "native-res"), model_info=model)
    with rasterio.open(scene) as src, rasterio.open(out) as dst:
        src_valid = src.dataset_mask() > 0
        pixels, valid = dst.read(), dst.dataset_mask() > 0
        assert dst.crs == src.crs
        if mode == "native-res":  # the model's grid: same origin and extent, the model's pixel size
            assert (dst.transform.c, dst.transform.f) == (src.transform.c, src.transform.f)
            assert dst.bounds.right == pytest.approx(src.bounds.right, abs=abs(dst.res[0]))
            assert dst.bounds.bottom == pytest.approx(src.bounds.bottom, abs=abs(dst.res[1]))
            expected = max(0.9, ground_resolution_m(src.crs, src.transform, src.width, src.height) / 4)  # 4x cap
            assert ground_resolution_m(dst.crs, dst.transform, dst.width, dst.height) == pytest.approx(expected, rel=0.01)
        else:  # the scene's own grid
            assert (dst.transform, dst.shape) == (src.transform, src.shape)
            assert not (valid & ~src_valid).any()  # masked input stays masked
            assert valid[src_valid].mean() > 0.98
    assert pixels[:, valid].std() > 10  # not blank where the input is valid
    assert pixels[:, ~valid].max(initial=0) == 0
    if mode == "own-resolution" and inspect_scene(scene).band_plan.stretch:  # 2-98 % stretch clips only the tails
        assert 0.01 < (pixels[:, valid] == 255).mean() < 0.1


def test_nodata_in_model_input_is_filled_from_valid_neighbours():
    from geotrans.io.scene import SceneReader
    from geotrans.io.tiler import TileGrid

    scene = inspect_scene(LANDSAT)
    with SceneReader(scene, 256) as reader, rasterio.open(LANDSAT) as ds:
        tile = next(t for t in TileGrid(scene.grid.height, scene.grid.width) if t.row == 0 and t.col == 0)
        pixels, valid = reader.read(tile)
        raw = ds.read(window=tile.window)
    assert 0.3 < valid.mean() < 0.7
    assert pixels.dtype == np.float32  # filled values lie between DNs; they are not truncated to 8 bits
    assert (pixels != np.round(pixels)).any()
    np.testing.assert_array_equal(pixels[:, valid], raw[:, valid])  # valid pixels untouched
    assert (pixels[:, ~valid] > 1.27).all()  # no black (0 DN) border left for the model to see
    # Next to the footprint edge, filled values continue the valid ones.
    edge = ~valid & np.roll(valid, 1, axis=1)
    edge[:, 0] = False  # np.roll wraps the last column round to the first
    assert np.abs(pixels[:, edge] - np.roll(pixels, 1, axis=2)[:, edge]).mean() < 12.75


def test_an_8_bit_scene_s_tiles_stay_8_bit_until_the_runner():
    """The reader hands 8-bit pixels on as they are (a quarter of the bytes to batch); the runner brings
    them into the model's range (tests/test_runner.py)."""
    from geotrans.io.scene import SceneReader
    from geotrans.io.tiler import TileGrid

    scene = inspect_scene(KOREA)
    with SceneReader(scene, 256) as reader, rasterio.open(KOREA) as ds:
        tile = next(iter(TileGrid(scene.grid.height, scene.grid.width)))
        pixels, valid = reader.read(tile)
        assert valid.all() and pixels.dtype == np.uint8
        np.testing.assert_array_equal(pixels, ds.read(window=tile.window))
