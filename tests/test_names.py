"""Every name for a user's file is the same file: an output is refused when it is any file an input is made
of, however the input names it (GDAL and rasterio prefixes, a VRT's sources, sidecars), and logs and locks
never write through to a file the user owns. Every case checks the user's bytes with md5."""
from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
import rasterio
import rasterio.shutil
from helpers import KOREA, LANDSAT, assert_one_line_error, run_cli

from geotrans.io.targets import disk_files, input_files, sidecars


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def vrt_of(source: Path, vrt: Path, relative_to: Path | None = None) -> Path:
    """A VRT reading ``source`` (named relative to the VRT's folder when ``relative_to`` is given), as
    gdalbuildvrt would write it."""
    rasterio.shutil.copy(source, vrt, driver="VRT")
    if relative_to is not None:
        text = re.sub(r"<SourceFilename[^>]*>[^<]*</SourceFilename>",
                      f'<SourceFilename relativeToVRT="1">{os.path.relpath(source, relative_to)}</SourceFilename>',
                      vrt.read_text())
        vrt.write_text(text)
    return vrt


def refused_and_kept(args, owned: Path, *fragments, model=None) -> None:
    """``geotrans run ARGS`` ends in one line holding ``fragments`` and leaves ``owned`` as it was."""
    before = md5(owned)
    result = run_cli("run", *args, *(("--model", model) if model else ()))
    assert_one_line_error(result, *fragments)
    assert md5(owned) == before


def test_a_file_url_of_the_input_is_the_input(tmp_path, scene, narrow_model_file):
    refused_and_kept((f"file://{scene}", "--out", scene, "--overwrite"), scene, "is an input of the run",
                     model=narrow_model_file)


@pytest.mark.parametrize("scheme", ["zip", "tar", "gzip"])
def test_rasterio_archive_paths_never_have_their_archive_replaced(tmp_path, narrow_model_file, scheme):
    if scheme == "zip":
        archive = tmp_path / "scenes.zip"
        with zipfile.ZipFile(archive, "w") as z:
            z.write(LANDSAT, "a.tif")
        source = f"zip://{archive}!a.tif"
    elif scheme == "tar":
        archive = tmp_path / "scenes.tar"
        with tarfile.open(archive, "w") as t:
            t.add(LANDSAT, "a.tif")
        source = f"tar://{archive}!a.tif"
    else:
        archive = tmp_path / "a.tif.gz"
        archive.write_bytes(gzip.compress(LANDSAT.read_bytes()))
        source = f"gzip://{archive}"
    with rasterio.open(source) as ds:  # a path rasterio reads: the case is real
        assert ds.width == 791
    refused_and_kept((source, "--out", archive, "--overwrite"), archive, "is an input of the run",
                     model=narrow_model_file)


def test_a_cached_gdal_path_is_its_file(tmp_path, scene, narrow_model_file):
    refused_and_kept((f"/vsicached?file={scene}", "--out", scene, "--overwrite"), scene, "is an input of the run",
                     model=narrow_model_file)


def test_a_sparse_files_regions_are_its_files(tmp_path, scene, narrow_model_file):
    xml = tmp_path / "sparse.xml"
    xml.write_text(f"""<VSISparseFile><Length>{scene.stat().st_size}</Length><SubfileRegion>
<Filename relative="1">in.tif</Filename><DestinationOffset>0</DestinationOffset><SourceOffset>0</SourceOffset>
<RegionLength>{scene.stat().st_size}</RegionLength></SubfileRegion></VSISparseFile>""")
    with rasterio.open(f"/vsisparse/{xml}") as ds:
        assert ds.width == 791
    refused_and_kept((f"/vsisparse/{xml}", "--out", scene, "--overwrite"), scene, "is an input of the run",
                     model=narrow_model_file)
    refused_and_kept((f"/vsisparse/{xml}", "--out", xml, "--overwrite"), xml, "is an input of the run",
                     model=narrow_model_file)


def test_a_vrts_sources_are_inputs_down_to_vrts_of_vrts(tmp_path, scene, narrow_model_file, monkeypatch):
    (tmp_path / "vrts").mkdir()
    inner = vrt_of(scene, tmp_path / "vrts" / "inner.vrt", relative_to=tmp_path / "vrts")
    outer = vrt_of(inner, tmp_path / "outer.vrt", relative_to=tmp_path)
    monkeypatch.chdir(tmp_path / "vrts")  # relative names are the VRT's, not the working folder's
    for vrt in (inner, outer):
        refused_and_kept((vrt, "--out", scene, "--overwrite"), scene, "is an input of the run", "reads it",
                         model=narrow_model_file)
    refused_and_kept((outer, "--out", inner, "--overwrite"), inner, "is an input of the run",
                     model=narrow_model_file)


@pytest.mark.parametrize("suffix", [".ovr", ".aux.xml", ".msk", ".OVR"])
def test_a_scenes_sidecars_are_never_outputs(tmp_path, scene, narrow_model_file, suffix):
    sidecar = scene.with_name(scene.name + suffix)
    shutil.copy(scene, sidecar)  # the user's overviews or metadata (any bytes: what matters is they stay)
    refused_and_kept((scene, "--out", sidecar, "--overwrite"), sidecar, "is an input of the run",
                     model=narrow_model_file)


def test_sidecars_are_refused_before_they_exist_too(tmp_path, scene, narrow_model_file):
    """A new in.tif.ovr would become the scene's overviews in every GIS: refused even when absent."""
    for name in ("in.tif.ovr", "in.tfw", "in.tif.aux.xml"):
        result = run_cli("run", scene, "--out", tmp_path / name, "--model", narrow_model_file)
        assert_one_line_error(result, "is an input of the run")
        assert not (tmp_path / name).exists()


def test_sidecar_names_follow_gdals():
    names = {p.name for p in sidecars(Path("/d/x.tif"))}
    assert {"x.tif.ovr", "x.tif.OVR", "x.tif.aux.xml", "x.tif.msk", "x.tfw", "x.TFW", "x.tifw", "x.wld",
            "x.aux"} <= names


@pytest.mark.parametrize("form, named", [
    ("file:///d/a.tif", ["/d/a.tif"]),
    ("zip:///d/s.zip!a.tif", ["/d/s.zip"]),
    ("zip+file:///d/s.zip!a.tif", ["/d/s.zip"]),
    ("tar:///d/s.tar!a.tif", ["/d/s.tar"]),
    ("gzip:///d/a.tif.gz", ["/d/a.tif.gz"]),
    ("/vsicached?file=/d/a.tif", ["/d/a.tif"]),
    ("/vsicrypt/key=abc,file=/d/a.tif", ["/d/a.tif"]),
    ("/vsisubfile/0_100,/d/a.bin", ["/d/a.bin"]),
    ("GTIFF_DIR:2:/d/a.tif", ["/d/a.tif"]),
    ("vrt:///d/a.tif?bands=1", ["/d/a.tif"]),
    ("/vsicurl/https://host/a.tif", []),
    ("https://host/a.tif", []),
    ("zip+https://host/s.zip!a.tif", []),
])
def test_every_prefix_names_its_file_on_disk(form, named):
    assert [os.fspath(p) for p in disk_files(form)] == named


def test_a_network_input_is_not_opened_to_list_its_files():
    assert input_files("/vsicurl/http://127.0.0.1:9/a.tif") == []


@pytest.mark.parametrize("name, content", [
    ("mine.safetensors", None), ("roads.geojson", b'{"type": "FeatureCollection", "features": []}'),
    ("notes.txt", b"my field notes\n")])
def test_a_log_is_never_appended_to_a_file_that_is_not_a_geotrans_log(tmp_path, scene, narrow_model_file, name,
                                                                       content):
    owned = tmp_path / name
    owned.write_bytes(content if content is not None else narrow_model_file.read_bytes())
    refused_and_kept((scene, "--out", tmp_path / "map.tif", "--log", owned), owned, "is not a geotrans log",
                     model=narrow_model_file)
    assert not (tmp_path / "map.tif").exists()


def test_a_geotrans_log_is_appended_to_and_overwrite_replaces_any_other(tmp_path, scene, narrow_model_file):
    log = tmp_path / "run.log"
    assert run_cli("run", scene, "--out", tmp_path / "a.tif", "--log", log, "--model", narrow_model_file
                   ).exit_code == 0
    first = log.read_text()
    assert run_cli("run", scene, "--out", tmp_path / "b.tif", "--log", log, "--model", narrow_model_file
                   ).exit_code == 0
    assert log.read_text().startswith(first) and len(log.read_text()) > len(first)
    notes = tmp_path / "notes.txt"
    notes.write_text("my field notes\n")
    assert run_cli("run", scene, "--out", tmp_path / "c.tif", "--log", notes, "--overwrite", "--model",
                   narrow_model_file).exit_code == 0
    assert "my field notes" not in notes.read_text() and "geotrans" in notes.read_text()


def test_a_lock_name_that_is_a_link_is_never_written_through(tmp_path, scene, narrow_model_file):
    precious = tmp_path / "precious.txt"
    precious.write_text("the user's words\n")
    (tmp_path / ".map.tif.lock").symlink_to(precious)
    refused_and_kept((scene, "--out", tmp_path / "map.tif"), precious, "not a geotrans lock",
                     model=narrow_model_file)
    assert (tmp_path / ".map.tif.lock").is_symlink() and not (tmp_path / "map.tif").exists()


def test_a_lock_name_that_is_the_users_file_is_never_deleted(tmp_path, scene, narrow_model_file):
    lock = tmp_path / ".map.tif.lock"
    lock.write_text("the user's words\n")
    refused_and_kept((scene, "--out", tmp_path / "map.tif"), lock, "not a geotrans lock", model=narrow_model_file)
    hard = tmp_path / ".other.tif.lock"
    os.link(tmp_path / "in.tif", hard)  # an empty lock is fine, but not one with another name
    refused_and_kept((scene, "--out", tmp_path / "other.tif"), scene, "not a geotrans lock",
                     model=narrow_model_file)


def test_a_dead_runs_lock_is_still_taken_over(tmp_path, scene, narrow_model_file):
    (tmp_path / ".map.tif.lock").write_text('{"host": "elsewhere", "pid": 1}')
    assert run_cli("run", scene, "--out", tmp_path / "map.tif", "--model", narrow_model_file).exit_code == 0
    assert (tmp_path / "map.tif").exists() and not (tmp_path / ".map.tif.lock").exists()


def test_a_folder_run_never_replaces_or_drops_a_scene_inside_its_output_folder(tmp_path, narrow_model_file):
    scenes = tmp_path / "scenes"
    (scenes / "sub").mkdir(parents=True)
    shutil.copy(KOREA, scenes / "a.tif")
    mine = scenes / "sub" / "a.tif"
    shutil.copy(LANDSAT, mine)
    refused_and_kept((scenes, "--out", scenes / "sub", "--recursive", "--overwrite"), mine,
                     "is a scene of yours inside the output folder", model=narrow_model_file)


def test_a_folder_run_inside_its_input_tree_still_resumes_over_its_own_maps(tmp_path, narrow_model_file):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    shutil.copy(KOREA, scenes / "a.tif")
    for _ in range(2):  # the second run finds its own map in scenes/maps, and takes it as done, not as a scene
        result = run_cli("run", scenes, "--out", scenes / "maps", "--recursive", "--model", narrow_model_file)
        assert result.exit_code == 0, result.output
    assert (scenes / "maps" / "a.tif").exists() and not (scenes / "maps" / "maps").exists()


# Every option is checked before the model loads (#42, part 5): the model loader fails the test if reached.

@pytest.fixture
def no_model_load(monkeypatch):
    import geotrans.model.weights

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr(geotrans.model.weights, "load_generator", refuse)


@pytest.mark.parametrize("args, said", [
    (["--cog", "--co", "BLOCKSIZE=100"], "BLOCKSIZE=100: GDAL refuses it"),
    (["--co", "BLOCKXSIZE=100"], "BLOCKXSIZE=100: GDAL refuses it"),
    (["--dropout", "--seed", "-1"], "seed -1 is out of range"),
    (["--dropout", "--seed", "123456789012345678901234567890"], "is out of range"),
])
def test_bad_options_are_one_line_before_the_model_loads(tmp_path, scene, narrow_model_file, no_model_load, args,
                                                         said):
    result = run_cli("run", scene, "--out", tmp_path / "map.tif", "--model", narrow_model_file, *args)
    assert_one_line_error(result, said)
    assert "internal error" not in result.output and not list(tmp_path.glob("*map.tif*"))


def test_the_largest_seed_runs(tmp_path, scene, narrow_model_file):
    result = run_cli("run", scene, "--out", tmp_path / "map.tif", "--model", narrow_model_file, "--dropout",
                     "--seed", str(2**63 - 1))
    assert result.exit_code == 0, result.output


def test_a_name_that_is_not_utf8_is_one_line_as_input_or_output(tmp_path, scene, narrow_model_file, no_model_load):
    bad = os.fsdecode(os.fsencode(str(tmp_path)) + b"/bad\xff\xfe.tif")
    shutil.copy(scene, bad)
    for args in ((bad, "--out", tmp_path / "map.tif"), (scene, "--out", tmp_path / "bad\udcfe.tif")):
        result = run_cli("run", *args, "--model", narrow_model_file)
        assert_one_line_error(result, "is not UTF-8 text")
    result = run_cli("info", bad)
    assert_one_line_error(result, "is not UTF-8 text")


@pytest.mark.parametrize("table", [
    {"water": [176, 207, 253]},
    "blue",
    {name: 5 for name in ("background", "street", "major_road", "highway", "water", "green", "building")},
])
def test_a_bad_class_table_on_the_card_is_said_before_the_map_is_made(tmp_path, scene, table):
    import torch

    from geotrans.model.generator import build_generator
    from geotrans.model.weights import save_generator

    torch.manual_seed(0)
    model = tmp_path / "bad.safetensors"
    save_generator(build_generator(ngf=8), model, name="bad", card={"map_classes": table})
    result = run_cli("run", scene, "--out", tmp_path / "map.tif", "--model", model, "--vectors", tmp_path / "v.gpkg")
    assert_one_line_error(result, "map")
    assert not (tmp_path / "map.tif").exists() and not (tmp_path / "v.gpkg").exists()


def test_listing_a_file_that_is_no_raster_lists_only_it_and_logs_nothing(tmp_path, caplog):
    card = tmp_path / "model.json"
    card.write_text("{}")
    with caplog.at_level("DEBUG"):
        files = input_files(card)
    assert [f.path for f in files if f.how != "sidecar"] == [card]
    assert not [r for r in caplog.records if "signalled an error" in r.getMessage()]


@pytest.mark.parametrize("args", [
    ["run", "KOREA", "--out", "OUT", "--http-timeout", "nan"],
    ["run", "KOREA", "--out", "OUT", "--http-timeout", "inf"],
    ["tune", "KOREA", "--labels", "KOREA", "--out", "OUT", "--minutes", "nan"],
    ["tune", "KOREA", "--labels", "KOREA", "--out", "OUT", "--holdout", "nan"],
    ["vectorize", "KOREA", "--out", "OUT", "--min-area", "nan"],
])
def test_a_number_that_is_not_finite_is_refused_in_one_line(tmp_path, args):
    out = tmp_path / "out"
    result = run_cli(*[str(KOREA) if a == "KOREA" else str(out) if a == "OUT" else a for a in args])
    assert result.exit_code == 2 and "is not a finite number" in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def _vrt_chain(scene: Path, folder: Path, depth: int, name=lambda d: f"d{d}.vrt") -> list[Path]:
    """VRTs of VRTs, ``depth`` deep: the first reads ``scene``, each next one the last."""
    chain, inner = [], scene
    for d in range(1, depth + 1):
        inner = vrt_of(inner, folder / name(d), relative_to=folder)
        chain.append(inner)
    return chain


def test_every_vrt_of_a_chain_deeper_than_eight_is_an_input(tmp_path, scene, narrow_model_file):
    chain = _vrt_chain(scene, tmp_path, 12)  # GDAL reads chains this deep (and deeper)
    with rasterio.open(chain[-1]) as ds:
        assert ds.read(1, window=((0, 1), (0, 1))).shape == (1, 1)
    refused_and_kept((chain[-1], "--out", scene, "--overwrite"), scene, "is an input of the run",
                     model=narrow_model_file)
    refused_and_kept((chain[-1], "--out", chain[0], "--overwrite"), chain[0], "is an input of the run",
                     model=narrow_model_file)


@pytest.mark.parametrize("inner_name", ["inner.xml", "inner.tif", "inner"])
def test_an_inner_vrt_is_followed_by_what_it_holds_not_by_its_name(tmp_path, scene, narrow_model_file, inner_name):
    inner = vrt_of(scene, tmp_path / "inner.vrt", relative_to=tmp_path).rename(tmp_path / inner_name)
    outer = vrt_of(inner, tmp_path / "outer.vrt", relative_to=tmp_path)
    with rasterio.open(outer) as ds:
        assert ds.files[-1].endswith(inner_name)
    refused_and_kept((outer, "--out", scene, "--overwrite"), scene, "is an input of the run",
                     model=narrow_model_file)


def test_a_vrt_s_mask_band_source_is_an_input(tmp_path, scene, narrow_model_file):
    mask = tmp_path / "mask.tif"
    shutil.copy(LANDSAT, mask)
    with rasterio.open(scene) as ds:
        width, height = ds.width, ds.height
    vrt = tmp_path / "masked.vrt"
    vrt.write_text(f"""<VRTDataset rasterXSize="{width}" rasterYSize="{height}">
  <VRTRasterBand dataType="Byte" band="1"><SimpleSource><SourceFilename relativeToVRT="1">{scene.name}</SourceFilename>
    <SourceBand>1</SourceBand></SimpleSource></VRTRasterBand>
  <MaskBand><VRTRasterBand dataType="Byte"><SimpleSource><SourceFilename relativeToVRT="1">mask.tif</SourceFilename>
    <SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></MaskBand>
</VRTDataset>""")
    with rasterio.open(vrt) as ds:  # GDAL reads the mask's file, but does not list it
        assert not any(f.endswith("mask.tif") for f in ds.files) and ds.read_masks(1).any()
    refused_and_kept((vrt, "--out", mask, "--overwrite"), mask, "is an input of the run", model=narrow_model_file)


def test_a_processed_dataset_s_input_is_an_input(tmp_path, scene):
    vrt = tmp_path / "processed.vrt"
    vrt.write_text(f"""<VRTDataset subClass="VRTProcessedDataset">
  <Input><SourceFilename relativeToVRT="1">{scene.name}</SourceFilename></Input>
  <ProcessingSteps><Step><Algorithm>LocalScaleOffset</Algorithm></Step></ProcessingSteps>
</VRTDataset>""")
    assert any(f.path == scene for f in input_files(vrt))  # whether or not this GDAL can run its steps


@pytest.mark.parametrize("how", ["GTI:{index}", "{index}", "{xml}"])
def test_a_tile_index_s_tiles_and_index_are_inputs(tmp_path, scene, narrow_model_file, how):
    import subprocess

    tiles = tmp_path / "tiles"
    tiles.mkdir()
    tile = tiles / "a.tif"
    shutil.copy(scene, tile)
    index = tmp_path / "index.gti.gpkg"
    subprocess.run(["gdaltindex", "-f", "GPKG", str(index), str(tile)], check=True, capture_output=True)
    xml = tmp_path / "index.xml"
    xml.write_text(f"<GDALTileIndexDataset><IndexDataset>{index}</IndexDataset></GDALTileIndexDataset>")
    source = how.format(index=index, xml=xml)
    with rasterio.open(source) as ds:
        assert ds.count == 3
    refused_and_kept((source, "--out", tile, "--overwrite"), tile, "is an input of the run", model=narrow_model_file)
    refused_and_kept((source, "--out", index, "--overwrite"), index, "is an input of the run",
                     model=narrow_model_file)


def test_vrts_nested_deeper_than_geotrans_follows_are_one_line_and_every_file_kept(tmp_path, scene,
                                                                                    narrow_model_file):
    from geotrans.io.targets import NESTING

    chain = _vrt_chain(scene, tmp_path, NESTING + 2)
    refused_and_kept((chain[-1], "--out", tmp_path / "m.tif"), scene, f"nested more than {NESTING} deep",
                     model=narrow_model_file)
    assert not (tmp_path / "m.tif").exists()
