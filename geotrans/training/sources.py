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
  (dark land darkens them; the research hinge ``lambda_dry`` keeps the map from drawing water there).
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

Each sample is cut at the model's resolution from the source's own, times a scale drawn in
1 +- ``scale_jitter``: a window of 256 x resolution_m x scale / source_resolution source pixels, resized to
256 (photos and real maps bilinear with antialiasing, rendered maps and masks nearest). A source smaller than
the window is padded with black photo and unlabelled pixels.
"""
from __future__ import annotations

import glob
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import rasterio
import torch
import torch.nn.functional as F
from PIL import Image

from geotrans.io.labels import Grid, rasterize_features, read_vector_labels
from geotrans.io.resolution import MAX_UPSAMPLE
from geotrans.model.generator import to_model_range
from geotrans.model.style import CLASSES, CODES, IGNORE, IGNORE_NAME, MapStyle
from geotrans.model.weights import read_model_info
from geotrans.run.background import background
from geotrans.training.data import Augment, list_pairs, read_aligned

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


def labelled_images(mix: Mix, spec: dict, key: str) -> list[LabelledImage]:
    """The photos of a ``masks`` source matched by ``spec[key]`` (``images`` or ``val``), with their classes,
    joined into collages where the source asks for them."""
    return collage(_labelled_photos(mix, spec, key), int(spec.get("collage", 1)))


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


def _labelled_photos(mix: Mix, spec: dict, key: str) -> list[LabelledImage]:
    name = spec.get("name", "?")
    table = spec.get("classes") or {}
    _check_table(table, name)
    out = []
    found = _images(mix, spec, key)
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


def _resize(image: torch.Tensor, size: tuple[int, int], smooth: bool) -> torch.Tensor:
    if tuple(image.shape[-2:]) == size:
        return image
    if smooth:
        return F.interpolate(image[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    return F.interpolate(image[None], size=size, mode="nearest-exact")[0]


class MixedSet:
    """Samples from several sources by weight, at one ground resolution, with seeded augmentation.

    Every random choice comes from a generator seeded by (seed, epoch, index), so an epoch's samples are the
    same whether or not training was interrupted. An epoch is ``epoch_size`` samples (default: all examples).
    """

    def __init__(self, sources: Sequence[Source], resolution_m: float, scale_jitter: float = 0.0, crop: int = 256,
                 augment: Augment = Augment(), seed: int = 0, epoch_size: Optional[int] = None):
        if not sources:
            raise ValueError("no sources")
        self.sources = list(sources)
        self.resolution_m, self.scale_jitter, self.crop = resolution_m, scale_jitter, crop
        self.augment, self.seed = augment, seed
        self.epoch_size = epoch_size or sum(len(s.examples) for s in self.sources)
        self.recolour: dict[str, list[int]] = {}  # the mix's classes drawn in new colours (``recoloured_style``)
        weights = torch.tensor([s.weight for s in self.sources], dtype=torch.float64)
        self.weights = weights / weights.sum()

    def __len__(self) -> int:
        return self.epoch_size

    def order(self, epoch: int) -> list[tuple[int, int]]:
        """(source, example) of each sample of ``epoch``: sources drawn by weight, examples uniformly."""
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        which = torch.multinomial(self.weights, self.epoch_size, replacement=True, generator=gen).tolist()
        picks = torch.rand(self.epoch_size, generator=gen, dtype=torch.float64).tolist()
        return [(s, int(p * len(self.sources[s].examples))) for s, p in zip(which, picks)]

    def sample(self, source: int, index: int, epoch: int, position: int) -> tuple[torch.Tensor, ...]:
        """Augmented (photo, map) float32 (3, crop, crop) in [-1, 1], the labelled pixels and the unlabelled
        ones known to be dry land, float32 (1, crop, crop) of 0 and 1, and whether the map is rendered from
        class labels, float32 (1,)."""
        example = self.sources[source].examples[index]
        gen = torch.Generator().manual_seed((self.seed * 100_003 + epoch) * 1_000_003 + position)
        scale = 1 + self.scale_jitter * (2 * float(torch.rand(1, generator=gen)) - 1)
        window = self.crop * self.resolution_m * scale / example.resolution_m  # source pixels per crop
        h, w = example.photo.shape[1:]
        rows, cols = min(h, max(1, round(window))), min(w, max(1, round(window)))
        row = int(torch.randint(0, h - rows + 1, (1,), generator=gen))
        col = int(torch.randint(0, w - cols + 1, (1,), generator=gen))
        out = (min(self.crop, max(1, round(rows * self.crop / window))),
               min(self.crop, max(1, round(cols * self.crop / window))))
        cut = (slice(row, row + rows), slice(col, col + cols))
        photo = _resize(torch.from_numpy(example.photo[:, cut[0], cut[1]].copy()).float(), out, smooth=True)
        target = _resize(torch.from_numpy(example.target[:, cut[0], cut[1]].copy()).float(), out,
                         smooth=not example.rendered)
        labelled, dry = (torch.full((1, *out), float(fill)) if mask is None else
                         _resize(torch.from_numpy(mask[cut].copy()).float()[None], out, smooth=False)
                         for mask, fill in ((example.labelled, 1), (example.dry, 0)))
        if out != (self.crop, self.crop):  # a source smaller than one window: pad with black, unlabelled
            pad = (0, self.crop - out[1], 0, self.crop - out[0])
            photo, target, labelled, dry = (F.pad(t, pad) for t in (photo, target, labelled, dry))
        changes = self.augment.draw(gen)
        photo, target, labelled, dry = (changes.placed(t) for t in (photo, target, labelled, dry))
        photo = changes.photo(photo, target, known=torch.maximum(labelled, dry))
        rendered = torch.tensor([float(example.rendered)])
        return to_model_range(photo.round()), to_model_range(target.round()), labelled, dry, rendered

    def batches(self, epoch: int, batch_size: int, skip: int = 0, rank: int = 0,
                world: int = 1) -> Iterator[tuple[torch.Tensor, ...]]:
        """(photo, map, labelled, dry, rendered) batches of one epoch, sharded by rank, after skipping ``skip``
        batches."""
        order = list(enumerate(self.order(epoch)))[rank::world]
        for b, start in enumerate(range(0, len(order) - batch_size + 1, batch_size)):
            if b < skip:
                continue
            samples = [self.sample(s, i, epoch, position) for position, (s, i) in order[start : start + batch_size]]
            yield tuple(torch.stack(parts) for parts in zip(*samples))

    def prefetched(self, epoch: int, batch_size: int, skip: int = 0, rank: int = 0, world: int = 1,
                   depth: int = 2) -> Iterator[tuple[torch.Tensor, ...]]:
        return background(self.batches(epoch, batch_size, skip, rank, world), depth, name="training-data")

    def steps_per_epoch(self, batch_size: int, world: int = 1) -> int:
        return len(range(self.epoch_size)[::world]) // batch_size

    def describe(self) -> list[dict]:
        """Each source as the model card lists it."""
        return [{"name": s.name, "kind": s.spec.get("kind"), "images": len(s.examples),
                 "resolution_m": round(s.examples[0].resolution_m, 3), "weight": round(float(w), 4),
                 **{k: s.spec[k] for k in ("licence", "resolution_method", "val", "no_water") if k in s.spec}}
                for s, w in zip(self.sources, self.weights.tolist())]


def mixed_set(mix_path: str | Path, crop: int = 256, augment: Augment = Augment(), seed: int = 0) -> MixedSet:
    mix = read_mix(mix_path)
    mixed = MixedSet(load_sources(mix), mix.resolution_m, mix.scale_jitter, crop, augment, seed)
    mixed.recolour = {name: list(rgb) for name, rgb in mix.recolour}
    return mixed
