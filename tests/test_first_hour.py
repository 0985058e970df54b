"""A newcomer's first hour: rio's habits (the output as an argument, -b, --nodata), the AOI in any vector
format, and an explicit --co over a default it never gave."""
import numpy as np
import pytest
import rasterio
from helpers import KOREA, LANDSAT, VEGAS, assert_one_line_error, run_cli


def test_the_output_may_be_given_after_the_scene_as_in_rio(tmp_path, narrow_model_file):
    out = tmp_path / "map.tif"
    result = run_cli("run", KOREA, out, "--model", narrow_model_file, "-q")
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as ds, rasterio.open(KOREA) as src:
        assert ds.transform == src.transform and ds.shape == src.shape


def test_no_output_or_two_outputs_is_one_line_that_says_how(tmp_path, narrow_model_file):
    result = run_cli("run", KOREA, "--model", narrow_model_file)
    assert result.exit_code == 2 and "geotrans run SRC --out MAP.tif" in result.output
    result = run_cli("run", KOREA, tmp_path / "a.tif", "--out", tmp_path / "b.tif", "--model", narrow_model_file)
    assert result.exit_code == 2 and "two outputs" in result.output
    assert list(tmp_path.iterdir()) == []


def test_b_is_bands(tmp_path, narrow_model_file):
    long, short = tmp_path / "long.tif", tmp_path / "short.tif"
    for out, flag in ((long, "--bands"), (short, "-b")):
        assert run_cli("run", KOREA, "--out", out, flag, "3,2,1", "--model", narrow_model_file, "-q").exit_code == 0
    with rasterio.open(long) as a, rasterio.open(short) as b:
        assert np.array_equal(a.read(), b.read())
        assert '"bands": [3, 2, 1]' in b.tags()["GEOTRANS_PARAMS"]


def test_nodata_overrides_the_scene_s_own_and_the_file_is_only_read(tmp_path, narrow_model_file):
    # The real Landsat scene has nodata 0 around its footprint: none makes every pixel data, 0 keeps the mask.
    with open(LANDSAT, "rb") as f:
        before = f.read()
    outs = {}
    for value in ("none", "0"):
        out = outs[value] = tmp_path / f"{value}.tif"
        result = run_cli("run", LANDSAT, "--out", out, "--nodata", value, "--model", narrow_model_file, "-q")
        assert result.exit_code == 0, result.output
    with rasterio.open(outs["none"]) as none, rasterio.open(outs["0"]) as zero, rasterio.open(LANDSAT) as src:
        assert (none.dataset_mask() > 0).all()
        assert np.array_equal(zero.dataset_mask() > 0, src.dataset_mask() > 0)
        assert none.tags()["GEOTRANS_SOURCE"] == "landsat_rgb_nodata_utm.tif"
        assert '"nodata": "none"' in none.tags()["GEOTRANS_PARAMS"]
    with open(LANDSAT, "rb") as f:
        assert f.read() == before


@pytest.mark.parametrize("value", ["abc", "inf"])
def test_a_nodata_that_is_not_a_number_is_one_line(tmp_path, narrow_model_file, value):
    out = tmp_path / "o.tif"
    assert_one_line_error(run_cli("run", KOREA, "--out", out, "--nodata", value, "--model", narrow_model_file),
                          "nodata must be")
    assert not out.exists()


def test_tune_without_the_training_extra_says_so_before_it_trains(tmp_path, monkeypatch):
    import sys
    from pathlib import Path

    import geotrans.training.tune

    started = []
    monkeypatch.setattr(geotrans.training.tune, "tune", lambda *a, **k: started.append(1))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if '.[train]' were not installed
    roads = Path(__file__).resolve().parent / "data" / "vegas_roads" / "vegas_roads.geojson"
    out = tmp_path / "mine.safetensors"
    result = run_cli("tune", VEGAS, "--labels", roads, "--out", out, "--minutes", "1")
    assert_one_line_error(result, "needs the training code and extras", "pip install '.[train]' in the clone")
    assert started == [] and not out.exists()


def _folder(tmp_path):
    import shutil

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    shutil.copy(KOREA, scenes / "a.tif")
    shutil.copy(VEGAS, scenes / "b.tif")
    return scenes


def test_a_folder_run_says_one_line_per_scene_unless_verbose(tmp_path, narrow_model_file):
    scenes = _folder(tmp_path)
    quiet = run_cli("run", scenes, "--out", tmp_path / "maps", "--model", narrow_model_file)
    assert quiet.exit_code == 0, quiet.output
    logged = [line for line in quiet.output.splitlines() if line.startswith("geotrans: ")]
    for name in ("a.tif", "b.tif"):
        about = [line for line in logged if f"scenes/{name}" in line]
        assert len(about) == 1 and "done in" in about[0] and f"maps/{name}" in about[0], logged
    assert len(logged) <= 2 + 4  # the two scenes, and the run's model, licence, device and precision once
    verbose = run_cli("run", scenes, "--out", tmp_path / "maps2", "--model", narrow_model_file, "-v")
    assert sum("scenes/a.tif" in line for line in verbose.output.splitlines()) > 3


def test_a_scene_already_done_is_current_not_skipped_and_skipped_means_no_data(tmp_path, narrow_model_file):
    import json

    scenes, maps = _folder(tmp_path), tmp_path / "maps"
    assert run_cli("run", scenes, "--out", maps, "--model", narrow_model_file, "-q").exit_code == 0
    summary = maps / "geotrans-summary.json"
    old = json.loads(summary.read_text())  # as geotrans 0.1.0 wrote it: a current output was "skipped"
    for scene in old["scenes"]:
        scene["status"] = "skipped"
    summary.write_text(json.dumps(old))
    before = {p.name: p.stat().st_mtime_ns for p in maps.glob("*.tif")}
    again = run_cli("run", scenes, "--out", maps, "--model", narrow_model_file)
    assert again.exit_code == 0, again.output
    assert "2 scenes: 0 done, 2 already current" in again.output
    assert "no data" in again.output.splitlines()[-4]  # the table's tile column
    assert {p.name: p.stat().st_mtime_ns for p in maps.glob("*.tif")} == before
    assert {s["status"] for s in json.loads(summary.read_text())["scenes"]} == {"current"}


def test_ctrl_c_in_a_folder_run_says_how_to_resume(tmp_path, narrow_model_file, monkeypatch):
    import geotrans.jobs.folder

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(geotrans.jobs.folder, "run_folder", interrupted)
    result = run_cli("run", _folder(tmp_path), "--out", tmp_path / "maps", "--model", narrow_model_file)
    assert result.exit_code == 130
    assert "run the same command again to resume" in result.output


def test_every_map_and_folder_summary_carries_the_model_s_licence_and_legend(tmp_path):
    import json

    from geotrans.model.weights import read_model_info

    shipped = read_model_info()
    assert "CC BY-NC-SA 4.0" in shipped.licence  # v5 learnt from LandCover.ai: its terms are the maps'
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "v.tif").write_bytes(open(VEGAS, "rb").read())
    result = run_cli("run", scenes, "--out", tmp_path / "maps")
    assert result.exit_code == 0, result.output
    licence_lines = [line for line in result.output.splitlines() if "licence" in line]
    assert len(licence_lines) == 1 and shipped.licence in licence_lines[0]
    with rasterio.open(tmp_path / "maps" / "v.tif") as ds:
        tags = ds.tags()
    assert tags["GEOTRANS_LICENCE"] == shipped.licence and shipped.licence in tags["TIFFTAG_COPYRIGHT"]
    water = "#%02X%02X%02X" % tuple(shipped.card["map_classes"]["water"])
    assert f"water {water}" in tags["GEOTRANS_LEGEND"] and tags["GEOTRANS_LEGEND"].count("#") == 7
    summary = json.loads((tmp_path / "maps" / "geotrans-summary.json").read_text())
    assert summary["model"] == {"name": shipped.name, "sha256": shipped.sha256, "licence": shipped.licence}



def test_a_new_option_at_its_default_leaves_an_earlier_run_s_fingerprint_as_it_was():
    """Outputs of 0.1.0 stay current after an upgrade: --nodata, added since, is in the identity only when set."""
    from geotrans.run.options import RunOptions

    assert "nodata" not in RunOptions().identity()
    assert RunOptions(nodata="0").identity()["nodata"] == "0"
    assert set(RunOptions().identity()) == {"overlap", "tile_size", "precision", "dropout_seed", "bands", "cog",
                                            "compress", "creation_options", "native_res", "gsd", "resampling",
                                            "allow_ungeoreferenced", "aoi", "palette", "tta", "compile"}


def test_a_coarse_or_single_band_scene_is_told_what_to_expect_before_the_map_and_in_it(tmp_path, narrow_model_file):
    import json

    from helpers import ATLANTA, NAIP

    narrow = ["--model", narrow_model_file]  # what to expect comes from the scene; a narrow model measures fast
    coarse = json.loads(run_cli("info", NAIP, "--json", *narrow).output.splitlines()[-1])
    assert len(coarse["expect"]) == 1 and "5 m pixels, coarser than about 2 m" in coarse["expect"][0]
    assert "expect dry fields drawn as water" in coarse["expect"][0]
    assert json.loads(run_cli("info", KOREA, "--json", *narrow).output.splitlines()[-1])["expect"] == []  # 0.47 m, R, G, B: nothing to say
    shown = run_cli("info", ATLANTA, *narrow)
    assert any(line.startswith("expect       one band (grey)") for line in shown.output.splitlines())
    out = tmp_path / "pan.tif"
    result = run_cli("run", ATLANTA, "--out", out, "--model", narrow_model_file)
    assert result.exit_code == 0, result.output
    told = [line for line in result.output.splitlines() if "expect roads and built land only" in line]
    assert len(told) == 1 and result.output.index(told[0]) < result.output.index("wrote")  # before, not after
    with rasterio.open(out) as ds:
        assert json.loads(ds.tags()["GEOTRANS_EXPECT"])[0].startswith("one band (grey)")
