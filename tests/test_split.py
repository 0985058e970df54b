"""One scene split into strips of rows across a Dask cluster equals the serial run."""
import numpy as np
import pytest
import rasterio
from helpers import KOREA, LANDSAT, run_cli

from geotrans.io.tiler import RowStrip, TileGrid, row_strips
from geotrans.jobs.options import Cluster
from geotrans.jobs.split import strip_grid, strip_rows_for, translate_split
from geotrans.model.weights import load_generator
from geotrans.run.options import RunOptions
from geotrans.run.pipeline import translate
from geotrans.run.plan import plan_run

pytest.importorskip("distributed")


def test_strips_cover_each_row_once_and_hold_every_tile_touching_them():
    grid = TileGrid(5000, 700, 256, 64)
    strips = row_strips(grid, 1024)
    assert [(s.start, s.stop) for s in strips] == [(0, 1024), (1024, 2048), (2048, 3072), (3072, 4096), (4096, 5000)]
    for strip in strips:
        held = [t for t in grid if strip.holds(t)]
        assert held == list(strip.tiles(grid))
        assert min(t.row for t in held) == strip.first and max(t.row_stop for t in held) == strip.last
        assert strip.first <= strip.start and strip.last >= strip.stop
    # Every tile is held by some strip, and the ones at a seam by both neighbours.
    counts = [sum(s.holds(t) for s in strips) for t in grid]
    assert min(counts) == 1 and max(counts) == 2
    with pytest.raises(ValueError):
        row_strips(grid, 1000)


def test_strip_rows_follow_the_worker_count_within_bounds():
    assert strip_rows_for(100_000, 32) == 2048  # 782 rows a strip would be too thin: seams would cost too much
    assert strip_rows_for(100_000, 2) == 8192  # capped: a strip never holds more than 8192 rows
    assert strip_rows_for(40_000, 4) == 2560  # 4 strips per worker, rounded up to whole blocks
    assert strip_rows_for(40_000, 4, requested=512) == 512


def test_a_strip_grid_is_the_rows_it_owns():
    grid = {"crs": None, "transform": rasterio.Affine(2.0, 0, 100, 0, -2.0, 500), "width": 10, "height": 900}
    sub = strip_grid(grid, RowStrip(256, 512, 64, 704))
    assert sub["height"] == 256 and sub["transform"].f == 500 - 2 * 256 and sub["transform"].c == 100


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.dataset_mask(), ds.tags(), ds.overviews(1), ds.profile


@pytest.mark.slow
@pytest.mark.parametrize("scene, model", [(LANDSAT, "narrow"), (KOREA, "shipped")], ids=["nodata", "warped-back"])
def test_a_split_run_equals_the_serial_run_pixel_for_pixel(tmp_path, narrow_model_file, scene, model):
    """Landsat has a nodata mask; Korea (0.47 m) is resampled for the shipped model (0.9 m) and warped back.
    Strips of 256 rows make several seams."""
    model_path = str(narrow_model_file) if model == "narrow" else None
    generator, info = load_generator(model_path)
    options = RunOptions(precision="fp32", strip_rows=256)
    plan = plan_run(scene, options, info)
    assert len(row_strips(plan.tiles, 256)) >= 3
    serial = translate(plan, tmp_path / "serial.tif", generator)
    split = translate_split(plan, tmp_path / "split.tif", model_path, Cluster(local_workers=2))
    assert split.tiles_run > serial.tiles_run  # the seams ran twice
    a, b = _read(serial.dst), _read(split.dst)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[2] == b[2] and a[3] == b[3]
    assert {k: a[4][k] for k in ("crs", "transform", "width", "height", "blockxsize", "compress")} == \
        {k: b[4][k] for k in ("crs", "transform", "width", "height", "blockxsize", "compress")}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["serial.tif", "split.tif"]


@pytest.mark.slow
def test_an_interrupted_split_run_leaves_no_strip_files(tmp_path, narrow_model_file):
    _, info = load_generator(narrow_model_file)
    plan = plan_run(LANDSAT, RunOptions(strip_rows=256), info)

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        translate_split(plan, tmp_path / "map.tif", str(narrow_model_file), Cluster(local_workers=2),
                        progress=interrupt)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_cli_splits_one_scene_across_a_local_cluster(tmp_path, narrow_model_file):
    out = tmp_path / "map.tif"
    result = run_cli("run", LANDSAT, "--out", out, "--model", narrow_model_file, "--cluster", "local:2",
                     "--strip-rows", "256", "--precision", "fp32", "--cog")
    assert result.exit_code == 0, result.output
    assert "strips of up to 256 rows on 2 workers" in result.output
    serial = tmp_path / "serial.tif"
    assert run_cli("run", LANDSAT, "--out", serial, "--model", narrow_model_file, "--precision", "fp32",
                   "--cog").exit_code == 0
    a, b = _read(serial), _read(out)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[3] == b[3]
    assert b[4]["driver"] == "GTiff" and b[2]["GEOTRANS_SOURCE"] == LANDSAT.name


@pytest.mark.slow
def test_a_strip_whose_worker_is_killed_runs_again_elsewhere(tmp_path, narrow_model_file):
    """A worker is killed (SIGKILL) while strips are in flight; Dask reruns its strip and the map is still
    the serial one."""
    import os
    import signal

    from distributed import LocalCluster

    generator, info = load_generator(narrow_model_file)
    plan = plan_run(LANDSAT, RunOptions(precision="fp32", strip_rows=256), info)
    serial = translate(plan, tmp_path / "serial.tif", generator)
    killed = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        def kill_a_worker(done, total):
            if not killed:
                nanny = next(iter(cluster.workers.values()))
                killed.append(nanny.process.process.pid)
                os.kill(killed[0], signal.SIGKILL)

        split = translate_split(plan, tmp_path / "split.tif", str(narrow_model_file),
                                Cluster(scheduler=cluster.scheduler_address), progress=kill_a_worker)
    assert killed
    assert np.array_equal(_read(serial.dst)[0], _read(split.dst)[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["serial.tif", "split.tif"]


def test_a_scene_smaller_than_two_strips_runs_as_today(tmp_path, narrow_model_file):
    """Landsat's 718 rows make one strip at the default size: no cluster is started for it."""
    result = run_cli("run", LANDSAT, "--out", tmp_path / "map.tif", "--model", narrow_model_file,
                     "--cluster", "local:2")
    assert result.exit_code == 0, result.output
    assert "dask:" not in result.output and "strips" not in result.output
    assert (tmp_path / "map.tif").exists()


def test_a_scene_too_small_to_split_runs_on_the_scheduler_it_was_given_as_one_strip(tmp_path, narrow_model_file):
    """A remote scheduler may hold the only GPU: --scheduler is never ignored, whatever the scene's size."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        result = run_cli("run", LANDSAT, "--out", tmp_path / "map.tif", "--model", narrow_model_file,
                         "--scheduler", cluster.scheduler_address, "--precision", "fp32")
    assert result.exit_code == 0, result.output
    assert "dask: 1 workers" in result.output and "strips of up to" in result.output
    serial = tmp_path / "serial.tif"
    assert run_cli("run", LANDSAT, "--out", serial, "--model", narrow_model_file, "--precision", "fp32").exit_code == 0
    assert np.array_equal(_read(serial)[0], _read(tmp_path / "map.tif")[0])


@pytest.mark.slow
@pytest.mark.parametrize("when, group", [("licence of the model", False), ("dask: 2 workers", True)],
                         ids=["starting-to-geotrans", "running-to-the-terminal-s-group"])
def test_ctrl_c_on_a_local_cluster_is_one_line_without_tracebacks_from_dask(tmp_path, narrow_model_file, when,
                                                                           group):
    """Ctrl-C while the local cluster starts or runs: geotrans's own line, exit 130, and nothing from Dask
    (no traceback at exit for a half-started cluster, no worker warnings)."""
    import os
    import shutil
    import signal
    import subprocess
    import sys

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for name in "abcdef":
        shutil.copy(KOREA, scenes / f"{name}.tif")
    proc = subprocess.Popen([sys.executable, "-m", "geotrans", "run", str(scenes), "--out", str(tmp_path / "maps"),
                             "--cluster", "local:2", "--model", str(narrow_model_file), "--batch-size", "1"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if when in line:
            break
    os.killpg(proc.pid, signal.SIGINT) if group else proc.send_signal(signal.SIGINT)
    seen += proc.stderr.read().splitlines(keepends=True)
    proc.wait(timeout=120)
    assert proc.returncode == 130, "".join(seen)
    assert all(line.startswith("geotrans: ") for line in seen), "".join(seen)
    assert "run the same command again to resume" in seen[-1]
