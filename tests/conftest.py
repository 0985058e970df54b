"""Shared fixtures: real sample scenes, crops of them, and small models."""
from __future__ import annotations

from pathlib import Path

import pytest
import rasterio
import torch
from rasterio.windows import Window
from torch import nn

from geotrans.model import build_generator
from geotrans.weights import save_generator

SAMPLES = Path(__file__).resolve().parent.parent / "sample_tiles"
KOREA = SAMPLES / "korea_rgb_jpeg_3857.tif"  # RGB JPEG COG, EPSG:3857, 1024 x 1024
LANDSAT = SAMPLES / "landsat_rgb_nodata_utm.tif"  # RGB with a nodata border, UTM, 791 x 718
VEGAS = SAMPLES / "vegas_rgba_4326.tif"  # RGBA, EPSG:4326, 640 x 480
ATLANTA = SAMPLES / "atlanta_pan_uint16_utm.tif"  # 1 band uint16, UTM, 512 x 512
ROTTERDAM = SAMPLES / "rotterdam_ms_float64_utm.tif"  # 4 bands float64, UTM, 200 x 200
NAIP = SAMPLES / "dakota_naip_rgbn_nodata.tif"  # 4 bands uint8 R,G,B,NIR without colour interpretation


class IdentityGenerator(nn.Module):
    """Returns its input: makes any change by tiling, blending or placement visible."""

    def forward(self, x: torch.Tensor, dropout_seeds=None) -> torch.Tensor:
        return x.clone()


@pytest.fixture
def identity() -> IdentityGenerator:
    return IdentityGenerator()


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


@pytest.fixture(scope="session")
def narrow_model_file(tmp_path_factory) -> Path:
    """A randomly initialised ngf=8 generator, exported: fast, for plumbing tests only."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "narrow.safetensors"
    save_generator(build_generator(ngf=8), path, name="random-ngf8-test")
    return path
