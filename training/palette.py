"""Learn the map style's palette from the training maps, and choose how close a pixel must be to snap.

    python -m training.palette --train ../shared/data/maps/train --val ../shared/data/maps/val \
        --model M --k 8 --limit 100 --out palette.json

1. k-means in CIELAB over pixels sampled from every training map (``geotrans.model.palette.learn_palette``).
2. For each candidate distance (CIE76 delta E), the val pairs are translated once
   and scored with the output snapped at that distance (same protocol as
   ``training.evaluate``); the smallest distance within 0.1 points of the best
   pixel accuracy (delta < 5) that does not cost PSNR is kept. No snapping (0)
   is a candidate too.

The JSON written holds ``palette``, ``palette_max_delta_e`` and the table of
candidates; pass it to ``training.export --card`` to ship it in the model card.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Optional

import numpy as np

from geotrans.model.palette import Palette, learn_palette, snap
from geotrans.model.weights import load_generator
from geotrans.run.pipeline import translate_array
from geotrans.run.runner import BatchRunner, resolve_device
from geotrans.training.data import list_pairs, read_aligned
from training.arguments import number
from training.evaluate import resize_bilinear
from training.metrics import image_metrics, mean_metrics

log = logging.getLogger("training.palette")
CANDIDATES = (0.0, 3.0, 6.0, 10.0, 15.0, 20.0)


def sample_map_pixels(folder: str | Path, per_map: int = 400, seed: int = 0) -> np.ndarray:
    """(n, 3) uint8 pixels drawn at random from the map half of every pair in ``folder``."""
    rng = np.random.default_rng(seed)
    samples = []
    for path in list_pairs(folder):
        _, target = read_aligned(path)
        flat = target.reshape(3, -1).T
        samples.append(flat[rng.choice(len(flat), per_map, replace=False)])
    return np.concatenate(samples)


def score_distances(generator, folder: str | Path, colours: np.ndarray, candidates=CANDIDATES,
                    limit: Optional[int] = None, device: str = "auto") -> dict[float, dict]:
    """Mean val metrics with the output snapped at each candidate distance (0: not snapped)."""
    runner = BatchRunner(generator, resolve_device(device))
    rows: dict[float, list] = {d: [] for d in candidates}
    for path in list_pairs(folder)[:limit]:
        source, target = read_aligned(path)
        generated = translate_array(source, runner)
        real = resize_bilinear(target)
        for distance in candidates:
            snapped = snap(generated, Palette(tuple(map(tuple, colours)), distance)) if distance else generated
            rows[distance].append(image_metrics(resize_bilinear(snapped), real))
    return {d: mean_metrics(r) for d, r in rows.items()}


def choose_distance(scores: dict[float, dict], tolerance: float = 0.1) -> float:
    """Among the distances that keep PSNR within 0.05 dB of no snapping, the smallest whose pixel accuracy
    (delta < 5) is within ``tolerance`` points of the best: snap no farther than pays."""
    plain = scores[0.0]["psnr"]
    allowed = [d for d, s in scores.items() if s["psnr"] >= plain - 0.05]
    best = max(scores[d]["acc5"] for d in allowed)
    return min(d for d in allowed if scores[d]["acc5"] >= best - tolerance)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.palette", description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True, help="folder of training pairs (the maps are sampled)")
    parser.add_argument("--val", required=True, help="folder of val pairs (to choose the distance)")
    parser.add_argument("--model", default=None, help="exported generator (default: the shipped model)")
    parser.add_argument("--k", type=number(int, 1), default=8, help="colours in the palette")
    parser.add_argument("--limit", type=number(int, 1), default=100, help="val pairs used to choose the distance")
    parser.add_argument("--out", required=True, help="JSON to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    pixels = sample_map_pixels(args.train)
    colours = learn_palette(pixels, args.k)
    log.info("palette of %d colours from %d map pixels: %s", args.k, len(pixels), colours.tolist())
    generator, info = load_generator(args.model)
    scores = score_distances(generator, args.val, colours, limit=args.limit)
    distance = choose_distance(scores)
    for d, s in scores.items():
        log.info("delta E %5.1f: %s%s", d, "  ".join(f"{k} {v:.3f}" for k, v in s.items()),
                 "   <- chosen" if d == distance else "")
    palette = Palette(tuple(map(tuple, colours.tolist())), distance)
    result = {**palette.to_card(), "palette_method": f"k-means (k={args.k}) in CIELAB over {len(pixels)} pixels of "
              f"{args.train}; distance chosen on the first {args.limit} pairs of {args.val} with {info.name}",
              "palette_scores": {str(d): s for d, s in scores.items()}}
    Path(args.out).write_text(json.dumps(result, indent=2))
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
