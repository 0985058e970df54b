"""Training on many sources: aligned pairs, labelled photos and labelled scenes, mixed by weight.

A mix (JSON) names the sources, each with a sampling weight and its ground
resolution, and the resolution the model learns at::

    {"resolution_m": 0.9, "scale_jitter": 0.3, "style_model": null,
     "sources": [
       {"name": "nyc", "kind": "pairs", "path": "maps/train", "resolution_m": 0.9, "weight": 0.5},
       {"name": "dubai", "kind": "masks", "root": "labelled/dubai", "images": "tile[1-5]/images/*.jpg",
        "val": "tile6/images/*.jpg", "resolution_m": 1.0, "match": "nearest",
        "classes": {"#8429F6": "background", "#6EC1E4": "street", "#9B9B9B": "ignore"}, "weight": 0.3},
       {"name": "vegas", "kind": "scene", "scene": "vegas.tif", "labels": ["roads.geojson"],
        "holdout": 0.2, "weight": 0.2}]}

Paths are relative to the mix's folder. Kinds:

* ``pairs``: side-by-side photo | map images (the pix2pix maps dataset); every pixel is labelled.
* ``masks``: photos with class masks at ``<image's folder>/../masks/<stem>.png``. ``classes`` maps mask
  values (``"#RRGGBB"`` for colour masks, integers for grey ones) to map classes or ``ignore``;
  ``match: nearest`` classes a value by the nearest listed one (anti-aliased masks), ``exact`` refuses values
  the table lacks. Images matching ``val`` (a glob or a list of globs) never train. ``no_water: true`` says
  the training photos hold no open water, so their unlabelled pixels, unknown otherwise, are known dry land
  (dark land darkens them, and the repository's research hinge keeps the map from drawing water there).
  ``collage: N`` joins each
  run of N x N photos, in name order, into one image (row by row, same-size photos): chips far smaller than
  the model's 256 px window at its resolution (LandCover.ai's 256 px at 0.25 m are 71 px at 0.9 m) then fill
  a window instead of being padded, and neighbouring names are neighbouring land. ``coarse_m: M`` makes the
  source a coarse copy of its photos: each is shrunk (area mean) to a scene of M metres a pixel and read back
  as a run reads such a scene (bilinear, up to ``geotrans.io.resolution.MAX_UPSAMPLE`` times), its labels
  resized with it (nearest), so fine labelled land also teaches the model what coarse land looks like.
  ``street_tolerance_m`` sets how near a map street must lie to a labelled one to count in the semantic
  benchmark's street F1 (default ``geotrans.training.scores.TOLERANCE_M``).
* ``scene``: a GeoTIFF with vector labels, drawn by ``geotrans.model.style``; ``complete`` says the labels cover
  every class (else only labelled pixels teach). The east ``holdout`` share of its columns never trains.

Rendered targets take their colours from ``style_model``'s card (default: the shipped model), with any class
the mix's ``recolour`` names (``{"building": [196, 182, 171]}``) drawn in its new colour; a real map's pixels
nearest that class's old colour are left unlabelled, so no source teaches the old one. Pixels a
source does not label are masked out of the L1 term; the discriminator sees them filled with the generator's
own output in the real pair (``geotrans.training.train``), so it never learns their colour either.

Samples are drawn from the sources by ``geotrans.training.sampling.MixedSet``.
"""
from __future__ import annotations

import glob
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import rasterio
import torch
import torch.nn.functional as F
from PIL import Image

from geotrans.io.labels import Grid, rasterize_features, read_vector_labels
from geotrans.io.resolution import MAX_UPSAMPLE
from geotrans.model.style import CLASSES, CODES, IGNORE, IGNORE_NAME, MapStyle
from geotrans.model.weights import read_model_info
from geotrans.training.data import list_pairs, read_aligned

log = logging.getLogger(__name__)

KINDS = ("pairs", "masks", "scene")


class MixError(ValueError):
    """A mix that cannot be used, said in one line."""


@dataclass(frozen=True)
class Example:
    """One training image at its own resolution: photo and map uint8 (3, H, W), the labelled pixels
    (bool (H, W), None when all are), whether the map is rendered (resampled nearest) or real, and the
    unlabelled pixels known to be dry land (bool (H, W), None for none)."""

    photo: np.ndarray
    target: np.ndarray
    labelled: Optional[np.ndarray]
    resolution_m: float
    rendered: bool
    dry: Optional[np.ndarray] = None


@dataclass(frozen=True)
class LabelledImage:
    """A held-out image with its class codes (uint8 (H, W), ``IGNORE`` where unlabelled), for evaluation."""

    name: str
    photo: np.ndarray
    classes: np.ndarray
    resolution_m: float


@dataclass
class Source:
    """A named source's training examples and its sampling weight."""

    name: str
    weight: float
    examples: list[Example]
    spec: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Mix:
    path: Path
    resolution_m: float
    scale_jitter: float
    sources: tuple[dict, ...]
    style_model: Optional[str] = None
    recolour: tuple[tuple[str, tuple[int, int, int]], ...] = ()  # (class, its new colour)

    @property
    def folder(self) -> Path:
        return self.path.parent

    def resolve(self, value: str) -> Path:
        return (self.folder / value).resolve()

    def card_style(self) -> MapStyle:
        """The style model's own class colours (those its real maps, the New York pairs, are drawn in)."""
        model = self.resolve(self.style_model) if self.style_model else None
        return MapStyle.from_card(read_model_info(model).card)

    def style(self) -> MapStyle:
        """The colours this mix teaches: the style model's, with the mix's ``recolour`` applied."""
        return recoloured_style(self.card_style(), dict(self.recolour))


def recoloured_style(style: MapStyle, recolour: dict) -> MapStyle:
    return MapStyle({**style.colours, **{name: tuple(rgb) for name, rgb in recolour.items()}}) if recolour \
        else style


def recoloured_pixels(target: np.ndarray, old: MapStyle, new: MapStyle) -> Optional[np.ndarray]:
    """The pixels of a real map (uint8 (3, H, W)) whose nearest ``old`` class colour is one that ``new`` draws
    differently (bool (H, W)); None when ``new`` changes no colour."""
    changed = [CODES[name] for name in CLASSES if tuple(old.colours[name]) != tuple(new.colours[name])]
    return np.isin(old.classify(target), changed) if changed else None


def _recolour_table(path: Path, value) -> tuple[tuple[str, tuple[int, int, int]], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise MixError(f"{path}: recolour maps a map class to its new colour, e.g. {{\"building\": [196, 182, 171]}}")
    table = []
    for name, rgb in value.items():
        if name not in CLASSES:
            raise MixError(f"{path}: recolour: {name!r} is not a map class ({', '.join(CLASSES)})")
        if not (isinstance(rgb, list) and len(rgb) == 3 and
                all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in rgb)):
            raise MixError(f"{path}: recolour: {name} needs three 8-bit values, not {rgb!r}")
        table.append((name, tuple(rgb)))
    return tuple(table)


def read_mix(path: str | Path) -> Mix:
    """Parse and check a mix file; paths in it stay relative to its folder until used."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise MixError(f"{path}: not a readable JSON mix ({err})") from None
    sources = data.get("sources")
    if not isinstance(sources, list) or not sources:
        raise MixError(f"{path}: needs a non-empty list of sources")
    names = set()
    for i, spec in enumerate(sources):
        name = spec.get("name", f"source {i + 1}")
        if spec.get("kind") not in KINDS:
            raise MixError(f"{path}: source {name}: kind must be one of {', '.join(KINDS)}")
        if not float(spec.get("weight", 0)) > 0:
            raise MixError(f"{path}: source {name}: needs a positive weight")
        if not isinstance(spec.get("no_water", False), bool) or spec.get("no_water") and spec["kind"] != "masks":
            raise MixError(f"{path}: source {name}: no_water is true or false, for a masks source")
        if spec["kind"] != "scene" and not float(spec.get("resolution_m", 0)) > 0:
            raise MixError(f"{path}: source {name}: needs its ground resolution (resolution_m)")
        if not isinstance(spec.get("collage", 1), int) or int(spec.get("collage", 1)) < 1:
            raise MixError(f"{path}: source {name}: collage is a whole number of photos a side (1 or more)")
        coarse_m = spec.get("coarse_m")
        if coarse_m is not None and (spec["kind"] != "masks" or not isinstance(coarse_m, (int, float))
                                     or not float(coarse_m) > float(spec.get("resolution_m", 0))):
            raise MixError(f"{path}: source {name}: coarse_m is a masks source's coarser ground resolution in "
                           "metres, above its resolution_m")
        tolerance = spec.get("street_tolerance_m")
        if tolerance is not None and not (isinstance(tolerance, (int, float)) and tolerance > 0):
            raise MixError(f"{path}: source {name}: street_tolerance_m is a positive number of metres")
        if name in names:
            raise MixError(f"{path}: two sources named {name}")
        names.add(name)
    jitter = float(data.get("scale_jitter", 0.0))
    if not 0 <= jitter < 1:
        raise MixError(f"{path}: scale_jitter must be in [0, 1)")
    return Mix(path, float(data.get("resolution_m", 0.9)), jitter, tuple(sources), data.get("style_model"),
               _recolour_table(path, data.get("recolour")))


def mask_path(image: Path) -> Path:
    """Where a labelled photo's mask lies: ``<folder>/../masks/<stem>.png``."""
    return image.parent.parent / "masks" / f"{image.stem}.png"


def _mask_key(key: str) -> tuple[int, ...]:
    if key.startswith("#") and len(key) == 7:
        return tuple(int(key[i : i + 2], 16) for i in (1, 3, 5))
    return (int(key),)


def mask_classes(mask: np.ndarray, table: dict, nearest: bool, source: str) -> np.ndarray:
    """Class codes (uint8 (H, W)) of a mask (H, W) or (H, W, 3) through ``table`` (mask value -> class name)."""
    keys = [_mask_key(k) for k in table]
    codes = np.array([IGNORE if v == IGNORE_NAME else CODES[v] for v in table.values()], dtype=np.uint8)
    values = np.array(keys, dtype=np.float32)  # (k, 1 or 3)
    pixels = mask.reshape(mask.shape[0], mask.shape[1], -1).astype(np.float32)
    if pixels.shape[2] != values.shape[1]:
        raise MixError(f"{source}: mask values have {pixels.shape[2]} bands, the class table {values.shape[1]}")
    distance = ((pixels[:, :, None, :] - values[None, None]) ** 2).sum(-1)  # (H, W, k)
    best = distance.argmin(-1)
    if not nearest and (distance.min(-1) > 0).any():
        outside = sorted({tuple(int(v) for v in px) for px in pixels[distance.min(-1) > 0][:, :]})
        shown = ", ".join(str(v[0]) if len(v) == 1 else "#%02X%02X%02X" % v for v in outside[:5])
        more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        raise MixError(f"{source}: mask values not in the class table: {shown}{more} "
                       "(add them to classes, or use match: nearest for soft masks)")
    return codes[best]


def _check_table(table: dict, name: str) -> None:
    bad = [v for v in table.values() if v != IGNORE_NAME and v not in CODES]
    if bad:
        raise MixError(f"source {name}: classes {bad} are not among {', '.join(CLASSES)} or {IGNORE_NAME}")


def _images(mix: Mix, spec: dict, key: str) -> list[Path]:
    """The photos a ``masks`` source's ``images`` or ``val`` globs (one or a list) match; training images
    leave out every held-out one."""
    patterns = spec.get(key) or []
    patterns = [patterns] if isinstance(patterns, str) else patterns
    found = {Path(p) for pattern in patterns for p in glob.glob(str(mix.resolve(spec["root"]) / pattern))}
    if key == "images":
        found -= set(_images(mix, spec, "val"))
    return sorted(found)


def collage(images: Sequence[LabelledImage], side: int) -> list[LabelledImage]:
    """Runs of ``side`` x ``side`` same-size images (in order) joined row by row into one; a last, shorter
    run fills its missing places with unlabelled black."""
    if side <= 1:
        return list(images)
    out = []
    for start in range(0, len(images), side * side):
        group = images[start : start + side * side]
        h, w = group[0].classes.shape
        if any(item.classes.shape != (h, w) for item in group):
            raise MixError(f"{group[0].name}: a collage needs photos of one size")
        photo = np.zeros((3, side * h, side * w), dtype=np.uint8)
        classes = np.full((side * h, side * w), IGNORE, dtype=np.uint8)
        for k, item in enumerate(group):
            rows, cols = slice(k // side * h, (k // side + 1) * h), slice(k % side * w, (k % side + 1) * w)
            photo[:, rows, cols], classes[rows, cols] = item.photo, item.classes
        name = group[0].name if len(group) == 1 else f"{group[0].name}+{len(group) - 1}"
        out.append(LabelledImage(name, photo, classes, group[0].resolution_m))
    return out


def labelled_images(mix: Mix, spec: dict, key: str, spread: Optional[int] = None) -> list[LabelledImage]:
    """The photos of a ``masks`` source matched by ``spec[key]`` (``images`` or ``val``), with their classes,
    joined into collages where the source asks for them; with ``spread``, that many of them (of collages, where
    the source joins photos) taken evenly from first to last by name, so that a set sorted by kind shows every
    kind (only their photos are read)."""
    side = int(spec.get("collage", 1))
    return collage(_labelled_photos(mix, spec, key, None if spread is None else spread * side * side), side)


def evenly(items: Sequence, count: int) -> list:
    """``count`` of ``items`` taken evenly from the first to the last (all of them when there are no more)."""
    if count >= len(items):
        return list(items)
    if count == 1:
        return [items[0]]
    return [items[round(k * (len(items) - 1) / (count - 1))] for k in range(count)]


def coarse_copy(image: LabelledImage, coarse_m: float) -> LabelledImage:
    """``image`` as a scene of ``coarse_m`` metres a pixel, read back as a run reads it: the photo area-averaged
    down to that ground resolution, then upsampled bilinear by up to ``MAX_UPSAMPLE`` (to coarse_m / 4 m
    pixels), its classes resized nearest onto the same pixels."""
    h, w = image.classes.shape
    read_m = coarse_m / MAX_UPSAMPLE
    small = tuple(max(1, round(n * image.resolution_m / coarse_m)) for n in (h, w))
    size = tuple(max(1, round(n * image.resolution_m / read_m)) for n in (h, w))
    photo = torch.from_numpy(image.photo).float()[None]
    down = F.interpolate(photo, size=small, mode="area")
    up = F.interpolate(down, size=size, mode="bilinear", align_corners=False)[0]
    classes = F.interpolate(torch.from_numpy(image.classes)[None, None].float(), size=size, mode="nearest-exact")
    return LabelledImage(image.name, up.round().clamp(0, 255).to(torch.uint8).numpy(),
                         classes[0, 0].to(torch.uint8).numpy(), read_m)


def _labelled_photos(mix: Mix, spec: dict, key: str, spread: Optional[int] = None) -> list[LabelledImage]:
    name = spec.get("name", "?")
    table = spec.get("classes") or {}
    _check_table(table, name)
    out = []
    found = _images(mix, spec, key)
    found = found if spread is None else evenly(found, spread)
    if key == "images" and not mix.resolve(spec["root"]).is_dir():
        raise MixError(f"source {name}: {mix.resolve(spec['root'])} is not a folder")
    for image in found:
        with Image.open(image) as img:
            photo = np.asarray(img.convert("RGB")).transpose(2, 0, 1)
        if not mask_path(image).is_file():
            raise MixError(f"{image}: no mask at {mask_path(image)}")
        with Image.open(mask_path(image)) as img:
            mask = np.asarray(img.convert("RGB") if all(k.startswith("#") for k in table) else img.convert("L"))
        if mask.shape[:2] != photo.shape[1:]:
            raise MixError(f"{image}: its mask is {mask.shape[:2]}, the photo {photo.shape[1:]}")
        classes = mask_classes(mask, table, spec.get("match", "exact") == "nearest", str(image))
        item = LabelledImage(f"{name}/{image.relative_to(mix.resolve(spec['root']))}",
                             np.ascontiguousarray(photo), classes, float(spec["resolution_m"]))
        out.append(coarse_copy(item, float(spec["coarse_m"])) if spec.get("coarse_m") else item)
    return out


def _load_pairs(mix: Mix, spec: dict, style: MapStyle) -> list[Example]:
    paths = list_pairs(mix.resolve(spec["path"]))[: spec.get("limit")]
    card_style = mix.card_style() if mix.recolour else style
    examples = []
    for p in paths:
        photo, target = read_aligned(p)
        old_colour = recoloured_pixels(target, card_style, style)  # unknown: taught neither L1 nor the critic
        examples.append(Example(photo, target, None if old_colour is None else ~old_colour,
                                float(spec["resolution_m"]), rendered=False))
    return examples


def _load_masks(mix: Mix, spec: dict, style: MapStyle) -> list[Example]:
    examples = []
    for item in labelled_images(mix, spec, "images"):
        examples.append(Example(item.photo, style.paint(item.classes), item.classes != IGNORE, item.resolution_m,
                                rendered=True, dry=item.classes == IGNORE if spec.get("no_water") else None))
    return examples


def _load_scene(mix: Mix, spec: dict, style: MapStyle) -> list[Example]:
    scene = mix.resolve(spec["scene"])
    with rasterio.open(scene) as ds:
        grid = Grid.of(ds)
        photo = ds.read(list(spec.get("bands", (1, 2, 3))))
    if photo.dtype != np.uint8:
        raise MixError(f"{scene}: scene sources must be 8-bit (R, G, B)")
    features = [f for labels in spec["labels"] for f in read_vector_labels(mix.resolve(labels), grid.crs)]
    classes = rasterize_features(features, grid, complete=bool(spec.get("complete", False)))
    keep = grid.width - int(round(grid.width * float(spec.get("holdout", 0.0))))
    photo, classes = photo[:, :, :keep], classes[:, :keep]
    return [Example(np.ascontiguousarray(photo), style.paint(classes), classes != IGNORE, grid.metres_per_pixel,
                    rendered=True)]


def load_sources(mix: Mix) -> list[Source]:
    """Every source's training examples, loaded into memory."""
    style = mix.style()
    sources = []
    for spec in mix.sources:
        name = spec.get("name", spec["kind"])
        if spec["kind"] == "pairs":
            examples = _load_pairs(mix, spec, style)
        elif spec["kind"] == "masks":
            examples = _load_masks(mix, spec, style)
        else:
            examples = _load_scene(mix, spec, style)
        if not examples:
            where = spec.get("path") or f"{spec.get('root')}/{spec.get('images')}" if spec["kind"] != "scene" \
                else spec.get("scene")
            raise MixError(f"source {name}: no training images found in {where}")
        log.info("source %s: %d images at %.2f m, weight %g", name, len(examples), examples[0].resolution_m,
                 float(spec["weight"]))
        sources.append(Source(name, float(spec["weight"]), examples, dict(spec)))
    return sources
