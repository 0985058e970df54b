"""--compile: the generator through torch.compile gives the eager map to float rounding, builds once per
process (every batch has one shape), and is refused in one line where it cannot run."""
import numpy as np
import pytest
import rasterio
import torch
from helpers import KOREA, LANDSAT, assert_one_line_error, run_cli, run_scene

from geotrans.run.options import RunOptions
from geotrans.run.runner import padded


@pytest.fixture
def fresh_dynamo():
    """Compiled code is cached per function; a test's model is a new object, so start from an empty cache."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_padding_appends_zero_images_up_to_the_batch_size():
    images = torch.rand(3, 3, 8, 8)
    out = padded(images, 5)
    assert out.shape == (5, 3, 8, 8)
    assert torch.equal(out[:3], images) and not out[3:].any()
    assert padded(images, 3) is images


def test_a_compiled_run_of_a_real_scene_equals_the_eager_run_to_float_rounding(tmp_path, fresh_dynamo, caplog):
    """The shipped model on the Korea sample (9 windows at its resolution, in batches of 4: the last batch holds one tile and
    is padded); both compiled runs go through one build. Without the palette the maps differ by at most one
    level; with it, a pixel at a snapping threshold may snap the other way. The time-left estimate of a
    compiled run leaves out the build (its first batch)."""
    import logging

    from torch._dynamo.utils import counters

    from geotrans.model.weights import load_generator

    generator, info = load_generator()
    maps = {}
    for palette in ("off", "auto"):
        for compile in (False, True):
            options = RunOptions(device="cpu", precision="fp32", batch_size=4, palette=palette, compile=compile)
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="geotrans.run.pipeline"):
                report = run_scene(KOREA, tmp_path / f"{palette}-{compile}.tif", generator, options, info)
            assert report.tiles_run % 4 == 1  # a padded last batch is exercised
            assert ("built the compiled generator" in caplog.text) is compile
            assert f"for the {report.tiles_run - 4 if compile else report.tiles_run} windows" in caplog.text
            with rasterio.open(tmp_path / f"{palette}-{compile}.tif") as ds:
                assert json_params(ds)["compile"] is compile
                maps[palette, compile] = ds.read().astype(int), ds.dataset_mask()
    assert counters["stats"]["unique_graphs"] == 1  # the model thread's compilations (config is per thread)
    for palette in ("off", "auto"):
        (eager, eager_mask), (compiled, compiled_mask) = maps[palette, False], maps[palette, True]
        assert np.array_equal(eager_mask, compiled_mask)
        differs = np.abs(eager - compiled).max(axis=0)
        assert (differs > 0).mean() < 1e-3
        if palette == "off":
            assert differs.max() <= 1


def json_params(ds) -> dict:
    import json

    return json.loads(ds.tags()["GEOTRANS_PARAMS"])


def test_compile_with_dropout_is_refused_in_one_line(tmp_path, narrow_model_file):
    result = run_cli("run", LANDSAT, "--out", tmp_path / "o.tif", "--model", narrow_model_file,
                     "--compile", "--dropout")
    assert_one_line_error(result, "--compile", "dropout")
    assert not (tmp_path / "o.tif").exists()


def test_compile_without_a_cpp_compiler_is_refused_in_one_line(tmp_path, narrow_model_file, monkeypatch):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-g++"))
    result = run_cli("run", LANDSAT, "--out", tmp_path / "o.tif", "--model", narrow_model_file,
                     "--compile", "--device", "cpu")
    assert_one_line_error(result, "C++ compiler", "no-such-g++")
    assert not (tmp_path / "o.tif").exists()


def test_compile_is_part_of_the_resume_fingerprint(tmp_path):
    """A folder run with --compile redoes maps made without it (their pixels may differ by a level)."""
    from geotrans.jobs.batch import SceneJob, job_fingerprint

    job = SceneJob(str(KOREA), str(tmp_path / "o.tif"))
    assert job_fingerprint(job, RunOptions(compile=True), None) != job_fingerprint(job, RunOptions(), None)


def test_a_large_cpu_run_without_compile_is_told_of_it(monkeypatch, caplog):
    """Korea has 25 windows; with the threshold at 25 the tip appears, above it, or with --compile, not."""
    import logging

    import geotrans.run.pipeline
    from geotrans.run.pipeline import announce
    from geotrans.run.plan import plan_run

    caplog.set_level(logging.INFO, logger="geotrans.run.pipeline")
    for threshold, compile, device, told in ((25, False, "cpu", True), (26, False, "cpu", False),
                                             (25, True, "cpu", False), (25, False, "cuda", False)):
        monkeypatch.setattr(geotrans.run.pipeline, "COMPILE_PAYS_TILES", threshold)
        caplog.clear()
        announce(plan_run(KOREA, RunOptions(compile=compile)), device)
        assert ("--compile" in caplog.text) is told, (threshold, compile, device)
