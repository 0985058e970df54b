"""Does a model draw hardened labelled land as water, as it draws Dakota's dark fields?

The first tiles of each labelled source's training part (``training.confidence_head``'s tiles, at the
model's resolution) are translated as they are, with their green land darkened, and darkened and
coarsened (``training.confidence_head.hardened``); each line is the share of the labelled dry land drawn
as water. A head that should flag false water can only learn it where the model makes it.

    python -m training.experiments.hardened_water --tiles 40
"""
from __future__ import annotations

import argparse

from geotrans.model.palette import Palette
from geotrans.model.style import CODES, IGNORE
from geotrans.model.weights import load_generator
from geotrans.training.sources import read_mix
from training.confidence_head import Features, capped, hardened, labelled_tiles
from training.semantic import scoring_style

KINDS = (("as it is", None, None), ("green land darkened 0.4x", 0.4, None),
         ("darkened and coarsened 4x", 0.4, 4.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--mix", default="training/mixes/beyond_new_york.json")
    parser.add_argument("--tiles", type=int, default=40, help="tiles per source")
    args = parser.parse_args()
    generator, info = load_generator(args.model)
    features = Features(generator, scoring_style(read_mix(args.mix), info), Palette.from_card(info.card))
    counts: dict[tuple[str, str], list[int]] = {}
    for name, tile, labels, _ in capped(labelled_tiles(args.mix, "images", info.resolution_m or 0.9), args.tiles):
        dry = (labels != IGNORE) & (labels != CODES["water"])
        if not dry.any():
            continue
        for kind, dark, coarse in KINDS:
            classes, _ = features(hardened(tile, labels, dark, coarse))
            count = counts.setdefault((name, kind), [0, 0])
            count[0] += int(((classes == CODES["water"]) & dry).sum())
            count[1] += int(dry.sum())
    print("| source | tiles as | dry land drawn as water |\n|---|---|---|")
    for (name, kind), (water, dry) in counts.items():
        print(f"| {name} | {kind} | {water / dry:.1%} |")


if __name__ == "__main__":
    main()
