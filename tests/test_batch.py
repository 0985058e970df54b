"""Folders of scenes overnight: resumable, fault-isolated, summarised, clean on interruption."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rasterio
from helpers import KOREA, LANDSAT, NAIP, ROTTERDAM, VEGAS

from geotrans.jobs.batch import SUMMARY, plan_jobs

ROOT = Path(__file__).resolve().parent.parent


def scene_folder(tmp_path, broken=True):
    """Real sample scenes, one in a sub-folder, plus broken files a night's folder may hold."""
    folder = tmp_path / "scenes"
    (folder / "sub").mkdir(parents=True)
    for scene in (LANDSAT, VEGAS, NAIP):
        shutil.copy(scene, folder / scene.name)
    shutil.copy(ROTTERDAM, folder / "sub" / ROTTERDAM.name)
    (folder / "notes.txt").write_text("not a scene, not matched")
    if broken:
        (folder / "broken.tif").write_text("this is not a GeoTIFF\n")
        (folder / "truncated.tif").write_bytes(KOREA.read_bytes()[:50_000])
    return folder


def geotrans(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "geotrans", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, **kwargs)


def test_plan_keeps_relative_paths_and_patterns(tmp_path):
    folder = scene_folder(tmp_path, broken=False)
    jobs = plan_jobs(folder, tmp_path / "maps", recursive=True)
    assert [Path(j.dst).relative_to(tmp_path / "maps").as_posix() for j in jobs] == sorted(
        [LANDSAT.name, NAIP.name, VEGAS.name, f"sub/{ROTTERDAM.name}"])
    assert len(plan_jobs(folder, tmp_path / "maps")) == 3  # not recursive
    assert [Path(j.src).name for j in plan_jobs(folder, tmp_path / "maps", ["vegas*"])] == [VEGAS.name]
    listing = tmp_path / "scenes.txt"
    listing.write_text(f"{folder / VEGAS.name}\n# a comment\n{folder / 'sub' / ROTTERDAM.name}\n")
    jobs = plan_jobs(None, tmp_path / "maps", list_file=listing)
    assert [Path(j.dst).name for j in jobs] == [VEGAS.name, ROTTERDAM.name]


@pytest.mark.slow
def test_mixed_folder_maps_the_good_and_lists_the_broken(tmp_path, narrow_model_file):
    folder = scene_folder(tmp_path)
    out = tmp_path / "maps"
    result = geotrans("run", folder, "--out", out, "--recursive", "--model", narrow_model_file, "-q")
    assert result.returncode == 1, result.stderr
    summary = json.loads((out / SUMMARY).read_text())
    status = {Path(s["src"]).name: s for s in summary["scenes"]}
    assert {n: s["status"] for n, s in status.items()} == {
        LANDSAT.name: "done", VEGAS.name: "done", NAIP.name: "done", ROTTERDAM.name: "done",
        "broken.tif": "failed", "truncated.tif": "failed"}
    assert "not a readable raster" in status["broken.tif"]["error"]
    assert status["truncated.tif"]["error"]
    assert summary["totals"]["done"] == 4 and summary["totals"]["failed"] == 2
    assert status[LANDSAT.name]["tiles_run"] == 16 and status[LANDSAT.name]["megapixels_per_second"] > 0
    for name in (LANDSAT.name, VEGAS.name, NAIP.name, f"sub/{ROTTERDAM.name}"):
        with rasterio.open(out / name) as ds, rasterio.open(folder / name) as src:
            assert (ds.crs, ds.transform, ds.shape) == (src.crs, src.transform, src.shape)
    assert not (out / "broken.tif").exists() and not list(out.rglob("*.part"))
    assert "failed" in result.stdout and "broken.tif" in result.stdout  # the table


@pytest.mark.slow
def test_changed_parameters_redo_and_force_redoes(tmp_path, narrow_model_file):
    folder = scene_folder(tmp_path, broken=False)
    out = tmp_path / "maps"
    assert geotrans("run", folder, "--out", out, "--model", narrow_model_file, "-q").returncode == 0
    statuses = lambda: {s["status"] for s in json.loads((out / SUMMARY).read_text())["scenes"]}  # noqa: E731
    assert geotrans("run", folder, "--out", out, "--model", narrow_model_file, "-q").returncode == 0
    assert statuses() == {"current"}
    assert geotrans("run", folder, "--out", out, "--model", narrow_model_file, "--overlap", "32", "-q").returncode == 0
    assert statuses() == {"done"}
    os.utime(folder / VEGAS.name)  # a touched source is redone, the rest is current
    geotrans("run", folder, "--out", out, "--model", narrow_model_file, "--overlap", "32", "-q")
    scenes = json.loads((out / SUMMARY).read_text())["scenes"]
    assert {Path(s["src"]).name: s["status"] for s in scenes}[VEGAS.name] == "done"
    assert sum(s["status"] == "current" for s in scenes) == 2
    geotrans("run", folder, "--out", out, "--model", narrow_model_file, "--overlap", "32", "--force", "-q")
    assert statuses() == {"done"}


@pytest.mark.slow
def test_killed_run_resumes_without_redoing_finished_scenes(tmp_path, narrow_model_file):
    folder = scene_folder(tmp_path, broken=False)
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    cmd = [sys.executable, "-m", "geotrans", "run", str(folder), "--out", str(resumed), "--model",
           str(narrow_model_file), "-q", "--batch-size", "1"]
    uninterrupted = [str(reference) if part == str(resumed) else part for part in cmd]
    assert subprocess.run(uninterrupted, cwd=ROOT).returncode == 0

    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (resumed / SUMMARY).exists():  # written after each finished scene
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished_before = {s["src"] for s in json.loads((resumed / SUMMARY).read_text())["scenes"] if s["status"] == "done"}
    assert 1 <= len(finished_before) < 3

    assert subprocess.run(cmd, cwd=ROOT).returncode == 0
    scenes = json.loads((resumed / SUMMARY).read_text())["scenes"]
    for scene in scenes:  # finished scenes were not recomputed
        assert scene["status"] == ("current" if scene["src"] in finished_before else "done")
    for name in (LANDSAT.name, VEGAS.name, NAIP.name):
        assert (resumed / name).read_bytes() == (reference / name).read_bytes()
    assert not list(resumed.glob(".*.part"))


@pytest.mark.slow
def test_sigterm_leaves_no_temporary_file(tmp_path, narrow_model_file):
    folder = tmp_path / "scenes"
    folder.mkdir()
    for name in ("a", "b", "c", "d"):
        shutil.copy(KOREA, folder / f"{name}.tif")
    out = tmp_path / "maps"
    proc = subprocess.Popen([sys.executable, "-m", "geotrans", "run", str(folder), "--out", str(out), "--model",
                             str(narrow_model_file), "--batch-size", "1", "--overlap", "128"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    # the first scene's map being written (not a summary's temporary file: after the last scene's, the run
    # can end before the signal is sent, and a signal to an ended process is dropped)
    while not (out.exists() and list(out.glob(".a.tif.*.part"))):
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before it could be signalled"
        time.sleep(0.005)
    assert proc.poll() is None, "run ended before it could be signalled"
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr, (stdout, stderr)
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]
    summary = json.loads((out / SUMMARY).read_text())
    assert summary["totals"]["interrupted"] is True


@pytest.mark.slow
def test_dask_local_cluster_gives_the_serial_outputs(tmp_path, narrow_model_file):
    folder = scene_folder(tmp_path)
    serial, spread = tmp_path / "serial", tmp_path / "dask"
    assert geotrans("run", folder, "--out", serial, "--recursive", "--model", narrow_model_file, "-q").returncode == 1
    result = geotrans("run", folder, "--out", spread, "--recursive", "--model", narrow_model_file, "-q",
                      "--cluster", "local:2", timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]  # the broken scenes fail there too
    a = json.loads((serial / SUMMARY).read_text())["scenes"]
    b = json.loads((spread / SUMMARY).read_text())["scenes"]
    assert [(s["src"], s["status"], s["error"]) for s in a] == [(s["src"], s["status"], s["error"]) for s in b]
    for name in (LANDSAT.name, VEGAS.name, NAIP.name, f"sub/{ROTTERDAM.name}"):
        assert (spread / name).read_bytes() == (serial / name).read_bytes()
    # Resume works the same on the cluster: everything done is skipped.
    geotrans("run", folder, "--out", spread, "--recursive", "--model", narrow_model_file, "-q", "--cluster", "local:2",
             timeout=300)
    statuses = [s["status"] for s in json.loads((spread / SUMMARY).read_text())["scenes"]]
    assert statuses.count("current") == 4 and statuses.count("failed") == 2


@pytest.mark.slow
def test_bad_cluster_spec_is_a_one_line_error(tmp_path, narrow_model_file):
    folder = scene_folder(tmp_path, broken=False)
    result = geotrans("run", folder, "--out", tmp_path / "maps", "--model", narrow_model_file, "--cluster", "big")
    assert result.returncode != 0 and "local:N" in result.stderr and "Traceback" not in result.stderr


def test_gpu_out_of_memory_retries_with_half_the_batch(tmp_path):
    import torch
    from helpers import IdentityGenerator

    from geotrans.jobs.batch import SceneJob, process_scene
    from geotrans.run.options import RunOptions

    class SmallGpu(IdentityGenerator):
        """Runs out of memory above 2 tiles a batch, as a GPU would."""

        def __init__(self):
            super().__init__()
            self.batches = []

        def forward(self, x, dropout_seeds=None):
            self.batches.append(x.shape[0])
            if x.shape[0] > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            return x.clone()

    net = SmallGpu()
    job = SceneJob(str(KOREA), str(tmp_path / "map.tif"))
    result = process_scene(job, net, None, RunOptions(batch_size=8, device="cpu"))
    assert result.status == "done" and result.tiles_run == 25
    assert net.batches[:2] == [8, 4] and max(net.batches[2:]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]

    class NoGpu(SmallGpu):
        def forward(self, x, dropout_seeds=None):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    result = process_scene(SceneJob(str(KOREA), str(tmp_path / "b.tif")), NoGpu(), None,
                           RunOptions(batch_size=4, device="cpu"))
    assert result.status == "failed" and "batch size 1" in result.error
    assert not (tmp_path / "b.tif").exists()


@pytest.mark.slow
def test_folder_mode_option_errors_are_one_line(tmp_path, narrow_model_file):
    folder = scene_folder(tmp_path, broken=False)
    for args, message in ((["--bands", "9,9"], "three bands"), (["--preview", tmp_path / "p.png"], "single scene")):
        result = geotrans("run", folder, "--out", tmp_path / "maps", "--model", narrow_model_file, *args)
        assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = geotrans("run", empty, "--out", tmp_path / "maps", "--model", narrow_model_file)
    assert result.returncode != 0 and "no scenes matching" in result.stderr


def test_a_bug_stops_a_folder_run_instead_of_failing_the_scene(tmp_path):
    """Our errors and I/O errors fail one scene; anything else is a bug and must surface."""
    from helpers import IdentityGenerator

    from geotrans.jobs.batch import SceneJob, process_scene
    from geotrans.run.options import RunOptions

    class Buggy(IdentityGenerator):
        def forward(self, x, dropout_seeds=None):
            raise ZeroDivisionError("a bug")

    job = SceneJob(str(KOREA), str(tmp_path / "map.tif"))
    with pytest.raises(ZeroDivisionError):
        process_scene(job, Buggy(), None, RunOptions(device="cpu"))
    assert list(tmp_path.iterdir()) == []
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"not a tiff")
    result = process_scene(SceneJob(str(broken), str(tmp_path / "out.tif")), IdentityGenerator(), None,
                           RunOptions(device="cpu"))
    assert result.status == "failed" and "not a readable raster" in result.error
