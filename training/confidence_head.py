"""The fourth candidate of issue #45: a small head that predicts, from the generator's own last features,
whether a map pixel's class is right. A prototype to measure, not yet a run option.

    python -m training.confidence_head --mix training/mixes/beyond_new_york.json \\
        --pairs-train ../shared/data/maps/train --pairs-val ../shared/data/maps/val --limit 20 \\
        --dakota ../shared/data/scenes/dakota_naip_rgbn_nodata.tif

Photos and labels are brought to the model's resolution (bilinear, nearest) and cut into 256 px tiles that
the generator translates one by one (no overlap, so no blending: the head's own setting). Its input per
pixel is what the generator's last layer reads (the decoder's features and the first skip, 2 ngf channels
at half resolution, upsampled), the map's colour and the margin (``training.confidence``). It is trained
on the mix's training parts (and New York training pairs, classed by their real map's colour) with a
binary cross-entropy on "the pixel's class is right", and judged on their held-out parts and Dakota,
against the margin on the same tiles.
"""
from __future__ import annotations

import argparse
import json
import logging
from typing import Iterator, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from geotrans.model.generator import from_model_range, to_model_range
from geotrans.model.palette import Palette, snap
from geotrans.model.style import CODES, IGNORE, MapStyle
from geotrans.model.weights import load_generator
from geotrans.training.data import COARSE_FACTORS, DARK_FACTORS, coarsened, darkened, green_of, list_pairs, read_aligned
from geotrans.training.sources import labelled_images, read_mix
from training.arguments import number
from training.confidence import auroc, confident_half, margins, merged, read_dakota
from training.semantic import held_out_sources, scoring_style

log = logging.getLogger("training.confidence_head")
TILE = 256
SAMPLES_PER_TILE = 2000


def to_model_resolution(photo: np.ndarray, labels: np.ndarray, resolution_m: float,
                        model_m: float) -> tuple[np.ndarray, np.ndarray]:
    """The photo (bilinear, antialiased) and its labels (nearest) at the model's resolution."""
    scale = resolution_m / model_m
    size = (max(1, round(photo.shape[1] * scale)), max(1, round(photo.shape[2] * scale)))
    image = torch.from_numpy(photo).float()[None]
    resized = F.interpolate(image, size=size, mode="bilinear", antialias=scale < 1, align_corners=False)
    classes = F.interpolate(torch.from_numpy(labels)[None, None].float(), size=size, mode="nearest")
    return resized[0].round().clamp(0, 255).byte().numpy(), classes[0, 0].byte().numpy()


def tiles(photo: np.ndarray, labels: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Non-overlapping 256 px tiles; edges padded by reflection (photo) and IGNORE (labels)."""
    height, width = labels.shape
    for row in range(0, height, TILE):
        for col in range(0, width, TILE):
            p = photo[:, row:row + TILE, col:col + TILE]
            lab = labels[row:row + TILE, col:col + TILE]
            pad = ((0, TILE - lab.shape[0]), (0, TILE - lab.shape[1]))
            mode = "reflect" if min(lab.shape) > 1 else "edge"
            yield np.pad(p, ((0, 0), *pad), mode=mode), np.pad(lab, pad, constant_values=IGNORE)


class Features:
    """The generator's map of a tile and, per pixel, the head's inputs."""

    def __init__(self, generator: nn.Module, style: MapStyle, palette: Optional[Palette]):
        self.generator, self.style, self.palette = generator.eval(), style, palette
        self.last = {}
        generator.head.register_forward_pre_hook(lambda module, args: self.last.__setitem__("x", args[0]))

    @torch.no_grad()
    def __call__(self, tile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the map's merged classes (T, T), features (T*T, C) float32) of one uint8 (3, T, T) tile."""
        out = self.generator(to_model_range(torch.from_numpy(tile)[None].float()))
        rgb = from_model_range(out[0].numpy())
        shown = snap(rgb, self.palette) if self.palette is not None else rgb
        classes = merged(self.style.classify(shown))
        hidden = F.interpolate(self.last["x"], scale_factor=2, mode="bilinear", align_corners=False)[0]
        extra = np.concatenate([rgb.astype(np.float32) / 255, margins(rgb, self.style)[None] / 50])
        features = np.concatenate([hidden.numpy(), extra]).reshape(hidden.shape[0] + 4, -1).T
        return classes, np.ascontiguousarray(features, dtype=np.float32)


def head(channels: int) -> nn.Module:
    return nn.Sequential(nn.Linear(channels, 32), nn.ReLU(), nn.Linear(32, 1))


def labelled_tiles(mix_path: str, key: str, model_m: float) -> Iterator[tuple[str, np.ndarray, np.ndarray, tuple]]:
    """(set, photo tile, label tile, complete classes) of the mix's ``masks`` sources (``images`` or ``val``)."""
    mix = read_mix(mix_path)
    for spec in held_out_sources(mix):
        complete = tuple(CODES[c] for c in spec.get("complete_for", ()))
        for image in labelled_images(mix, spec, key):
            photo, labels = to_model_resolution(image.photo, image.classes, image.resolution_m, model_m)
            for p, lab in tiles(photo, labels):
                yield spec["name"], p, lab, complete


def capped(samples: Iterator, limit: int) -> Iterator:
    """The first ``limit`` samples of each set."""
    counts: dict[str, int] = {}
    for sample in samples:
        counts[sample[0]] = counts.get(sample[0], 0) + 1
        if counts[sample[0]] <= limit:
            yield sample


def hardened(tile: np.ndarray, labels: np.ndarray, dark: Optional[float], coarse: Optional[float]) -> np.ndarray:
    """A copy of a photo tile as the land a run gets wrong: its labelled green land that is not water darkened
    by ``dark`` (``geotrans.training.data.darkened``, as training darkens land), then coarsened by
    ``coarse`` (as a run upsamples a coarse scene). Dakota's false water is dark crops at 5 m, read 4x up."""
    photo = torch.from_numpy(tile).float()
    if dark is not None:
        land = torch.from_numpy((labels != IGNORE) & (labels != CODES["water"])).float()[None] * green_of(photo)
        photo = darkened(photo, land, dark)
    if coarse is not None:
        photo = coarsened(photo, coarse)
    return photo.round().clamp(0, 255).byte().numpy()


def with_hard_copies(samples: Iterator, dark_land: float, coarse: float, seed: int = 0) -> Iterator:
    """Each labelled sample and, with probability ``dark_land`` or ``coarse``, a hardened copy of it."""
    rng = np.random.default_rng(seed)
    for name, tile, labels, complete in samples:
        yield name, tile, labels, complete
        dark = rng.uniform(*DARK_FACTORS) if rng.random() < dark_land else None
        factor = rng.uniform(*COARSE_FACTORS) if rng.random() < coarse else None
        if dark is not None or factor is not None:
            yield name, hardened(tile, labels, dark, factor), labels, complete


def pair_tiles(folder: str, limit: int, style: MapStyle) -> Iterator[tuple[str, np.ndarray, np.ndarray, tuple]]:
    for path in list_pairs(folder)[:limit]:
        photo, real = read_aligned(path)
        labels = merged(style.classify(real))
        for p, lab in tiles(photo, labels):
            yield "new-york", p, lab, ()


def known_and_right(name: str, classes: np.ndarray, labels: np.ndarray,
                    complete: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Which pixels are judged, and which of them the map draws right. Dakota's labels say only water or
    not: a pixel there is right where the map draws water exactly where the NDWI says water."""
    if name == "dakota-water":
        water = CODES["water"]
        return (labels != IGNORE).ravel(), ((classes == water) == (labels == water)).ravel()
    known = (labels != IGNORE) | np.isin(classes, complete)
    return known.ravel(), (classes == merged(labels)).ravel()


def train_head(features: Features, samples: Iterator, channels: int, steps: int = 3000) -> nn.Module:
    xs, ys = [], []
    rng = np.random.default_rng(0)
    for name, tile, labels, complete in samples:
        classes, feats = features(tile)
        known, right = known_and_right(name, classes, labels, complete)
        where = np.flatnonzero(known)
        if not len(where):
            continue
        take = rng.choice(where, min(SAMPLES_PER_TILE, len(where)), replace=False)
        xs.append(feats[take])
        ys.append(right[take])
    x, y = torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys).astype(np.float32))
    log.info("head: %d training pixels, %.1f%% right", len(y), 100 * float(y.mean()))
    mean, std = x.mean(0), x.std(0) + 1e-6
    net = head(channels)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    for step in range(steps):
        batch = torch.randint(0, len(y), (4096,), generator=gen)
        loss = F.binary_cross_entropy_with_logits(net((x[batch] - mean) / std)[:, 0], y[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 1000 == 0:
            log.info("head step %d: loss %.4f", step, loss.item())
    return nn.Sequential(Normalise(mean, std), net)


class Normalise(nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


@torch.no_grad()
def judged(features: Features, net: nn.Module, samples: Iterator) -> dict:
    """Per set: pixels, error rate, and AUROC and confident-half ratio of the head and of the margin."""
    parts: dict[str, list] = {}
    for name, tile, labels, complete in samples:
        classes, feats = features(tile)
        known, right = known_and_right(name, classes, labels, complete)
        if not known.any():
            continue
        confidence = net(torch.from_numpy(feats[known]))[:, 0].numpy()
        margin = feats[known, -1]
        parts.setdefault(name, []).append((right[known], confidence, margin))
    report = {}
    for name, rows in parts.items():
        right = np.concatenate([r for r, _, _ in rows])
        report[name] = {"pixels": int(right.size), "error_rate": float((~right).mean())}
        for i, signal in ((1, "head"), (2, "margin")):
            conf = np.concatenate([row[i] for row in rows])
            report[name][signal] = {"auroc": auroc(conf, right), "half": confident_half(conf, right)}
    return report


def dakota_tiles(scene: str, model_m: float) -> Iterator[tuple[str, np.ndarray, np.ndarray, tuple]]:
    """Dakota's NAIP scene with its water by NDWI as labels (water, else background: land of any kind)."""
    photo, water, metres = read_dakota(scene)
    labels = np.where(water, CODES["water"], CODES["background"]).astype(np.uint8)
    photo, labels = to_model_resolution(photo, labels, metres, model_m)
    for p, lab in tiles(photo, labels):
        yield "dakota-water", p, lab, ()


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.confidence_head", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--mix", default="training/mixes/beyond_new_york.json")
    parser.add_argument("--pairs-train", default=None)
    parser.add_argument("--train-pairs", type=number(int, 1), default=100, help="New York training pairs for the head")
    parser.add_argument("--pairs-val", default=None)
    parser.add_argument("--limit", type=number(int, 1), default=20, help="New York val pairs to judge")
    parser.add_argument("--dakota", default=None)
    parser.add_argument("--steps", type=number(int, 1), default=3000)
    parser.add_argument("--tiles-per-set", type=number(int, 1), default=400,
                        help="training tiles per labelled source at most")
    parser.add_argument("--dark-land", type=number(float, 0, 1), default=0.0,
                        help="probability of a training tile's hardened copy with its green land darkened (0)")
    parser.add_argument("--coarse", type=number(float, 0, 1), default=0.0,
                        help="probability of a training tile's hardened copy coarsened 1.5-4x (0)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.manual_seed(0)
    generator, info = load_generator(args.model)
    style, palette = scoring_style(read_mix(args.mix), info), Palette.from_card(info.card)
    model_m = info.resolution_m or 0.9
    features = Features(generator, style, palette)
    channels = generator.head[1].in_channels + 4

    def training_samples():
        yield from with_hard_copies(capped(labelled_tiles(args.mix, "images", model_m), args.tiles_per_set),
                                    args.dark_land, args.coarse)
        if args.pairs_train:
            yield from pair_tiles(args.pairs_train, args.train_pairs, style)

    net = train_head(features, training_samples(), channels, args.steps).eval()

    def judged_samples():
        yield from labelled_tiles(args.mix, "val", model_m)
        if args.pairs_val:
            yield from pair_tiles(args.pairs_val, args.limit, style)
        if args.dakota:
            yield from dakota_tiles(args.dakota, model_m)

    report = judged(features, net, judged_samples())
    lines = ["| held-out set | pixels | map wrong | head AUROC / half | margin AUROC / half |", "|---|---|---|---|---|"]
    for name, r in report.items():
        cells = [f"{r[s]['auroc']:.3f} / {r[s]['half']:.2f}" if r[s]["auroc"] is not None else "–"
                 for s in ("head", "margin")]
        lines.append(f"| {name} | {r['pixels']:,} | {r['error_rate']:.1%} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
