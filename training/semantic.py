"""A semantic benchmark: does the map draw water, green, streets and buildings where the labels say they are?

Held-out labelled photos (the ``val`` part of each ``masks`` source of a mix,
``training.sources``) go through ``geotrans run``'s own path: each is written as
a GeoTIFF at its source's ground resolution (web mercator at the equator, where
its metres are true), translated with the default options (resampled to the
model's resolution and back, palette on) and read back on the photo's grid.
Every map pixel is classed by the nearest map-class colour of the model card
(CIE76 in CIELAB; street, major road and highway count as street), and scored
against the labels, pooled over a source's images:

* IoU of water, green, street and building;
* dry land as water: the share of labelled land (not water) drawn as water;
* per land class, where the labels show it: green (woods) drawn as green, green drawn as water and
  background (fields, meadows, bare ground) drawn as water;
* street F1 within ``TOLERANCE_M``: recall, the share of street labels within it of a map street, and
  precision, the share of map streets within it of a street label.

Pixels labelled ``ignore`` are left out, except for the classes a source's labels
are complete for (``complete_for``: the EPFL set's masks mark every road, so a
street drawn off them is false even where the rest is unknown).
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import rasterio
from affine import Affine
from scipy.ndimage import distance_transform_edt
from torch import nn

from geotrans.options import RunOptions
from geotrans.render import CODES, IGNORE, MapStyle
from geotrans.weights import ModelInfo
from training.sources import LabelledImage, Mix, labelled_images, read_mix
from training.translated import translated

log = logging.getLogger(__name__)

TOLERANCE_M = 3.0
ORIGIN_M = 10_000.0  # where held-out photos are placed: 10 km from (0, 0), near the equator (GDAL drops an
#                     identity-like geotransform, so not at the origin itself)
STREETS = (CODES["street"], CODES["major_road"], CODES["highway"])
SCORED = ("water", "green", "street", "building")
# Figures of one land class: name -> (the labels' class, the class it is drawn as), a share of the labels'.
LAND_FIGURES = {"green_drawn_green": ("green", "green"), "green_as_water": ("green", "water"),
                "background_as_water": ("background", "water")}


def _kind(codes: np.ndarray, name: str) -> np.ndarray:
    return np.isin(codes, STREETS) if name == "street" else codes == CODES[name]


@dataclass
class Tally:
    """Pixel counts pooled over a source's images."""

    intersection: dict
    union: dict
    truth: dict  # labelled pixels of each class: a class the labels never show has no IoU
    dry: int = 0
    dry_as_water: int = 0
    street_labels: int = 0
    street_labels_found: int = 0
    street_drawn: int = 0
    street_drawn_right: int = 0
    labelled_as: dict = field(default_factory=dict)  # label class -> labelled pixels, for LAND_FIGURES
    drawn_as: dict = field(default_factory=dict)  # (label class, drawn class) -> pixels, for LAND_FIGURES

    @classmethod
    def empty(cls) -> "Tally":
        return cls({n: 0 for n in SCORED}, {n: 0 for n in SCORED}, {n: 0 for n in SCORED})

    def add(self, drawn: np.ndarray, truth: np.ndarray, valid: np.ndarray, pixel_m: float,
            complete_for: tuple[str, ...] = ()) -> None:
        """Count one image: ``drawn`` and ``truth`` class codes (H, W), ``valid`` the map's valid pixels."""
        labelled = valid & (truth != IGNORE)
        for name in SCORED:
            where = valid if name in complete_for else labelled
            d, t = _kind(drawn, name) & where, _kind(truth, name) & where
            self.intersection[name] += int(np.sum(d & t))
            self.union[name] += int(np.sum(d | t))
            self.truth[name] += int(t.sum())
        for label in {label for label, _ in LAND_FIGURES.values()}:
            self.labelled_as[label] = self.labelled_as.get(label, 0) + int(np.sum(labelled & _kind(truth, label)))
        for label, drawn_name in LAND_FIGURES.values():
            hits = int(np.sum(labelled & _kind(truth, label) & _kind(drawn, drawn_name)))
            self.drawn_as[(label, drawn_name)] = self.drawn_as.get((label, drawn_name), 0) + hits
        land = labelled & ~_kind(truth, "water")
        self.dry += int(land.sum())
        self.dry_as_water += int(np.sum(land & _kind(drawn, "water")))
        where = valid if "street" in complete_for else labelled
        drawn_street, true_street = _kind(drawn, "street") & where, _kind(truth, "street") & where
        reach = TOLERANCE_M / pixel_m
        near_drawn = distance_transform_edt(~drawn_street) <= reach if drawn_street.any() else np.zeros_like(where)
        near_true = distance_transform_edt(~true_street) <= reach if true_street.any() else np.zeros_like(where)
        self.street_labels += int(true_street.sum())
        self.street_labels_found += int(np.sum(true_street & near_drawn))
        self.street_drawn += int(drawn_street.sum())
        self.street_drawn_right += int(np.sum(drawn_street & near_true))

    def scores(self) -> dict:
        def ratio(a: int, b: int) -> Optional[float]:
            return a / b if b else None

        recall = ratio(self.street_labels_found, self.street_labels)
        precision = ratio(self.street_drawn_right, self.street_drawn)
        if recall is None:  # no street labels: nothing to find
            f1 = None
        else:  # a map without streets finds none of them
            f1 = 2 * recall * precision / (recall + precision) if recall and precision else 0.0
        return {**{f"{n}_iou": ratio(self.intersection[n], self.union[n]) if self.truth[n] else None
                   for n in SCORED},
                "dry_land_as_water": ratio(self.dry_as_water, self.dry),
                **{name: ratio(self.drawn_as.get((label, drawn), 0), self.labelled_as.get(label, 0))
                   for name, (label, drawn) in LAND_FIGURES.items()},
                "street_recall": recall, "street_precision": precision, "street_f1": f1,
                "tolerance_m": TOLERANCE_M}


def as_geotiff(image: LabelledImage, path: Path) -> None:
    """The photo as a GeoTIFF with square pixels of its source's resolution, at the equator in web mercator."""
    size = image.resolution_m
    profile = {"driver": "GTiff", "width": image.photo.shape[2], "height": image.photo.shape[1], "count": 3,
               "dtype": "uint8", "crs": "EPSG:3857", "transform": Affine(size, 0, ORIGIN_M, 0, -size, ORIGIN_M)}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(image.photo)


def drawn_classes(generator: nn.Module, mix: Mix, spec: dict, style: MapStyle,
                  model_info: Optional[ModelInfo] = None,
                  options: RunOptions = RunOptions()) -> Iterator[tuple[LabelledImage, np.ndarray, np.ndarray]]:
    """Each held-out image of a ``masks`` source (its ``val`` part) with the class codes its map is drawn in
    and the map's valid pixels, through ``geotrans run``'s own path."""
    images = labelled_images(mix, spec, "val")
    if not images:
        raise ValueError(f"source {spec.get('name')}: no held-out (val) images to score")
    with tempfile.TemporaryDirectory() as tmp:
        for image in images:
            scene = Path(tmp) / "photo.tif"
            as_geotiff(image, scene)
            map_ = translated(generator, scene, options, model_info)
            yield image, style.classify(map_.rgb), map_.valid


def evaluate_source(generator: nn.Module, mix: Mix, spec: dict, style: MapStyle,
                    model_info: Optional[ModelInfo] = None, options: RunOptions = RunOptions()) -> dict:
    """The scores of one ``masks`` source's held-out images (its ``val`` part), classed in ``style``."""
    tally = Tally.empty()
    complete_for = tuple(spec.get("complete_for", ()))
    images = 0
    for image, drawn, valid in drawn_classes(generator, mix, spec, style, model_info, options):
        tally.add(drawn, image.classes, valid, image.resolution_m, complete_for)
        images += 1
    return {"source": spec.get("name"), "images": images, **tally.scores()}


def held_out_sources(mix: Mix) -> list[dict]:
    """The mix's ``masks`` sources that hold images out (a ``val`` part), the ones the benchmark scores."""
    return [spec for spec in mix.sources if spec["kind"] == "masks" and spec.get("val")]


def scoring_style(mix: Mix, model_info: Optional[ModelInfo]) -> MapStyle:
    """The map classes' colours: the model card's where it names them, else the mix's."""
    if model_info and model_info.card.get("map_classes"):
        return MapStyle.from_card(model_info.card)
    return mix.style()


def evaluate_labelled(generator: nn.Module, mix_path: str | Path, model_info: Optional[ModelInfo] = None,
                      options: RunOptions = RunOptions()) -> list[dict]:
    """Scores of every ``masks`` source of the mix at ``mix_path`` that holds images out."""
    mix = read_mix(mix_path)
    style = scoring_style(mix, model_info)
    return [evaluate_source(generator, mix, spec, style, model_info, options) for spec in held_out_sources(mix)]


def format_semantic(reports: list[dict]) -> str:
    columns = ("water_iou", "green_iou", "street_iou", "building_iou", "dry_land_as_water", "street_f1",
               "street_recall", *LAND_FIGURES)
    header = f"{'held-out labels':<22}{'images':>7}" + "".join(f"{c:>19}" for c in columns)
    lines = [header]
    for r in reports:
        cells = "".join(f"{'-' if r[c] is None else format(r[c], '.3f'):>19}" for c in columns)
        lines.append(f"{r['source']:<22}{r['images']:>7}{cells}")
    lines.append(f"(street F1 within {TOLERANCE_M:g} m; '-': the labels hold no such class)")
    return "\n".join(lines)
