"""Can the labelled images of one source teach its held-out ones at all? A plain segmentation net as reference.

#54's generator learns LoveDA's ponds neither on its held-out tiles nor on the tiles it trains on (water IoU
0.13-0.18), while it learns their roads on the training tiles by heart. Is it the recipe (a GAN whose class
decision is a colour) or the data (twenty labelled villages)? This trains a small U-Net with a plain
cross-entropy on the source's training images, read at the model's ground resolution as training reads them
(turned and flipped, colours jittered a little), and scores its held-out images, and some training images,
with the semantic benchmark's own tally (``geotrans.training.scores.Tally``: IoU pooled over the images,
streets within the source's tolerance) on the labels' grid. A probe that finds the held-out ponds says the
labels can teach them; one that does not says twenty tiles cannot, whatever the generator's recipe.

With ``--samples``, the net learns instead from the generator's own training samples: every source of the mix
drawn by weight and augmented as ``training.train`` augments them (``--dark-land``, ``--coarse``, ...), its
classes the map class nearest each labelled map pixel, as the generator's class decision reads them. The same
held-out scores then tell whether the mix and its augmentations, rather than the generator, hide the ponds.

    python -m training.experiments.segmentation_probe --mix training/mixes/v6-villages.json --source loveda-rural
    python -m training.experiments.segmentation_probe --mix training/mixes/v6-villages.json --source loveda-rural \
        --samples --dark-land 0.1 --coarse 0.3 --jitter 0.2 --grey 0.1

(1 thread; a few minutes on a 2-core CPU.)
"""
from __future__ import annotations

import argparse
import math
import time
from typing import Iterator, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from geotrans.model.generator import to_model_range
from geotrans.model.style import CLASSES, IGNORE
from geotrans.training.data import Augment
from geotrans.training.losses import nearest_classes
from geotrans.training.sampling import mixed_set
from geotrans.training.scores import TOLERANCE_M, Tally
from geotrans.training.sources import LabelledImage, evenly, labelled_images, read_mix


def at_resolution(image: LabelledImage, resolution_m: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The photo (float (3, h, w), 0-1) and classes (long (h, w), ``IGNORE`` kept) read at ``resolution_m``."""
    h, w = image.classes.shape
    size = tuple(max(1, round(n * image.resolution_m / resolution_m)) for n in (h, w))
    photo = torch.from_numpy(image.photo).float()[None] / 255
    mode = "area" if size[0] < h else "bilinear"
    photo = F.interpolate(photo, size=size, mode=mode, **({} if mode == "area" else {"align_corners": False}))
    classes = F.interpolate(torch.from_numpy(image.classes)[None, None].float(), size=size, mode="nearest-exact")
    return photo[0], classes[0, 0].long()


NORMS = {"batch": nn.BatchNorm2d, "instance": lambda n: nn.InstanceNorm2d(n, affine=True)}


def block(cin: int, cout: int, norm: str = "batch") -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), NORMS[norm](cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), NORMS[norm](cout), nn.ReLU(inplace=True))


class SmallUNet(nn.Module):
    """Four levels (``width`` to 8x ``width`` channels), skips by concatenation, one logit per class; ``norm``
    batch, or instance as the generator's (each image's features normalised by their own mean and spread)."""

    def __init__(self, classes: int, width: int = 16, norm: str = "batch") -> None:
        super().__init__()
        widths = [width * 2 ** k for k in range(4)]
        self.down = nn.ModuleList([block(3, widths[0], norm)] +
                                  [block(a, b, norm) for a, b in zip(widths, widths[1:])])
        self.up = nn.ModuleList([block(b + a, a, norm) for a, b in zip(widths[:-1], widths[1:])][::-1])
        self.head = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for k, layer in enumerate(self.down):
            x = layer(x if k == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for layer, skip in zip(self.up, skips[-2::-1]):
            x = layer(torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False),
                                 skip], 1))
        return self.head(x)


def crops(images: list[tuple[torch.Tensor, torch.Tensor]], count: int, side: int,
          rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` random crops of ``side`` px, each turned by a random quarter and maybe flipped, its
    brightness and contrast jittered by up to 10%."""
    photos, labels = [], []
    for _ in range(count):
        photo, classes = images[rng.integers(len(images))]
        h, w = classes.shape
        y, x = rng.integers(max(1, h - side + 1)), rng.integers(max(1, w - side + 1))
        p, c = photo[:, y:y + side, x:x + side], classes[y:y + side, x:x + side]
        turns = int(rng.integers(4))
        p, c = torch.rot90(p, turns, (1, 2)), torch.rot90(c, turns, (0, 1))
        if rng.random() < 0.5:
            p, c = p.flip(2), c.flip(1)
        mean = p.mean()
        p = ((p - mean) * (1 + rng.uniform(-0.1, 0.1)) + mean * (1 + rng.uniform(-0.1, 0.1))).clamp(0, 1)
        photos.append(p)
        labels.append(c)
    return torch.stack(photos), torch.stack(labels)


def sampled_crops(mix_path: str, augment: Augment, count: int, side: int, seed: int) -> Iterator[tuple]:
    """Batches of ``count`` of the generator's own training samples of ``mix_path`` (``side`` px), as (photo
    0-1, classes): each labelled map pixel's nearest map class colour of the mix's style, ``IGNORE`` elsewhere."""
    mixed = mixed_set(mix_path, crop=side, augment=augment, seed=seed)
    mixed.epoch_size = max(mixed.epoch_size, count)  # a mix of fewer images than a batch still fills batches
    style = read_mix(mix_path).style()
    colours = to_model_range(torch.tensor([style.colours[name] for name in CLASSES]))
    epoch = 0
    while True:
        for photo, target, labelled, _, _ in mixed.batches(epoch, count):
            classes = nearest_classes(target, colours)
            yield (photo + 1) / 2, torch.where(labelled[:, 0] > 0.5, classes, torch.full_like(classes, IGNORE))
        epoch += 1


def class_weights(images: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """1 / sqrt(share) of each class's labelled pixels, mean 1 over the classes present (0 for absent ones)."""
    counts = torch.zeros(len(CLASSES))
    for _, classes in images:
        known = classes[classes != IGNORE]
        counts += torch.bincount(known, minlength=len(CLASSES)).float()
    weights = torch.where(counts > 0, (counts / counts.sum()).clamp(min=1e-6).rsqrt(), torch.zeros(()))
    return weights / weights[counts > 0].mean()


def train(images: list[tuple[torch.Tensor, torch.Tensor]], steps: int, batch: int, side: int, width: int,
          seed: int, samples: Optional[Iterator[tuple]] = None, norm: str = "batch") -> SmallUNet:
    """The probe learnt from random crops of ``images``, or from ``samples`` where given (class weights from
    ``images`` either way: the scored source's share of each class)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = SmallUNet(len(CLASSES), width, norm)
    optimiser = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=steps)
    loss_of = nn.CrossEntropyLoss(weight=class_weights(images), ignore_index=IGNORE)
    start = time.time()
    for step in range(1, steps + 1):
        photos, labels = next(samples) if samples is not None else crops(images, batch, side, rng)
        loss = loss_of(net(photos), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % max(1, steps // 10) == 0:
            print(f"step {step}: loss {loss.item():.3f} ({time.time() - start:.0f} s)", flush=True)
    return net.eval()


@torch.no_grad()
def scored(net: SmallUNet, images: list[LabelledImage], resolution_m: float, complete_for: tuple[str, ...],
           tolerance_m: float) -> dict:
    """The semantic benchmark's scores of the net's classes, drawn on each image's own grid."""
    tally = Tally.empty(tolerance_m)
    for image in images:
        photo, _ = at_resolution(image, resolution_m)
        h, w = photo.shape[1:]
        padded = F.pad(photo[None], (0, (-w) % 8, 0, (-h) % 8), mode="reflect")
        logits = net(padded)[..., :h, :w]
        logits = F.interpolate(logits, size=image.classes.shape, mode="bilinear", align_corners=False)
        drawn = logits[0].argmax(0).numpy().astype(np.uint8)
        tally.add(drawn, image.classes, np.ones(drawn.shape, bool), image.resolution_m, complete_for)
    return tally.scores()


FIGURES = ("water_iou", "green_iou", "building_iou", "street_f1", "street_precision", "dry_land_as_water")


def row(label: str, scores: dict) -> str:
    def shown(value) -> str:
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"
    return f"| {label} | " + " | ".join(shown(scores.get(name)) for name in FIGURES) + " |"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mix", required=True, help="a mix file (its sources' paths, classes and val parts)")
    parser.add_argument("--source", required=True, help="the masks source to learn and score, by name")
    parser.add_argument("--resolution", type=float, default=None, help="metres a pixel (default: the mix's)")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--side", type=int, default=128, help="crop side in px at --resolution")
    parser.add_argument("--width", type=int, default=16, help="channels of the first level")
    parser.add_argument("--norm", choices=sorted(NORMS), default="batch",
                        help="the probe's normalisation (instance: the generator's)")
    parser.add_argument("--fit", type=int, default=8, help="training images also scored (evenly by name)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", action="store_true",
                        help="learn from the generator's training samples of the whole mix, augmented as below")
    parser.add_argument("--jitter", type=float, default=0.0)
    parser.add_argument("--grey", type=float, default=0.0)
    parser.add_argument("--coarse", type=float, default=0.0)
    parser.add_argument("--dark-land", type=float, default=0.0)
    parser.add_argument("--dark-of", default="vegetation")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    mix = read_mix(args.mix)
    spec = next((s for s in mix.sources if s.get("name") == args.source), None)
    if spec is None or spec.get("kind") != "masks":
        parser.error(f"{args.mix} has no masks source named {args.source}")
    resolution = args.resolution or mix.resolution_m
    training_images = labelled_images(mix, spec, "images")
    held_out = labelled_images(mix, spec, "val")
    print(f"{args.source}: {len(training_images)} training images, {len(held_out)} held out, at {resolution} m")
    samples = None
    if args.samples:
        augment = Augment(rotations=True, jitter=args.jitter, grey=args.grey, coarse=args.coarse,
                          dark_land=args.dark_land, dark_of=args.dark_of,
                          water_rgb=tuple(mix.style().colours["water"]))
        samples = sampled_crops(args.mix, augment, args.batch, args.side, args.seed)
        print(f"learning from the mix's training samples: {augment.describe()}")
    net = train([at_resolution(image, resolution) for image in training_images], args.steps, args.batch,
                args.side, args.width, args.seed, samples, args.norm)
    complete_for = tuple(spec.get("complete_for", ()))
    tolerance = float(spec.get("street_tolerance_m", TOLERANCE_M))
    print("| images | " + " | ".join(FIGURES) + " |\n|---" * 1 + "|---" * len(FIGURES) + "|")
    print(row(f"held out ({len(held_out)})", scored(net, held_out, resolution, complete_for, tolerance)))
    fit = evenly(training_images, args.fit)
    print(row(f"training ({len(fit)})", scored(net, fit, resolution, complete_for, tolerance)))


if __name__ == "__main__":
    main()
