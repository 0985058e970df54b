"""geotrans info: a plan, formatted; the model's header is read without building the generator."""
import pytest

import geotrans.model
from geotrans.info import describe, estimate_cpu_seconds
from geotrans.options import RunOptions
from geotrans.plan import plan_run
from geotrans.weights import read_model_info
from helpers import KOREA, LANDSAT, scene_box, write_aoi


def test_describe_formats_the_plan(narrow_model_file):
    plan = plan_run(LANDSAT, RunOptions(), read_model_info(narrow_model_file))
    text = "\n".join(describe(plan))
    assert f"size         791 x 718 px, uint8, {plan.scene.profile['crs'].to_string()}" in text
    assert f"windows      {plan.tiles_to_run} to run, {len(plan.tiles) - plan.tiles_to_run} to skip" in text
    assert "estimate     ~" in text


def test_skipped_windows_follow_the_aoi(tmp_path):
    aoi = write_aoi(tmp_path / "aoi.geojson", scene_box(KOREA, 100, 150, 400, 380))
    plan = plan_run(KOREA, RunOptions(aoi=str(aoi)))
    assert (plan.tiles_to_run, len(plan.tiles)) == (6, 25)
    assert "6 to run, 19 to skip (of 25)" in "\n".join(describe(plan))


def test_reading_the_model_header_builds_no_generator(narrow_model_file, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a generator was built")

    monkeypatch.setattr(geotrans.model.UnetGenerator, "__init__", refuse)
    info = read_model_info(narrow_model_file)
    assert (info.name, info.ngf, len(info.sha256)) == ("random-ngf8-test", 8, 64)


def test_estimate_needs_a_model_and_grows_with_its_width(narrow_model_file):
    assert estimate_cpu_seconds(plan_run(KOREA)) is None
    narrow = estimate_cpu_seconds(plan_run(KOREA, RunOptions(), read_model_info(narrow_model_file)))
    wide_info = read_model_info(narrow_model_file)
    wide = estimate_cpu_seconds(plan_run(KOREA, RunOptions(), type(wide_info)(**{**wide_info.__dict__, "ngf": 64})))
    assert narrow is not None and wide == pytest.approx(narrow * 64, rel=1e-6)
