"""A real-scene metric for "it draws fields and forests as water": the map's water against the scene's
own water, as its near-infrared band shows it.

Open water absorbs near infrared. McFeeters' NDWI, (green - NIR) / (green + NIR),
is high over open water and low over vegetation and bare soil, so on a scene
with a NIR band (NAIP: R, G, B, NIR) the pixels with NDWI > ``NDWI_MIN`` are the
truth. NAIP's values are not reflectances: on the Dakota sample, ponds and
green lakes measure 0.6-0.7, bare fields 0.05-0.1 and crops -0.3 to -0.4, so
the threshold is 0.3 rather than McFeeters' 0. The map's water is its pixels within ``MAX_DELTA_E`` (CIE76) of the map
style's water colour. Scores, on the map's valid pixels:

* precision: the share of map water that is water (fields drawn as water lower it);
* recall: the share of water that the map draws as water;
* IoU, and the dry-land rate: the share of dry land drawn as water.

A scene without open water (checked by eye) needs no NIR band: everything its
map draws as water is false (``evaluate_false_water``). Korea's winter forest
is the case in point: dark, blue-shadowed conifers that a model trained on New
York draws as lakes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np
import rasterio
from torch import nn

from geotrans.model.palette import near_colour
from geotrans.model.style import MAX_DELTA_E, WATER_RGB
from geotrans.model.weights import ModelInfo
from geotrans.run.options import RunOptions
from training.translated import translated

NDWI_MIN = 0.3  # open water above, vegetation and bare soil below (measured on NAIP, see above)


@dataclass(frozen=True)
class WaterScores:
    precision: float
    recall: float
    iou: float
    dry_land_as_water: float
    water_share: float  # of the valid pixels, the share the NIR band calls water
    map_water_share: float  # of the valid pixels, the share the map draws as water


def water_truth(green: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Boolean (H, W): NDWI above ``NDWI_MIN`` (pixels with no signal in either band count as dry)."""
    green, nir = green.astype(np.float64), nir.astype(np.float64)
    total = green + nir
    ndwi = np.divide(green - nir, total, out=np.full(total.shape, -1.0), where=total > 0)
    return ndwi > NDWI_MIN


def map_water(rgb: np.ndarray) -> np.ndarray:
    """Boolean (H, W): the pixels of a uint8 (3, H, W) map within ``MAX_DELTA_E`` of the style's water."""
    return near_colour(rgb, WATER_RGB, MAX_DELTA_E)


def water_scores(drawn: np.ndarray, truth: np.ndarray, valid: Optional[np.ndarray] = None) -> WaterScores:
    """Scores of the map's water ``drawn`` against ``truth`` (boolean (H, W)) on the ``valid`` pixels."""
    if drawn.shape != truth.shape:
        raise ValueError("the map's water and the truth must have one shape")
    valid = np.ones(truth.shape, dtype=bool) if valid is None else valid
    drawn, truth = drawn[valid], truth[valid]
    both, either = np.sum(drawn & truth), np.sum(drawn | truth)
    dry = ~truth
    return WaterScores(precision=float(both / drawn.sum()) if drawn.any() else 0.0,
                       recall=float(both / truth.sum()) if truth.any() else 0.0,
                       iou=float(both / either) if either else 0.0,
                       dry_land_as_water=float(np.mean(drawn[dry])) if dry.any() else 0.0,
                       water_share=float(truth.mean()) if truth.size else 0.0,
                       map_water_share=float(drawn.mean()) if drawn.size else 0.0)


def evaluate_water(generator: nn.Module, scene: str | Path, bands: tuple[int, int, int] = (1, 2, 3),
                   green_nir: tuple[int, int] = (2, 4), model_info: Optional[ModelInfo] = None,
                   options: RunOptions = RunOptions()) -> dict:
    """Translate ``scene`` (its ``bands`` as R, G, B) through ``geotrans run``'s path with ``options``, palette
    off, and score the map's water against the scene's NDWI from its ``green_nir`` bands, on the scene's grid."""
    map_ = translated(generator, scene, replace(options, bands=bands, palette="off"), model_info)
    with rasterio.open(scene) as ds:
        green, nir = ds.read(list(green_nir))
    scores = water_scores(map_water(map_.rgb), water_truth(green, nir), map_.valid)
    return {"scene": Path(scene).name, "ndwi_min": NDWI_MIN, "max_delta_e": MAX_DELTA_E, "map": asdict(scores)}


def evaluate_false_water(generator: nn.Module, scene: str | Path, model_info: Optional[ModelInfo] = None,
                         options: RunOptions = RunOptions()) -> dict:
    """The share of a scene without open water that its map draws as water, through ``geotrans run``'s path
    with ``options``: with the palette off (the model's own colours) and on (what users see by default)."""
    shares = {}
    for palette in ("off", "auto"):
        map_ = translated(generator, scene, replace(options, palette=palette), model_info)
        shares[f"palette_{palette}"] = float(map_water(map_.rgb)[map_.valid].mean()) if map_.valid.any() else 0.0
    return {"scene": Path(scene).name, "max_delta_e": MAX_DELTA_E, "drawn_as_water": shares}
