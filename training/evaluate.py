"""Evaluate an exported generator on aligned val pairs.

    python -m training.evaluate --model M --data DIR [--limit N] [--json OUT] [--seed S] [--roads SCENE LABELS]
        [--water SCENE] [--no-water SCENE ...]

Each photo is translated at its own resolution through geotrans's own path
(tiler, batch runner, blending mosaicker); the result and the real map are both
resized to 256 x 256 (bilinear) and compared there, the convention in published
pix2pix maps results. Reports deterministic inference and seeded-dropout inference.

``--roads SCENE LABELS`` adds the real-scene road metric (``training.roads``):
the scene goes through ``geotrans run``'s own path and the map's streets are
scored against the road centre lines, beside the floor of the same map shifted
by a block.

``--water SCENE`` adds the real-scene water metric (``training.water``): the map's
water against the water the scene's near-infrared band shows (NDWI), on a scene
with R, G, B, NIR bands such as NAIP: are fields and forests drawn as water?
``--no-water SCENE ...`` adds the share of scenes without open water (Korea's
winter forest) that the map draws as water, palette off and on. ``--labelled MIX``
adds per-class scores on the held-out images of each labelled source of a mix
(``training.semantic``), and ``--fit N`` the same on N of the training images of each
(has the model learnt its sources?). The scenes run in the first ``--precision`` given; a
summary of the figures the shipping rule reads ends the output.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from geotrans.errors import ModelError, OutputError, one_line
from geotrans.io.files import atomic_path
from geotrans.io.targets import Target, check_target
from geotrans.model.choices import PRECISIONS
from geotrans.model.palette import Palette, snap
from geotrans.model.weights import card_path, load_generator
from geotrans.run.options import RunOptions
from geotrans.run.pipeline import translate_array
from geotrans.run.runner import BatchRunner, resolve_device
from geotrans.training.data import list_pairs, read_aligned
from training.arguments import number, one_line_errors
from training.metrics import METRICS, image_metrics, mean_metrics
from training.roads import evaluate_roads
from training.semantic import LAND_FIGURES, evaluate_fit, evaluate_labelled, format_semantic
from training.water import evaluate_false_water, evaluate_water

log = logging.getLogger("training.evaluate")
COMPARE_SIZE = 256


def resize_bilinear(image_chw: np.ndarray, size: int = COMPARE_SIZE) -> np.ndarray:
    """uint8 (3, H, W) -> uint8 (size, size, 3), bilinear."""
    return np.asarray(Image.fromarray(image_chw.transpose(1, 2, 0)).resize((size, size), Image.BILINEAR))


def evaluate(generator: torch.nn.Module, folder: str | Path, limit: Optional[int] = None,
             dropout_seed: Optional[int] = None, device: str = "auto", batch_size: int = 8,
             precision: str = "auto", palette: Optional[Palette] = None, tta: bool = False) -> dict:
    """Mean metrics over the pairs in ``folder`` (first ``limit``), with the output snapped to ``palette``
    and averaged over the 8 flips and rotations (``tta``) when asked, as ``geotrans run`` does."""
    runner = BatchRunner(generator, resolve_device(device), dropout_seed, precision, tta)
    rows, sizes = [], []
    paths = list_pairs(folder)[:limit]
    started = time.perf_counter()
    for path in tqdm(paths, desc="evaluating", unit="pair", disable=not os.isatty(2)):
        source, target = read_aligned(path)
        generated = translate_array(source, runner, batch_size=batch_size)
        if palette is not None:
            generated = snap(generated, palette)
        sizes.append(len(zlib.compress(generated.tobytes(), 6)) / generated.size)
        rows.append(image_metrics(resize_bilinear(generated), resize_bilinear(target)))
    return {"pairs": len(rows), **mean_metrics(rows), "deflate_bytes_per_value": float(np.mean(sizes)),
            "tiles_per_second": runner.tiles_run / (time.perf_counter() - started)}


VARIANTS = {"default": (False, False), "palette": (True, False), "tta": (False, True), "palette+tta": (True, True)}


def format_table(results: dict) -> str:
    columns = (*METRICS, "deflate_bytes_per_value", "tiles_per_second")
    labels = {"deflate_bytes_per_value": "bytes/value", "tiles_per_second": "tiles/s"}
    header = f"{'inference':<22}" + "".join(f"{labels.get(k, k):>12}" for k in columns)
    lines = [header, "-" * len(header)]
    for name, r in results.items():
        lines.append(f"{name:<22}" + "".join(f"{r[k]:>12.3f}" for k in columns))
    return "\n".join(lines)


def format_roads(roads: dict) -> str:
    lines = [f"roads on {roads['scene']} (within {roads['tolerance_m']:g} m)   recall  precision      f1"]
    for name in ("map", "shifted_by_a_block"):
        r = roads[name]
        lines.append(f"  {name.replace('_', ' '):<38}{r['recall']:>7.3f}{r['precision']:>11.3f}{r['f1']:>8.3f}")
    return "\n".join(lines)


def format_water(water: dict) -> str:
    w = water["map"]
    return (f"water on {water['scene']} (NDWI > {water['ndwi_min']:g})   precision  recall     iou  dry land as water\n"
            f"  map{'':<39}{w['precision']:>9.3f}{w['recall']:>8.3f}{w['iou']:>8.3f}{w['dry_land_as_water']:>19.3f}\n"
            f"  (water is {w['water_share']:.1%} of the scene; the map draws {w['map_water_share']:.1%})")


def format_false_water(reports: list[dict]) -> str:
    lines = ["drawn as water on scenes without open water   palette off  palette auto"]
    for r in reports:
        shares = r["drawn_as_water"]
        lines.append(f"  {r['scene']:<44}{shares['palette_off']:>11.1%}{shares['palette_auto']:>14.1%}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Figure:
    """One figure of the summary: its name, its value (None where not measured), and which way is better:
    ``higher``, ``lower`` (an error share), or None for a reference that is neither (a floor)."""

    name: str
    value: Optional[float]
    better: Optional[str] = "higher"


def summary_rows(report: dict) -> list[Figure]:
    """The figures the shipping rule reads, in one list."""
    rows: list[Figure] = []
    first = next(iter(report.get("results", {}).values()), None)
    if first:
        rows += [Figure("maps val PSNR (dB)", first["psnr"]), Figure("maps val SSIM", first["ssim"]),
                 Figure("maps val delta<5 (%)", first["acc5"])]
    if "roads" in report:
        rows += [Figure(f"{report['roads']['scene']} road F1", report["roads"]["map"]["f1"]),
                 Figure(f"{report['roads']['scene']} road precision", report["roads"]["map"].get("precision")),
                 Figure("  (floor: shifted a block)", report["roads"]["shifted_by_a_block"]["f1"], better=None)]
    if "water" in report:
        rows.append(Figure(f"{report['water']['scene']} dry land as water",
                           report["water"]["map"]["dry_land_as_water"], better="lower"))
    for r in report.get("false_water", []):
        rows.append(Figure(f"{r['scene']} drawn as water", r["drawn_as_water"]["palette_auto"], better="lower"))
    for r in report.get("semantic", []):
        for key in ("water_iou", "green_iou", "street_iou", "building_iou", "dry_land_as_water", "street_f1",
                    "street_recall", "street_precision", *LAND_FIGURES):
            if r.get(key) is not None:
                rows.append(Figure(f"{r['source']} {key.replace('_', ' ')}", r[key],
                                   better="lower" if key.endswith("as_water") else "higher"))
    return rows


def format_summary(report: dict) -> str:
    rows = summary_rows(report)
    width = max([len(f.name) for f in rows] + [10])
    return "\n".join([f"{'summary: ' + report['model']:<{width + 2}}",
                      *(f"  {f.name:<{width}}{f.value:>10.3f}" for f in rows if f.value is not None)])


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="exported generator (default: the shipped model)")
    parser.add_argument("--data", required=True, help="folder of aligned val pairs")
    parser.add_argument("--limit", type=number(int, 1), default=None, help="only the first N pairs")
    parser.add_argument("--seed", type=number(int, 0), default=0, help="seed of the dropout run")
    parser.add_argument("--no-dropout-run", action="store_true", help="skip the seeded-dropout run")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", nargs="+", default=["auto"], choices=PRECISIONS,
                        help="evaluate in each of these precisions (e.g. fp32 bf16); the scenes run in the first")
    parser.add_argument("--variants", nargs="+", default=["default"], choices=list(VARIANTS),
                        help="post-processing variants to score: palette snapping, test-time augmentation, both")
    parser.add_argument("--json", dest="json_path", default=None,
                        help="also write the results here (an earlier evaluation's results are replaced; any other "
                             "existing file only with --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="let --json replace a file that is not results")
    parser.add_argument("--roads", nargs=2, metavar=("SCENE", "LABELS"), default=None,
                        help="also score the map of SCENE against road centre lines (GeoJSON)")
    parser.add_argument("--water", default=None, metavar="SCENE",
                        help="also score the map's water against the NDWI of SCENE (bands R, G, B, NIR)")
    parser.add_argument("--no-water", nargs="+", default=[], metavar="SCENE", dest="no_water",
                        help="also report the share of each SCENE, a scene without open water, drawn as water")
    parser.add_argument("--labelled", default=None, metavar="MIX",
                        help="also score the held-out (val) images of each labelled source of this mix file "
                             "per class (training.semantic)")
    parser.add_argument("--fit", type=number(int, 1), default=None, metavar="N",
                        help="with --labelled, also score N training images of each of its sources (taken "
                             "evenly from first to last by name): "
                             "a model poor on them has not learnt its sources, one poor only on the held-out "
                             "images has not generalised")
    args = parser.parse_args(argv)
    if args.fit and not args.labelled:
        parser.error("--fit scores the training images of --labelled MIX: name the mix")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        generator, info = load_generator(args.model)
        if args.json_path:  # before minutes of scoring: never the model or its card, in a folder that exists
            scenes = [*(args.roads or ()), *([args.water] if args.water else []), *args.no_water,
                      *([args.labelled] if args.labelled else [])]
            check_target(Target(args.json_path, "results"), inputs=(info.path, card_path(info.path), *scenes),
                         overwrite=args.overwrite)
    except (ModelError, OutputError) as err:
        parser.error(one_line(err))
    if not Path(args.data).is_dir():
        parser.error(f"--data {args.data}: no such folder of aligned pairs")
    with one_line_errors(parser):
        _evaluate(args, generator, info)


def _evaluate(args: argparse.Namespace, generator, info) -> None:
    started = time.perf_counter()
    results = {}
    palette = Palette.from_card(info.card)
    for precision in args.precision:
        suffix = "" if args.precision == ["auto"] else f", {precision}"
        for variant in args.variants:
            snapped, tta = VARIANTS[variant]
            if snapped and palette is None:
                log.warning("%s has no palette in its card; variant %s left out", info.name, variant)
                continue
            name = "deterministic" if variant == "default" else variant
            results[f"{name}{suffix}"] = evaluate(generator, args.data, args.limit, None, args.device,
                                                  precision=precision, palette=palette if snapped else None, tta=tta)
        if not args.no_dropout_run:
            results[f"dropout (seed {args.seed}){suffix}"] = evaluate(generator, args.data, args.limit, args.seed,
                                                                      args.device, precision=precision)
    print(format_table(results))
    report = {"model": info.name, "sha256": info.sha256, "data": str(args.data), "compare_size": COMPARE_SIZE,
              "results": results}
    scene_options = RunOptions(precision=args.precision[0])
    if args.roads:
        report["roads"] = evaluate_roads(generator, *args.roads, model_info=info, options=scene_options)
        print(format_roads(report["roads"]))
    if args.water:
        report["water"] = evaluate_water(generator, args.water, model_info=info, options=scene_options)
        print(format_water(report["water"]))
    if args.no_water:
        report["false_water"] = [evaluate_false_water(generator, scene, model_info=info, options=scene_options)
                                for scene in args.no_water]
        print(format_false_water(report["false_water"]))
    if args.labelled:
        report["semantic"] = evaluate_labelled(generator, args.labelled, model_info=info, options=scene_options)
        print(format_semantic(report["semantic"]))
    if args.fit:
        report["fit"] = evaluate_fit(generator, args.labelled, args.fit, model_info=info, options=scene_options)
        print(format_semantic(report["fit"], title="training labels"))
    print(format_summary(report))
    report["seconds"] = round(time.perf_counter() - started, 1)
    if args.json_path:
        with atomic_path(args.json_path) as tmp:
            tmp.write_text(json.dumps(report, indent=2))
    else:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
