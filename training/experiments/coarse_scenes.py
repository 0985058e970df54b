"""How should a run read a scene much coarser than the model? Held-out land made coarse, scored per resampling.

Dakota's NAIP at 5 m reaches the model upsampled 4x, and its smooth fields are
drawn as lakes; read with sharper resampling they are drawn as water less. To
tell a better reading from one fitted to Dakota, the same choice is scored on
held-out land no run trained on: the first New York val pairs (their real map
classed by colour is the truth) and each labelled source's val part, every
photo shrunk (area average) to ``--factor`` times the model's pixel size and
its truth to the same grid (nearest), then translated through ``geotrans run``'s
path with each ``--resampling`` and scored as the semantic benchmark scores
(water, green and street IoU, dry land as water, street F1 within 3 m).
Photos under 32 px once shrunk are left out (LandCover.ai's 64 m chips, EPFL's).

    python -m training.experiments.coarse_scenes --factor 4 --resampling bilinear cubic lanczos
"""
from __future__ import annotations

import argparse
import logging
from typing import Iterator, Optional

import torch
import torch.nn.functional as F

from geotrans.model.style import MapStyle
from geotrans.model.weights import load_generator
from geotrans.run.options import RunOptions
from geotrans.training.data import list_pairs, read_aligned
from geotrans.training.sources import LabelledImage, labelled_images, read_mix
from training.semantic import held_out_sources, images_scored, scoring_style

MIN_PX = 32
FIGURES = ("water_iou", "dry_land_as_water", "green_iou", "street_iou", "street_f1")


def coarsened(image: LabelledImage, pixel_m: float) -> Optional[LabelledImage]:
    """``image`` on a grid of ``pixel_m`` pixels: photo area-averaged, classes nearest; None under ``MIN_PX``."""
    scale = image.resolution_m / pixel_m
    size = [round(n * scale) for n in image.classes.shape]
    if min(size) < MIN_PX:
        return None
    photo = F.interpolate(torch.from_numpy(image.photo).float()[None], size=size, mode="area")[0]
    classes = F.interpolate(torch.from_numpy(image.classes)[None, None].float(), size=size, mode="nearest")[0, 0]
    return LabelledImage(image.name, photo.round().clamp(0, 255).to(torch.uint8).numpy(),
                         classes.to(torch.uint8).numpy(), pixel_m)


def new_york(folder: str, limit: int, style: MapStyle, pixel_m: float = 0.9) -> Iterator[LabelledImage]:
    """The first ``limit`` val pairs, their real map classed by its colours as the truth."""
    for path in list_pairs(folder)[:limit]:
        photo, map_ = read_aligned(path)
        yield LabelledImage(f"new-york/{path.name}", photo, style.classify(map_), pixel_m)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.experiments.coarse_scenes",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--mix", default="training/mixes/beyond_new_york.json")
    parser.add_argument("--maps-val", default="../shared/data/maps/val")
    parser.add_argument("--limit", type=int, default=100, help="New York val pairs (100)")
    parser.add_argument("--factor", type=float, default=4.0, help="scene pixels this many times the model's (4)")
    parser.add_argument("--resampling", nargs="+", default=["bilinear", "cubic", "lanczos"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    generator, info = load_generator(args.model)
    mix = read_mix(args.mix)
    style = scoring_style(mix, info)
    pixel_m = info.resolution_m * args.factor
    def shrunk(images: Iterator[LabelledImage]) -> list[LabelledImage]:
        return [small for small in (coarsened(image, pixel_m) for image in images) if small]

    sets = [("new-york", shrunk(new_york(args.maps_val, args.limit, style)), ())]
    sets += [(spec["name"], shrunk(labelled_images(mix, spec, "val")), tuple(spec.get("complete_for", ())))
             for spec in held_out_sources(mix)]
    print(f"{info.name}: scenes at {pixel_m:g} m ({args.factor:g}x the model's pixel)")
    print("| set | resampling | images | " + " | ".join(FIGURES) + " |")
    print("|---|---|---|" + "---|" * len(FIGURES))
    for name, images, complete_for in sets:
        for resampling in args.resampling if images else ():
            options = RunOptions(precision="fp32", resampling=resampling)
            scores = images_scored(generator, images, style, info, options, complete_for)
            cells = [f"{scores[f]:.3f}" if scores.get(f) is not None else "-" for f in FIGURES]
            print(f"| {name} | {resampling} | {scores['images']} | " + " | ".join(cells) + " |", flush=True)

if __name__ == "__main__":
    main()
