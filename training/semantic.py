"""A semantic benchmark: does the map draw water, green, streets and buildings where the labels say they are?

Held-out labelled photos (the ``val`` part of each ``masks`` source of a mix,
``geotrans.training.sources``) go through ``geotrans run``'s own path: each is written as
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

The same scores on some of a source's training images (``evaluate_fit``) tell a model that has not learnt
its sources (poor on its own training images too) from one that has not generalised (poor only on the
held-out ones).

Pixels labelled ``ignore`` are left out, except for the classes a source's labels
are complete for (``complete_for``: the EPFL set's masks mark every road, so a
street drawn off them is false even where the rest is unknown).
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Optional

import numpy as np
import rasterio
from affine import Affine
from torch import nn

from geotrans.model.style import MapStyle
from geotrans.model.weights import ModelInfo
from geotrans.run.options import RunOptions
from geotrans.training.scores import LAND_FIGURES, TOLERANCE_M, Tally
from geotrans.training.sources import LabelledImage, Mix, labelled_images, read_mix
from training.translated import translated

log = logging.getLogger(__name__)

ORIGIN_M = 10_000.0  # where held-out photos are placed: 10 km from (0, 0), near the equator (GDAL drops an


def as_geotiff(image: LabelledImage, path: Path) -> None:
    """The photo as a GeoTIFF with square pixels of its source's resolution, at the equator in web mercator."""
    size = image.resolution_m
    profile = {"driver": "GTiff", "width": image.photo.shape[2], "height": image.photo.shape[1], "count": 3,
               "dtype": "uint8", "crs": "EPSG:3857", "transform": Affine(size, 0, ORIGIN_M, 0, -size, ORIGIN_M)}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(image.photo)


def held_out_images(mix: Mix, spec: dict) -> list[LabelledImage]:
    """A ``masks`` source's held-out images (its ``val`` part); none is an error, as there is nothing to score."""
    images = labelled_images(mix, spec, "val")
    if not images:
        raise ValueError(f"source {spec.get('name')}: no held-out (val) images to score")
    return images


def drawn_classes(generator: nn.Module, mix: Mix, spec: dict, style: MapStyle,
                  model_info: Optional[ModelInfo] = None,
                  options: RunOptions = RunOptions()) -> Iterator[tuple[LabelledImage, np.ndarray, np.ndarray]]:
    """Each held-out image of a ``masks`` source (its ``val`` part) with the class codes its map is drawn in
    and the map's valid pixels, through ``geotrans run``'s own path."""
    yield from images_drawn(generator, held_out_images(mix, spec), style, model_info, options)


def images_drawn(generator: nn.Module, images: Iterable[LabelledImage], style: MapStyle,
                 model_info: Optional[ModelInfo] = None,
                 options: RunOptions = RunOptions()) -> Iterator[tuple[LabelledImage, np.ndarray, np.ndarray]]:
    """Each of ``images`` with the class codes its map is drawn in and the map's valid pixels, each photo
    written as a GeoTIFF (``as_geotiff``) and translated through ``geotrans run``'s own path."""
    with tempfile.TemporaryDirectory() as tmp:
        for image in images:
            scene = Path(tmp) / "photo.tif"
            as_geotiff(image, scene)
            map_ = translated(generator, scene, options, model_info)
            yield image, style.classify(map_.rgb), map_.valid


def images_scored(generator: nn.Module, images: Iterable[LabelledImage], style: MapStyle,
                  model_info: Optional[ModelInfo] = None, options: RunOptions = RunOptions(),
                  complete_for: tuple[str, ...] = (), tolerance_m: float = TOLERANCE_M) -> dict:
    """The scores of ``images``' maps against their labels, pooled (streets found within ``tolerance_m``), and
    how many images they are."""
    tally = Tally.empty(tolerance_m)
    count = 0
    for image, drawn, valid in images_drawn(generator, images, style, model_info, options):
        tally.add(drawn, image.classes, valid, image.resolution_m, complete_for)
        count += 1
    return {"images": count, **tally.scores()}


def evaluate_source(generator: nn.Module, mix: Mix, spec: dict, style: MapStyle,
                    model_info: Optional[ModelInfo] = None, options: RunOptions = RunOptions(),
                    images: Optional[list[LabelledImage]] = None) -> dict:
    """The scores of one ``masks`` source's held-out images (its ``val`` part; or ``images`` of it), classed
    in ``style``; streets within the source's ``street_tolerance_m`` (default ``TOLERANCE_M``)."""
    complete_for = tuple(spec.get("complete_for", ()))
    tolerance = float(spec.get("street_tolerance_m", TOLERANCE_M))
    images = held_out_images(mix, spec) if images is None else images
    return {"source": spec.get("name"),
            **images_scored(generator, images, style, model_info, options, complete_for, tolerance)}


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


def evaluate_fit(generator: nn.Module, mix_path: str | Path, count: int, model_info: Optional[ModelInfo] = None,
                 options: RunOptions = RunOptions()) -> list[dict]:
    """Scores of ``count`` training images of every ``masks`` source that ``evaluate_labelled`` scores, taken
    evenly from first to last by name (collages where the source joins them): how well the model draws what it
    learnt from."""
    if count < 1:
        raise ValueError(f"score at least one training image a source, not {count}")
    mix = read_mix(mix_path)
    style = scoring_style(mix, model_info)
    return [evaluate_source(generator, mix, spec, style, model_info, options,
                            labelled_images(mix, spec, "images", count)) for spec in held_out_sources(mix)]


def format_semantic(reports: list[dict], title: str = "held-out labels") -> str:
    columns = ("water_iou", "green_iou", "street_iou", "building_iou", "dry_land_as_water", "street_f1",
               "street_recall", *LAND_FIGURES)
    header = f"{title:<22}{'images':>7}" + "".join(f"{c:>19}" for c in columns)
    lines = [header]
    for r in reports:
        cells = "".join(f"{'-' if r[c] is None else format(r[c], '.3f'):>19}" for c in columns)
        lines.append(f"{r['source']:<22}{r['images']:>7}{cells}")
    lines.append(f"(street F1 within {TOLERANCE_M:g} m unless a source says otherwise; '-': the labels hold no "
                 "such class)")
    return "\n".join(lines)
