"""The colours a model learnt from, against those of val photos and real scenes: each photo's mean and spread
of R, G, B (``geotrans.io.colours``), for every training photo of a mix, every val photo (New York's val pairs
and each labelled source's val part), every photo of other labelled sets (held back from the mix) and every
scene given, read as a run reads it (its band plan, or ``--bands``).

Prints each set's distances from the training photos' (``geotrans.model.colours``) and how often the warning
fires; ``--card`` writes the ``input_colours`` table to merge into the model's card
(``python -m training.export --model M --out M --card FILE``).

Usage: python -m training.experiments.input_colours --mix training/mixes/v5-farmland.json \
    --ny-val ../shared/data/maps/val --held-back ../shared/data/labelled/gid_coarse/images \
    --scenes ../shared/data/scenes/*.tif --card colours.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image

from geotrans.io.bands import plan_bands
from geotrans.io.colours import scene_colours
from geotrans.model.colours import photo_colours
from geotrans.training.colours import METHOD, learnt_colours, val_photos
from geotrans.training.sources import read_mix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mix", required=True)
    parser.add_argument("--ny-val", help="New York's val pairs (the maps dataset's val folder)")
    parser.add_argument("--held-back", nargs="*", default=[], help="folders of photos the mix did not learn")
    parser.add_argument("--scenes", nargs="*", default=[], help="scenes, optionally SCENE:B,G,R for --bands")
    parser.add_argument("--card", help="write the card's input_colours table here (JSON)")
    args = parser.parse_args()
    mix = read_mix(args.mix)
    learnt, measured = learnt_colours(mix, args.ny_val)
    print(f"{measured['training_photos']} training photos; limit {learnt.limit:g}")
    for name, photos in val_photos(mix, args.ny_val).items():
        report(f"val {name}", [learnt.distance(photo_colours(p)) for p in photos], learnt.limit)
    for folder in args.held_back:
        distances = []
        for path in sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".png", ".tif")):
            with Image.open(path) as img:
                distances.append(learnt.distance(photo_colours(np.asarray(img.convert("RGB")).transpose(2, 0, 1))))
        report(f"held back {folder}", distances, learnt.limit)
    fired = []
    for item in args.scenes:
        scene, _, bands = item.partition(":")
        with rasterio.open(scene) as ds:
            colours = scene_colours(ds, plan_bands(ds, [int(b) for b in bands.split(",")] if bands else None))
        distance = learnt.distance(colours)
        print(f"scene {Path(scene).name}{':' + bands if bands else ''}: {colours.describe()}; distance "
              f"{distance:.2f}{'  FIRES' if distance > learnt.limit else ''}")
        if distance > learnt.limit:
            fired.append(Path(scene).name + (f" read as bands {bands}" if bands else ""))
    if args.card:
        Path(args.card).write_text(json.dumps({"input_colours": learnt.card(METHOD, measured)}, indent=2) + "\n")
        print(f"wrote {args.card}")


def report(name: str, distances: list, limit: float) -> None:
    values = np.array(distances)
    print(f"{name}: {len(values)} photos, distance median {np.median(values):.2f}, largest {values.max():.2f}; "
          f"beyond {limit:g}: {(values > limit).sum()} ({(values > limit).mean():.0%})")


if __name__ == "__main__":
    main()
