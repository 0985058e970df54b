"""Which signal says where a map is wrong? The candidates of issue #45, measured on labelled land.

    python -m training.confidence --model M --mix training/mixes/beyond_new_york.json \\
        --pairs ../shared/data/maps/val --limit 20 --dakota ../shared/data/scenes/dakota_naip_rgbn_nodata.tif

Every held-out image goes through ``geotrans run``'s own path (as the semantic benchmark does), and each
map pixel's class (its nearest map-class colour; street, major road and highway are one class) is right or
wrong against the labels: a ``masks`` source's val part, the New York val pairs classed by their real map's
colour, Dakota's water by its NDWI (water or not). Per pixel, the candidates' confidence:

* ``margin``: how much nearer the raw pixel (palette off) lies to its class colour than to the next one
  (CIELAB delta E), free with the map;
* ``d4``: the share of the 8 flips and rotations of the photo whose maps draw the pixel's class (8x the work);
* ``dropout``: the share of ``--dropout`` seeded dropout maps that draw it (that many times the work).

Each is scored by its AUROC for "this pixel is right" (0.5: no better than chance) and by the error rate of
its most confident half of the pixels against the map's (``half``: 0.5 means half as often wrong).
"""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import rasterio
from scipy.stats import rankdata

from geotrans.model.palette import Palette, snap, srgb_to_lab
from geotrans.model.style import CODES, IGNORE, MapStyle
from geotrans.model.weights import ModelInfo, load_generator
from geotrans.run.options import RunOptions
from geotrans.run.runner import D4
from geotrans.training.data import list_pairs, read_aligned
from geotrans.training.scores import STREETS
from geotrans.training.sources import LabelledImage, labelled_images, read_mix
from training.arguments import number
from training.semantic import as_geotiff, held_out_sources, scoring_style
from training.translated import translated
from training.water import water_truth

log = logging.getLogger("training.confidence")

SIGNALS = ("margin", "d4", "dropout")


def merged(codes: np.ndarray) -> np.ndarray:
    """Class codes with the three road classes as one (street)."""
    return np.where(np.isin(codes, STREETS), CODES["street"], codes).astype(np.uint8)


def margins(rgb: np.ndarray, style: MapStyle) -> np.ndarray:
    """float32 (H, W): delta E to the second-nearest class colour minus delta E to the nearest (roads as one)."""
    lab = srgb_to_lab(np.ascontiguousarray(rgb.transpose(1, 2, 0)))
    names = [name for name in style.colours if CODES[name] not in STREETS[1:]]
    centres = srgb_to_lab(np.array([style.colours[name] for name in names], dtype=np.uint8))
    distances = np.sort(np.stack([np.linalg.norm(lab - c, axis=-1) for c in centres]), axis=0)
    return (distances[1] - distances[0]).astype(np.float32)


def d4_view(photo: np.ndarray, flip: bool, turns: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(photo[:, :, ::-1] if flip else photo, turns, axes=(1, 2)))


def d4_back(image: np.ndarray, flip: bool, turns: int) -> np.ndarray:
    turned = np.rot90(image, -turns, axes=(-2, -1))
    return np.ascontiguousarray(turned[..., ::-1] if flip else turned)


class Mapper:
    """Photos (uint8 (3, H, W) at ``resolution_m``) to maps through ``geotrans run``'s path."""

    def __init__(self, generator, model_info: ModelInfo, folder: Path):
        self.generator, self.model_info, self.folder = generator, model_info, folder

    def __call__(self, photo: np.ndarray, resolution_m: float, options: RunOptions) -> tuple[np.ndarray, np.ndarray]:
        scene = self.folder / "photo.tif"
        as_geotiff(LabelledImage("photo", photo, np.zeros(photo.shape[1:], np.uint8), resolution_m), scene)
        map_ = translated(self.generator, scene, options, self.model_info)
        return map_.rgb, map_.valid


def signals(mapper: Mapper, photo: np.ndarray, resolution_m: float, style: MapStyle, palette: Optional[Palette],
            dropout: int, wanted: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, dict]:
    """(the map's classes, its valid pixels, {signal: confidence (H, W)}) of one photo."""
    raw, valid = mapper(photo, resolution_m, RunOptions(palette="off"))
    shown = snap(raw, palette) if palette is not None else raw
    classes = merged(style.classify(shown))
    out = {"margin": margins(raw, style)}
    if "d4" in wanted:
        agree = np.zeros(classes.shape, np.float32)
        for flip, turns in D4:
            if (flip, turns) == (False, 0):
                agree += 1
                continue
            rgb, _ = mapper(d4_view(photo, flip, turns), resolution_m, RunOptions())
            agree += merged(style.classify(d4_back(rgb, flip, turns))) == classes
        out["d4"] = agree / len(D4)
    if "dropout" in wanted and dropout:
        agree = np.zeros(classes.shape, np.float32)
        for seed in range(dropout):
            rgb, _ = mapper(photo, resolution_m, RunOptions(dropout_seed=seed))
            agree += merged(style.classify(rgb)) == classes
        out["dropout"] = agree / dropout
    return classes, valid, out


def auroc(confidence: np.ndarray, right: np.ndarray) -> Optional[float]:
    """P(a right pixel is more confident than a wrong one), ties counted half; None without both kinds."""
    n_right, n_wrong = int(right.sum()), int((~right).sum())
    if not n_right or not n_wrong:
        return None
    ranks = rankdata(confidence)
    return float((ranks[right].sum() - n_right * (n_right + 1) / 2) / (n_right * n_wrong))


def confident_half(confidence: np.ndarray, right: np.ndarray) -> Optional[float]:
    """The error rate of the most confident half of the pixels over the error rate of all (ties broken by
    a fixed shuffle, so that a constant signal scores 1)."""
    error = float((~right).mean())
    if not error:
        return None
    order = np.lexsort((np.random.default_rng(0).random(confidence.size), -confidence))
    top = order[: confidence.size // 2]
    return float((~right[top]).mean() / error)


def scored(parts: list[tuple[np.ndarray, dict]]) -> dict:
    """Pooled over a set's images: its pixels, error rate, and per signal AUROC and confident-half ratio."""
    right = np.concatenate([r for r, _ in parts])
    report = {"pixels": int(right.size), "error_rate": float((~right).mean())}
    for name in SIGNALS:
        if all(name in s for _, s in parts):
            confidence = np.concatenate([s[name] for _, s in parts])
            report[name] = {"auroc": auroc(confidence, right), "half": confident_half(confidence, right)}
    return report


def labelled_sets(mix_path: str) -> Iterator[tuple[dict, list[LabelledImage]]]:
    """Each ``masks`` source of the mix that holds images out, with its held-out images."""
    mix = read_mix(mix_path)
    for spec in held_out_sources(mix):
        yield spec, labelled_images(mix, spec, "val")


def measure(mapper: Mapper, images: list[tuple[np.ndarray, float, Callable]], style: MapStyle,
            palette: Optional[Palette], dropout: int, wanted: tuple[str, ...]) -> dict:
    """``images``: (photo, metres per pixel, truth) where truth(classes) gives (right, scored) masks."""
    parts = []
    for photo, resolution_m, truth in images:
        classes, valid, conf = signals(mapper, photo, resolution_m, style, palette, dropout, wanted)
        right, where = truth(classes)
        where &= valid
        parts.append((right[where], {k: v[where] for k, v in conf.items()}))
    return scored(parts)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.confidence", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="the model (default: the shipped one)")
    parser.add_argument("--mix", default="training/mixes/beyond_new_york.json", help="labelled sets (val parts)")
    parser.add_argument("--pairs", default=None, help="the New York val pairs folder")
    parser.add_argument("--limit", type=number(int, 1), default=20, help="New York pairs to score")
    parser.add_argument("--dakota", default=None, help="the Dakota NAIP scene (R, G, B, NIR)")
    parser.add_argument("--signals", default=",".join(SIGNALS), help="which of margin,d4,dropout")
    parser.add_argument("--dropout", type=number(int, 1), default=4, help="seeded dropout maps per photo")
    parser.add_argument("--sets", default=None, help="only these labelled sets (comma-separated names)")
    parser.add_argument("--json", default=None, help="write the table as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    log.setLevel(logging.INFO)
    wanted = tuple(args.signals.split(","))
    generator, info = load_generator(args.model)
    style, palette = scoring_style(read_mix(args.mix), info), Palette.from_card(info.card)
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        mapper = Mapper(generator, info, Path(tmp))
        for spec, images in labelled_sets(args.mix):
            name = spec["name"]
            if args.sets and name not in args.sets.split(","):
                continue
            complete = [CODES[c] for c in spec.get("complete_for", ())]

            def truth(classes, labels, complete=tuple(complete)):
                # known: labelled pixels, and where the labels are complete for a class (EPFL's roads), a pixel
                # drawn in that class off its labels (wrong)
                known = (labels != IGNORE) | np.isin(classes, complete)
                return classes == merged(labels), known

            rows = [(image.photo, image.resolution_m, lambda c, labels=image.classes: truth(c, labels))
                    for image in images]
            report[name] = measure(mapper, rows, style, palette, args.dropout, wanted)
            log.info("%s: %s", name, json.dumps(report[name]))
        if args.pairs:
            rows = []
            for path in list_pairs(args.pairs)[: args.limit]:
                photo, real = read_aligned(path)
                labels = merged(style.classify(real))
                rows.append((photo, info.resolution_m or 0.9,
                             lambda c, labels=labels: (c == labels, np.ones(labels.shape, bool))))
            report["new-york-val"] = measure(mapper, rows, style, palette, args.dropout, wanted)
            log.info("new-york-val: %s", json.dumps(report["new-york-val"]))
        if args.dakota:
            report["dakota-water"] = dakota(mapper, args.dakota, style, palette, args.dropout, wanted)
            log.info("dakota-water: %s", json.dumps(report["dakota-water"]))
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


def dakota(mapper: Mapper, scene: str, style: MapStyle, palette: Optional[Palette], dropout: int,
           wanted: tuple[str, ...]) -> dict:
    """Dakota's water: right where the map draws water exactly where the NDWI says water."""
    photo, water, metres = read_dakota(scene)

    def truth(classes):
        return (classes == CODES["water"]) == water, np.ones(water.shape, bool)

    return measure(mapper, [(photo, metres, truth)], style, palette, dropout, wanted)


def read_dakota(scene: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Dakota's NAIP scene (R, G, B, NIR): its photo (uint8 (3, H, W)), its water by NDWI, metres per pixel."""
    with rasterio.open(scene) as ds:
        rgb, green, nir = ds.read((1, 2, 3)), ds.read(2), ds.read(4)
        metres = abs(ds.transform.a)  # UTM: metres
    return np.clip(rgb, 0, 255).astype(np.uint8), water_truth(green, nir), metres


def table(report: dict) -> str:
    lines = ["| labelled set | pixels | map wrong | " + " | ".join(f"{s} AUROC / half" for s in SIGNALS) + " |",
             "|---|---|---|" + "---|" * len(SIGNALS)]
    for name, r in report.items():
        cells = []
        for s in SIGNALS:
            if s not in r:
                cells.append("–")
                continue
            a, h = r[s]["auroc"], r[s]["half"]
            cells.append(f"{'–' if a is None else f'{a:.3f}'} / {'–' if h is None else f'{h:.2f}'}")
        lines.append(f"| {name} | {r['pixels']:,} | {r['error_rate']:.1%} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
