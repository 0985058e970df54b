"""Paired training data: pix2pix aligned images and co-registered GeoTIFF pairs.

Augmentation (``Augment``): random 256 px crops at the imagery's own
resolution, random horizontal flips and, optionally, 90 degree rotations (maps
are rotation-equivariant in the plane), colour jitter and grey photos (pan
scenes arrive as grey). Rotations and flips apply to photo and map alike;
jitter and grey only to the photo. pix2pix resizes its 600 px photos to 286 px
before cropping, which halves the ground resolution; geotrans applies the model
to scenes at their own pixel size, so training keeps the imagery's own resolution and the
model card records it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import rasterio
import torch
import torch.nn.functional as F
from PIL import Image

from geotrans.io.tiler import TileGrid
from geotrans.model.generator import to_model_range
from geotrans.model.palette import near_colour
from geotrans.model.style import MAX_DELTA_E, WATER_RGB
from geotrans.run.background import background

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def list_pairs(folder: str | Path) -> list[Path]:
    """Aligned-pair images in ``folder``, in numeric order where names are numbers."""
    files = [p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: (0, int(p.stem), "") if p.stem.isdigit() else (1, 0, p.stem))


def read_aligned(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One side-by-side image: (source, target) as uint8 (3, H, W); left half source, right half target."""
    with Image.open(path) as img:
        array = np.asarray(img.convert("RGB")).transpose(2, 0, 1)
    half = array.shape[2] // 2
    return np.ascontiguousarray(array[:, :, :half]), np.ascontiguousarray(array[:, :, half : 2 * half])


LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights, as PIL's convert("L")


@dataclass(frozen=True)
class Augment:
    """Which random changes a training sample gets.

    ``jitter`` is the strength of the photo's colour jitter (brightness, contrast,
    saturation and per-band gain each drawn in 1 +- jitter); ``grey`` is the
    probability that the photo becomes grey (its luminance in all three bands);
    ``coarse`` the probability that it looks like a coarser scene that a run
    upsampled (shrunk by a factor in ``COARSE_FACTORS``, then enlarged back);
    ``dark_land`` the probability that the photo's land (every known pixel the
    map does not draw in ``water_rgb``) is darkened by a factor in
    ``DARK_FACTORS``, as dark forest and shadowed fields are, so that darkness
    alone stops meaning water; with ``dark_of`` "vegetation", only its green land
    (``green_of``) is, as crops and forest darken while streets and roofs do not.
    """

    flips: bool = True
    rotations: bool = False
    jitter: float = 0.0
    grey: float = 0.0
    coarse: float = 0.0
    dark_land: float = 0.0
    dark_of: str = "land"  # what dark land darkens: all of it, or its vegetation (DARK_KINDS)
    water_rgb: tuple[int, int, int] = WATER_RGB  # the map style's water

    def __post_init__(self) -> None:
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if not 0 <= self.grey <= 1:
            raise ValueError("grey must be a probability")
        if not 0 <= self.coarse <= 1:
            raise ValueError("coarse must be a probability")
        if not 0 <= self.dark_land <= 1:
            raise ValueError("dark_land must be a probability")
        if self.dark_of not in DARK_KINDS:
            raise ValueError(f"dark_of must be one of {', '.join(DARK_KINDS)}")

    def describe(self) -> str:
        parts = ["horizontal flips" if self.flips else "no flips"]
        if self.rotations:
            parts.append("90 degree rotations")
        if self.jitter:
            parts.append(f"colour jitter {self.jitter:g}")
        if self.grey:
            parts.append(f"grey photos p={self.grey:g}")
        if self.coarse:
            parts.append(f"coarse photos p={self.coarse:g} ({COARSE_FACTORS[0]:g}-{COARSE_FACTORS[1]:g}x)")
        if self.dark_land:
            parts.append(f"dark {self.dark_of} p={self.dark_land:g} (x{DARK_FACTORS[0]:g}-{DARK_FACTORS[1]:g})")
        return ", ".join(parts)

    def draw(self, gen: torch.Generator) -> "Changes":
        """One sample's changes. Draws happen in a fixed order, and only for enabled changes, so older
        recipes keep their samples."""
        flip = self.flips and bool(torch.rand(1, generator=gen) < 0.5)
        turns = int(torch.randint(0, 4, (1,), generator=gen)) if self.rotations else 0
        factors = 1 + self.jitter * (2 * torch.rand(6, generator=gen) - 1) if self.jitter else None
        grey = self.grey > 0 and bool(torch.rand(1, generator=gen) < self.grey)
        coarse = draw_factor(self.coarse, COARSE_FACTORS, gen)
        dark = draw_factor(self.dark_land, DARK_FACTORS, gen)
        return Changes(flip, turns, factors, grey, coarse, dark, self.dark_of, self.water_rgb)


@dataclass(frozen=True)
class Changes:
    """The random changes one training sample gets (``Augment.draw``): where it lies, then its photo's colours."""

    flip: bool = False
    turns: int = 0  # quarter turns
    factors: Optional[torch.Tensor] = None  # colour jitter (jitter_colours)
    grey: bool = False
    coarse: Optional[float] = None  # coarsened by this factor
    dark: Optional[float] = None  # land darkened by this factor
    dark_of: str = "land"  # what is darkened: all known land, or its vegetation (DARK_KINDS)
    water_rgb: tuple[int, int, int] = WATER_RGB

    def placed(self, image: torch.Tensor) -> torch.Tensor:
        """``image`` (C, H, W), the photo, its map or a mask, flipped and turned."""
        if self.flip:
            image = image.flip(-1)
        if self.turns:
            image = torch.rot90(image, self.turns, dims=(-2, -1))
        return image

    def photo(self, photo: torch.Tensor, target: torch.Tensor, known: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The placed photo (3, H, W) in [0, 255] with its colour changes: its land's (``land_changed``), then
        jitter, grey, coarse."""
        photo = self.land_changed(photo, target, known)
        if self.factors is not None:
            photo = jitter_colours(photo, self.factors)
        if self.grey:
            photo = grey_of(photo)
        if self.coarse:
            photo = coarsened(photo, self.coarse)
        return photo


    def land_changed(self, photo: torch.Tensor, target: torch.Tensor, known: Optional[torch.Tensor]) -> torch.Tensor:
        """The photo's changes by what its placed map ``target`` draws on the ``known`` pixels: dark land."""
        if not self.dark:
            return photo
        return darkened_land(photo, target, self.dark, self.water_rgb, known, self.dark_of == "vegetation")


def draw_factor(probability: float, factors: tuple[float, float], gen: torch.Generator) -> Optional[float]:
    """With ``probability``, a factor drawn uniformly in ``factors``, else None; draws nothing when it is 0."""
    if not probability:
        return None
    chosen, position = torch.rand(2, generator=gen).tolist()
    return factors[0] + position * (factors[1] - factors[0]) if chosen < probability else None


# New York's water is dark and its land seldom is; Korea's winter conifers and Dakota's crops are as dark as
# its water, and a model that learnt "dark is water" draws them as lakes.
DARK_FACTORS = (0.3, 0.75)
DARK_KINDS = ("land", "vegetation")
GREEN_EXCESS = 8  # vegetation: 2G - R - B above this many levels (the excess-green index)
DARK_EDGE_PX = 9  # the darkening fades in over this many pixels at the water's edge, so no seam gives it away


def darkened_land(photo: torch.Tensor, target: torch.Tensor, factor: float, water_rgb: tuple[int, int, int],
                  known: Optional[torch.Tensor] = None, green_only: bool = False) -> torch.Tensor:
    """Photo (3, H, W) in [0, 255] with its land darkened by ``factor``: the ``known`` pixels ((1, H, W) of 0
    and 1; all when None) that the map ``target`` (3, H, W) in [0, 255] does not draw within the palette's
    snapping distance of ``water_rgb``, and with ``green_only`` only the green ones among them
    (``green_of``). Water and unknown pixels keep their brightness."""
    land = 1 - drawn_water(target, water_rgb)
    if known is not None:
        land = land * known
    if green_only:
        land = land * green_of(photo)
    return darkened(photo, land, factor)


def drawn_water(target: torch.Tensor, water_rgb: tuple[int, int, int]) -> torch.Tensor:
    """(1, H, W) of 0 and 1: where the map ``target`` (3, H, W) in [0, 255] draws within the palette's snapping
    distance of ``water_rgb``."""
    rgb = target.round().clamp(0, 255).to(torch.uint8).numpy()
    return torch.from_numpy(near_colour(rgb, water_rgb, MAX_DELTA_E)).float()[None]


def darkened(photo: torch.Tensor, land: torch.Tensor, factor: float) -> torch.Tensor:
    """Photo (3, H, W) with the ``land`` pixels ((1, H, W) of 0 and 1) darkened by ``factor``, fading in over
    ``DARK_EDGE_PX`` at their edges so that no seam gives them away."""
    return photo * (1 - (1 - factor) * faded(land))


def faded(mask: torch.Tensor) -> torch.Tensor:
    """A (1, H, W) mask of 0 and 1 faded in over ``DARK_EDGE_PX`` at its edges (the share of each pixel's
    neighbourhood inside it), so that a change made through it leaves no seam."""
    return F.avg_pool2d(mask[None], DARK_EDGE_PX, stride=1, padding=DARK_EDGE_PX // 2, count_include_pad=False)[0]


def green_of(photo: torch.Tensor) -> torch.Tensor:
    """(1, H, W) of 0 and 1: where a photo (3, H, W) in [0, 255] is vegetation by its excess green."""
    red, green, blue = photo
    return (2 * green - red - blue > GREEN_EXCESS).float()[None]


# A run upsamples a coarse scene up to 4x (geotrans.io.resolution): NAIP at 5 m reaches the model as 1.25 m
# pixels, smooth fields that a model trained only on sharp photos takes for water.
COARSE_FACTORS = (1.5, 4.0)


def coarsened(photo: torch.Tensor, factor: float) -> torch.Tensor:
    """Photo (3, H, W) as a scene ``factor`` times coarser, read back at this size: area-averaged down,
    bilinear up (as a run reads a coarse scene)."""
    size = photo.shape[-2:]
    small = [max(1, round(n / factor)) for n in size]
    down = F.interpolate(photo[None], size=small, mode="area")
    return F.interpolate(down, size=tuple(size), mode="bilinear", align_corners=False)[0]


def jitter_colours(photo: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Photo (3, H, W) in [0, 255] with brightness, contrast, saturation and per-band gains from ``factors``
    (6 values: brightness, contrast, saturation, gain R, G, B; 1 leaves a step unchanged)."""
    brightness, contrast, saturation = factors[:3]
    x = photo * brightness
    x = (x - x.mean()) * contrast + x.mean()
    luma = grey_of(x)
    x = luma + (x - luma) * saturation
    x = x * factors[3:].view(3, 1, 1)
    return x.clamp(0, 255)


def grey_of(photo: torch.Tensor) -> torch.Tensor:
    """Luminance of a (3, H, W) photo, repeated into three bands."""
    weights = torch.tensor(LUMA, dtype=photo.dtype).view(3, 1, 1)
    return (photo * weights).sum(0, keepdim=True).expand_as(photo)


class PairSet:
    """In-memory paired images (source, target), each uint8 (3, H, W), with seeded augmentation.

    Every random choice comes from a generator seeded by (seed, epoch, index), so an
    epoch's samples are the same whether or not training was interrupted.
    """

    def __init__(self, sources: Sequence[np.ndarray], targets: Sequence[np.ndarray], crop: int = 256,
                 augment: Augment = Augment(), seed: int = 0):
        if len(sources) != len(targets) or not sources:
            raise ValueError("need the same, non-zero number of sources and targets")
        self.sources, self.targets = list(sources), list(targets)
        self.crop, self.augment, self.seed = crop, augment, seed

    @classmethod
    def from_folder(cls, folder: str | Path, limit: int | None = None, **kwargs) -> "PairSet":
        paths = list_pairs(folder)[:limit]
        if not paths:
            raise FileNotFoundError(f"{folder}: no .jpg or .png pairs")
        pairs = [read_aligned(p) for p in paths]
        log.info("%s: %d pairs of %s px", folder, len(pairs), pairs[0][0].shape[1:])
        return cls([s for s, _ in pairs], [t for _, t in pairs], **kwargs)

    def __len__(self) -> int:
        return len(self.sources)

    def order(self, epoch: int) -> list[int]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return torch.randperm(len(self), generator=gen).tolist()

    def sample(self, index: int, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Augmented (source, target), float32 (3, crop, crop) in [-1, 1]."""
        src, tgt = self.sources[index], self.targets[index]
        gen = torch.Generator().manual_seed((self.seed * 100_003 + epoch) * 1_000_003 + index)
        h, w = src.shape[1:]
        row = int(torch.randint(0, h - self.crop + 1, (1,), generator=gen))
        col = int(torch.randint(0, w - self.crop + 1, (1,), generator=gen))
        changes = self.augment.draw(gen)
        cut = (slice(None), slice(row, row + self.crop), slice(col, col + self.crop))
        photo, rendering = (changes.placed(torch.from_numpy(image[cut].copy()).float()) for image in (src, tgt))
        photo = changes.photo(photo, rendering)
        return to_model_range(photo), to_model_range(rendering)

    def batches(self, epoch: int, batch_size: int, skip: int = 0, rank: int = 0,
                world: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (source, target) batches of one epoch, sharded by rank, after skipping ``skip`` batches."""
        order = self.order(epoch)[rank::world]
        for b, start in enumerate(range(0, len(order) - batch_size + 1, batch_size)):
            if b < skip:
                continue
            samples = [self.sample(i, epoch) for i in order[start : start + batch_size]]
            yield torch.stack([s for s, _ in samples]), torch.stack([t for _, t in samples])

    def prefetched(self, epoch: int, batch_size: int, skip: int = 0, rank: int = 0, world: int = 1,
                   depth: int = 2) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``batches``, prepared in a background thread so decoding and augmentation never stall a step."""
        return background(self.batches(epoch, batch_size, skip, rank, world), depth, name="training-data")

    def steps_per_epoch(self, batch_size: int, world: int = 1) -> int:
        return len(self.order(0)[::world]) // batch_size


def geotiff_pairs(source_tif: str | Path, map_tif: str | Path, tile: int = 512, overlap: int = 0) -> PairSet:
    """Cut a satellite GeoTIFF and a map raster on the same grid into windows with geotrans's tiler.

    Windows are ``tile`` px (at least the 256 px crop) so that crops still vary.
    """
    with rasterio.open(source_tif) as src, rasterio.open(map_tif) as tgt:
        if (src.crs, src.transform, src.shape) != (tgt.crs, tgt.transform, tgt.shape):
            raise ValueError(f"{source_tif} and {map_tif} are not on the same grid")
        if min(src.shape) < 256:
            raise ValueError(f"{source_tif}: smaller than one 256 px crop")
        tile = min(tile, *src.shape)
        sources, targets = [], []
        for window in TileGrid(src.height, src.width, tile, overlap):
            sources.append(src.read([1, 2, 3], window=window.window))
            targets.append(tgt.read([1, 2, 3], window=window.window))
    return PairSet(sources, targets)
