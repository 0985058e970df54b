"""Does the colour warning fire where the map goes wrong? For each photo of a labelled source, its colours'
distance from the model's training photos (the card's ``input_colours``) and its map's errors, drawn through
``geotrans run``'s own path: the share of labelled land drawn as water, and the water IoU; pooled over the
photos the warning fires on and those it does not.

Usage: python -m training.experiments.colours_and_errors --mix MIX --source gid-coarse [--model M] [--json F]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from geotrans.model.colours import LearntColours, photo_colours
from geotrans.model.style import CLASSES, IGNORE
from geotrans.model.weights import load_generator
from geotrans.training.sources import labelled_images, read_mix
from training.semantic import images_drawn, scoring_style

WATER = CLASSES.index("water")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mix", required=True)
    parser.add_argument("--source", required=True, help="the masks source whose photos (all, not only val) to use")
    parser.add_argument("--model", default=None, help="default: the shipped model")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    mix = read_mix(args.mix)
    [spec] = [s for s in mix.sources if s.get("name") == args.source]
    generator, info = load_generator(args.model)
    learnt = LearntColours.from_card(info.card)
    if learnt is None:
        raise SystemExit(f"{info.name}: its card has no input_colours")
    rows = []
    images = labelled_images(mix, spec, "images")
    for image, drawn, valid in images_drawn(generator, images, scoring_style(mix, info), info):
        labelled = valid & (image.classes != IGNORE)
        land, water, drawn_water = (labelled & (image.classes != WATER), labelled & (image.classes == WATER),
                                    labelled & (drawn == WATER))
        rows.append({"name": image.name, "distance": learnt.distance(photo_colours(image.photo)),
                     "land": int(land.sum()), "land_as_water": int((land & drawn_water).sum()),
                     "water_and_drawn": int((water & drawn_water).sum()), "water_or_drawn": int((water | drawn_water).sum())})
    for fired in (True, False):
        part = [r for r in rows if (r["distance"] > learnt.limit) == fired]
        if not part:
            continue
        land = sum(r["land"] for r in part)
        shares = np.array([r["land_as_water"] / max(1, r["land"]) for r in part])
        print(f"{'fires' if fired else 'quiet'}: {len(part)} photos; land drawn as water {sum(r['land_as_water'] for r in part) / max(1, land):.1%} "
              f"pooled, per photo median {np.median(shares):.1%}, photos over 10%: {(shares > 0.1).mean():.0%}; water IoU "
              f"{sum(r['water_and_drawn'] for r in part) / max(1, sum(r['water_or_drawn'] for r in part)):.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": info.name, "limit": learnt.limit, "photos": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
