"""The geotrans command as a user runs it: one-line errors, refusals, no partial files."""
import signal
import subprocess
import sys
import time

import pytest
import rasterio
import torch
from helpers import KOREA, LANDSAT, NAIP, VEGAS, assert_one_line_error, run_cli

from geotrans import __version__
from geotrans.model.generator import build_generator
from geotrans.model.weights import read_model_info, save_generator


def test_version_and_help_with_examples():
    assert __version__ in run_cli("--version").output
    result = run_cli("run", "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output and "geotrans run" in result.output


WITHOUT_TORCH = """
import sys
from click.testing import CliRunner
from geotrans.cli import main
for args, code in ((["--help"], 0), (["--version"], 0), (["run", "--help"], 0), (["info", "--help"], 0),
                   (["qgis", "install", "--help"], 0), (["run", "scene.tif"], 2),
                   (["run", "scene.tif", "-o", "map.tif", "--cluster", "big"], 1),
                   (["run", "scene.tif", "-o", "map.tif", "--precision", "fp8"], 2)):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == code, (args, result.output)
print(sorted(name for name in ("torch", "geotrans.model.generator", "geotrans.run.pipeline") if name in sys.modules))
"""


def test_help_version_and_option_errors_answer_without_importing_torch():
    # In a fresh interpreter: this test process has imported torch long ago.
    done = subprocess.run([sys.executable, "-c", WITHOUT_TORCH], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_run_writes_a_georeferenced_map(tmp_path, narrow_model_file):
    out = tmp_path / "map.tif"
    result = run_cli("run", LANDSAT, "--out", out, "--model", narrow_model_file, "-q")
    assert result.exit_code == 0, result.output
    with rasterio.open(LANDSAT) as src, rasterio.open(out) as dst:
        assert (dst.crs, dst.transform, dst.shape) == (src.crs, src.transform, src.shape)
        assert dst.tags()["GEOTRANS_MODEL"] == "random-ngf8-test"


def test_missing_input(tmp_path, narrow_model_file):
    result = run_cli("run", tmp_path / "nope.tif", "--out", tmp_path / "o.tif", "--model", narrow_model_file)
    assert_one_line_error(result, "no such file")
    assert not (tmp_path / "o.tif").exists()


def test_text_file_named_tif(tmp_path, narrow_model_file):
    fake = tmp_path / "scene.tif"
    fake.write_text("this is not a GeoTIFF\n")
    result = run_cli("run", fake, "--out", tmp_path / "o.tif", "--model", narrow_model_file)
    assert_one_line_error(result, "not a readable raster")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]


def test_truncated_geotiff(tmp_path, narrow_model_file):
    cut = tmp_path / "cut.tif"
    cut.write_bytes(LANDSAT.read_bytes()[:200_000])
    result = run_cli("run", cut, "--out", tmp_path / "o.tif", "--model", narrow_model_file)
    assert_one_line_error(result, str(cut))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.tif"]


def two_band_scene(tmp_path):
    """Bands 1 and 2 of the real NAIP crop: a 2-band file, which needs --bands."""
    with rasterio.open(NAIP) as ds:
        profile = ds.profile
        profile.update(count=2)
        with rasterio.open(tmp_path / "two.tif", "w", **profile) as out:
            out.write(ds.read([1, 2]))
    return tmp_path / "two.tif"


def test_two_bands_without_bands_option(tmp_path, narrow_model_file):
    src = two_band_scene(tmp_path)
    result = run_cli("run", src, "--out", tmp_path / "o.tif", "--model", narrow_model_file)
    assert_one_line_error(result, "2 bands", "--bands")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.tif"]
    assert run_cli("run", src, "--out", tmp_path / "o.tif", "--model", narrow_model_file, "--bands", "1,1,2",
                   "-q").exit_code == 0


@pytest.mark.parametrize("bands,message", [("1,2,5", "band 5 is out of range"), ("0,1,2", "band 0 is out of range"),
                                           ("1,2", "three bands"), ("a,b,c", "1-based band numbers")])
def test_bad_band_selection(tmp_path, narrow_model_file, bands, message):
    result = run_cli("run", NAIP, "--out", tmp_path / "o.tif", "--model", narrow_model_file, "--bands", bands)
    assert_one_line_error(result, message)
    assert not (tmp_path / "o.tif").exists()


def test_existing_output_refused_then_overwritten(tmp_path, narrow_model_file):
    out = tmp_path / "o.tif"
    out.write_bytes(b"old")
    assert_one_line_error(run_cli("run", LANDSAT, "--out", out, "--model", narrow_model_file), "--overwrite")
    assert out.read_bytes() == b"old"
    assert run_cli("run", LANDSAT, "--out", out, "--model", narrow_model_file, "--overwrite", "-q").exit_code == 0
    assert out.read_bytes() != b"old"


def test_output_same_as_input_refused(tmp_path, narrow_model_file):
    src = tmp_path / "scene.tif"
    src.write_bytes(LANDSAT.read_bytes())
    result = run_cli("run", src, "--out", src, "--model", narrow_model_file, "--overwrite")
    assert_one_line_error(result, "never overwrites its input")
    assert src.read_bytes() == LANDSAT.read_bytes()


def test_missing_output_folder(tmp_path, narrow_model_file):
    result = run_cli("run", LANDSAT, "--out", tmp_path / "no" / "o.tif", "--model", narrow_model_file)
    assert_one_line_error(result, "output folder does not exist")


def test_no_default_model_says_how_to_give_one(tmp_path, monkeypatch):
    # An install whose package data lacks the model file (the shipped one is tested in test_evaluation).
    monkeypatch.setattr("geotrans.model.weights.DEFAULT_MODEL_FILE", "missing.safetensors")
    result = run_cli("run", LANDSAT, "--out", tmp_path / "o.tif")
    assert_one_line_error(result, "no trained model is installed", "--model")
    assert not (tmp_path / "o.tif").exists()


def test_pickled_model_is_not_loaded(tmp_path):
    evil = tmp_path / "model.safetensors"
    torch.save({"anything": torch.zeros(1)}, evil)
    result = run_cli("run", LANDSAT, "--out", tmp_path / "o.tif", "--model", evil)
    assert_one_line_error(result, "not a safetensors model file")


def test_cuda_requested_without_cuda(tmp_path, narrow_model_file):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = run_cli("run", LANDSAT, "--out", tmp_path / "o.tif", "--model", narrow_model_file, "--device", "cuda")
    assert_one_line_error(result, "no CUDA device")


# Korea read at its own 0.47 m (given as the model's 0.9 m): 64 tiles instead of 16, so that a run on a loaded
# machine is still going when the signal comes.
SLOW_READ = ("--gsd", "0.9")


@pytest.fixture(scope="module")
def slow_model_file(tmp_path_factory):
    """Full width (ngf=64): slow enough on the CPU to interrupt mid-run."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("slow") / "ngf64.safetensors"
    save_generator(build_generator(ngf=64), path, name="random-ngf64-test")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])  # SIGHUP: a closed SSH session
def test_interrupted_run_leaves_nothing(tmp_path, slow_model_file, signum):
    out = tmp_path / "map.tif"
    proc = subprocess.Popen(
        [sys.executable, "-m", "geotrans", "run", str(KOREA), "--out", str(out), "--model", str(slow_model_file),
         "--overlap", "128", "--batch-size", "1", *SLOW_READ],
        stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".part") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before it could be interrupted"
        time.sleep(0.02)
    time.sleep(0.5)  # let a few tiles reach the temporary file
    assert proc.poll() is None, "run finished before the signal; use a slower model"
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_kill_9_while_replacing_a_map_keeps_the_old_map_and_the_next_run_cleans_up(tmp_path, slow_model_file,
                                                                                   narrow_model_file):
    out = tmp_path / "map.tif"
    assert run_cli("run", KOREA, "--out", out, "--model", narrow_model_file, "-q").exit_code == 0
    before = out.read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-m", "geotrans", "run", str(KOREA), "--out", str(out), "--model", str(slow_model_file),
         "--overlap", "128", "--batch-size", "1", "--overwrite", *SLOW_READ], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".part") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before it could be killed"
        time.sleep(0.02)
    time.sleep(0.5)  # a few tiles in the temporary file
    assert proc.poll() is None, "run finished before the kill; use a slower model"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert out.read_bytes() == before  # the old map, whole: a replacement appears only by rename
    assert any(p.name.endswith(".part") for p in tmp_path.iterdir())  # what kill -9 leaves, hidden
    assert run_cli("run", KOREA, "--out", out, "--model", narrow_model_file, "-q", "--overwrite").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]  # the stale files and the lock are gone


@pytest.mark.slow
def test_python_dash_m_works():
    result = subprocess.run([sys.executable, "-m", "geotrans", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and __version__ in result.stdout


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_preview_png_shows_input_beside_output(tmp_path, narrow_model_file):
    result = run_cli("run", LANDSAT, "--out", tmp_path / "map.tif", "--model", narrow_model_file,
                     "--preview", tmp_path / "look.png", "-q")
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "look.png") as png:
        assert png.driver == "PNG" and png.count == 3
        assert png.width == 2 * 512 + 8 and png.height == round(718 * 512 / 791)
        left, right = png.read()[:, :, :512], png.read()[:, :, 520:]
    assert left.std() > 10 and right.std() > 1 and not (left == right).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["look.png", "map.tif"]


def test_info_says_what_run_would_do_without_running(tmp_path, narrow_model_file):
    result = run_cli("info", LANDSAT, "--model", narrow_model_file)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "791 x 718 px, uint8, EPSG:32618" in text and "300 m/px" in text
    assert "bands 1,2,3" in text and "valid        67.5%" in text
    assert "16 to run, 0 to skip (of 16)" in text and "estimate     ~" in text
    assert list(tmp_path.iterdir()) == []


def test_info_counts_windows_skipped_outside_an_aoi(tmp_path, narrow_model_file):
    from test_footprint import scene_box, write_aoi

    aoi = write_aoi(tmp_path / "aoi.geojson", scene_box(KOREA, 100, 150, 400, 380))
    result = run_cli("info", KOREA, "--model", narrow_model_file, "--aoi", aoi)
    assert result.exit_code == 0, result.output
    assert "6 to run, 19 to skip (of 25)" in result.output


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_bad_scene_inputs_from_the_cli(tmp_path, narrow_model_file):
    import json

    import numpy as np

    with rasterio.open(LANDSAT) as ds:
        profile, data = ds.profile, ds.read()
    with rasterio.open(tmp_path / "empty.tif", "w", **profile) as out:  # synthetic: all nodata on a real grid
        out.write(np.zeros_like(data))
    plain = {k: v for k, v in profile.items() if k not in ("crs", "transform")}
    with rasterio.open(tmp_path / "nocrs.tif", "w", **plain) as out:
        out.write(data)
    far = tmp_path / "far.geojson"
    far.write_text(json.dumps({"type": "Polygon", "coordinates": [[[2, 48], [3, 48], [3, 49], [2, 49], [2, 48]]]}))
    cases = [(["run", tmp_path / "empty.tif"], "no valid pixels"),
             (["run", tmp_path / "nocrs.tif"], "--allow-ungeoreferenced"),
             (["run", LANDSAT, "--aoi", far], "does not intersect")]
    for args, message in cases:
        result = run_cli(*args, "--out", tmp_path / "o.tif", "--model", narrow_model_file)
        assert_one_line_error(result, message)
        assert not (tmp_path / "o.tif").exists()


def test_run_uses_the_shipped_model_by_default(tmp_path):
    result = run_cli("run", VEGAS, "--out", tmp_path / "map.tif", "-q")
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "map.tif") as ds, rasterio.open(VEGAS) as src:
        shipped = read_model_info()
        assert (ds.tags()["GEOTRANS_MODEL"], ds.tags()["GEOTRANS_MODEL_SHA256"]) == (shipped.name, shipped.sha256)
        assert (ds.crs, ds.transform, ds.shape) == (src.crs, src.transform, src.shape)


@pytest.mark.parametrize("mode,flag", [("single", ["--force"]), ("single", ["--recursive"]),
                                       ("folder", ["--strip-rows", "512"]), ("folder", ["--preview", "p.png"])])
def test_flags_that_do_not_apply_are_refused_not_ignored(tmp_path, narrow_model_file, mode, flag):
    src = KOREA if mode == "single" else KOREA.parent
    out = tmp_path / ("o.tif" if mode == "single" else "maps")
    result = run_cli("run", src, "--out", out, "--model", narrow_model_file, *flag)
    assert_one_line_error(result, flag[0], "applies to")
    assert not out.exists()


def test_strip_rows_without_a_cluster_are_refused(tmp_path, narrow_model_file):
    result = run_cli("run", KOREA, "--out", tmp_path / "o.tif", "--model", narrow_model_file, "--strip-rows", "512")
    assert_one_line_error(result, "--strip-rows applies to a scene split across a cluster")
    result = run_cli("run", KOREA, "--out", tmp_path / "o.tif", "--model", narrow_model_file, "--strip-rows", "300",
                     "--cluster", "local:2")
    assert_one_line_error(result, "strip rows must be a multiple of 256")
    assert not (tmp_path / "o.tif").exists()


def test_library_hints_follow_the_message(tmp_path, narrow_model_file):
    (tmp_path / "o.tif").write_bytes(b"x")
    result = run_cli("run", KOREA, "--out", tmp_path / "o.tif", "--model", narrow_model_file)
    assert_one_line_error(result, "already exists; pass --overwrite to replace it")


def test_progress_json_gives_one_parseable_line_per_update(tmp_path, narrow_model_file):
    """For programs (the QGIS provider): JSON lines on stderr, counting up to the total; the log's
    messages are JSON lines too, with their level."""
    import json

    result = run_cli("run", KOREA, "--out", tmp_path / "map.tif", "--model", narrow_model_file, "--progress", "json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]  # every line parses
    logs = [line for line in lines if "log" in line]
    assert {"log": "info", "message": f"wrote {tmp_path / 'map.tif'}"} in logs
    assert all(set(line) == {"log", "message"} for line in logs)
    updates = [line for line in lines if "progress" in line]
    assert len(updates) + len(logs) == len(lines)
    tiles = [u for u in updates if u["progress"] == "tiles"]
    assert len(tiles) >= 2 and tiles[-1]["done"] == tiles[-1]["total"] == 25
    assert [u["done"] for u in tiles] == sorted(u["done"] for u in tiles)

    folder = tmp_path / "scenes"
    folder.mkdir()
    for name in ("a.tif", "b.tif"):
        (folder / name).write_bytes(KOREA.read_bytes())
    result = run_cli("run", folder, "--out", tmp_path / "maps", "--model", narrow_model_file, "--progress", "json")
    assert result.exit_code == 0, result.output
    scenes = [json.loads(line) for line in result.output.splitlines() if line.startswith('{"progress": "scenes"')]
    assert scenes[-1]["done"] == scenes[-1]["total"] == 2


def test_quiet_means_one_thing_in_every_command():
    from geotrans.cli import main

    helps = {}
    for path, command in [(("run",), main.commands["run"]), (("info",), main.commands["info"]),
                          (("tune",), main.commands["tune"]), (("vectorize",), main.commands["vectorize"]),
                          (("qgis", "install"), main.commands["qgis"].commands["install"]),
                          (("qgis", "uninstall"), main.commands["qgis"].commands["uninstall"])]:
        [quiet] = [p for p in command.params if p.name == "quiet"]
        helps[path] = (tuple(quiet.opts), quiet.help)
    assert len(set(helps.values())) == 1, helps
    assert next(iter(helps.values())) == (("-q", "--quiet"), "Only warnings and errors: no progress bar, no notes.")


def test_qgis_install_answers_without_torch(tmp_path):
    script = ("import sys; from click.testing import CliRunner; from geotrans.cli import main; "
              f"r = CliRunner().invoke(main, ['qgis', 'install', '--profiles-path', {str(tmp_path)!r}]); "
              "print(r.exit_code, 'torch' in sys.modules)")
    (tmp_path / "default").mkdir()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["0", "False"], out.stdout + out.stderr
