"""A scene's map as ``geotrans run`` writes it, read back for the real-scene metrics."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from torch import nn

from geotrans.model.weights import ModelInfo
from geotrans.run.options import RunOptions
from geotrans.run.pipeline import translate
from geotrans.run.plan import plan_run


@dataclass(frozen=True)
class TranslatedMap:
    """The map's pixels (uint8 (3, H, W)), its valid pixels (bool (H, W)) and its grid."""

    rgb: np.ndarray
    valid: np.ndarray
    crs: CRS
    transform: Affine

    @property
    def shape(self) -> tuple[int, int]:
        return self.valid.shape


def translated(generator: nn.Module, scene: str | Path, options: RunOptions = RunOptions(),
               model_info: Optional[ModelInfo] = None) -> TranslatedMap:
    """Translate ``scene`` through ``geotrans run``'s own path into a temporary GeoTIFF and read it back."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "map.tif"
        translate(plan_run(scene, options, model_info), out, generator)
        with rasterio.open(out) as ds:
            return TranslatedMap(ds.read(), ds.dataset_mask() > 0, ds.crs, ds.transform)
