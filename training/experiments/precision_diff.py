"""fp32 against bf16 inference on the real sample scenes: largest and mean per-pixel difference.

    python -m training.experiments.precision_diff [--model M] [SCENES ...]

Each scene goes through `geotrans run`'s path twice, with --precision fp32 and
bf16; the maps are compared over their valid pixels (0..255 per band).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import rasterio

from geotrans.model.weights import load_generator
from geotrans.run.options import RunOptions
from geotrans.run.pipeline import translate
from geotrans.run.plan import plan_run

SAMPLES = Path(__file__).resolve().parents[2] / "sample_tiles"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenes", nargs="*", default=sorted(str(p) for p in SAMPLES.glob("*.tif")))
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    generator, info = load_generator(args.model)
    print(f"{'scene':<34}{'max |diff|':>11}{'mean |diff|':>13}{'share > 2':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for scene in args.scenes:
            maps = {}
            for precision in ("fp32", "bf16"):
                out = Path(tmp) / f"{Path(scene).stem}.{precision}.tif"
                translate(plan_run(scene, RunOptions(precision=precision, device="cpu"), info), out, generator)
                with rasterio.open(out) as ds:
                    maps[precision] = (ds.read().astype(int), ds.dataset_mask() > 0)
            (a, valid), (b, _) = maps["fp32"], maps["bf16"]
            diff = np.abs(a - b)[:, valid]
            print(f"{Path(scene).name:<34}{diff.max():>11d}{diff.mean():>13.3f}{(diff > 2).mean() * 100:>10.2f}%")


if __name__ == "__main__":
    main()
