"""A real-scene metric: do the map's streets lie on real roads?

Road centre lines (for example SpaceNet's labels of the Vegas scene) are
rasterised onto the map's grid and compared with the map's road pixels, the
near-white streets of the map style:

* recall: the share of label pixels within ``tolerance`` metres of a map road;
* precision: the share of map road pixels within ``tolerance`` metres of a label;
* F1, their harmonic mean.

Distances are measured in metres on the ground (pixel sizes from
``geotrans.io.resolution``), so geographic and projected grids compare alike. The
floor to beat is the same map shifted by a city block: road-like pixels in the
wrong places.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from rasterio.features import rasterize
from rasterio.warp import transform_geom
from scipy.ndimage import distance_transform_edt
from torch import nn

from geotrans.io.resolution import pixel_size_m
from geotrans.model.palette import near_colour
from geotrans.model.weights import ModelInfo
from geotrans.run.options import RunOptions
from training.translated import translated

STREET_RGB = (255, 255, 255)  # the map style's streets
# How close (CIE76 delta E) a map pixel must be to the street white to count as street: grey 245 is 3.5 away,
# the palette's street colour (247, 246, 242) 3.8, the map's background (232, 229, 222) 9.8. (A rule of "every
# band >= 245" missed palette-snapped streets, whose blue is 242.)
STREET_MAX_DELTA_E = 4.0
TOLERANCE_M = 4.0
BLOCK_M = 100.0  # the shift of the floor map: about a city block


@dataclass(frozen=True)
class RoadScores:
    recall: float
    precision: float
    f1: float
    label_pixels: int
    road_pixels: int


def road_pixels(rgb: np.ndarray) -> np.ndarray:
    """Boolean (H, W): the near-white street pixels of a uint8 (3, H, W) map."""
    return near_colour(rgb, STREET_RGB, STREET_MAX_DELTA_E)


def label_raster(labels_geojson: str | Path, crs, transform, shape: tuple[int, int]) -> np.ndarray:
    """Boolean (H, W): pixels touched by the label lines, reprojected from the GeoJSON's CRS (CRS84 by default)."""
    collection = json.loads(Path(labels_geojson).read_text())
    source_crs = collection.get("crs", {}).get("properties", {}).get("name", "OGC:CRS84")
    geometries = [transform_geom(source_crs, crs, f["geometry"]) for f in collection["features"] if f.get("geometry")]
    if not geometries:
        raise ValueError(f"{labels_geojson}: no label geometries")
    return rasterize(geometries, out_shape=shape, transform=transform, all_touched=True, dtype="uint8").astype(bool)


def road_scores(roads: np.ndarray, labels: np.ndarray, size_m: tuple[float, float],
                valid: Optional[np.ndarray] = None, tolerance_m: float = TOLERANCE_M) -> RoadScores:
    """Recall, precision and F1 of map ``roads`` against ``labels`` (both boolean (H, W)), within
    ``tolerance_m`` metres; ``size_m`` is a pixel's (row, column) ground size; only ``valid`` pixels count."""
    if roads.shape != labels.shape:
        raise ValueError("roads and labels must have one shape")
    if valid is not None:
        roads, labels = roads & valid, labels & valid
    recall = _share_near(labels, roads, size_m, tolerance_m)
    precision = _share_near(roads, labels, size_m, tolerance_m)
    f1 = 0.0 if recall + precision == 0 else 2 * recall * precision / (recall + precision)
    return RoadScores(recall, precision, f1, int(labels.sum()), int(roads.sum()))


def _share_near(points: np.ndarray, targets: np.ndarray, size_m, tolerance_m: float) -> float:
    """The share of ``points`` pixels within ``tolerance_m`` of a ``targets`` pixel (0 if either is empty)."""
    if not points.any() or not targets.any():
        return 0.0
    distance = distance_transform_edt(~targets, sampling=size_m)
    return float(np.mean(distance[points] <= tolerance_m))


def shifted(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``image`` rolled by (rows, cols) pixels along its last two axes (wrapping, so nothing is lost)."""
    return np.roll(image, (rows, cols), axis=(-2, -1))


def evaluate_roads(generator: nn.Module, scene: str | Path, labels_geojson: str | Path,
                   model_info: Optional[ModelInfo] = None, options: RunOptions = RunOptions()) -> dict:
    """Translate ``scene`` through ``geotrans run``'s path and score its streets against the labels;
    also scores the floor (the same map shifted by a block)."""
    map_ = translated(generator, scene, options, model_info)
    labels = label_raster(labels_geojson, map_.crs, map_.transform, map_.shape)
    x_m, y_m = pixel_size_m(map_.crs, map_.transform, map_.shape[1], map_.shape[0])
    size_m = (y_m, x_m)
    model = road_scores(road_pixels(map_.rgb), labels, size_m, map_.valid)
    block = (round(BLOCK_M / size_m[0]), round(BLOCK_M / size_m[1]))
    floor = road_scores(road_pixels(shifted(map_.rgb, *block)), labels, size_m, map_.valid)
    return {"scene": Path(scene).name, "tolerance_m": TOLERANCE_M, "map": asdict(model),
            "shifted_by_a_block": asdict(floor)}
