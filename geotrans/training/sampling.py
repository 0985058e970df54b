"""Training samples from a mix's sources (``MixedSet``): drawn by weight, cut at the model's resolution, with
seeded augmentation.

Each sample is cut at the model's resolution from the source's own, times a scale drawn in
1 +- ``scale_jitter``: a window of 256 x resolution_m x scale / source_resolution source pixels, resized to
256 (photos and real maps bilinear with antialiasing, rendered maps and masks nearest). A source smaller than
the window is padded with black photo and unlabelled pixels.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional, Sequence

import torch
import torch.nn.functional as F

from geotrans.model.generator import to_model_range
from geotrans.run.background import background
from geotrans.training.data import Augment
from geotrans.training.sources import Source, load_sources, read_mix


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
