"""A web site of maps: each map's tiles over its scene's, and ``index.html``, a viewer that needs no network
(Leaflet and pmtiles.js, shipped in ``static/`` under their BSD licences), with a swipe and an opacity slider,
the legend, the model's name, licence and attribution, a scale bar, the list of maps and each one's figures.
A site of XYZ tiles needs no server either; one of PMTiles archives is read over HTTP (``serve``).

The site is written beside its folder and moved into place when complete: a folder that holds anything but a
site geotrans wrote is never written into, and an interrupted run leaves the old site (or none).
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import rasterio

from geotrans.errors import InputError, OutputError
from geotrans.io.bands import BandPlan, plan_bands
from geotrans.io.files import write_error
from geotrans.io.resolution import ground_resolution_m
from geotrans.io.scene import is_gdal_path
from geotrans.model.legend import LEGEND
from geotrans.model.style import CLASSES, MAP_CLASSES_TAG, MapStyle
from geotrans.web.tiles import FORMATS, Pyramid, libraries, pyramid_of, write_tiles

log = logging.getLogger(__name__)

MARKER = "geotrans-site.json"  # what makes a folder a site geotrans wrote (and the site's data)
QGIS_CONNECTIONS = "qgis-xyz-connections.xml"  # the site's layers for QGIS's XYZ Tiles
SHARES_SIDE = 1024  # long side of the decimated read a map's class shares are counted on
STATIC = Path(__file__).with_name("static")
PAGE = Path(__file__).with_name("index.html")


@dataclass(frozen=True)
class SiteEntry:
    """One map of the site, its ``scene`` beneath it where given (read with the ``bands`` the run used; None:
    the run's own choice, from the map's tags)."""

    map_path: str
    scene_path: Optional[str] = None
    name: Optional[str] = None  # its folder and title in the site (default: the map's file name)

    @property
    def title(self) -> str:
        return self.name or Path(self.map_path).stem


def check_site_folder(out: str | os.PathLike, inputs: Sequence[str | os.PathLike] = ()) -> Path:
    """``out`` as a site's folder: new, empty, or a site geotrans wrote (replaced when the new one is
    complete); never a folder of the user's files, a file, or a folder holding the inputs."""
    raw = os.fspath(out)
    if is_gdal_path(raw):
        raise OutputError(f"{raw}: the site must be a local folder, not a GDAL virtual path or URL")
    path = Path(raw)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: is a file; the site is a folder (index.html and its tiles)")
    if not path.resolve().parent.is_dir():
        raise OutputError(f"{path.parent}: the site's parent folder does not exist")
    if path.is_dir() and any(path.iterdir()) and not (path / MARKER).is_file():
        raise OutputError(f"{path}: holds files geotrans did not write; the site goes only in a new or empty "
                          "folder, or one holding a site geotrans wrote", hint="give a new folder")
    for source in inputs:
        if Path(source).resolve().is_relative_to(path.resolve()):
            raise OutputError(f"{source}: is inside the site's folder {path}, which the site replaces",
                              hint="give the site another folder")
    return path


def map_facts(map_path: str | os.PathLike) -> dict:
    """What the viewer says about a map: from geotrans's tags (model, licence, attribution, legend, what to
    expect) and the file (size, pixel size, CRS). One line for a raster that is not an 8-bit RGB map; a
    warning for one without geotrans's tags."""
    from geotrans.run.plan import EXPECTATIONS_TAG  # here: the plan imports torch, the CLI's start does not

    with rasterio.open(map_path) as ds:
        if ds.count < 3 or ds.dtypes[0] != "uint8":
            raise InputError(f"{map_path}: is not an RGB map ({ds.count} band(s) of {ds.dtypes[0]}); web tiles "
                             "are of 8-bit RGB maps")
        if ds.crs is None:
            raise InputError(f"{map_path}: has no georeferencing (no CRS); web tiles need to know where it lies")
        tags = ds.tags()
        unit = ds.crs.linear_units if ds.crs.is_projected else "degree"
        facts = {"size_px": [ds.width, ds.height], "pixel": f"{abs(ds.res[0]):.6g} {unit}",
                 "ground_m": ground_resolution_m(ds.crs, ds.transform, ds.width, ds.height),
                 "crs": ds.crs.to_string()}
        classes = json.loads(tags.get(MAP_CLASSES_TAG, "{}"))
        shares = class_shares(ds, MapStyle.from_card({"map_classes": classes})) if classes else {}
    if "GEOTRANS_MODEL" not in tags:
        log.warning("%s: not a map geotrans wrote (no geotrans tags): the site shows it without legend, model "
                    "or licence", map_path)
    params = json.loads(tags.get("GEOTRANS_PARAMS", "{}"))
    return {**facts, "model": tags.get("GEOTRANS_MODEL"), "licence": tags.get("GEOTRANS_LICENCE"),
            "attribution": tags.get("TIFFTAG_COPYRIGHT"), "expect": tags.get(EXPECTATIONS_TAG),
            "source": tags.get("GEOTRANS_SOURCE"), "bands": params.get("bands"),
            "legend": [{"name": name.replace("_", " "), "rgb": rgb, "means": LEGEND.get(name, ""),
                        "share": shares.get(name)} for name, rgb in classes.items()]}


def class_shares(ds, style: MapStyle) -> dict[str, float]:
    """Each class's share of the open map's valid pixels (as ``vectorize`` classes them), counted on a read of
    at most ``SHARES_SIDE`` px a side."""
    factor = max(1, -(-max(ds.width, ds.height) // SHARES_SIDE))
    shape = (max(1, ds.height // factor), max(1, ds.width // factor))
    rgb = ds.read([1, 2, 3], out_shape=(3, *shape))
    valid = ds.read_masks(1, out_shape=shape) > 0
    counts = np.bincount(style.classify(rgb)[valid], minlength=len(CLASSES))
    return {name: float(counts[code] / max(1, valid.sum())) for code, name in enumerate(CLASSES)}


def write_site(entries: Sequence[SiteEntry], out: str | os.PathLike, maxzoom: Optional[int] = None,
               progress: Optional[Callable[[int], None]] = None, on_total: Optional[Callable[[int], None]] = None,
               tile_format: str = "xyz") -> Path:
    """The site of ``entries`` in the folder ``out`` (``check_site_folder``), each map's tiles from its native
    zoom (or ``maxzoom``) down to a view of the whole map, with its scene's beneath, as ``tile_format`` (a
    folder of ``xyz`` PNGs, or a ``pmtiles`` archive per layer); returns the folder. ``on_total`` hears how
    many tiles there are before the first is written, ``progress`` each one."""
    if not entries:
        raise InputError("no maps to put on the site")
    if tile_format not in FORMATS:
        raise InputError(f"{tile_format}: not a tile format; one of {', '.join(FORMATS)}")
    libraries(tile_format)
    folder = check_site_folder(out, [p for e in entries for p in (e.map_path, e.scene_path) if p])
    names = [safe_name(e.title) for e in entries]
    if len(set(names)) != len(names):
        raise InputError("two maps share a name on the site; name them apart")
    plans = [(entry, name, map_facts(entry.map_path), pyramid_of(entry.map_path, maxzoom))
             for entry, name in zip(entries, names)]
    if on_total is not None:
        on_total(sum(p.count() * (2 if e.scene_path else 1) for e, _, _, p in plans))
    part = folder.parent / f".{folder.name}.geotrans-{uuid.uuid4().hex[:8]}.part"
    try:
        part.mkdir()
        shutil.copytree(STATIC, part / "static")
        site = [_write_entry(part, entry, name, facts, pyramid, progress, tile_format)
                for entry, name, facts, pyramid in plans]
        if tile_format == "xyz":  # PMTiles's layers reach QGIS through the server (``serve``), which writes its own
            (part / QGIS_CONNECTIONS).write_text(qgis_connections(site, folder.resolve().as_uri()))
        data = {"geotrans_site": 1, "format": tile_format, "maps": site}
        (part / MARKER).write_text(json.dumps(data, indent=1) + "\n")
        (part / "site.js").write_text(f"window.GEOTRANS_SITE = {json.dumps(data)};\n")
        shutil.copyfile(PAGE, part / "index.html")
        _move_into_place(part, folder)
    except OSError as err:  # a full disk, a read-only folder: one line, the old site (or none) left as it was
        raise write_error(folder, "writing the site", [str(err)], err) from None
    finally:
        shutil.rmtree(part, ignore_errors=True)
    return folder


def scene_facts(ds, bands: BandPlan) -> dict:
    """The open scene's figures beside its map (as ``geotrans info`` gives them): size, ground resolution, and
    the ``bands`` the run read, with their stretch."""
    ground = ground_resolution_m(ds.crs, ds.transform, ds.width, ds.height) if ds.crs else None
    return {"size_px": [ds.width, ds.height], "dtype": ds.dtypes[0], "ground_m": ground, "bands": bands.describe()}


def layer_path(folder: str, kind: str, tile_format: str) -> str:
    """Where a layer's tiles lie in the site: ``folder/kind/`` (XYZ) or ``folder/kind.pmtiles``."""
    return f"{folder}/{kind}.pmtiles" if tile_format == "pmtiles" else f"{folder}/{kind}"


def _write_entry(part: Path, entry: SiteEntry, name: str, facts: dict, pyramid: Pyramid,
                 progress: Optional[Callable[[int], None]], tile_format: str) -> dict:
    """One map's tiles (and its scene's) under ``part/name``; what the viewer needs to show them."""
    (part / name).mkdir(parents=True)
    tiles = {"map": write_tiles(entry.map_path, part / layer_path(name, "map", tile_format), pyramid,
                                progress=progress, tile_format=tile_format)}
    if entry.scene_path:
        with rasterio.open(entry.scene_path) as ds:
            bands = plan_bands(ds, facts["bands"])  # the scene as the run read it: its bands and stretch
            facts = {**facts, "scene_facts": scene_facts(ds, bands)}
        tiles["scene"] = write_tiles(entry.scene_path, part / layer_path(name, "scene", tile_format), pyramid,
                                     bands.bands, bands.stretch, resampling="bilinear", progress=progress,
                                     tile_format=tile_format)
    return {**facts, "name": entry.title, "folder": name, "format": tile_format, "minzoom": pyramid.minzoom,
            "maxzoom": pyramid.maxzoom, "bounds": pyramid.bounds, "tiles": tiles,
            "scene": entry.scene_path and Path(entry.scene_path).name}


def qgis_connections(site: list[dict], base: str) -> str:
    """QGIS's XYZ connections file for the site's layers (Browser > XYZ Tiles > Load Connections): each map's
    and scene's ``{z}/{x}/{y}.png`` under ``base``, the site's address (its folder's ``file://`` URI, or the
    server's ``http://`` one)."""
    from xml.sax.saxutils import quoteattr

    lines = ["<!DOCTYPE connections>", '<qgsXYZTilesConnections version="1.0">']
    for entry in site:
        for kind in ("map", "scene"):
            if kind in entry["tiles"]:
                url = f"{base.rstrip('/')}/{entry['folder']}/{kind}" + "/{z}/{x}/{y}.png"
                name = f"geotrans {entry['name']}: {kind}"
                lines.append(f'  <xyztiles name={quoteattr(name)} url={quoteattr(url)} '
                             f'zmin="{entry["minzoom"]}" zmax="{entry["maxzoom"]}" tilePixelRatio="0" authcfg="" '
                             'username="" password="" referer=""/>')
    return "\n".join([*lines, "</qgsXYZTilesConnections>", ""])


def _move_into_place(part: Path, folder: Path) -> None:
    """``part`` becomes ``folder``; a site there before is removed only once the new one is in place."""
    old = None
    if folder.exists():
        old = folder.parent / f".{folder.name}.geotrans-{uuid.uuid4().hex[:8]}.old"
        folder.rename(old)
    try:
        part.rename(folder)
    except OSError:
        if old is not None:
            old.rename(folder)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def safe_name(title: str) -> str:
    """A folder name for a map in the site: letters, digits, ``-``, ``_`` and ``.``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", title).strip("._") or "map"
