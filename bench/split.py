"""One tall scene, serially and split into strips across a local Dask cluster: the cost of splitting.

Prints wall seconds of both runs and their ratio, tiles/s, the windows the seams
ran twice, the seconds spent assembling strips into the map, the cluster's
start-up, and whether the two maps are equal pixel for pixel. On a 2-core machine
no speed-up is expected (the workers share the cores the serial run has alone);
the overhead is the figure.

The scene is the real Korea sample mirrored into a mosaic (bench/pipeline.py),
declared at the model's resolution, so it is processed at its own pixels.

Usage: python bench/split.py [--model PATH] [--rows 8192] [--width 2048] [--workers 2] [--strip-rows 1024]
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pipeline import mirrored_mosaic  # noqa: E402

from geotrans.jobs.options import Cluster  # noqa: E402
from geotrans.jobs.split import translate_split  # noqa: E402
from geotrans.model.weights import load_generator  # noqa: E402
from geotrans.run.options import RunOptions  # noqa: E402
from geotrans.run.pipeline import translate  # noqa: E402
from geotrans.run.plan import plan_run  # noqa: E402


class Records(logging.Handler):
    """Keeps the messages of geotrans's log, to read the split's own figures from."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def number(self, pattern: str) -> float:
        return next(float(m.group(1)) for m in map(re.compile(pattern).search, self.messages) if m)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--rows", type=int, default=8192)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--strip-rows", type=int, default=1024)
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()
    records = Records()
    logging.getLogger("geotrans").addHandler(records)
    logging.getLogger("geotrans").setLevel(logging.INFO)

    generator, info = load_generator(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scene = mirrored_mosaic(tmp / "tall.tif", args.width, args.rows)
        options = RunOptions(device="cpu", precision=args.precision, gsd=info.resolution_m,
                             strip_rows=args.strip_rows)
        plan = plan_run(scene, options, info)
        serial = translate(plan, tmp / "serial.tif", generator)
        started = time.perf_counter()
        split = translate_split(plan, tmp / "split.tif", args.model, Cluster(local_workers=args.workers))
        wall = time.perf_counter() - started
        with rasterio.open(serial.dst) as a, rasterio.open(split.dst) as b:
            diff = np.abs(a.read().astype(int) - b.read().astype(int))
            masks_equal = np.array_equal(a.dataset_mask(), b.dataset_mask())

    assembly = records.number(r"strips assembled in ([\d.]+) s")
    seams = records.number(r"\((\d+) windows at the seams run twice\)")
    print(f"scene: {args.width} x {args.rows} px, {len(plan.tiles)} windows, model {info.name} "
          f"(ngf={info.ngf}), {args.precision}")
    print(f"  serial             : {serial.seconds:7.1f} s  {serial.tiles_run / serial.seconds:6.2f} tiles/s")
    print(f"  split, local:{args.workers}     : {wall:7.1f} s  {split.tiles_run / wall:6.2f} tiles/s (windows run, "
          f"seams included)   ratio to serial {wall / serial.seconds:.2f}")
    startup = records.number(r"ready in ([\d.]+) s")
    print(f"    of which starting the cluster and loading the model on each worker: {startup:.1f} s")
    print(f"  strips of {args.strip_rows} rows: {int(seams)} windows at the seams run twice "
          f"({seams / len(plan.tiles):.1%} more work); assembly {assembly:.1f} s")
    print(f"  equal to serial    : max |diff| {diff.max()} DN, {np.count_nonzero(diff)} values differ; "
          f"masks equal: {masks_equal}")


if __name__ == "__main__":
    main()
