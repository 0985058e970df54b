"""The write rule as a property: every entry point (the CLI's commands, the library, the research entry points)
x every output it writes x every name for every file it reads (the path, a relative one, one with ``..`` or
``//``, a symbolic and a hard link, ``file://``, ``/vsicached?``, a sidecar GDAL reads) finds no way to replace
the file: each case is refused in one line, with ``--overwrite`` given, and every byte the user owns is kept."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import rasterio.shutil
from helpers import KOREA, LANDSAT, VEGAS, run_cli

from geotrans.model.generator import build_generator
from geotrans.model.weights import save_generator

ROADS = Path(__file__).resolve().parent / "data" / "vegas_roads" / "vegas_roads.geojson"
PAIRS = Path(__file__).resolve().parent / "data" / "maps_val"


def _aliases(path: Path, root: Path) -> list[str]:
    """Names for the file at ``path`` that a user could give as an output (``root`` is the working folder)."""
    link, hard = root / f"link-{path.name}", root / f"hard-{path.name}"
    if not link.exists():
        link.symlink_to(path)
        os.link(path, hard)
    relative = os.path.relpath(path, root)
    return [str(path), relative, f"./{path.parent.name}/../{path.parent.name}/{path.name}",
            str(path).replace(f"/{path.parent.name}/", f"//{path.parent.name}//"), str(link), str(hard),
            f"file://{path}", f"/vsicached?file={path}"]


@pytest.fixture(scope="module")
def owned_files(tmp_path_factory):
    """The user's files: scenes (one behind a VRT), a map geotrans made, a model, an AOI, a list, labels (made
    once: every test checks they stay as they are)."""
    tmp_path = tmp_path_factory.mktemp("user")
    folder = tmp_path / "owned"
    folder.mkdir()
    files = {"scene": folder / "scene.tif", "source": folder / "source.tif", "vrt": folder / "scene.vrt",
             "map": folder / "map.tif", "model": folder / "model.safetensors", "aoi": folder / "aoi.geojson",
             "list": folder / "scenes.txt", "labels": folder / "roads.geojson", "vegas": folder / "vegas.tif"}
    shutil.copy(LANDSAT, files["scene"])
    shutil.copy(LANDSAT, files["source"])
    rasterio.shutil.copy(files["source"], files["vrt"], driver="VRT")
    shutil.copy(VEGAS, files["vegas"])
    shutil.copy(ROADS, files["labels"])
    save_generator(build_generator(ngf=8), files["model"], name="users-model")
    with rasterio.open(LANDSAT) as ds:
        left, bottom, right, top = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    ring = [[left, bottom], [right, bottom], [right, top], [left, top], [left, bottom]]
    files["aoi"].write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    files["list"].write_text(f"{files['scene']}\n")
    assert run_cli("run", KOREA, "--out", files["map"], "-q").exit_code == 0  # the shipped model: class colours
    sidecar = folder / "scene.tif.aux.xml"  # the user's metadata beside a scene, which GDAL reads
    sidecar.write_text("<PAMDataset></PAMDataset>")
    files["sidecar"] = sidecar
    return files


@pytest.fixture
def owned(owned_files, monkeypatch):
    """``owned_files``, the working folder beside them (relative names are relative to it)."""
    monkeypatch.chdir(owned_files["scene"].parent.parent)
    return owned_files


def _cases(f: dict) -> list[tuple[str, list[str], tuple[str, ...]]]:
    """(entry point, arguments with OUT where the output goes, the inputs whose names OUT takes)."""
    model = ["--model", str(f["model"])]
    return [
        ("run: map", ["run", str(f["scene"]), "--out", "OUT", *model], ("scene", "sidecar", "model")),
        ("run: map of a VRT", ["run", str(f["vrt"]), "--out", "OUT", *model], ("vrt", "source")),
        ("run: map in an AOI", ["run", str(f["scene"]), "--out", "OUT", "--aoi", str(f["aoi"]), *model], ("aoi",)),
        ("run: preview", ["run", str(f["scene"]), "--out", "new.tif", "--preview", "OUT", *model],
         ("scene", "sidecar", "model")),
        ("run: vectors", ["run", str(f["scene"]), "--out", "new.tif", "--vectors", "OUT", *model],
         ("scene", "model")),
        ("run: log", ["run", str(f["scene"]), "--out", "new.tif", "--log", "OUT", *model], ("scene", "model")),
        ("folder run: log", ["run", "--list", str(f["list"]), "--out", "maps", "--log", "OUT", *model],
         ("list", "scene", "model")),
        ("run: web site", ["run", str(f["scene"]), "--out", "new3.tif", "--web", "OUT", *model],
         ("scene", "sidecar", "model")),
        ("vectorize", ["vectorize", str(f["map"]), "--out", "OUT"], ("map",)),
        ("tune", ["tune", str(f["vegas"]), "--labels", str(f["labels"]), "--label-class", "street", "--out", "OUT",
                  "--minutes", "0.1", *model], ("vegas", "labels", "model")),
    ]


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_no_command_writes_any_output_over_any_name_of_a_file_it_reads(owned):
    root = owned["scene"].parent.parent
    before = _digests(owned["scene"].parent)
    replaced = []
    for entry, args, inputs in _cases(owned):
        for name in inputs:
            for alias in _aliases(owned[name], root):
                result = run_cli(*[alias if a == "OUT" else a for a in args], "--overwrite")
                if result.exit_code == 0 or "Traceback" in result.output or \
                        _digests(owned["scene"].parent) != before:
                    replaced.append(f"{entry}: {alias} ({name}): exit {result.exit_code} {result.output[-200:]}")
                    break
    assert replaced == []
    assert _digests(owned["scene"].parent) == before


def test_a_web_site_never_goes_over_a_file_it_reads_nor_into_the_user_s_folder(owned):
    """The site is a folder: any name of a file it reads is refused, and so is any name of the folder that holds
    them (the user's files), or of a folder inside which an input lies."""
    root = owned["scene"].parent.parent
    folder = owned["scene"].parent
    before = _digests(folder)
    link = root / "link-to-owned"
    if not link.exists():
        link.symlink_to(folder)
    names = [*_aliases(owned["map"], root), *_aliases(owned["scene"], root), str(folder), "owned", "./owned/",
             f"owned/../{folder.name}", str(link), str(root)]
    accepted = []
    for name in names:
        for args in (["web", str(owned["map"]), "--scene", str(owned["scene"]), "--out", name],
                     ["run", str(owned["scene"]), "--out", "new4.tif", "--model", str(owned["model"]), "--web",
                      name]):
            result = run_cli(*args)
            if result.exit_code == 0 or "Traceback" in result.output or _digests(folder) != before:
                accepted.append(f"{args[0]}: {name}: exit {result.exit_code} {result.output[-200:]}")
    assert accepted == [] and _digests(folder) == before


def test_no_library_entry_point_writes_any_output_over_any_name_of_a_file_it_reads(owned):
    root = owned["scene"].parent.parent
    from geotrans.errors import GeotransError
    from geotrans.jobs.scene import run_scene
    from geotrans.run.options import RunOptions
    from geotrans.vectors.vectorize import vectorize_map
    from geotrans.web.site import SiteEntry, write_site

    before = _digests(owned["scene"].parent)
    model = str(owned["model"])
    calls = {
        "map": lambda out: run_scene(str(owned["scene"]), out, RunOptions(overwrite=True), model),
        "preview": lambda out: run_scene(str(owned["scene"]), "new.tif", RunOptions(overwrite=True), model,
                                         preview=out),
        "vectors": lambda out: run_scene(str(owned["scene"]), "new2.tif", RunOptions(overwrite=True), model,
                                         vectors=out),
        "vectorize": lambda out: vectorize_map(str(owned["map"]), out, overwrite=True),
        "web": lambda out: write_site([SiteEntry(str(owned["map"]), str(owned["scene"]))], out),
    }
    inputs = {"map": ("scene", "sidecar", "model"), "preview": ("scene", "sidecar", "model"),
              "vectors": ("scene", "model"), "vectorize": ("map",), "web": ("map", "scene")}
    replaced = []
    for kind, call in calls.items():
        for name in inputs[kind]:
            for alias in _aliases(owned[name], root):
                try:
                    call(alias)
                except GeotransError:
                    pass
                else:
                    replaced.append(f"{kind}: {alias} ({name}) was accepted")
                if _digests(owned["scene"].parent) != before:
                    replaced.append(f"{kind}: {alias} ({name}) replaced the user's file")
                    break
    assert replaced == []


def test_no_research_entry_point_writes_over_any_name_of_a_file_it_reads(owned, capsys):
    root = owned["scene"].parent.parent
    from training.evaluate import main as evaluate_main
    from training.export import main as export_main

    card = owned["scene"].parent / "extra.json"
    card.write_text(json.dumps({"note": "the user's card fragment"}))
    before = _digests(owned["scene"].parent)
    cases = [(evaluate_main, ["--model", str(owned["model"]), "--data", str(PAIRS), "--limit", "1",
                              "--no-dropout-run", "--json", "OUT", "--overwrite"], ("model",)),
             (export_main, ["--model", str(owned["model"]), "--out", "new.safetensors", "--card", "CARD"], ())]
    replaced = []
    for entry, args, inputs in cases:
        for name in inputs:
            for alias in _aliases(owned[name], root):
                with pytest.raises(SystemExit):
                    entry([alias if a == "OUT" else a for a in args])
                if _digests(owned["scene"].parent) != before:
                    replaced.append(f"{entry.__module__}: {alias} ({name})")
    for alias in _aliases(card, root):  # export's --out over the card fragment it merges
        with pytest.raises(SystemExit):
            export_main(["--model", str(owned["model"]), "--out", alias, "--card", str(card)])
    assert replaced == [] and _digests(owned["scene"].parent) == {**before}
    assert "Traceback" not in capsys.readouterr().err
