"""What does a model draw where the labels say water, green, street, building or land?

The held-out photos of a mix's labelled sources go through ``geotrans run``'s own
path, as ``training.evaluate --labelled`` scores them, and each labelled pixel is
counted by its label and the map class it was drawn as (nearest palette colour).
Each row is a label's pixels split over the drawn classes, so a low IoU can be
read as missing (the row) or drawn elsewhere (the column). A second table gives the
photo's mean colour of each label's pixels drawn as their label and drawn otherwise:
what colour the model misses.

    python -m training.experiments.confusion --model M --mix training/mixes/beyond_new_york.json
"""
from __future__ import annotations

import argparse
import logging

import numpy as np

from geotrans.model.style import CLASSES, IGNORE
from geotrans.model.weights import load_generator
from geotrans.training.sources import read_mix
from training.semantic import drawn_classes, held_out_sources, scoring_style


def confusion(drawn: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Pixel counts (label, drawn) over ``CLASSES`` of the labelled, valid pixels of one image."""
    keep = valid & (truth != IGNORE)
    pairs = truth[keep].astype(np.int64) * len(CLASSES) + drawn[keep].astype(np.int64)
    return np.bincount(pairs, minlength=len(CLASSES) ** 2).reshape(len(CLASSES), len(CLASSES))


def colour_sums(photo: np.ndarray, drawn: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Sums of the photo's bands (uint8 (3, H, W)) and pixel counts, (label, drawn as it or not, R G B count),
    over the labelled, valid pixels of one image."""
    keep = valid & (truth != IGNORE)
    rows = truth[keep].astype(np.int64) * 2 + (drawn[keep] == truth[keep])
    size = len(CLASSES) * 2
    sums = [np.bincount(rows, weights=band[keep].astype(np.float64), minlength=size) for band in photo]
    return np.stack(sums + [np.bincount(rows, minlength=size).astype(np.float64)], 1).reshape(len(CLASSES), 2, 4)


def table(counts: np.ndarray) -> str:
    """Markdown rows: each label's share drawn as each class, and its pixel count."""
    lines = ["| label \\ drawn | " + " | ".join(CLASSES) + " | pixels |", "|---" * (len(CLASSES) + 2) + "|"]
    for code, name in enumerate(CLASSES):
        total = counts[code].sum()
        if total:
            lines.append(f"| {name} | " + " | ".join(f"{c / total:.0%}" for c in counts[code]) + f" | {total} |")
    return "\n".join(lines)


def colour_table(sums: np.ndarray) -> str:
    """Markdown rows: each label's mean photo colour where it is drawn as itself and where it is not."""
    def mean(cell: np.ndarray) -> str:
        return ", ".join(f"{v:.0f}" for v in cell[:3] / cell[3]) + f" ({cell[3]:.0f} px)" if cell[3] else "-"
    lines = ["| label | mean R, G, B drawn as it | drawn otherwise |", "|---|---|---|"]
    lines += [f"| {name} | {mean(sums[code, 1])} | {mean(sums[code, 0])} |"
              for code, name in enumerate(CLASSES) if sums[code, :, 3].sum()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="exported generator (default: the shipped model)")
    parser.add_argument("--mix", required=True, help="mix whose masks sources hold a val part")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    generator, info = load_generator(args.model)
    mix = read_mix(args.mix)
    style = scoring_style(mix, info)
    for spec in held_out_sources(mix):
        counts = np.zeros((len(CLASSES), len(CLASSES)), np.int64)
        sums = np.zeros((len(CLASSES), 2, 4))
        for image, drawn, valid in drawn_classes(generator, mix, spec, style, info):
            counts += confusion(drawn, image.classes, valid)
            sums += colour_sums(image.photo, drawn, image.classes, valid)
        print(f"\n{info.name}, {spec['name']} val\n{table(counts)}\n\n{colour_table(sums)}")


if __name__ == "__main__":
    main()
