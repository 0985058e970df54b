"""Shared test helpers: the real sample scenes, crops of them, small stand-in generators, and a
one-call scene run. Tests import these from here, never from another test module."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

import rasterio
import torch
from rasterio.warp import transform_geom
from rasterio.windows import Window
from shapely.geometry import box, mapping
from torch import nn

from geotrans.model.weights import ModelInfo
from geotrans.run.options import RunOptions
from geotrans.run.pipeline import RunReport, translate
from geotrans.run.plan import plan_run

SAMPLES = Path(__file__).resolve().parent.parent / "sample_tiles"
KOREA = SAMPLES / "korea_rgb_jpeg_3857.tif"  # RGB JPEG COG, EPSG:3857, 1024 x 1024
LANDSAT = SAMPLES / "landsat_rgb_nodata_utm.tif"  # RGB with a nodata border, UTM, 791 x 718
VEGAS = SAMPLES / "vegas_rgba_4326.tif"  # RGBA, EPSG:4326, 640 x 480
ATLANTA = SAMPLES / "atlanta_pan_uint16_utm.tif"  # 1 band uint16, UTM, 512 x 512
ROTTERDAM = SAMPLES / "rotterdam_ms_float64_utm.tif"  # 4 bands float64, UTM, 200 x 200
NAIP = SAMPLES / "dakota_naip_rgbn_nodata.tif"  # 4 bands uint8 R,G,B,NIR without colour interpretation
DATA = Path(__file__).resolve().parent / "data"


class IdentityGenerator(nn.Module):
    """Returns its input: makes any change by tiling, blending or placement visible."""

    def forward(self, x: torch.Tensor, dropout_seeds=None) -> torch.Tensor:
        return x.clone()


def crop(src: Path, window: Window, dst: Path) -> Path:
    """Write ``window`` of the real scene ``src`` to ``dst``, georeferenced, lossless."""
    with rasterio.open(src) as ds:
        profile = ds.profile
        profile.update(width=window.width, height=window.height, transform=ds.window_transform(window),
                       driver="GTiff", compress="deflate", photometric=None, tiled=False, blockysize=8)
        profile.pop("blockxsize", None)
        with rasterio.open(dst, "w", **profile) as out:
            out.write(ds.read(window=window))
            out.colorinterp = ds.colorinterp
    return dst


def run_scene(src, dst, generator: nn.Module, options: RunOptions = RunOptions(),
              model_info: Optional[ModelInfo] = None, **kwargs) -> RunReport:
    """Plan, then translate: what ``geotrans run`` does for one scene."""
    return translate(plan_run(src, options, model_info), dst, generator, **kwargs)


def write_aoi(path, polygon_in_scene_crs, scene=KOREA, crs_member=None):
    """A user's AOI: a polygon drawn on the real scene, saved as WGS84 GeoJSON (or in ``crs_member``)."""
    with rasterio.open(scene) as ds:
        target = crs_member or "EPSG:4326"
        geometry = transform_geom(ds.crs, target, mapping(polygon_in_scene_crs))
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": geometry}]}
    if crs_member:
        doc["crs"] = {"type": "name", "properties": {"name": crs_member}}
    path.write_text(json.dumps(doc))
    return path


def scene_box(scene, col0, row0, col1, row1):
    with rasterio.open(scene) as ds:
        (x0, y0), (x1, y1) = ds.transform * (col0, row0), ds.transform * (col1, row1)
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def run_cli(*args):
    """``geotrans ARGS`` in this process (click's runner), every argument as a string."""
    from click.testing import CliRunner

    from geotrans.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, *fragments):
    """A failed CLI run that printed exactly one line (besides log lines), holding each fragment."""
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip() and not line.startswith("geotrans: ")]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0]


def busy_elsewhere(seconds: float = 1.0) -> float:
    """The fraction of the machine's CPU time other processes used over ``seconds`` while this one slept
    (Linux /proc/stat; 0.0 where it cannot be read)."""
    import time

    def ticks():
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # all, idle + iowait

    try:
        (total0, idle0), _ = ticks(), time.sleep(seconds)
        total1, idle1 = ticks()
    except OSError:
        return 0.0
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


# Training data: a mix of the test data's real New York pairs and Dubai photos, and what the tests read of it.
DUBAI_CLASSES = {"#8429F6": "background", "#6EC1E4": "street", "#E2A929": "water", "#FEDD3A": "green",
                 "#3C1098": "building", "#9B9B9B": "ignore", "#000000": "ignore"}


def write_mix(folder: Path, jitter: float = 0.0, **dubai) -> Path:
    """A mix of the test data's real maps pairs and two real Dubai photos (one held out)."""
    spec = {"resolution_m": 0.9, "scale_jitter": jitter, "sources": [
        {"name": "nyc", "kind": "pairs", "path": str(DATA / "maps_pairs"), "resolution_m": 0.9, "weight": 1},
        {"name": "dubai", "kind": "masks", "root": str(DATA / "dubai"), "images": "tile2/images/*.jpg",
         "val": "tile2/images/image_part_009.jpg", "resolution_m": 1.0, "match": "nearest",
         "classes": DUBAI_CLASSES, "weight": 1, **dubai}]}
    path = folder / "mix.json"
    path.write_text(json.dumps(spec))
    return path


def to_model(water_rgb) -> torch.Tensor:
    return (torch.tensor(water_rgb, dtype=torch.float32) / 127.5 - 1).view(1, 3, 1, 1)


def inside(mask: torch.Tensor, margin: int = 5) -> torch.Tensor:
    """(H, W) boolean: the pixels of ``mask`` at least ``margin`` pixels from its edge."""
    kernel = 2 * margin + 1
    return -torch.nn.functional.max_pool2d(-mask.float()[None, None], kernel, stride=1, padding=margin)[0, 0] > 0


# Real QGIS, for the tests that drive it: the system python3 with PyQGIS, outside this virtual environment.
def qgis_python() -> str | None:
    """A python3 that imports qgis.core (GEOTRANS_QGIS_PYTHON, else the system's)."""
    for candidate in (os.environ.get("GEOTRANS_QGIS_PYTHON"), "/usr/bin/python3", shutil.which("python3")):
        if candidate and Path(candidate).exists():
            probe = subprocess.run([candidate, "-c", "import qgis.core, processing"], capture_output=True,
                                   env=qgis_environment(), timeout=120, cwd="/")
            if probe.returncode == 0:
                return candidate
    return None


def qgis_environment(home: Path | None = None) -> dict:
    """Headless QGIS, outside this virtual environment, with its settings in ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(Path("/usr/share/qgis/python/plugins")))
    if home is not None:
        env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"),
                   XDG_RUNTIME_DIR=str(home))
    return env
