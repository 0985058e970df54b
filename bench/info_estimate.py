"""`geotrans info`'s time estimate against real `geotrans run`s of the same scenes, each a fresh process.

For each scene (default: every sample scene), `geotrans info SCENE --json` gives the estimate, then
`geotrans run SCENE --out MAP` is timed from its start to its exit, --repeat times (the median counts). Prints
the estimate, the run and their ratio; the estimate is meant to be within 2x of the run. Run it on a quiet
machine (pause a training run first): a figure measured beside other work is not a figure.

Usage: python bench/info_estimate.py [SCENE ...] [--repeat 3] [--model PATH]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ["korea_rgb_jpeg_3857.tif", "vegas_rgba_4326.tif", "landsat_rgb_nodata_utm.tif",
           "dakota_naip_rgbn_nodata.tif", "atlanta_pan_uint16_utm.tif", "rotterdam_ms_float64_utm.tif"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenes", nargs="*", default=[str(ROOT / "sample_tiles" / name) for name in SAMPLES])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    model = ["--model", args.model] if args.model else []
    print(f"{'scene':32} {'windows':>7} {'estimate':>9} {'run':>7} {'run/estimate':>12}")
    ratios = []
    with tempfile.TemporaryDirectory() as folder:
        for scene in args.scenes:
            facts = json.loads(subprocess.run(["geotrans", "info", scene, "--json", *model], check=True,
                                              capture_output=True, text=True).stdout)
            runs = []
            for i in range(args.repeat):
                started = time.perf_counter()
                out = Path(folder) / f"{Path(scene).stem}-{i}.tif"
                subprocess.run(["geotrans", "run", scene, "--out", str(out), "-q", *model], check=True,
                               capture_output=True)
                runs.append(time.perf_counter() - started)
            run, estimate = statistics.median(runs), facts["estimate"]["seconds"]
            ratios.append(run / estimate)
            print(f"{Path(scene).name:32} {facts['windows']['to_run']:7d} {estimate:8.1f}s {run:6.1f}s "
                  f"{run / estimate:11.2f}x")
    print(f"run/estimate from {min(ratios):.2f}x to {max(ratios):.2f}x (within 2x: "
          f"{'yes' if all(0.5 <= r <= 2 for r in ratios) else 'no'})")


if __name__ == "__main__":
    main()
