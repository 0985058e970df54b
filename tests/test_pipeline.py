"""run_scene() end to end on real scenes: exact placement, georeferencing, output layout, atomicity."""
import numpy as np
import pytest
import rasterio
import torch
from helpers import KOREA, LANDSAT, VEGAS, IdentityGenerator, crop, run_scene
from rasterio.windows import Window

from geotrans.errors import OutputError
from geotrans.model.generator import build_generator
from geotrans.run.options import RunOptions


def read_rgb(path):
    with rasterio.open(path) as ds:
        return ds.read([1, 2, 3]), ds.dataset_mask() > 0


@pytest.mark.parametrize("overlap", [0, 32, 64, 128])
def test_identity_round_trip_reproduces_a_real_scene(tmp_path, identity, overlap):
    out = tmp_path / "out.tif"
    report = run_scene(KOREA, out, identity, RunOptions(overlap=overlap, batch_size=5))
    src, _ = read_rgb(KOREA)
    dst, _ = read_rgb(out)
    assert np.abs(src.astype(int) - dst.astype(int)).max() <= 1
    assert report.tiles_run == report.tiles_total and report.tiles_skipped == 0


@pytest.mark.parametrize("window", [
    Window(13, 29, 700, 517),   # neither side a multiple of 256, wider than tall
    Window(100, 0, 300, 1000),  # tall and narrow
    Window(500, 600, 100, 37),  # smaller than one tile: padded by reflection
    Window(0, 0, 256, 256),     # exactly one tile
    Window(7, 3, 257, 513),     # one pixel past tile multiples
])
def test_identity_round_trip_on_crops_of_any_size(tmp_path, identity, window):
    src = crop(KOREA, window, tmp_path / "crop.tif")
    out = tmp_path / "out.tif"
    run_scene(src, out, identity, RunOptions(overlap=48, batch_size=3))
    a, _ = read_rgb(src)
    b, _ = read_rgb(out)
    assert a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_identity_round_trip_keeps_nodata_masked(tmp_path, identity):
    out = tmp_path / "out.tif"
    run_scene(LANDSAT, out, identity)
    src, src_valid = read_rgb(LANDSAT)
    dst, dst_valid = read_rgb(out)
    assert 0.5 < src_valid.mean() < 0.9  # the scene really has a nodata border
    np.testing.assert_array_equal(dst_valid, src_valid)
    assert np.abs(src.astype(int) - dst.astype(int))[:, src_valid].max() <= 1
    assert dst[:, ~dst_valid].max() == 0


def test_rgba_scene_in_geographic_crs(tmp_path, identity):
    out = tmp_path / "out.tif"
    run_scene(VEGAS, out, identity)
    a, _ = read_rgb(VEGAS)
    b, _ = read_rgb(out)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


@pytest.mark.parametrize("scene", [KOREA, LANDSAT, VEGAS])
def test_output_lies_on_the_input_grid(tmp_path, identity, scene):
    out = tmp_path / "out.tif"
    run_scene(scene, out, identity)
    with rasterio.open(scene) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs
        assert dst.transform == src.transform
        assert (dst.width, dst.height) == (src.width, src.height)


def test_output_is_a_tiled_compressed_rgb_geotiff_with_overviews(tmp_path, identity):
    out = tmp_path / "out.tif"
    run_scene(KOREA, out, identity)
    with rasterio.open(out) as ds:
        assert ds.count == 3 and ds.dtypes == ("uint8",) * 3
        assert ds.colorinterp == (rasterio.enums.ColorInterp.red, rasterio.enums.ColorInterp.green,
                                  rasterio.enums.ColorInterp.blue)
        assert ds.profile["tiled"] and ds.block_shapes[0] == (256, 256)
        assert ds.compression == rasterio.enums.Compression.deflate
        assert ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"
        assert ds.overviews(1) == [2, 4]
        assert ds.tags()["GEOTRANS_SOURCE"] == KOREA.name


def test_batch_composition_does_not_change_the_map(tmp_path):
    torch.manual_seed(0)
    net = build_generator(ngf=8)
    src = crop(KOREA, Window(0, 0, 600, 420), tmp_path / "crop.tif")
    run_scene(src, tmp_path / "b1.tif", net, RunOptions(batch_size=1))
    run_scene(src, tmp_path / "b5.tif", net, RunOptions(batch_size=5))
    a, _ = read_rgb(tmp_path / "b1.tif")
    b, _ = read_rgb(tmp_path / "b5.tif")
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert a.std() > 0


def test_seeded_dropout_repeats_and_differs_from_deterministic(tmp_path):
    torch.manual_seed(0)
    net = build_generator(ngf=8)
    src = crop(KOREA, Window(0, 0, 400, 300), tmp_path / "crop.tif")
    runs = {}
    for name, options in {"a": RunOptions(dropout_seed=3), "b": RunOptions(dropout_seed=3, batch_size=1),
                          "plain": RunOptions()}.items():
        run_scene(src, tmp_path / f"{name}.tif", net, options)
        runs[name] = read_rgb(tmp_path / f"{name}.tif")[0].astype(int)
    assert np.abs(runs["a"] - runs["b"]).max() <= 1
    assert np.abs(runs["a"] - runs["plain"]).mean() > 0.5


class ExplodingGenerator(IdentityGenerator):
    """Fails on its second batch, like a run that dies half way."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x, dropout_seeds=None):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("boom")
        return x.clone()


def test_failed_run_leaves_nothing_at_or_beside_the_output(tmp_path):
    out = tmp_path / "out.tif"
    with pytest.raises(RuntimeError, match="boom"):
        run_scene(KOREA, out, ExplodingGenerator(), RunOptions(batch_size=4))
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused_without_overwrite(tmp_path, identity):
    out = tmp_path / "out.tif"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="already exists") as refused:
        run_scene(KOREA, out, identity)
    assert "--overwrite" in refused.value.hint  # the CLI prints the hint after the message
    assert out.read_bytes() == b"keep me"
    run_scene(KOREA, out, identity, RunOptions(overwrite=True))
    assert read_rgb(out)[0].shape == (3, 1024, 1024)


def test_input_is_never_overwritten(tmp_path, identity):
    src = crop(KOREA, Window(0, 0, 300, 300), tmp_path / "scene.tif")
    before = src.read_bytes()
    with pytest.raises(OutputError, match="never overwrites its input"):
        run_scene(src, src, identity, RunOptions(overwrite=True))
    assert src.read_bytes() == before


def test_in_memory_path_matches_the_file_path(tmp_path):
    from geotrans.run.pipeline import translate_array
    from geotrans.run.runner import BatchRunner

    torch.manual_seed(0)
    net = build_generator(ngf=8)
    src = crop(KOREA, Window(5, 9, 600, 600), tmp_path / "crop.tif")
    run_scene(src, tmp_path / "out.tif", net)
    image, _ = read_rgb(src)
    in_memory = translate_array(image, BatchRunner(net, torch.device("cpu")))
    on_disk, _ = read_rgb(tmp_path / "out.tif")
    assert np.abs(in_memory.astype(int) - on_disk.astype(int)).max() <= 1
    identity_out = translate_array(image, BatchRunner(IdentityGenerator(), torch.device("cpu")))
    assert np.abs(identity_out.astype(int) - image.astype(int)).max() <= 1


@pytest.mark.parametrize("scene", [KOREA, LANDSAT])
def test_cog_output_validates(tmp_path, identity, scene):
    from rio_cogeo.cogeo import cog_validate

    out = tmp_path / "out.tif"
    run_scene(scene, out, identity, RunOptions(cog=True))
    is_valid, errors, _ = cog_validate(str(out), strict=True)
    assert is_valid, errors
    a, a_valid = read_rgb(scene)
    b, b_valid = read_rgb(out)
    np.testing.assert_array_equal(a_valid, b_valid)
    assert np.abs(a.astype(int) - b.astype(int))[:, a_valid].max() <= 1
    with rasterio.open(out) as ds:
        assert ds.colorinterp[:3] == (rasterio.enums.ColorInterp.red, rasterio.enums.ColorInterp.green,
                                      rasterio.enums.ColorInterp.blue)
        assert ds.overviews(1) and ds.tags()["GEOTRANS_SOURCE"] == scene.name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def test_the_library_runs_a_scene_as_geotrans_run_does(tmp_path):
    """``geotrans.run_scene`` is what `geotrans run SCENE` calls: the same map, with its preview and vectors
    (the shipped model: its card has the class colours vectors need)."""
    from helpers import run_cli

    from geotrans import run_scene

    assert run_cli("run", KOREA, "--out", tmp_path / "cli.tif", "-q").exit_code == 0
    report = run_scene(str(KOREA), str(tmp_path / "lib.tif"), RunOptions(), preview=str(tmp_path / "lib.png"),
                       vectors=str(tmp_path / "lib.gpkg"))
    assert str(report.dst) == str(tmp_path / "lib.tif") and report.tiles_run == 9
    with rasterio.open(tmp_path / "cli.tif") as a, rasterio.open(tmp_path / "lib.tif") as b:
        assert np.array_equal(a.read(), b.read()) and a.profile == b.profile
    assert (tmp_path / "lib.png").stat().st_size > 0 and (tmp_path / "lib.gpkg").stat().st_size > 0
