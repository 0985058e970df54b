"""What does a model's water follow on a scene with NIR truth: brightness, saturation or colour?

The scene's R, G, B bands are changed one way at a time (its NIR band, the truth,
is kept), written as a GeoTIFF on the same grid and scored as ``training.evaluate
--water`` scores them: dry land drawn as water, and the water's recall and
precision against the NDWI. A model that tells water from land keeps its
precision when only brightness changes; one that thresholds darkness trades
false water for recall and keeps neither.

    python -m training.experiments.water_colours --model M \
        --scene ../shared/data/scenes/dakota_naip_rgbn_nodata.tif
"""
from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np
import rasterio

from geotrans.model.weights import load_generator
from geotrans.run.options import RunOptions
from training.water import evaluate_water


def changed(rgb: np.ndarray, way: str) -> np.ndarray:
    """``rgb`` (3, H, W) float, changed one ``way`` (e.g. ``bright1.3``, ``sat0.5``, ``grey``, ``none``)."""
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    if way == "none":
        return rgb
    if way == "grey":
        return np.repeat(luma[None], 3, 0)
    if way.startswith("bright"):
        return rgb * float(way[len("bright"):])
    if way.startswith("sat"):
        return luma + (rgb - luma) * float(way[len("sat"):])
    raise ValueError(f"unknown way {way!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="exported generator (default: the shipped model)")
    parser.add_argument("--scene", required=True, help="scene with bands R, G, B, NIR and nodata 0")
    parser.add_argument("--ways", nargs="+", default=["none", "grey", "sat0.5", "sat1.5", "bright0.7", "bright1.3"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    generator, info = load_generator(args.model)
    with rasterio.open(args.scene) as ds:
        bands = ds.read().astype(np.float64)
        profile = dict(ds.profile, photometric="minisblack")  # as the scene: no band is taken for alpha
    valid = bands[:3].sum(0) > 0
    print(f"{info.name} on {Path(args.scene).name}\n| scene's colours | dry land as water | water recall | precision |\n"
          "|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for way in args.ways:
            out = bands.copy()
            out[:3] = np.where(valid, np.clip(changed(bands[:3], way), 1, 255), 0)  # 1: stay apart from nodata
            path = Path(tmp) / f"{way}.tif"
            with rasterio.open(path, "w", **profile) as ds:
                ds.write(out.round().astype(profile["dtype"]))
            scores = evaluate_water(generator, path, model_info=info, options=RunOptions(precision="fp32"))["map"]
            print(f"| {way} | {scores['dry_land_as_water']:.1%} | {scores['recall']:.3f} | {scores['precision']:.3f} |",
                  flush=True)


if __name__ == "__main__":
    main()
