"""What each stage but the generator costs per tile, each run alone in the calling thread.

On a mirrored Korea scene (the shipped model's palette and encoding), times reading
and batching the tiles, blending, converting to 8 bits, snapping to the palette,
GDAL's writes, and finishing the map (close, overviews, the read-back check), in
ms per tile: the CPU time the generator shares the machine with. Also times the
generator alone (the runner on the batches already read) for scale.
Run with OMP_NUM_THREADS=1 for single-thread costs.

Usage: python bench/stage_costs.py [--width 2048] [--repeat 2] [--compile]
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import rasterio
import torch
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from pipeline import mirrored_mosaic  # noqa: E402

from geotrans.io.sink import OVERVIEW_ENV, OVERVIEW_RESAMPLING, Encoding, GeoTiffSink, overview_factors, verify_readable  # noqa: E402
from geotrans.io.tiler import RowStrip, column_bands  # noqa: E402
from geotrans.model.generator import from_model_range  # noqa: E402
from geotrans.model.weights import load_generator  # noqa: E402
from geotrans.run.mosaic import StreamingMosaic  # noqa: E402
from geotrans.run.options import RunOptions  # noqa: E402
from geotrans.run.pipeline import _span_sink, gdal_cache_bytes, read_batches  # noqa: E402
from geotrans.run.plan import plan_run  # noqa: E402
from geotrans.run.runner import BatchRunner  # noqa: E402


def timed(costs: dict, name: str, fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    costs[name] = costs.get(name, 0.0) + time.perf_counter() - start
    return result


def one_run(plan, runner: BatchRunner, dst: Path) -> dict:
    """Seconds per stage for one scene, the stages one after another in this thread."""
    costs: dict = {}
    batches = timed(costs, "read", lambda: list(read_batches(plan)))
    outputs = timed(costs, "generator", lambda: [runner.run(b) for b in batches])
    sink = GeoTiffSink(dst, plan.map_grid, write_mask=plan.scene.has_mask, tags=plan.tags, palette=plan.palette,
                       encoding=Encoding(plan.options.compress, plan.options.creation_options))

    def write(row, values, valid, col=0):
        pixels = timed(costs, "to 8 bits", from_model_range, values)
        pixels = timed(costs, "snap", sink.snap, pixels) if sink.snap is not None else pixels
        pixels[:, ~valid] = 0
        timed(costs, "GDAL write", sink._ds.write, pixels, None, Window(col, row, pixels.shape[2], pixels.shape[1]))

    tiles = plan.tiles
    mosaic = StreamingMosaic(tiles.height, tiles.width, tiles.tile, tiles.overlap,
                             _span_sink(write, column_bands(tiles)[0], RowStrip(0, tiles.height, 0, tiles.height)))
    start = time.perf_counter()
    for batch, out in zip(batches, outputs):
        for tile, pixels, valid in zip(batch.tiles, out, batch.valid):
            mosaic.add(tile, pixels, valid)
    mosaic.close()
    costs["blend"] = time.perf_counter() - start - sum(costs.get(k, 0.0) for k in ("to 8 bits", "snap", "GDAL write"))
    factors = overview_factors(sink._ds.height, sink._ds.width)
    timed(costs, "close", sink._close)

    def overviews():
        with rasterio.Env(**OVERVIEW_ENV), rasterio.open(sink.tmp_path, "r+") as ds:
            ds.build_overviews(factors, OVERVIEW_RESAMPLING)

    timed(costs, "overviews", overviews)
    timed(costs, "check", verify_readable, sink.tmp_path, sink.path)
    sink.discard()
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    generator, info = load_generator(None)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = mirrored_mosaic(tmp / "scene.tif", args.width, args.width)
        plan = plan_run(str(src), RunOptions(device="cpu", overwrite=True, gsd=info.resolution_m,
                                             compile=args.compile), info)
        runner = BatchRunner.for_options(generator, torch.device("cpu"), plan.options)
        n = plan.tiles_to_run
        print(f"{args.width} x {args.width} scene, {n} tiles, {torch.get_num_threads()} torch thread(s), "
              f"palette {'on' if plan.palette else 'off'}; ms per tile")
        with rasterio.Env(GDAL_CACHEMAX=gdal_cache_bytes(args.width, plan.tiles.tile)):
            one_run(plan, runner, tmp / "warm.tif")  # first-use costs (GDAL, oneDNN, compiling) untimed
            for _ in range(args.repeat):
                costs = one_run(plan, runner, tmp / "map.tif")
                others = sum(v for k, v in costs.items() if k != "generator")
                print("  " + "  ".join(f"{k} {v * 1e3 / n:.2f}" for k, v in costs.items())
                      + f"  | all but the generator {others * 1e3 / n:.2f}"
                      + f" ({others / costs['generator']:.0%} of the generator)")


if __name__ == "__main__":
    main()
