"""geotrans inside QGIS: the plugin's command lines and runs (here), and the plugin in real QGIS.

The QGIS half runs ``tests/qgis_session.py`` under the system ``python3`` that has PyQGIS
(Debian's python3-qgis and qgis-providers; .ci/run installs them), in one subprocess: it
installs the plugin with ``geotrans qgis install`` into a temporary profile, loads it the way
QGIS does, and makes each Processing run on the real sample scenes. The files those runs
write are checked here with rasterio. Without PyQGIS those tests are skipped, saying why.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from helpers import KOREA, LANDSAT, VEGAS, assert_one_line_error, qgis_environment, qgis_python, run_cli
from rasterio.warp import transform_bounds

from geotrans.model.generator import build_generator
from geotrans.model.weights import inherited_style, read_model_info, save_generator
from geotrans.qgis.install import PLUGIN_NAME, default_profiles_path, geotrans_command
from geotrans.qgis.plugin import command

ROADS = Path(__file__).resolve().parent / "data" / "vegas_roads" / "vegas_roads.geojson"

REPO = Path(__file__).resolve().parent.parent
GEOTRANS = [sys.executable, "-m", "geotrans"]


class Recorder(command.Feedback):
    """A plain-Python stand-in for Processing's feedback; cancels at the first progress if asked."""

    def __init__(self, cancel_on_progress: bool = False):
        self.percents, self.infos, self.warnings = [], [], []
        self.cancel_on_progress, self.cancelled = cancel_on_progress, False

    def is_cancelled(self) -> bool:
        return self.cancelled

    def progress(self, percent: float) -> None:
        self.percents.append(percent)
        self.cancelled = self.cancelled or (self.cancel_on_progress and 0 < percent < 100)

    def info(self, line: str) -> None:
        self.infos.append(line)

    def warning(self, line: str) -> None:
        self.warnings.append(line)


def this_geotrans() -> command.Install:
    return command.Install(tuple(geotrans_command()))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- The command lines and the runs, without QGIS -------------------------------------------------------------

def test_the_plugin_s_choices_agree_with_geotrans():
    from geotrans.cli.run import run
    from geotrans.io.targets import SUMMARY
    from geotrans.io.tiler import DEFAULT_OVERLAP
    from geotrans.model.choices import DEVICES, PRECISIONS
    from geotrans.run.options import COMPRESSION_NAMES

    assert command.DEVICES == DEVICES and command.PRECISIONS == PRECISIONS and command.SUMMARY == SUMMARY
    assert command.COMPRESSIONS == COMPRESSION_NAMES and command.DEFAULT_OVERLAP == DEFAULT_OVERLAP
    assert command.DEFAULT_BATCH_SIZE == next(p.default for p in run.params if p.name == "batch_size")


def test_the_plugin_s_command_lines_mean_what_it_asks_for():
    """Each algorithm's arguments, parsed by geotrans's own command line."""
    from geotrans.cli.info import info
    from geotrans.cli.run import run

    ctx = run.make_context("run", command.scene_arguments(
        "in.tif", "out.tif", model="m.safetensors", bands=(3, 2, 1), aoi="aoi.geojson", overlap=32, batch_size=4,
        device="cpu", precision="fp32", cog=True, compress="zstd", compile=True, vectors="features.gpkg")[1:])
    assert {k: ctx.params[k] for k in ("src", "dst", "model_path", "bands", "aoi", "overlap", "batch_size", "device",
                                       "precision", "cog", "compress", "compile_", "overwrite", "progress_mode",
                                       "vectors")} == dict(
        src="in.tif", dst="out.tif", model_path="m.safetensors", bands=(3, 2, 1), aoi="aoi.geojson", overlap=32,
        batch_size=4, device="cpu", precision="fp32", cog=True, compress="zstd", compile_=True, overwrite=True,
        progress_mode="json", vectors="features.gpkg")
    assert run.make_context("run", command.scene_arguments("in.tif", "out.tif")[1:]).params["vectors"] is None
    from geotrans.cli.vectorize import vectorize

    ctx = vectorize.make_context("vectorize", command.vectorize_arguments("map.tif", "f.gpkg", min_area=50)[1:])
    assert {k: ctx.params[k] for k in ("map_path", "dst", "min_area", "overwrite")} == dict(
        map_path="map.tif", dst="f.gpkg", min_area=50.0, overwrite=True)
    assert vectorize.make_context("vectorize", command.vectorize_arguments("m.tif", "f.gpkg")[1:]).params[
        "min_area"] is None
    ctx = run.make_context("run", command.folder_arguments(
        "scenes", "maps", patterns=command.split_patterns("*.tif; *.jp2"), recursive=True, force=True)[1:])
    assert (ctx.params["patterns"], ctx.params["recursive"], ctx.params["force"]) == (("*.tif", "*.jp2"), True, True)
    assert ctx.params["model_path"] is None and ctx.params["cog"] is False and ctx.params["compile_"] is False
    ctx = info.make_context("info", command.plan_arguments("in.tif", bands=(1,), overlap=0)[1:])
    assert (ctx.params["src"], ctx.params["bands"], ctx.params["overlap"]) == ("in.tif", (1,), 0)
    from geotrans.cli.tune import tune

    ctx = tune.make_context("tune", command.tune_arguments(
        ["a.tif", "b.tif"], ["roads.gpkg", "water.shp"], "mine.safetensors", model="base.safetensors", minutes=30,
        holdout=0.25, label_class="street")[1:])
    assert {k: ctx.params[k] for k in ("scenes", "labels", "dst", "model_path", "minutes", "holdout", "label_class",
                                       "overwrite", "progress_mode", "keep_worse")} == dict(
        scenes=("a.tif", "b.tif"), labels=("roads.gpkg", "water.shp"), dst="mine.safetensors",
        model_path="base.safetensors", minutes=30.0, holdout=0.25, label_class="street", overwrite=True,
        progress_mode="json", keep_worse=False)
    assert tune.make_context("tune", command.tune_arguments(["a.tif"], ["r.gpkg"], "m.safetensors",
                                                            keep_worse=True)[1:]).params["keep_worse"] is True


def test_the_plugin_s_map_classes_are_the_renderer_s():
    from geotrans.model.style import CLASSES
    from geotrans.vectors.vectorize import LAYERS

    assert sorted(command.MAP_CLASSES) == sorted(CLASSES)
    assert sorted(command.VECTOR_LAYERS) == sorted(LAYERS)


def test_progress_counts_tiles_and_scenes_to_100():
    progress = command.Progress()
    assert progress.update({"progress": "tiles", "done": 5, "total": 10}) == 50.0
    assert progress.update({"progress": "scenes", "done": 0, "total": 4}) == 0.0  # a folder run
    assert progress.update({"progress": "tiles", "done": 5, "total": 10}) == pytest.approx(12.5)
    assert progress.update({"progress": "scenes", "done": 1, "total": 4}) == 25.0
    assert progress.update({"progress": "scenes", "done": 4, "total": 4}) == 100.0
    assert progress.update({"log": "info", "message": "x"}) is None


def test_the_child_gets_its_own_environment_not_qgis_s():
    install = command.Install(("geotrans",), {"GDAL_DATA": "/venv/share/gdal", "HOME": "/ignored"})
    qgis = {"PATH": "/usr/bin", "PYTHONHOME": "/qgis/apps/Python39", "PYTHONPATH": "/qgis/python",
            "GDAL_DATA": "/qgis/share/gdal", "PROJ_LIB": "/qgis/share/proj"}
    assert install.child_environment(qgis) == {"PATH": "/usr/bin", "GDAL_DATA": "/venv/share/gdal",
                                               "PYTHONUNBUFFERED": "1"}


def test_a_missing_or_stale_install_record_is_one_clear_line(tmp_path):
    with pytest.raises(command.RunError, match="run `geotrans qgis install`"):
        command.Install.read(tmp_path)
    (tmp_path / command.INSTALL_RECORD).write_text(json.dumps({"command": [str(tmp_path / "gone" / "geotrans")]}))
    with pytest.raises(command.RunError, match=r"geotrans executable .*gone.* run `geotrans qgis install` again"):
        command.Install.read(tmp_path)


@pytest.mark.slow
def test_a_run_reports_progress_and_log_and_writes_the_map(tmp_path, narrow_model_file):
    feedback = Recorder()
    outcome = command.run(this_geotrans(), command.scene_arguments(str(KOREA), str(tmp_path / "map.tif"),
                                                                   model=str(narrow_model_file)), feedback)
    assert outcome.ok, outcome.error
    assert feedback.percents[-1] == 100.0 and feedback.percents == sorted(feedback.percents)
    assert f"wrote {tmp_path / 'map.tif'}" in feedback.infos
    with rasterio.open(tmp_path / "map.tif") as out, rasterio.open(KOREA) as src:
        assert (out.crs, out.transform, out.shape) == (src.crs, src.transform, src.shape)


@pytest.mark.slow
def test_a_cancelled_run_stops_geotrans_and_leaves_nothing(tmp_path):
    feedback = Recorder(cancel_on_progress=True)
    outcome = command.run(this_geotrans(), command.scene_arguments(str(LANDSAT), str(tmp_path / "map.tif")),
                          feedback)
    assert outcome.cancelled and not outcome.ok
    assert outcome.returncode == 130  # geotrans stopped itself (and cleaned up), it was not killed
    assert max(feedback.percents) < 100
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_a_failed_run_carries_geotrans_s_one_line_message(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"not a model")
    arguments = command.scene_arguments(str(KOREA), str(tmp_path / "map.tif"), model=str(tmp_path / "bad.safetensors"))
    outcome = command.run(this_geotrans(), arguments, Recorder())
    cli = run_cli(*arguments)
    plain = [line for line in cli.output.splitlines() if not line.startswith("{")]  # not progress or log
    assert cli.exit_code == 1 and plain == [f"Error: {outcome.error}"] and "not a safetensors model" in plain[0]
    assert not outcome.ok
    assert leftovers(tmp_path) == ["bad.safetensors"]


# --- geotrans qgis install / uninstall ------------------------------------------------------------------------

def test_qgis_profiles_are_where_qgis_keeps_them():
    env = {"HOME": "/home/ana", "APPDATA": r"C:\Users\ana\AppData\Roaming"}
    assert default_profiles_path(env, "linux") == Path("/home/ana/.local/share/QGIS/QGIS3/profiles")
    assert default_profiles_path({**env, "XDG_DATA_HOME": "/data"}, "linux") == Path("/data/QGIS/QGIS3/profiles")
    assert default_profiles_path(env, "darwin") == Path("/home/ana/Library/Application Support/QGIS/QGIS3/profiles")
    assert default_profiles_path(env, "win32") == Path(r"C:\Users\ana\AppData\Roaming") / "QGIS/QGIS3/profiles"


def test_install_copies_the_plugin_records_this_geotrans_and_is_idempotent(tmp_path):
    (tmp_path / "default").mkdir()
    for _ in range(2):
        result = run_cli("qgis", "install", "--profiles-path", tmp_path)
        assert result.exit_code == 0, result.output
    plugin = tmp_path / "default" / "python" / "plugins" / PLUGIN_NAME
    assert str(plugin) in result.output and f"qgis_process plugins enable {PLUGIN_NAME}" in result.output
    assert {"__init__.py", "metadata.txt", "command.py", "algorithms.py", "provider.py", "plugin.py",
            "icon.svg", command.INSTALL_RECORD} <= set(leftovers(plugin))
    assert leftovers(plugin.parent) == [PLUGIN_NAME]  # no staging folder left
    install = command.Install.read(plugin)
    version = subprocess.run([*install.command, "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and "geotrans" in version.stdout


@pytest.mark.parametrize("action", ["install", "uninstall"])
def test_a_plugin_folder_geotrans_did_not_write_is_never_replaced_or_removed(tmp_path, action):
    import hashlib

    plugin = tmp_path / "default" / "python" / "plugins" / PLUGIN_NAME
    plugin.mkdir(parents=True)
    (plugin / "__init__.py").write_text("# the user's own plugin of this name\n")
    before = hashlib.md5((plugin / "__init__.py").read_bytes()).hexdigest()
    assert_one_line_error(run_cli("qgis", action, "--profiles-path", tmp_path), "did not install", "left as it is")
    assert sorted(p.name for p in plugin.iterdir()) == ["__init__.py"]
    assert hashlib.md5((plugin / "__init__.py").read_bytes()).hexdigest() == before


def test_the_plugin_s_metadata_names_this_version():
    import configparser

    from geotrans import __version__
    from geotrans.qgis.install import PLUGIN_SOURCE

    metadata = configparser.ConfigParser()
    metadata.read(PLUGIN_SOURCE / "metadata.txt")
    assert metadata["general"]["version"] == __version__
    assert metadata["general"]["hasProcessingProvider"] == "yes"
    assert (PLUGIN_SOURCE / metadata["general"]["icon"]).is_file()


def test_the_plugin_imports_neither_torch_nor_rasterio():
    from geotrans.qgis.install import PLUGIN_SOURCE

    for source in PLUGIN_SOURCE.glob("*.py"):
        text = source.read_text()
        for package in ("torch", "rasterio", "numpy", "geotrans."):
            assert f"import {package}" not in text and f"from {package}" not in text, (source.name, package)


def test_install_refuses_a_missing_profile_and_uninstall_is_idempotent(tmp_path):
    (tmp_path / "default").mkdir()
    assert_one_line_error(run_cli("qgis", "install", "--profile", "work", "--profiles-path", tmp_path),
                          "QGIS profile 'work' not found", "(profiles there: default)", "start QGIS once")
    assert not (tmp_path / "work").exists()
    assert_one_line_error(run_cli("qgis", "uninstall", "--profile", "work", "--profiles-path", tmp_path),
                          "QGIS profile 'work' not found")
    assert run_cli("qgis", "install", "--profiles-path", tmp_path).exit_code == 0
    for expected in ("removed", "not installed"):
        result = run_cli("qgis", "uninstall", "--profiles-path", tmp_path)
        assert result.exit_code == 0 and expected in result.output
    assert leftovers(tmp_path / "default" / "python" / "plugins") == []


# --- In QGIS --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pyqgis() -> str:
    python = qgis_python()
    if python is None:
        pytest.skip("no python3 with PyQGIS (qgis.core, processing): apt-get install python3-qgis qgis-providers")
    return python


@pytest.fixture(scope="module")
def in_qgis(pyqgis, tmp_path_factory, narrow_model_file):
    """Install the plugin into a fresh profile, then make every Processing run in one QGIS session."""
    root = tmp_path_factory.mktemp("qgis")
    (root / "profiles" / "default").mkdir(parents=True)
    installed = subprocess.run([*GEOTRANS, "qgis", "install", "--profiles-path", str(root / "profiles")],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    scenes, maps, out = root / "scenes", root / "maps", root / "out"
    for folder in (scenes, out):
        folder.mkdir()
    shutil.copy(KOREA, scenes / "korea.tif")
    (scenes / "broken.tif").write_bytes(b"II*\x00 this is not a GeoTIFF")
    (root / "bad.safetensors").write_bytes(b"not a model")
    with rasterio.open(KOREA) as ds:  # AOI: the scene's left half (a WGS84 layer); extent: its top half (3857)
        left, bottom, right, top = ds.bounds
    middle_x, middle_y = (left + right) / 2, (bottom + top) / 2
    w, s, e, n = transform_bounds("EPSG:3857", "EPSG:4326", left - 100, bottom - 100, middle_x, top + 100)
    (root / "left.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [
            [[w, s], [e, s], [e, n], [w, n], [w, s]]]}}]}))
    narrow = str(narrow_model_file)
    styled = root / "styled.safetensors"  # a narrow model with the shipped style in its card: fast to tune
    torch.manual_seed(0)
    save_generator(build_generator(ngf=8), styled, name="narrow-styled", card=inherited_style(read_model_info().path))
    runs = [
        dict(name="scene", algorithm="geotrans:translate_scene", parameters=dict(
            INPUT=str(LANDSAT), BANDS=[3, 2, 1], MODEL=narrow, OUTPUT=str(out / "landsat_map.tif"))),
        dict(name="shipped", algorithm="geotrans:translate_scene", parameters=dict(
            INPUT=str(KOREA), COG=True, COMPRESS="zstd", OUTPUT=str(out / "korea_map.tif"))),
        dict(name="area", algorithm="geotrans:translate_scene", parameters=dict(
            INPUT=str(KOREA), MODEL=narrow, AOI=str(root / "left.geojson"),
            EXTENT=f"{left - 100},{right + 100},{middle_y},{top + 100} [EPSG:3857]", OUTPUT=str(out / "area_map.tif"))),
        dict(name="cancel", algorithm="geotrans:translate_scene", cancel_on_progress=True, parameters=dict(
            INPUT=str(LANDSAT), OUTPUT=str(out / "cancelled_map.tif"))),
        dict(name="bad_model", algorithm="geotrans:translate_scene", parameters=dict(
            INPUT=str(KOREA), MODEL=str(root / "bad.safetensors"), OUTPUT=str(out / "bad_map.tif"))),
        dict(name="no_file", algorithm="geotrans:translate_scene", parameters=dict(
            INPUT={"xyz": "http://127.0.0.1:9/{z}/{x}/{y}.png"}, OUTPUT=str(out / "tiles_map.tif"))),
        dict(name="folder", algorithm="geotrans:translate_folder", parameters=dict(
            INPUT=str(scenes), MODEL=narrow, OUTPUT=str(maps))),
        dict(name="plan", algorithm="geotrans:scene_plan", parameters=dict(INPUT=str(LANDSAT), MODEL=narrow)),
        dict(name="vectorize", algorithm="geotrans:vectorize_map", open_layers=True, parameters=dict(
            INPUT=str(out / "korea_map.tif"), OUTPUT=str(out / "korea_features.gpkg"))),
        dict(name="not_a_map", algorithm="geotrans:vectorize_map", parameters=dict(
            INPUT=str(KOREA), OUTPUT=str(out / "scene_features.gpkg"))),
        dict(name="fine_tune", algorithm="geotrans:fine_tune", parameters=dict(
            SCENES=[str(VEGAS)], LABELS=[str(ROADS)], MINUTES=0.1, MODEL=str(styled), LABEL_CLASS="street",
            KEEP_WORSE=True, OUTPUT=str(out / "tuned.safetensors"))),
        dict(name="dialog", algorithm="geotrans:translate_scene", task=True, parameters=dict(
            INPUT=str(KOREA), MODEL=narrow, OUTPUT=str(out / "dialog_map.tif"))),
        dict(name="dialog_cancel", algorithm="geotrans:translate_scene", task=True, cancel_on_progress=True,
             parameters=dict(INPUT=str(LANDSAT), OUTPUT=str(out / "dialog_cancelled_map.tif"))),
    ]
    spec = root / "spec.json"
    spec.write_text(json.dumps({"plugins": str(root / "profiles" / "default" / "python" / "plugins"), "runs": runs}))
    session = subprocess.run([pyqgis, str(REPO / "tests" / "qgis_session.py"), str(spec), str(root / "report.json")],
                             capture_output=True, text=True, timeout=900, env=qgis_environment(root / "home"), cwd=root)
    assert session.returncode == 0, session.stderr[-3000:]
    report = json.loads((root / "report.json").read_text())
    return dict(report=report, root=root, out=out, maps=maps, scenes=scenes)


def shown_to_the_user(run: dict) -> str:
    return "\n".join([*run["infos"], *run["warnings"], *run["errors"], run["exception"] or ""])


@pytest.mark.slow
def test_qgis_s_plugin_loader_accepts_the_installed_plugin(in_qgis):
    loader = in_qgis["report"]["loader"]
    assert loader["found"] and loader["loaded"] and loader["started"]
    assert loader["metadata"]["name"] == "geotrans" and loader["metadata"]["hasProcessingProvider"] == "yes"
    assert loader["class"] == "GeotransPlugin"
    assert loader["manager_error"] == "" and loader["manager_name"] == "geotrans"  # the Plugin Manager's view
    assert loader["algorithms"] == ["geotrans:fine_tune", "geotrans:scene_plan", "geotrans:translate_folder",
                                    "geotrans:translate_scene", "geotrans:vectorize_map"]


@pytest.mark.slow
def test_in_qgis_a_map_s_features_are_layers_in_the_project_on_the_map_s_crs(in_qgis):
    """The shipped model's Korea map, vectorized by the algorithm; QGIS itself opens the four layers."""
    run = in_qgis["report"]["runs"]["vectorize"]
    assert run["exception"] is None, shown_to_the_user(run)
    assert run["results"]["OUTPUT"] == str(in_qgis["out"] / "korea_features.gpkg")
    layers = run["layers"]
    assert sorted(layers) == sorted(command.VECTOR_LAYERS)
    assert sorted(load.split("|layername=")[1] for load in run["loads"]) == sorted(command.VECTOR_LAYERS)
    with rasterio.open(in_qgis["out"] / "korea_map.tif") as ds:
        crs = ds.crs.to_string()
    for name, layer in layers.items():
        assert layer["valid"] and layer["crs"] == crs, (name, layer)
        assert layer["geometry"] == ("LineString" if name == "roads" else "MultiPolygon"), (name, layer)
        assert layer["fields"] == (["class", "width_m", "length_m"] if name == "roads" else ["area_m2"])
    assert layers["roads"]["features"] > 5 and layers["water"]["features"] > 0  # Korea: roads and a lake
    assert any(f"{layers['roads']['features']} roads" in line for line in run["infos"])


@pytest.mark.slow
def test_in_qgis_a_scene_that_is_no_map_cannot_be_vectorized(in_qgis):
    run = in_qgis["report"]["runs"]["not_a_map"]
    assert run["exception"].startswith("QgsProcessingException: ") and "not a geotrans map" in run["exception"]
    assert not (in_qgis["out"] / "scene_features.gpkg").exists()


@pytest.mark.slow
def test_in_qgis_a_scene_becomes_a_map_on_its_grid_masked_where_it_is(in_qgis):
    run = in_qgis["report"]["runs"]["scene"]
    assert run["exception"] is None, shown_to_the_user(run)
    assert run["results"]["OUTPUT"] == str(in_qgis["out"] / "landsat_map.tif")
    assert run["progress"][-1] == 100 and run["progress"] == sorted(run["progress"])
    assert "--bands 3,2,1" in run["commands"][0]
    with rasterio.open(LANDSAT) as src, rasterio.open(run["results"]["OUTPUT"]) as out:
        assert (out.crs, out.transform, out.shape, out.count) == (src.crs, src.transform, src.shape, 3)
        source_valid, map_valid = src.dataset_mask() > 0, out.dataset_mask() > 0
    assert 0 < source_valid.mean() < 1  # the real scene has a nodata border
    assert np.array_equal(map_valid, source_valid)


@pytest.mark.slow
def test_in_qgis_the_shipped_model_writes_the_chosen_file_kind(in_qgis):
    from rio_cogeo.cogeo import cog_validate

    run = in_qgis["report"]["runs"]["shipped"]
    assert run["exception"] is None, shown_to_the_user(run)
    path = run["results"]["OUTPUT"]
    assert cog_validate(path, strict=True)[0]
    with rasterio.open(path) as out:
        assert out.compression.name.lower() == "zstd"
    assert not run["warnings"]  # no "running on the CPU" warning: it is an info line


@pytest.mark.slow
def test_in_qgis_the_area_is_the_aoi_layer_cut_to_the_extent(in_qgis):
    run = in_qgis["report"]["runs"]["area"]
    assert run["exception"] is None, shown_to_the_user(run)
    with rasterio.open(run["results"]["OUTPUT"]) as out:
        valid = out.dataset_mask() > 0
    h, w = valid.shape
    margin = 8
    assert valid[margin:h // 2 - margin, margin:w // 2 - margin].all()  # top left: inside both
    for outside in (valid[h // 2 + margin:, :], valid[:, w // 2 + margin:]):  # bottom half, right half
        assert not outside.any()


@pytest.mark.slow
def test_in_qgis_fine_tune_prints_the_before_and_after_table_and_writes_a_model_of_its_layers(in_qgis):
    run = in_qgis["report"]["runs"]["fine_tune"]
    assert run["exception"] is None, shown_to_the_user(run)
    table = "\n".join(run["infos"])
    assert "hold-out" in table and "base" in table and "tuned" in table and "street F1" in table
    assert "Traceback" not in shown_to_the_user(run)
    tuned = in_qgis["out"] / "tuned.safetensors"
    assert run["results"]["OUTPUT"] == str(tuned)
    card = read_model_info(tuned).card["tune"]
    assert card["base"] == "narrow-styled" and card["areas"][0]["scene"] == str(VEGAS)
    assert card["areas"][0]["labels"] == [str(ROADS)] and card["steps"] > 0


@pytest.mark.slow
def test_in_qgis_cancel_stops_geotrans_and_leaves_nothing(in_qgis):
    run = in_qgis["report"]["runs"]["cancel"]
    assert run["cancelled"]
    assert "cancelled; nothing was written to" in run["exception"]
    assert not (in_qgis["out"] / "cancelled_map.tif").exists()
    assert not [name for name in leftovers(in_qgis["out"]) if "cancelled_map" in name]  # no temporary file either


@pytest.mark.slow
def test_in_qgis_a_geotrans_error_is_its_one_line_message_without_a_traceback(in_qgis, tmp_path):
    run = in_qgis["report"]["runs"]["bad_model"]
    cli = run_cli("run", KOREA, "--out", tmp_path / "map.tif", "--model", in_qgis["root"] / "bad.safetensors")
    assert_one_line_error(cli)
    message = cli.output.strip().splitlines()[-1].removeprefix("Error: ")
    assert run["exception"] == f"QgsProcessingException: {message}"  # Processing logs its message, no more
    assert "Traceback" not in shown_to_the_user(run)
    assert not (in_qgis["out"] / "bad_map.tif").exists()


@pytest.mark.slow
def test_in_qgis_a_layer_without_a_file_is_refused_clearly(in_qgis):
    run = in_qgis["report"]["runs"]["no_file"]
    assert run["exception"] == ("QgsProcessingException: tiles: a wms layer has no file for geotrans to read; "
                                "save it as a GeoTIFF first (Export > Save As)")
    assert "Traceback" not in shown_to_the_user(run)


@pytest.mark.slow
def test_in_qgis_a_folder_run_reports_its_summary_and_failed_scenes(in_qgis):
    run = in_qgis["report"]["runs"]["folder"]
    assert run["exception"] is None, shown_to_the_user(run)
    assert (run["results"]["DONE"], run["results"]["FAILED"], run["results"]["SKIPPED"]) == (1, 1, 0)
    summary = json.loads(Path(run["results"]["SUMMARY"]).read_text())
    assert summary["totals"]["done"] == 1
    assert any(str(in_qgis["scenes"] / "broken.tif") in error for error in run["errors"])
    assert any("1 of 2 scenes failed" in error for error in run["errors"])
    with rasterio.open(in_qgis["maps"] / "korea.tif") as out, rasterio.open(KOREA) as src:
        assert (out.crs, out.transform, out.shape) == (src.crs, src.transform, src.shape)


@pytest.mark.slow
def test_in_qgis_the_plan_is_geotrans_info_s_text(in_qgis, narrow_model_file):
    run = in_qgis["report"]["runs"]["plan"]
    assert run["exception"] is None, shown_to_the_user(run)
    cli = run_cli("info", LANDSAT, "--model", narrow_model_file)
    assert cli.exit_code == 0

    def steady(text):  # the time estimate is measured afresh each time
        return [line for line in text.splitlines() if not line.startswith(("estimate", "geotrans: "))]

    assert steady(run["results"]["PLAN"]) == steady(cli.output) and len(steady(cli.output)) >= 5
    assert all(line in run["infos"] for line in run["results"]["PLAN"].splitlines())


def readme_qgis_process_lines() -> list[str]:
    """The manual's qgis_process lines (docs/qgis.md)."""
    from test_readme import bash_blocks

    return [line.strip() for block in bash_blocks(REPO / "docs" / "qgis.md") for line in block.splitlines()
            if line.strip().startswith("qgis_process ")]


@pytest.mark.slow
def test_the_readme_s_qgis_process_commands_run_headless(pyqgis, tmp_path):
    """Install into a fresh QGIS home, then the manual's qgis_process lines, verbatim, as a user runs them:
    in a shell without this virtual environment (QGIS's embedded Python must not find its interpreter)."""
    binary = next((b for b in ("/usr/bin/qgis_process.bin", shutil.which("qgis_process.bin") or "",
                               shutil.which("qgis_process") or "") if b and Path(b).exists()), None)
    if binary is None:
        pytest.skip("qgis_process is not installed (Debian: apt-get install qgis)")
    lines = readme_qgis_process_lines()
    assert any(" run geotrans:translate_scene " in line for line in lines)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "XDG_RUNTIME_DIR": str(home),
           "QT_QPA_PLATFORM": "offscreen", "LANG": "C.UTF-8"}
    work = tmp_path / "work"
    (work / "sample_tiles").mkdir(parents=True)
    shutil.copy(KOREA, work / "sample_tiles" / KOREA.name)
    first = subprocess.run([binary, "plugins"], capture_output=True, text=True, env=env, cwd=work, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]  # QGIS made its default profile
    installed = subprocess.run([*GEOTRANS, "qgis", "install"], capture_output=True, text=True, timeout=300,
                               env={**{k: v for k, v in os.environ.items() if k != "XDG_DATA_HOME"}, "HOME": str(home)})
    assert installed.returncode == 0, installed.stderr
    for line in lines:
        result = subprocess.run([binary, *line.split()[1:]], capture_output=True, text=True, env=env, cwd=work,
                                timeout=600)
        assert result.returncode == 0, (line, result.stdout[-2000:], result.stderr[-2000:])
    outputs = [word.split("=", 1)[1] for line in lines for word in line.split() if word.startswith("OUTPUT=")]
    assert outputs and any(output.endswith(".gpkg") for output in outputs)
    for output in outputs:
        if output.endswith(".gpkg"):  # the map's features
            import pyogrio

            assert sorted(name for name, _ in pyogrio.list_layers(work / output)) == sorted(command.VECTOR_LAYERS)
            continue
        with rasterio.open(work / output) as out, rasterio.open(KOREA) as src:
            assert (out.crs, out.transform, out.shape) == (src.crs, src.transform, src.shape)


@pytest.mark.slow
def test_from_the_dialog_the_run_is_a_background_task_and_its_map_is_loaded(in_qgis):
    """As the algorithm dialog runs it (a task on a worker thread), and as its Cancel button stops it."""
    run = in_qgis["report"]["runs"]["dialog"]
    assert run["ok"] is True, run["errors"]
    path = str(in_qgis["out"] / "dialog_map.tif")
    assert run["results"]["OUTPUT"] == path and run["progress"][-1] == 100
    assert run["loaded"] == [{"path": path, "valid": True, "crs": "EPSG:3857"}]

    cancelled = in_qgis["report"]["runs"]["dialog_cancel"]
    assert cancelled["ok"] is False and cancelled["cancelled"]
    assert any("cancelled; nothing was written to" in error for error in cancelled["errors"])
    assert cancelled["loaded"] == []
    assert not [name for name in leftovers(in_qgis["out"]) if "dialog_cancelled_map" in name]


def test_the_plugin_declares_qt6_and_reaches_qt_only_through_qgis_pyqt():
    import re

    plugin = Path(command.__file__).resolve().parent
    assert "supportsQt6=True" in (plugin / "metadata.txt").read_text().splitlines()
    for source in plugin.glob("*.py"):
        for line in source.read_text().splitlines():
            if re.match(r"\s*(from|import)\s+(PyQt5|PyQt6|PySide\d?)\b", line):
                raise AssertionError(f"{source.name}: {line.strip()} (QGIS 4 needs qgis.PyQt)")
