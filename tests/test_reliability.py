"""Nothing lost, nothing silently wrong: real full filesystems and file-size limits."""
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from helpers import KOREA, LANDSAT, VEGAS, run_cli
from rasterio.windows import Window

from geotrans import __version__
from geotrans.cli import main
from geotrans.run.plan import plan_run

ROOT = Path(__file__).resolve().parent.parent


def can_mount() -> bool:
    if os.geteuid() != 0:
        return False
    with tempfile.TemporaryDirectory(prefix="geotrans-mount-probe-") as probe:  # removed after: nothing left
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe], capture_output=True)
        if ok.returncode == 0:
            subprocess.run(["umount", probe], check=True)
    return ok.returncode == 0


needs_tmpfs = pytest.mark.skipif(not can_mount(), reason="mounting a tmpfs needs root (see the RLIMIT_FSIZE test)")


@pytest.fixture
def small_disk(tmp_path):
    """A real 4 MiB filesystem; ``fill(free_bytes)`` leaves that much space on it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)

    def fill(free: int) -> None:
        (mount / "filler").unlink(missing_ok=True)
        total = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
        with open(mount / "filler", "wb") as f:
            f.write(b"\0" * max(0, total - free))

    try:
        yield mount, fill
    finally:
        subprocess.run(["umount", str(mount)], check=True)



def readable(path: Path) -> bool:
    with rasterio.open(path) as ds:
        ds.read()
        ds.dataset_mask()
        levels = len(ds.overviews(1))
    for level in range(levels):
        with rasterio.open(path, overview_level=level) as overview:
            overview.read()
    return True


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@needs_tmpfs
def test_a_full_disk_never_leaves_a_map_that_is_not_readable(tmp_path, small_disk, narrow_model_file):
    disk, fill = small_disk
    run_cli("run", KOREA, "--out", tmp_path / "roomy.tif", "--model", narrow_model_file, "-q")
    size = (tmp_path / "roomy.tif").stat().st_size
    outcomes = []
    for free in (0, size // 3, size * 2 // 3, size - 8192, size + 2 * 2**20):
        fill(free)
        out = disk / "map.tif"
        result = run_cli("run", KOREA, "--out", out, "--model", narrow_model_file, "-q", "--overwrite")
        assert leftovers(disk) == [], free
        if result.exit_code == 0:
            assert readable(out)
            outcomes.append("written")
        else:
            assert result.exit_code == 1 and "the disk is full" in result.output and not out.exists(), result.output
            assert "Traceback" not in result.output and "internal error" not in result.output
            outcomes.append("refused")
        out.unlink(missing_ok=True)
    assert outcomes == ["refused"] * 4 + ["written"]


def test_a_write_into_a_missing_folder_is_not_called_a_full_disk(tmp_path):
    from geotrans.errors import DiskFullError, OutputError
    from geotrans.io.files import atomic_path

    with pytest.raises(OutputError) as refused:
        with atomic_path(tmp_path / "gone" / "results.json") as tmp:
            tmp.write_text("{}")
    assert not isinstance(refused.value, DiskFullError) and "No such file or directory" in str(refused.value)
    assert not (tmp_path / "gone").exists()


@needs_tmpfs
@pytest.mark.parametrize("extra", [[], ["--cog"]])
def test_overwrite_on_a_full_disk_keeps_the_good_map(tmp_path, small_disk, narrow_model_file, extra):
    disk, fill = small_disk
    out = disk / "map.tif"
    assert run_cli("run", VEGAS, "--out", out, "--model", narrow_model_file, "-q").exit_code == 0
    good = out.read_bytes()
    fill(200 * 1024)  # far less than a Korea map, more than the refusal threshold's rounding
    result = run_cli("run", KOREA, "--out", out, "--model", narrow_model_file, "-q", "--overwrite", *extra)
    assert result.exit_code == 1 and "disk is full" in result.output
    assert out.read_bytes() == good and leftovers(disk) == []


@needs_tmpfs
def test_a_full_disk_in_folder_mode_records_the_scene_and_stops(tmp_path, small_disk, narrow_model_file):
    disk, fill = small_disk
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for name, src in (("a.tif", VEGAS), ("b.tif", KOREA), ("c.tif", LANDSAT)):
        (scenes / name).write_bytes(src.read_bytes())
    run_cli("run", VEGAS, "--out", tmp_path / "vegas.tif", "--model", narrow_model_file, "-q")
    fill((tmp_path / "vegas.tif").stat().st_size + 1536 * 1024)  # a.tif fits, b.tif does not
    result = run_cli("run", scenes, "--out", disk / "maps", "--model", narrow_model_file, "-q")
    assert result.exit_code == 1 and "disk is full" in result.output and "Traceback" not in result.output
    import json

    summary = json.loads((disk / "maps" / "geotrans-summary.json").read_text())
    assert [s["status"] for s in summary["scenes"]] == ["done", "failed"]  # c.tif never started
    assert readable(disk / "maps" / "a.tif") and leftovers(disk / "maps") == []


@pytest.mark.slow
def test_a_file_size_limit_fails_cleanly_for_any_user(tmp_path, narrow_model_file):
    """RLIMIT_FSIZE (ulimit -f) makes writes past the limit fail, as a full disk would, without root."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    out = tmp_path / "map.tif"
    result = subprocess.run([sys.executable, "-m", "geotrans", "run", str(KOREA), "--out", str(out), "--model",
                             str(narrow_model_file), "-q"], preexec_fn=limit, capture_output=True, text=True,
                            cwd=ROOT)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.returncode == 1 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "failed" in errors[0] or "disk is full" in errors[0]
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_second_run_for_the_same_output_is_refused_naming_the_holder(tmp_path, narrow_model_file):
    import socket

    from geotrans.io.files import output_lock

    out = tmp_path / "map.tif"
    with output_lock(out):  # another live run, as far as the CLI can tell (a lock of its own)
        result = run_cli("run", KOREA, "--out", out, "--model", narrow_model_file, "-q", "--overwrite")
    assert result.exit_code == 1 and "being written by another run" in result.output
    assert f"host {socket.gethostname()}, pid {os.getpid()}" in result.output
    assert not out.exists() and leftovers(tmp_path) == []
    assert run_cli("run", KOREA, "--out", out, "--model", narrow_model_file, "-q").exit_code == 0


def test_a_killed_runs_lock_is_taken_over_and_its_temporary_files_removed(tmp_path, narrow_model_file):
    import signal
    import time

    out = tmp_path / "map.tif"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from geotrans.io.files import output_lock, temporary_path\n"
        f"out = Path({str(out)!r})\n"
        "with output_lock(out):\n"
        "    tmp = temporary_path(out); tmp.write_bytes(b'half a map' * 1000)\n"
        "    print(tmp.name, flush=True); time.sleep(60)\n")], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    part = tmp_path / holder.stdout.readline().strip()
    busy = run_cli("run", KOREA, "--out", out, "--model", narrow_model_file, "-q")
    assert busy.exit_code == 1 and f"pid {holder.pid}" in busy.output
    assert part.exists()  # a live run's files are never touched
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    time.sleep(0.1)
    assert run_cli("run", KOREA, "--out", out, "--model", narrow_model_file, "-q").exit_code == 0
    assert readable(out) and leftovers(tmp_path) == []


def test_two_folder_runs_share_the_work_and_the_summary(tmp_path, narrow_model_file):
    import json

    from geotrans.io.files import output_lock
    from geotrans.jobs.batch import SUMMARY

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for name, src in (("a.tif", VEGAS), ("b.tif", LANDSAT)):
        (scenes / name).write_bytes(src.read_bytes())
    maps = tmp_path / "maps"
    maps.mkdir()
    other = {"src": str(scenes / "b.tif"), "dst": str(maps / "b.tif"), "status": "done", "error": "",
             "tiles_run": 9, "tiles_skipped": 0, "seconds": 1.0, "megapixels_per_second": 1.0}
    (maps / SUMMARY).write_text(json.dumps({"totals": {}, "scenes": [other]}))  # the other run finished b.tif
    with output_lock(maps / "b.tif"):  # ... or is still writing it
        (maps / ".b.tif.0badf00d.part").write_bytes(b"its partial map")
        result = run_cli("run", scenes, "--out", maps, "--model", narrow_model_file, "-q")
        assert (maps / ".b.tif.0badf00d.part").exists()
    assert result.exit_code == 0, result.output
    summary = json.loads((maps / SUMMARY).read_text())
    by_src = {s["src"]: s for s in summary["scenes"]}
    assert by_src[str(scenes / "a.tif")]["status"] == "done"
    assert by_src[str(scenes / "b.tif")] == other  # left to the other run, whose record stays
    assert not (maps / "b.tif").exists() and readable(maps / "a.tif")
    assert summary["totals"]["scenes"] == 2


@needs_tmpfs
def test_a_read_only_filesystem_is_a_one_line_error(tmp_path, narrow_model_file):
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(mount)], check=True)
    try:
        result = run_cli("run", KOREA, "--out", mount / "map.tif", "--model", narrow_model_file, "-q")
    finally:
        subprocess.run(["umount", str(mount)], check=True)
    assert result.exit_code == 1 and "Read-only file system" in result.output and "internal error" not in result.output


def test_a_complex_raster_is_refused(tmp_path, narrow_model_file):
    import numpy as np

    with rasterio.open(VEGAS) as ds:
        profile, data = ds.profile, ds.read(1).astype(np.complex64)
    profile.update(count=1, dtype="complex64", photometric=None, compress="deflate")
    profile.pop("nodata", None)
    with rasterio.open(tmp_path / "sar.tif", "w", **profile) as out:
        out.write(data * (1 + 1j), 1)
    result = run_cli("run", tmp_path / "sar.tif", "--out", tmp_path / "o.tif", "--model", narrow_model_file)
    assert result.exit_code == 1 and "complex-valued" in result.output and not (tmp_path / "o.tif").exists()
    assert len([line for line in result.output.splitlines() if line.startswith("Error")]) == 1


def test_bands_naming_the_alpha_band_are_refused(tmp_path, narrow_model_file):
    result = run_cli("run", VEGAS, "--out", tmp_path / "o.tif", "--model", narrow_model_file, "--bands", "4,4,4")
    assert result.exit_code == 1 and "band 4 is the alpha" in result.output


def test_a_gsd_that_shrinks_the_scene_below_one_pixel_says_so(tmp_path):
    # The shipped model states its resolution (0.9 m), so the scene would be read at 0.9 m per pixel.
    result = run_cli("run", VEGAS, "--out", tmp_path / "o.tif", "--gsd", "0.0001")
    assert result.exit_code == 1 and "smaller than one" in result.output and "nodata" not in result.output


@pytest.mark.parametrize("gsd", ["nan", "inf", "0", "-2"])
def test_a_gsd_that_is_not_a_positive_number_is_refused(tmp_path, narrow_model_file, gsd):
    result = run_cli("run", VEGAS, "--out", tmp_path / "o.tif", "--model", narrow_model_file, "--gsd", gsd)
    assert result.exit_code == 1 and "positive number" in result.output and "internal error" not in result.output


def test_a_self_intersecting_aoi_is_repaired_with_a_warning(tmp_path, narrow_model_file, caplog):
    import json

    from helpers import scene_box
    from rasterio.warp import transform_geom

    x0, y0, x1, y1 = scene_box(KOREA, 100, 150, 400, 380).bounds
    bowtie = {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]]}
    with rasterio.open(KOREA) as ds:
        geometry = transform_geom(ds.crs, "EPSG:4326", bowtie)
    (tmp_path / "bowtie.geojson").write_text(json.dumps(geometry))
    result = run_cli("run", KOREA, "--out", tmp_path / "o.tif", "--model", narrow_model_file,
                     "--aoi", tmp_path / "bowtie.geojson")
    assert result.exit_code == 0, result.output
    assert "repaired with make_valid" in result.output and readable(tmp_path / "o.tif")


def test_an_output_folder_that_is_the_input_folder_says_so(tmp_path, narrow_model_file):
    (tmp_path / "a.tif").write_bytes(VEGAS.read_bytes())
    result = run_cli("run", tmp_path, "--out", tmp_path, "--model", narrow_model_file)
    assert result.exit_code == 1 and "is the input folder" in result.output


@pytest.mark.parametrize("flag", ["--log", "--preview"])
def test_log_or_preview_into_a_missing_folder_fails_before_running(tmp_path, narrow_model_file, flag):
    out = tmp_path / "o.tif"
    result = run_cli("run", VEGAS, "--out", out, "--model", narrow_model_file, flag, tmp_path / "no" / "such.x")
    assert result.exit_code == 1 and "Traceback" not in result.output and not out.exists()
    assert len([line for line in result.output.splitlines() if line.startswith("Error")]) == 1


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5, 2.5])  # from 0.3 s: before that the interpreter itself is starting
def test_ctrl_c_at_any_moment_of_start_up_exits_130_without_a_traceback(tmp_path, narrow_model_file, delay):
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "geotrans", "run", str(KOREA), "--out", str(tmp_path / "o.tif"),
                             "--model", str(narrow_model_file)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (130, 0) and "Traceback" not in err, err  # 0: it finished first
    assert leftovers(tmp_path) == [] and (proc.returncode == 0 or not (tmp_path / "o.tif").exists())


SLOW_IMPORT = """
import sys, time
class SlowImport:  # makes the import of MODULE slow, as torch's is, during which C++ calls back into Python
    def find_spec(self, name, path=None, target=None):
        if name == MODULE:
            print("importing", flush=True)
            try:
                time.sleep(1.0)
            except KeyboardInterrupt:
                print("raised inside the import", flush=True)
                raise
        return None
sys.meta_path.insert(0, SlowImport())
sys.argv = ARGV
from geotrans.__main__ import entry
entry()
"""


@pytest.mark.parametrize("module, signum", [("geotrans.cli", "SIGINT"), ("geotrans.cli", "SIGTERM"),
                                            ("torch", "SIGINT"), ("torch", "SIGTERM")])
def test_a_stop_signal_during_a_slow_import_is_not_raised_inside_it_and_exits_130_after_it(
        tmp_path, narrow_model_file, module, signum):
    # A KeyboardInterrupt raised inside torch's import, in a pybind11 callback, aborts the process (SIGABRT,
    # CI saw it once in about a hundred start-ups). The entry point imports the CLI, and `run` imports torch and
    # the pipeline, with the stop signals noted, and exits once the import ends.
    import signal

    out = tmp_path / "o.tif"
    argv = ["geotrans", "--version"] if module == "geotrans.cli" else \
        ["geotrans", "run", str(KOREA), "--out", str(out), "--model", str(narrow_model_file)]
    script = SLOW_IMPORT.replace("MODULE", repr(module)).replace("ARGV", repr(argv))
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "importing"
    proc.send_signal(getattr(signal, signum))
    stdout, err = proc.communicate(timeout=60)
    assert "raised inside the import" not in stdout and "Traceback" not in err, (stdout, err)
    assert proc.returncode == 130 and err.strip().startswith("geotrans: interrupted"), err
    assert __version__ not in stdout and leftovers(tmp_path) == []


EXPOSED_SOURCE = """
import signal, sys
exposed = []
def hook(event, args):
    # exec() and eval() of a string (dataclasses and namedtuples are made so) compile it as "<string>"
    if event == "compile" and args[1] == "<string>" and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        exposed.append(repr(args[0])[:60])
sys.addaudithook(hook)
sys.argv = ARGV
from geotrans.__main__ import entry
try:
    entry()
finally:
    print(exposed, flush=True)
"""


@pytest.mark.parametrize("command", ["run", "info", "folder on a cluster"])
def test_no_source_is_exec_d_while_ctrl_c_would_raise_inside_it(tmp_path, narrow_model_file, command):
    # Under `python -m`, a KeyboardInterrupt that leaves an exec() or eval() of a string marks the process as
    # killed by Ctrl-C even when the CLI catches it: it exits by SIGINT (-2), not 130, after saying
    # "interrupted". Imports define dataclasses and namedtuples that way, so the commands import the pipeline
    # (and Dask, for a cluster) with the stop signals deferred, and nothing after that compiles source.
    model = ["--model", str(narrow_model_file)]
    argv = {"run": ["run", str(KOREA), "--out", str(tmp_path / "o.tif"), *model, "-q"],
            "info": ["info", str(KOREA), *model],
            "folder on a cluster": ["run", str(tmp_path / "in"), "--out", str(tmp_path / "out"), *model, "-q",
                                    "--cluster", "local:1"]}[command]
    if command == "folder on a cluster":
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / KOREA.name).write_bytes(KOREA.read_bytes())
    script = EXPOSED_SOURCE.replace("ARGV", repr(["geotrans", *argv]))
    script_file = tmp_path / "script.py"  # a file: the cluster's worker processes re-import the main module
    script_file.write_text(f"if __name__ == '__main__':\n{textwrap.indent(script, '    ')}")
    done = subprocess.run([sys.executable, str(script_file)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_deferred_interrupt_notes_ctrl_c_and_restores_the_handler():
    import signal
    import time

    from geotrans.interrupts import deferred_interrupt

    before = signal.getsignal(signal.SIGINT)
    with deferred_interrupt() as noted:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # Python runs the handler here: the default one would raise KeyboardInterrupt
    assert noted == [signal.SIGINT] and signal.getsignal(signal.SIGINT) is before


def test_info_fails_on_a_truncated_file_with_gdals_reason(tmp_path):
    cut = tmp_path / "cut.tif"
    cut.write_bytes(LANDSAT.read_bytes()[:200_000])
    result = CliRunner().invoke(main, ["info", str(cut)])
    assert result.exit_code == 1 and "truncated or damaged" in result.output and "Read error" in result.output
    assert "See previous" not in result.output


def test_column_bands_cover_each_column_once_and_bound_the_accumulator():
    from geotrans.io.tiler import MAX_BAND_WIDTH, TileGrid, column_bands

    grid = TileGrid(300, 3_000_000, 256, 64)
    bands = column_bands(grid)
    assert bands[0].start == 0 and bands[-1].stop == 3_000_000
    assert all(a.stop == b.start and a.start % 256 == 0 for a, b in zip(bands, bands[1:]))
    widest = max(b.last - b.first for b in bands)
    assert widest <= MAX_BAND_WIDTH + 2 * 256  # the mosaic holds this many columns, whatever the scene's width
    small = column_bands(TileGrid(300, 20_000, 256, 64))
    assert max(b.last - b.first for b in small) == widest  # the same memory as a 20 000 px scene
    one = column_bands(TileGrid(300, 5000, 256, 64))
    assert [(b.start, b.stop, b.first, b.last) for b in one] == [(0, 5000, 0, 5000)]


@pytest.mark.parametrize("scene", [KOREA, VEGAS])  # VEGAS is read resampled and warped back in strips
def test_a_scene_blended_in_column_bands_is_the_same_map(tmp_path, monkeypatch, scene, narrow_model_file):
    import numpy as np
    from helpers import run_scene

    import geotrans.run.pipeline
    from geotrans.model.weights import load_generator
    from geotrans.run.options import RunOptions

    generator, info = load_generator(narrow_model_file)  # random weights: every tile differs, so seams show
    info = type(info)(**{**info.__dict__, "card": {"native_resolution_m": 0.9}})
    run_scene(scene, tmp_path / "whole.tif", generator, RunOptions(device="cpu"), info)
    monkeypatch.setattr(geotrans.run.pipeline, "MAX_BAND_WIDTH", 256)
    run_scene(scene, tmp_path / "bands.tif", generator, RunOptions(device="cpu"), info)
    with rasterio.open(tmp_path / "whole.tif") as a, rasterio.open(tmp_path / "bands.tif") as b:
        assert np.array_equal(a.read(), b.read()) and np.array_equal(a.dataset_mask(), b.dataset_mask())
        assert a.width > 256 * 2


@pytest.mark.slow
def test_a_sparse_file_claiming_a_huge_scene_is_announced_loudly(tmp_path, caplog):
    """70 000 x 70 000 pixels in a 0.5 MB sparse GeoTIFF: the run says how many windows it is about to run,
    as a warning, before the first one."""
    import logging

    from rasterio.transform import from_origin

    from geotrans.run.pipeline import HUGE_JOB_TILES, announce

    path = tmp_path / "sparse.tif"
    with rasterio.open(path, "w", driver="GTiff", width=70_000, height=70_000, count=3, dtype="uint8", tiled=True,
                       blockxsize=512, blockysize=512, compress="deflate", sparse_ok=True, bigtiff="YES",
                       crs="EPSG:32611", transform=from_origin(600000, 4000000, 0.5, 0.5)) as ds:
        ds.write(np.full((3, 512, 512), 120, np.uint8), window=Window(0, 0, 512, 512))
    assert path.stat().st_size < 2**20
    plan = plan_run(path)
    assert plan.tiles_to_run > HUGE_JOB_TILES
    with caplog.at_level(logging.INFO, logger="geotrans"):
        announce(plan, "cpu")
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning and f"70000 x 70000 px; {plan.tiles_to_run} of {len(plan.tiles)} windows" in warning[0].message


@needs_tmpfs
def test_vectors_onto_a_full_disk_are_one_line_and_leave_nothing(tmp_path, small_disk, narrow_model_file):
    mount, fill = small_disk
    map_path = tmp_path / "m.tif"
    assert run_cli("run", KOREA, "--out", map_path, "-q").exit_code == 0  # the shipped model: class colours
    fill(20_000)
    result = run_cli("vectorize", map_path, "--out", mount / "v.gpkg")
    assert result.exit_code == 1 and "Traceback" not in result.output and "internal error" not in result.output
    assert "the disk is full" in result.output and "nothing was written there" in result.output
    assert sorted(p.name for p in mount.iterdir()) == ["filler"]


@needs_tmpfs
def test_vectors_into_a_read_only_folder_are_one_line_saying_so(tmp_path, small_disk, narrow_model_file):
    mount, fill = small_disk
    map_path = tmp_path / "m.tif"
    assert run_cli("run", KOREA, "--out", map_path, "-q").exit_code == 0  # the shipped model: class colours
    fill(20_000)  # nearly full as well: read-only is still the reason to give
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    result = run_cli("vectorize", map_path, "--out", mount / "v.gpkg")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Read-only file system" in result.output and "disk is full" not in result.output
    assert sorted(p.name for p in mount.iterdir()) == ["filler"]


@needs_tmpfs
def test_a_web_site_onto_a_full_disk_or_a_read_only_one_is_one_line_and_leaves_nothing(small_disk):
    pytest.importorskip("rio_tiler")
    mount, fill = small_disk
    fill(60_000)  # the page and Leaflet fit; the tiles do not
    result = run_cli("web", KOREA, "--scene", KOREA, "--out", mount / "site")
    assert result.exit_code == 1 and "Traceback" not in result.output and "internal error" not in result.output
    assert "the disk is full" in result.output and "writing the site" in result.output
    assert sorted(p.name for p in mount.iterdir()) == ["filler"]
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    result = run_cli("web", KOREA, "--out", mount / "site")
    assert result.exit_code == 1 and "Read-only file system" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in mount.iterdir()) == ["filler"]

