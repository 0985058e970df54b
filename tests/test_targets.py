"""The hostile cases: geotrans never writes over what the user owns (geotrans.io.targets and the writes it guards)."""
from __future__ import annotations

import fcntl
import gzip
import hashlib
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import KOREA, LANDSAT, VEGAS, assert_one_line_error, run_cli

from geotrans.errors import OutputError
from geotrans.io.files import durable_replace, is_temporary_of, lock_path, output_lock, temporary_path
from geotrans.io.targets import Target, check_target, disk_file

ROOT = Path(__file__).resolve().parent.parent


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_preview_over_the_input_is_refused_and_the_input_kept(tmp_path, scene, narrow_model_file):
    before = digest(scene)
    result = run_cli("run", scene, "--out", tmp_path / "out.tif", "--preview", scene, "--model", narrow_model_file)
    assert_one_line_error(result, "is an input of the run")
    assert digest(scene) == before and not (tmp_path / "out.tif").exists()


def test_a_preview_over_the_map_is_refused(tmp_path, scene, narrow_model_file):
    out = tmp_path / "out.tif"
    result = run_cli("run", scene, "--out", out, "--preview", out, "--model", narrow_model_file)
    assert_one_line_error(result, "is also the run's")
    assert not out.exists()


def test_an_existing_preview_is_kept_without_overwrite(tmp_path, scene, narrow_model_file):
    preview = tmp_path / "look.png"
    preview.write_bytes(b"the user's picture")
    result = run_cli("run", scene, "--out", tmp_path / "out.tif", "--preview", preview, "--model", narrow_model_file)
    assert_one_line_error(result, "already exists")
    assert preview.read_bytes() == b"the user's picture" and not (tmp_path / "out.tif").exists()


def test_a_zipped_input_never_has_its_archive_replaced(tmp_path, narrow_model_file):
    archive = tmp_path / "scenes.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(VEGAS, "a.tif")
        z.write(LANDSAT, "b.tif")
    before = digest(archive)
    for form in (f"/vsizip/{archive}/a.tif", f"/vsizip/{{{archive}}}/a.tif"):
        result = run_cli("run", form, "--out", archive, "--overwrite", "--model", narrow_model_file)
        assert_one_line_error(result, "is an input of the run")
    assert digest(archive) == before


def test_a_gzipped_input_never_has_its_file_replaced(tmp_path, narrow_model_file):
    packed = tmp_path / "in.tif.gz"
    packed.write_bytes(gzip.compress(VEGAS.read_bytes()))
    before = digest(packed)
    result = run_cli("run", f"/vsigzip/{packed}", "--out", packed, "--overwrite", "--model", narrow_model_file)
    assert_one_line_error(result, "is an input of the run")
    assert digest(packed) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_a_device_node_is_never_replaced(tmp_path, scene, narrow_model_file):
    # A private node in a temporary folder (never the machine's own /dev/null).
    node = tmp_path / "null"
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    result = run_cli("run", scene, "--out", node, "--overwrite", "--model", narrow_model_file)
    assert_one_line_error(result, "is not a regular file")
    assert stat.S_ISCHR(os.stat(node).st_mode)


def test_a_pipe_is_never_replaced(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="not a regular file"):
        check_target(Target(fifo, "map"), overwrite=True)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_log_over_the_input_or_the_map_is_refused(tmp_path, scene, narrow_model_file):
    before = digest(scene)
    result = run_cli("run", scene, "--out", tmp_path / "out.tif", "--log", scene, "--model", narrow_model_file)
    assert_one_line_error(result, "is an input of the run")
    assert digest(scene) == before
    out = tmp_path / "out.tif"
    result = run_cli("run", scene, "--out", out, "--log", out, "--model", narrow_model_file)
    assert_one_line_error(result, "is also the run's")
    assert not out.exists()


def test_a_log_is_appended_to_a_text_file_but_never_to_an_image(tmp_path, scene, narrow_model_file):
    log = tmp_path / "run.log"
    yesterday = "2026-12-05 22:00:00,000 INFO geotrans.run.pipeline: yesterday's run\n"  # a geotrans log (#42)
    log.write_text(yesterday)
    result = run_cli("run", scene, "--out", tmp_path / "out.tif", "--log", log, "--model", narrow_model_file, "-q")
    assert result.exit_code == 0, result.output
    assert log.read_text().startswith(yesterday) and "wrote" in log.read_text()
    other_map = tmp_path / "other.tif"
    shutil.copy(VEGAS, other_map)
    before = digest(other_map)
    result = run_cli("run", scene, "--out", tmp_path / "out2.tif", "--log", other_map, "--model", narrow_model_file)
    assert_one_line_error(result, "is an image, not a log")
    assert digest(other_map) == before


def test_a_folder_run_leaves_a_file_it_did_not_write_unless_told(tmp_path, narrow_model_file):
    scenes, maps = tmp_path / "scenes", tmp_path / "maps"
    scenes.mkdir()
    maps.mkdir()
    shutil.copy(VEGAS, scenes / "a.tif")
    shutil.copy(VEGAS, scenes / "c.tif")
    users = maps / "c.tif"
    shutil.copy(LANDSAT, users)  # the user's own file, where geotrans would put c's map
    before = digest(users)
    result = run_cli("run", scenes, "--out", maps, "--model", narrow_model_file, "-q")
    assert result.exit_code == 1 and "is not a map geotrans wrote" in result.output
    assert digest(users) == before and (maps / "a.tif").exists()
    # A map geotrans wrote (stale or not) is its own to redo; --overwrite hands it the user's file too.
    result = run_cli("run", scenes, "--out", maps, "--model", narrow_model_file, "-q", "--overwrite")
    assert result.exit_code == 0, result.output
    with rasterio.open(users) as ds:
        assert ds.tags()["GEOTRANS_MODEL"] == "random-ngf8-test"


def test_cleaning_a_killed_runs_files_leaves_a_live_run_with_a_longer_name_alone(tmp_path):
    out = tmp_path / "m.tif"
    other = tmp_path / "m.tif.x.tif"
    live_part = tmp_path / ".m.tif.x.tif.1234abcd.part"
    live_part.write_bytes(b"x")
    stale_part, stale_grid = _killed_run_left(out, "", "model-grid")
    fd = os.open(lock_path(other), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # the other run is alive: its lock is held
    try:
        with output_lock(out):
            pass
        assert live_part.exists() and lock_path(other).exists()
        assert not stale_part.exists() and not stale_grid.exists()
    finally:
        os.close(fd)
    assert not is_temporary_of(".m.tif.lock", out)


def test_no_other_targets_temporary_file_is_taken_for_one_of_a_maps():
    """Names chosen to look like a map's temporary files: its name, then a stage, a tag or ``.part``."""
    out = Path("m.tif")
    others = ["m.tif.x.tif", "m.tif.model-grid", "m.tif.0badf00d", "m.tif.0badf00d.part", "m.tif.strip-ab-00001",
              "m.tif.0badf00d.model-grid", "m.tif.0badf00d.model-grid.part", "m.tif.aux.xml", "m.tif.msk", "m.ti"]
    stages = [None, "model-grid", "strip-0badf00d-00003"]
    sidecars = ["", ".msk", ".aux.xml", ".cog", ".cog.msk"]

    def temporaries(name: str) -> list[str]:
        return [temporary_path(Path(name), stage=stage).name + sidecar for stage in stages for sidecar in sidecars]

    assert all(is_temporary_of(name, out) for name in temporaries("m.tif"))
    taken = [name for other in others for name in temporaries(other) if is_temporary_of(name, out)]
    assert taken == []


def test_a_finished_file_reaches_the_disk_before_and_after_its_rename(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")),
                                                 real_fsync(fd)))
    tmp, target = tmp_path / ".t.0badf00d.part", tmp_path / "t.txt"
    tmp.write_text("done")
    durable_replace(tmp, target)
    assert synced == [str(tmp), str(tmp_path)]
    assert target.read_text() == "done"


def test_resume_redoes_a_map_truncated_after_it_was_written(tmp_path, narrow_model_file):
    scenes, maps = tmp_path / "scenes", tmp_path / "maps"
    scenes.mkdir()
    shutil.copy(KOREA, scenes / "c.tif")
    assert run_cli("run", scenes, "--out", maps, "--model", narrow_model_file, "-q").exit_code == 0
    again = run_cli("run", scenes, "--out", maps, "--model", narrow_model_file)
    assert "already current" in again.output
    size = (maps / "c.tif").stat().st_size
    os.truncate(maps / "c.tif", size // 2)
    result = run_cli("run", scenes, "--out", maps, "--model", narrow_model_file)
    assert result.exit_code == 0, result.output
    assert "is damaged" in result.output and "translating it again" in result.output
    with rasterio.open(maps / "c.tif") as ds:
        ds.read()


class SilentServer:
    """A loopback server that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.mark.slow
def test_a_silent_server_ends_in_one_line_after_the_timeout(tmp_path, narrow_model_file):
    server = SilentServer()
    out = tmp_path / "o.tif"
    try:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "geotrans", "run", f"/vsicurl/http://127.0.0.1:{server.port}/x.tif",
                               "--out", str(out), "--model", str(narrow_model_file), "--http-timeout", "2"],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
        seconds = time.monotonic() - started
    finally:
        server.close()
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and seconds < 60
    assert [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert list(tmp_path.iterdir()) == []


def test_gdal_paths_name_their_file_on_disk(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(b"")
    assert disk_file(f"/vsizip/{archive}/x/y.tif") == archive
    assert disk_file(f"/vsizip/{{{archive}}}/y.tif") == archive
    assert disk_file(f"/vsigzip/{tmp_path}/in.tif.gz") == tmp_path / "in.tif.gz"
    assert disk_file(f"/vsisubfile/0_100,{archive}") == archive
    assert disk_file("/vsicurl/http://example.com/x.tif") is None
    assert disk_file("https://example.com/x.tif") is None
    assert disk_file("scene.tif") == Path("scene.tif")


def test_an_output_that_is_a_gdal_path_or_a_url_is_refused():
    for bad in ("/vsimem/x.tif", "/vsizip/out.zip/x.tif", "s3://bucket/x.tif"):
        with pytest.raises(OutputError, match="must be a local file"):
            check_target(Target(bad, "map"))


@pytest.mark.parametrize("content, said", [
    ("[1, 2]", "not a GeoJSON object"),
    ('{"type": "Point", "coordinates": [-115.169, 36.2394]}', "not an area"),
    ('{"type": "LineString", "coordinates": [[-115.17, 36.239], [-115.168, 36.24]]}', "not an area"),
    ('{"type": "Polygon", "coordinates": [[[-115.17, 36.239], [-115.168, 36.239], [-115.17, 36.239]]]}',
     "not an area"),
    # three points on one line: reprojected, rounding gives the polygon a sliver of area
    ('{"type": "Polygon", "coordinates": [[[-115.1695, 36.2389], [-115.1690, 36.2394], [-115.1685, 36.2399], '
     '[-115.1695, 36.2389]]]}', "not an area"),
    # a real square of 2 cm inside the scene, between the centres of the pixels the model reads
    ('{"type": "Polygon", "coordinates": [[[-115.16900, 36.23940], [-115.1689998, 36.23940], '
     '[-115.1689998, 36.2394002], [-115.16900, 36.2394002], [-115.16900, 36.23940]]]}', "holds no pixel"),
])
def test_an_aoi_that_is_not_an_area_is_one_line(tmp_path, narrow_model_file, content, said):
    aoi = tmp_path / "aoi.geojson"
    aoi.write_text(content)
    out = tmp_path / "o.tif"
    result = run_cli("run", VEGAS, "--out", out, "--aoi", aoi, "--model", narrow_model_file)
    assert_one_line_error(result, said)
    assert not out.exists()


@pytest.mark.parametrize("profile", ["../../elsewhere", "a/b", "..", ""])
def test_a_qgis_profile_that_leaves_the_profiles_folder_is_refused(tmp_path, profile):
    (tmp_path / "profiles" / "default").mkdir(parents=True)
    result = run_cli("qgis", "install", "--profile", profile, "--profiles-path", tmp_path / "profiles")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "not a path" in result.output or "not found" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profiles"]


def test_a_scene_list_keeps_urls_and_gdal_paths_as_written(tmp_path):
    from geotrans.jobs.batch import plan_jobs

    listing = tmp_path / "scenes.txt"
    listing.write_text("/vsicurl/https://example.com/data/a.tif\nhttps://example.com/b.tif?token=1\n"
                       f"/vsizip/{tmp_path}/s.zip/c.tif\n")
    jobs = plan_jobs(None, tmp_path / "maps", list_file=listing)
    assert [j.src for j in jobs] == ["/vsicurl/https://example.com/data/a.tif", "https://example.com/b.tif?token=1",
                                     f"/vsizip/{tmp_path}/s.zip/c.tif"]
    assert [Path(j.dst).name for j in jobs] == ["a.tif", "b.tif", "c.tif"]


def test_folder_mode_matches_any_case_and_says_what_it_leaves_out(tmp_path, caplog):
    import logging

    from geotrans.jobs.batch import plan_jobs

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    shutil.copy(LANDSAT, scenes / "LC08.TIF")
    (scenes / "gone.tif").symlink_to(tmp_path / "nowhere.tif")
    with caplog.at_level(logging.WARNING, logger="geotrans.jobs.batch"):
        jobs = plan_jobs(scenes, tmp_path / "maps")
    assert [Path(j.src).name for j in jobs] == ["LC08.TIF"]
    assert "gone.tif" in caplog.text and "link" in caplog.text


@pytest.mark.parametrize("co, said", [
    (["--co", "FOO=1"], "does not support creation option FOO"),
    (["--co", "ZLEVEL=99"], "ZLEVEL=99"),
    (["--compress", "deflate", "--co", "COMPRESS=LZW"], "contradicts --compress deflate"),
])
def test_creation_options_gdal_would_ignore_are_refused_before_the_run(tmp_path, narrow_model_file, co, said):
    out = tmp_path / "o.tif"
    result = run_cli("run", VEGAS, "--out", out, "--model", narrow_model_file, *co)
    assert_one_line_error(result, said)
    assert not out.exists()


def test_creation_options_gdal_knows_still_work(tmp_path, narrow_model_file):
    out = tmp_path / "o.tif"
    result = run_cli("run", VEGAS, "--out", out, "--model", narrow_model_file, "--co", "ZLEVEL=9",
                     "--co", "COMPRESS=DEFLATE", "-q")
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as ds:
        assert ds.compression.name.lower() == "deflate"


def test_a_creation_option_s_compression_overrides_the_default_compression(tmp_path, narrow_model_file):
    out = tmp_path / "o.tif"
    result = run_cli("run", VEGAS, "--out", out, "--model", narrow_model_file, "--co", "COMPRESS=LZW", "-q")
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as ds:
        assert ds.compression.name.lower() == "lzw"
        assert ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"  # lzw's own options, as --compress lzw


def test_a_paletted_scene_is_expanded_through_its_colour_table(tmp_path, narrow_model_file):
    # The real Vegas crop, quantised to a colour table of 4 entries (a paletted scene of the same place).
    from geotrans.io.scene import SceneReader, inspect_scene
    from geotrans.io.tiler import TileGrid

    with rasterio.open(VEGAS) as ds:
        grey = ds.read(1)
        profile = {"driver": "GTiff", "width": ds.width, "height": ds.height, "count": 1, "dtype": "uint8",
                   "crs": ds.crs, "transform": ds.transform}
    codes = (grey // 64).astype("uint8")[None]
    table = {0: (10, 20, 200, 255), 1: (30, 160, 40, 255), 2: (200, 180, 150, 255), 3: (250, 250, 250, 255)}
    paletted = tmp_path / "paletted.tif"
    with rasterio.open(paletted, "w", **profile) as dst:
        dst.write(codes)
        dst.write_colormap(1, table)
    scene = inspect_scene(paletted)  # its own resolution: no resampling, so pixels compare one to one
    assert scene.path.startswith("vrt://") and scene.bands == (1, 2, 3)
    tile = next(iter(TileGrid(profile["height"], profile["width"], 256, 0)))
    with SceneReader(scene, 256) as reader:
        values, _ = reader.read(tile)
    lut = np.array([table[i][:3] for i in range(4)], dtype=np.uint8)
    expected = lut[codes[0, :256, :256]].transpose(2, 0, 1)
    assert np.array_equal(values[:, :256, :256], expected)
    out = tmp_path / "map.tif"
    assert run_cli("run", paletted, "--out", out, "--model", narrow_model_file, "-q").exit_code == 0
    assert run_cli("run", paletted, "--out", paletted, "--overwrite", "--model", narrow_model_file).exit_code == 1


def test_a_missing_input_is_said_before_the_model_loads(tmp_path, monkeypatch):
    import geotrans.model.weights

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded first")

    monkeypatch.setattr(geotrans.model.weights, "load_generator", never)
    result = run_cli("run", tmp_path / "nope.tif", "--out", tmp_path / "o.tif")
    assert_one_line_error(result, "no such file")
    result = run_cli("run", VEGAS, "--out", tmp_path / "o.tif", "--aoi", tmp_path / "no-aoi.geojson")
    assert_one_line_error(result, "no such file")
    result = run_cli("run", tmp_path / "no-scenes", "--out", tmp_path / "maps")
    assert_one_line_error(result, "no such file")
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    shutil.copy(KOREA, scenes / "a.tif")
    for args in (["--out", tmp_path / "typo" / "maps"], ["--out", tmp_path / "maps", "--vectors", tmp_path / "typo" / "v"]):
        result = run_cli("run", scenes, *args)  # the output folder is made, but never a chain of them
        assert_one_line_error(result, "no such folder to make")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenes"]


def test_a_folder_rerun_keeps_the_earlier_records_of_scenes_it_does_not_take(tmp_path, narrow_model_file):
    import json

    scenes, maps = tmp_path / "scenes", tmp_path / "maps"
    scenes.mkdir()
    shutil.copy(VEGAS, scenes / "a.tif")
    shutil.copy(LANDSAT, scenes / "b.tiff")
    assert run_cli("run", scenes, "--out", maps, "--model", narrow_model_file, "-q", "--pattern", "*.tif").exit_code == 0
    first = json.loads((maps / "geotrans-summary.json").read_text())["scenes"]
    assert run_cli("run", scenes, "--out", maps, "--model", narrow_model_file, "-q", "--pattern", "*.tiff").exit_code == 0
    records = {Path(r["src"]).name: r for r in json.loads((maps / "geotrans-summary.json").read_text())["scenes"]}
    assert records["a.tif"] == first[0] and records["a.tif"]["status"] == "done" and records["a.tif"]["tiles_run"] > 0
    assert records["b.tiff"]["status"] == "done"


@pytest.mark.parametrize("users", ['{"mine": 1}', "[1, 2]", "notes, not JSON"])
def test_a_summary_file_geotrans_did_not_write_is_left_alone_unless_told(tmp_path, narrow_model_file, users):
    import json

    scenes, maps = tmp_path / "scenes", tmp_path / "maps"
    scenes.mkdir()
    maps.mkdir()
    shutil.copy(KOREA, scenes / "a.tif")
    (maps / "geotrans-summary.json").write_text(users)
    result = run_cli("run", scenes, "--out", maps, "--model", narrow_model_file, "-q")
    assert_one_line_error(result, "is not a summary geotrans wrote")
    assert (maps / "geotrans-summary.json").read_text() == users and not (maps / "a.tif").exists()
    result = run_cli("run", scenes, "--out", maps, "--model", narrow_model_file, "-q", "--overwrite")
    assert result.exit_code == 0, result.output
    assert json.loads((maps / "geotrans-summary.json").read_text())["totals"]["done"] == 1


def float_scene(tmp_path, fill) -> Path:
    """The real Rotterdam float64 crop with ``fill`` (a function of the data) applied, no nodata declared."""
    from helpers import ROTTERDAM

    with rasterio.open(ROTTERDAM) as ds:
        data, profile = ds.read(), {**ds.profile, "nodata": None}
    path = tmp_path / "float.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(fill(data))
    return path


def test_the_plans_valid_fraction_is_the_mask_the_run_writes_for_nan_without_nodata(tmp_path, narrow_model_file):
    from geotrans.model.weights import read_model_info
    from geotrans.run.info import facts
    from geotrans.run.options import RunOptions
    from geotrans.run.plan import plan_run

    def holes(data):
        data = data.copy()
        data[:, :100, :] = np.nan  # the north half has no data, but no nodata value says so
        data[:, 150:, 150:] = 3.4e38  # a fill value in a corner
        return data

    scene = float_scene(tmp_path, holes)
    plan = plan_run(scene, RunOptions(native_res=True), read_model_info(narrow_model_file))
    out = tmp_path / "map.tif"
    assert run_cli("run", scene, "--out", out, "--model", narrow_model_file, "--native-res", "-q").exit_code == 0
    with rasterio.open(out) as ds:
        written = np.mean(ds.dataset_mask() > 0)
    assert facts(plan)["valid_fraction"] == pytest.approx(written, abs=0.02)
    assert written == pytest.approx(0.5 - 0.0625, abs=0.02)  # less the NaN half and the 50 x 50 corner


def test_a_scene_of_only_fill_and_infinite_values_exits_1_and_writes_nothing(tmp_path, narrow_model_file):
    scene = float_scene(tmp_path, lambda data: np.where(np.arange(data.shape[2]) % 2, np.inf, 3.4e38)
                        * np.ones_like(data))
    out = tmp_path / "map.tif"
    result = run_cli("run", scene, "--out", out, "--model", narrow_model_file)
    assert_one_line_error(result, "no valid pixels")
    assert not out.exists()


@pytest.mark.parametrize("palette", [[[255, 0]], [["red", 0, 0]], [[300, 0, 0]], "blue"])
def test_a_model_card_with_a_bad_palette_is_one_line(tmp_path, palette):
    from geotrans.model.generator import build_generator
    from geotrans.model.weights import save_generator

    model = tmp_path / "bad.safetensors"
    save_generator(build_generator(ngf=8), model, name="bad-palette", card={"palette": palette,
                                                                             "palette_max_delta_e": 15})
    result = run_cli("run", VEGAS, "--out", tmp_path / "o.tif", "--model", model)
    assert_one_line_error(result, "the model card's palette")
    assert not (tmp_path / "o.tif").exists()
    assert run_cli("run", VEGAS, "--out", tmp_path / "o.tif", "--model", model, "--palette", "off",
                   "-q").exit_code == 0


def test_a_batch_that_cannot_fit_in_memory_is_one_line(tmp_path, narrow_model_file, monkeypatch):
    # The allocator's refusal, provoked without allocating: a generator that raises what torch's CPU allocator does.
    from geotrans.run.runner import BatchRunner

    def refuse(self, images, seeds):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
                           "memory: you tried to allocate 78642413568 bytes.")

    monkeypatch.setattr(BatchRunner, "_forward", refuse)
    result = run_cli("run", VEGAS, "--out", tmp_path / "o.tif", "--model", narrow_model_file, "--batch-size", "64")
    assert_one_line_error(result, "does not fit in this machine's memory", "lower --batch-size")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_ctrl_c_acts_at_once_while_a_silent_server_holds_the_read(tmp_path, narrow_model_file, signum):
    import signal

    server = SilentServer()
    out = tmp_path / "o.tif"
    try:
        proc = subprocess.Popen([sys.executable, "-m", "geotrans", "run",
                                 f"/vsicurl/http://127.0.0.1:{server.port}/x.tif", "--out", str(out), "--model",
                                 str(narrow_model_file)], stderr=subprocess.PIPE, text=True, cwd=ROOT)
        deadline = time.monotonic() + 60
        while not server.held and time.monotonic() < deadline:  # GDAL is connected, waiting for an answer
            time.sleep(0.05)
        assert server.held, "geotrans never connected"
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(getattr(signal, signum))
        _, stderr = proc.communicate(timeout=30)
        waited = time.monotonic() - sent
    finally:
        server.close()
    assert proc.returncode == 130 and waited < 5, (proc.returncode, waited, stderr)
    assert "interrupted" in stderr and "Traceback" not in stderr and "Exception ignored" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_the_plans_valid_fraction_is_the_mask_the_run_writes_for_an_internal_mask_resampled(tmp_path,
                                                                                          narrow_model_file):
    # The real Vegas crop (0.27 m, so resampled to the model's 0.9 m) with an internal mask hiding a band of rows.
    from geotrans.run.info import facts
    from geotrans.run.options import RunOptions
    from geotrans.run.plan import plan_run

    with rasterio.open(VEGAS) as ds:
        data = ds.read([1, 2, 3])
        profile = {"driver": "GTiff", "width": ds.width, "height": ds.height, "count": 3, "dtype": "uint8",
                   "crs": ds.crs, "transform": ds.transform}
    mask = np.full(data.shape[1:], 255, np.uint8)
    mask[100:340, :] = 0
    scene = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(scene, "w", **profile) as dst:
        dst.write(data)
        dst.write_mask(mask)
    model = read_model_info_with_resolution(tmp_path, narrow_model_file)
    plan = plan_run(scene, RunOptions(native_res=True), model)
    assert plan.scene.grid.resampled
    out = tmp_path / "map.tif"
    assert run_cli("run", scene, "--out", out, "--model", model.path, "--native-res", "-q").exit_code == 0
    with rasterio.open(out) as ds:
        written = np.mean(ds.dataset_mask() > 0)
    assert facts(plan)["valid_fraction"] == pytest.approx(written, abs=0.02)
    assert written == pytest.approx(1 - 240 / 480, abs=0.03)


def read_model_info_with_resolution(tmp_path, narrow_model_file):
    """The narrow test model with a card stating the shipped model's 0.9 m, so scenes are resampled to it."""
    from geotrans.model.weights import load_generator, read_model_info, save_generator

    net, _ = load_generator(narrow_model_file)
    path = tmp_path / "narrow-0.9m.safetensors"
    save_generator(net, path, name="narrow-0.9m", card={"native_resolution_m": 0.9})
    return read_model_info(path)


@pytest.mark.parametrize("case", ["input", "map", "existing", "sidecar"])
def test_the_library_s_run_scene_checks_its_preview_as_the_cli_does(tmp_path, narrow_model_file, case):
    import hashlib
    import shutil

    from geotrans.errors import GeotransError
    from geotrans.jobs.scene import run_scene
    from geotrans.run.options import RunOptions

    scene = tmp_path / "k.tif"
    shutil.copy(KOREA, scene)
    out = tmp_path / "m.tif"
    preview = {"input": scene, "map": out, "existing": tmp_path / "mine.png",
               "sidecar": tmp_path / "k.tif.aux.xml"}[case]
    if case in ("existing", "sidecar"):
        preview.write_bytes(b"the user's own file")
    before = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}
    with pytest.raises(GeotransError):
        run_scene(str(scene), str(out), RunOptions(), narrow_model_file, preview=str(preview))
    assert {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("log_name", ["k.tif", "sub/k.TIFF"])
def test_a_folder_run_s_log_is_never_where_a_map_would_be_written(tmp_path, narrow_model_file, log_name):
    import shutil

    scenes, maps = tmp_path / "scenes", tmp_path / "maps"
    scenes.mkdir()
    shutil.copy(KOREA, scenes / "k.tif")
    log = maps / log_name
    log.parent.mkdir(parents=True)
    log.write_text("2026-12-07 INFO geotrans: an earlier run's log\n")
    result = run_cli("run", scenes, "--out", maps, "--log", log, "--overwrite", "--model", narrow_model_file)
    assert_one_line_error(result, "named like its outputs")
    assert log.read_text() == "2026-12-07 INFO geotrans: an earlier run's log\n"


@pytest.mark.parametrize("content, said", [
    ('{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]], "crs": 4326}', "not a named CRS"),
    ('{"type": "FeatureCollection", "features": [1, 2]}', "not a list of GeoJSON objects"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_an_aoi_of_the_wrong_shape_is_one_line(tmp_path, narrow_model_file, content, said):
    aoi = tmp_path / "aoi.geojson"
    aoi.write_text(content)
    out = tmp_path / "o.tif"
    assert_one_line_error(run_cli("run", VEGAS, "--out", out, "--aoi", aoi, "--model", narrow_model_file), said)
    assert not out.exists()


@pytest.mark.slow
def test_an_aoi_that_is_a_pipe_or_a_device_is_refused_without_reading_it(tmp_path, narrow_model_file):
    import subprocess
    import sys

    fifo = tmp_path / "aoi.geojson"
    os.mkfifo(fifo)
    for aoi in (fifo, "/dev/zero"):
        done = subprocess.run([sys.executable, "-m", "geotrans", "info", str(VEGAS), "--aoi", str(aoi), "--model",
                               str(narrow_model_file)], capture_output=True, text=True, timeout=120)
        assert done.returncode != 0 and "not a regular file" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("role", ["scene", "model", "list"])
def test_an_input_that_is_a_pipe_is_refused_without_reading_it(tmp_path, narrow_model_file, role):
    import subprocess
    import sys

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    args = {"scene": [str(fifo), "--out", str(tmp_path / "m.tif"), "--model", str(narrow_model_file)],
            "model": [str(VEGAS), "--out", str(tmp_path / "m.tif"), "--model", str(fifo)],
            "list": ["--list", str(fifo), "--out", str(tmp_path / "maps"), "--model", str(narrow_model_file)]}[role]
    done = subprocess.run([sys.executable, "-m", "geotrans", "run", *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "not a regular file" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_scene_placed_off_the_earth_is_one_line_not_a_hang(tmp_path, narrow_model_file):
    from affine import Affine

    with rasterio.open(VEGAS) as src:
        pixels = src.read([1, 2, 3])
    far = tmp_path / "far.tif"
    with rasterio.open(far, "w", driver="GTiff", width=pixels.shape[2], height=pixels.shape[1], count=3,
                       dtype="uint8", crs="EPSG:32611", transform=Affine(0.3, 0, 1e30, 0, -0.3, 1e30)) as dst:
        dst.write(pixels)
    out = tmp_path / "m.tif"
    assert_one_line_error(run_cli("run", far, "--out", out, "--model", narrow_model_file), "off the Earth")
    assert_one_line_error(run_cli("info", far), "off the Earth")
    assert not out.exists()


def test_ctrl_c_after_the_map_says_the_map_was_kept_not_that_nothing_was_written(tmp_path, narrow_model_file,
                                                                                  monkeypatch):
    import geotrans.jobs.scene

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(geotrans.jobs.scene, "write_preview", interrupted)  # Ctrl-C while the preview is drawn
    out = tmp_path / "m.tif"
    result = run_cli("run", VEGAS, "--out", out, "--preview", tmp_path / "p.png", "--model", narrow_model_file)
    assert result.exit_code == 130
    assert f"the map {out} is complete, the preview not written" in result.output
    assert "nothing was written" not in result.output
    with rasterio.open(out) as ds:
        assert ds.read().any()
    assert not (tmp_path / "p.png").exists()


def test_a_device_name_or_a_link_to_a_file_descriptor_is_never_an_output(tmp_path):
    link = tmp_path / "out.tif"
    link.symlink_to("/proc/self/fd/1")
    for name in ("/dev/stdout", "/dev/stderr", str(link)):
        with pytest.raises(OutputError, match="is a device or a process's file"):
            check_target(Target(name, "map"), overwrite=True)
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"


def test_a_binary_list_or_a_device_as_the_output_folder_is_one_line(tmp_path, narrow_model_file):
    binary = tmp_path / "scenes.txt"
    binary.write_bytes(b"\x00\x01\xff\xfe not text")
    assert_one_line_error(run_cli("run", "--list", binary, "--out", tmp_path / "maps", "--model",
                                  narrow_model_file), "not a text list of scenes")
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "k.tif").write_bytes(open(KOREA, "rb").read())
    assert_one_line_error(run_cli("run", scenes, "--out", "/dev/null", "--model", narrow_model_file),
                          "not a folder")


@pytest.mark.parametrize("role", ["map", "preview", "vectors"])
def test_an_output_name_too_long_for_its_temporary_file_is_one_line_before_the_run(tmp_path, narrow_model_file,
                                                                                   role):
    long = "m" * 230 + ".tif"
    outputs = {"map": ["--out", tmp_path / long],
               "preview": ["--out", tmp_path / "m.tif", "--preview", tmp_path / (long[:-4] + ".png")],
               "vectors": ["--out", tmp_path / "m.tif", "--vectors", tmp_path / (long[:-4] + ".gpkg")]}[role]
    result = run_cli("run", VEGAS, *outputs, "--model", narrow_model_file)
    assert_one_line_error(result, "name is too long")
    assert list(tmp_path.iterdir()) == []


def test_a_preview_another_run_holds_or_wrote_meanwhile_is_never_replaced(tmp_path, narrow_model_file, monkeypatch):
    import geotrans.run.preview
    from geotrans.io.files import output_lock

    png = tmp_path / "p.png"
    with output_lock(png):  # another run is writing the same preview
        result = run_cli("run", VEGAS, "--out", tmp_path / "a.tif", "--preview", png, "--model", narrow_model_file)
    assert result.exit_code != 0 and "Traceback" not in result.output and not png.exists()
    real = geotrans.run.preview.output_lock

    def meanwhile(path, *args, **kwargs):  # the other run finished it just before this one takes the lock
        png.write_bytes(b"the other run's preview")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(geotrans.run.preview, "output_lock", meanwhile)
    result = run_cli("run", VEGAS, "--out", tmp_path / "b.tif", "--preview", png, "--model", narrow_model_file)
    assert_one_line_error(result, "already exists")
    assert png.read_bytes() == b"the other run's preview"


def test_a_log_the_disk_cannot_hold_ends_the_run_saying_so_not_a_silent_success(tmp_path, narrow_model_file,
                                                                                 monkeypatch):
    import errno

    from geotrans.cli.console import LogFile

    def full(self):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(LogFile, "flush", full)
    out = tmp_path / "m.tif"
    result = run_cli("run", VEGAS, "--out", out, "--log", tmp_path / "run.log", "--model", narrow_model_file)
    assert_one_line_error(result, "run.log: the log could not be written", "No space left on device",
                          "its log is incomplete")
    assert "Logging error" not in result.output
    with rasterio.open(out) as ds:  # the map itself is complete and readable
        assert ds.read().any()


def _killed_run_left(out: Path, *stages: str) -> list[Path]:
    """What kill -9 leaves: a run took ``out``'s lock, made temporary files (of ``stages``; "" the map's own)
    and died holding it."""
    code = ("import os, sys; from pathlib import Path; from geotrans.io.files import output_lock, temporary_path\n"
            "out = Path(sys.argv[1])\n"
            "with output_lock(out):\n"
            "    for stage in sys.argv[2:]:\n"
            "        tmp = temporary_path(out, stage=stage or None); tmp.write_bytes(b'half a map'); print(tmp.name)\n"
            "    sys.stdout.flush(); os._exit(0)\n")
    done = subprocess.run([sys.executable, "-c", code, str(out), *stages], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    return [out.parent / name for name in done.stdout.split()]


def test_an_input_named_like_a_stale_temporary_file_of_its_map_is_never_cleaned_up(tmp_path, narrow_model_file):
    scene = tmp_path / ".m.tif.0123abcd.part"
    shutil.copy(KOREA, scene)
    before = digest(scene)
    result = run_cli("run", scene, "--out", tmp_path / "m.tif", "--model", narrow_model_file, "-q")
    assert result.exit_code == 0, result.output
    assert scene.exists() and digest(scene) == before
    theirs = tmp_path / ".n.tif.0badf00d.part"  # the user's file, no run's temporary: kept by n.tif's run too
    theirs.write_bytes(b"the user's bytes")
    with output_lock(tmp_path / "n.tif"):
        pass
    assert theirs.read_bytes() == b"the user's bytes"


def test_a_killed_run_s_recorded_temporary_files_are_cleaned_up_by_the_next(tmp_path):
    out = tmp_path / "m.tif"
    left = _killed_run_left(out, "", "model-grid")
    assert all(p.exists() for p in left) and lock_path(out).exists()
    with output_lock(out):
        assert not any(p.exists() for p in left)
    assert sorted(tmp_path.iterdir()) == []


def _server(reply: bytes | None):
    """A TCP server on a free local port that accepts and says nothing (``reply`` None) or sends ``reply``."""
    import socket as sockets

    server = sockets.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            if reply is not None:
                conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    return server, f"tcp://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize("reply, said", [(None, "no Dask scheduler answered within 2 s"),
                                         (b"HTTP/1.1 200 OK\r\n\r\n" * 50, "does not speak Dask's protocol")],
                         ids=["silent", "garbage"])
@pytest.mark.parametrize("folder", [False, True], ids=["scene", "folder"])
def test_a_scheduler_that_does_not_answer_as_one_is_one_line_within_its_bound(tmp_path, narrow_model_file,
                                                                              monkeypatch, reply, said, folder):
    pytest.importorskip("distributed")
    monkeypatch.setattr("geotrans.jobs.distributed.SCHEDULER_WAIT_S", 2)
    server, address = _server(reply)
    src = tmp_path / "scenes"
    src.mkdir()
    shutil.copy(KOREA, src / "k.tif")
    started = time.monotonic()
    try:
        result = run_cli("run", src if folder else src / "k.tif", "--out", tmp_path / ("maps" if folder else "m.tif"),
                         "--scheduler", address, "--model", narrow_model_file)
    finally:
        server.close()
    assert_one_line_error(result, address, said)
    assert time.monotonic() - started < 20
    assert not (tmp_path / "m.tif").exists() and not list(tmp_path.glob("maps/*.tif"))


@pytest.mark.parametrize("address", ["foo", "tcp://host", "tcp://host:0", "tcp://host:70000", "http://host:8786"])
def test_a_scheduler_address_that_is_not_one_is_one_line(tmp_path, narrow_model_file, address):
    result = run_cli("run", KOREA, "--out", tmp_path / "m.tif", "--scheduler", address, "--model", narrow_model_file)
    assert_one_line_error(result, "--scheduler takes a Dask scheduler's address", repr(address))


@pytest.mark.parametrize("cog", [False, True], ids=["tiff", "cog"])
def test_a_map_larger_than_the_file_size_limit_is_one_line_naming_the_limit(tmp_path, narrow_model_file, cog):
    import resource

    def limit_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (300 * 1024, resource.RLIM_INFINITY))

    out = tmp_path / "m.tif"
    done = subprocess.run([sys.executable, "-m", "geotrans", "run", str(KOREA), "--out", str(out), "--model",
                           str(narrow_model_file), "-q", *(["--cog"] if cog else [])],
                          cwd=ROOT, capture_output=True, text=True, preexec_fn=limit_files, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "limited to 300 KiB" in errors[0] and "nothing was written there" in errors[0]
    assert list(tmp_path.iterdir()) == []


def test_a_folder_run_s_vectors_another_run_is_writing_are_left_to_it(tmp_path, narrow_model_file):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    shutil.copy(KOREA, scenes / "k.tif")
    vectors = tmp_path / "vectors"
    vectors.mkdir()
    with output_lock(vectors / "k.gpkg"):  # another run writes these features
        (vectors / "k.gpkg").write_bytes(b"the other run's features")
        result = run_cli("run", scenes, "--out", tmp_path / "maps", "--vectors", vectors, "--overwrite")
    assert result.exit_code == 1 and "being written by another run" in result.output
    assert (vectors / "k.gpkg").read_bytes() == b"the other run's features"
