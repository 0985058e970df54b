"""Speed and memory of `geotrans run` with the shipped model, against baselines measured in the same run.

Prints:
  1. for each way (fp32, the auto precision: bf16 where the CPU has it, and the
     auto precision with --compile; "+compile" after a precision compiles): the
     generator alone on the scene's tiles already in memory, and `translate`
     end to end (a read thread; the generator and blending/writing in turn on
     the CPU, the generator in a thread of its own on a GPU), in tiles/s, the
     ratio end to end / generator alone, and megapixels of input scene per second:
     medians of --repeat pairs, with the range of the ratios;
  2. peak RSS of a tall scene (2048 x 40000) against a short one (2048 x 2048),
     with the shipped model in the auto precision, each in a fresh process;
  3. with --naive, the naive way for comparison: whole scene in memory, one tile
     at a time, full-size accumulators.

Scenes are built from the real Korea sample (1024 x 1024, EPSG:3857) by
mirroring it into a mosaic, so the content is real imagery. They are declared at
the model's ground resolution (--gsd), so they are processed at their own pixels.

Usage: python bench/pipeline.py [--model PATH] [--batch-size 8] [--repeat 5] [--tall-rows 40000] [--device auto]
                                [--ways fp32 auto auto+compile]
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geotrans.io.scene import SceneReader, inspect_scene  # noqa: E402
from geotrans.io.tiler import TileGrid  # noqa: E402
from geotrans.model.generator import from_model_range, to_model_range  # noqa: E402
from geotrans.model.weights import load_generator  # noqa: E402
from geotrans.run.mosaic import blend_window  # noqa: E402
from geotrans.run.options import RunOptions  # noqa: E402
from geotrans.run.pipeline import translate  # noqa: E402
from geotrans.run.plan import plan_run  # noqa: E402
from geotrans.run.runner import Batch, BatchRunner, resolve_device  # noqa: E402

KOREA = ROOT / "sample_tiles" / "korea_rgb_jpeg_3857.tif"
log = logging.getLogger("bench")


def mirrored_mosaic(dst: Path, width: int, height: int) -> Path:
    """A ``height`` x ``width`` scene tiled from mirrored copies of the Korea sample."""
    with rasterio.open(KOREA) as src:
        block = src.read()
        profile = src.profile
    tile_rows = [block, block[:, ::-1, :]]
    row_band = [np.concatenate([t, t[:, :, ::-1]] * (width // (2 * t.shape[2]) + 1), axis=2)[:, :, :width]
                for t in tile_rows]
    profile.update(width=width, height=height, compress="deflate", photometric="RGB", tiled=True,
                   blockxsize=256, blockysize=256, bigtiff="IF_SAFER")
    with rasterio.open(dst, "w", **profile) as out:
        for i, row in enumerate(range(0, height, block.shape[1])):
            n = min(block.shape[1], height - row)
            out.write(row_band[i % 2][:, :n], window=rasterio.windows.Window(0, row, width, n))
    return dst


def naive(src: Path, dst: Path, generator: torch.nn.Module, tile: int = 256, overlap: int = 64) -> int:
    """Whole scene in memory, one tile at a time, full-size accumulators. Returns tiles run."""
    with rasterio.open(src) as ds:
        image = to_model_range(ds.read())
        profile = ds.profile
    values = np.zeros_like(image)
    weights = np.zeros(image.shape[1:], np.float32)
    window = blend_window(tile, overlap)
    grid = TileGrid(image.shape[1], image.shape[2], tile, overlap)
    with torch.inference_mode():
        for t in grid:
            x = torch.from_numpy(image[:, t.row:t.row_stop, t.col:t.col_stop].copy())[None]
            y = generator(x)[0].numpy()
            values[:, t.row:t.row_stop, t.col:t.col_stop] += y * window
            weights[t.row:t.row_stop, t.col:t.col_stop] += window
    profile.update(driver="GTiff", compress="deflate", photometric="RGB", tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(dst, "w", **profile) as out:
        out.write(from_model_range(values / weights))
    return len(grid)


def measure_rss(mode: str, src: Path, dst: Path, model: str | None) -> dict:
    """Run one memory measurement in a fresh process; returns its peak RSS and time."""
    # VmHWM, not ru_maxrss: the latter keeps the parent's high-water mark across fork+exec.
    code = (f"import sys, json, time; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'bench')!r});"
            "import pipeline as b; t = time.perf_counter();"
            f"b.run_mode({mode!r}, {str(src)!r}, {str(dst)!r}, {model!r});"
            "print(json.dumps({'seconds': time.perf_counter() - t, 'peak_rss_mib': b.peak_rss_mib()}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_rss_mib() -> float:
    """This process's peak resident set size (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_mode(mode: str, src: str, dst: str, model: str | None) -> None:
    generator, info = load_generator(model)
    options = RunOptions(device="cpu", overwrite=True, gsd=info.resolution_m)
    if mode == "streaming":
        translate(plan_run(src, options, info), dst, generator)
    else:
        naive(Path(src), Path(dst), generator)


def generator_alone(src: Path, runner: BatchRunner, batch_size: int) -> tuple[int, float]:
    """Tiles/s of the generator on the scene's tiles, read into memory beforehand."""
    scene = inspect_scene(src)
    grid = TileGrid(scene.grid.height, scene.grid.width)
    batches, batch = [], Batch()
    with SceneReader(scene, grid.tile) as reader:
        for tile in grid:
            batch.append(tile, *reader.read(tile))
            if len(batch) == batch_size:
                batches.append(batch)
                batch = Batch()
    if len(batch):
        batches.append(batch)
    runner.run(batches[0])  # warm-up
    start = time.perf_counter()
    for b in batches:
        runner.run(b)
    return len(grid), time.perf_counter() - start


def speed(src: Path, tmp: Path, generator, info, way: str, args) -> dict:
    """Generator alone and end to end on ``src`` for ``way`` (a precision, "+compile" to compile),
    ``args.repeat`` times in pairs (this VM's speed drifts by 10-20% between seconds): median tiles/s of each,
    the median and range of the pairs' ratios, input Mpx/s, and the first run's seconds (compiling included)."""
    precision, _, extra = way.partition("+")
    compile = extra == "compile"
    device = resolve_device(args.device)
    runner = BatchRunner(generator, device, precision=precision, compile=compile, batch_size=args.batch_size)
    options = RunOptions(batch_size=args.batch_size, device=args.device, precision=precision, compile=compile,
                         gsd=info.resolution_m, overwrite=True)
    plan = plan_run(src, options, info)
    first = translate(plan, tmp / "warm.tif", generator)  # first-use costs (oneDNN, GDAL, compiling) untimed
    alone, end_to_end = [], []
    for _ in range(args.repeat):
        n, seconds = generator_alone(src, runner, args.batch_size)
        alone.append(n / seconds)
        report = translate(plan, tmp / "out.tif", generator)
        end_to_end.append(report.tiles_run / report.seconds)
    ratios = [e / a for e, a in zip(end_to_end, alone)]
    pixels = plan.scene.profile["width"] * plan.scene.profile["height"]
    median_e2e = float(np.median(end_to_end))
    return {"precision": runner.precision.name + ("+compile" if compile else ""), "tiles": n,
            "first_s": first.seconds, "alone": float(np.median(alone)),
            "end_to_end": median_e2e, "ratio": float(np.median(ratios)), "ratios": (min(ratios), max(ratios)),
            "mpx_s": pixels / 1e6 / (report.tiles_run / median_e2e)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="a model file (default: the shipped model)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--tall-rows", type=int, default=40000)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--ways", nargs="+", default=["fp32", "auto", "auto+compile"],
                        help="precisions, each optionally +compile")
    parser.add_argument("--repeat", type=int, default=5, help="paired measurements per precision (medians)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--naive", action="store_true", help="also time and measure the naive way")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    generator, info = load_generator(args.model)
    args.device = resolve_device(args.device).type  # said once
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        square = mirrored_mosaic(tmp / "square.tif", args.width, args.width)
        print(f"machine: {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
              f"cuda={torch.cuda.is_available()}")
        print(f"model: {info.name} (ngf={info.ngf}, sha256 {info.sha256[:12]})")

        # 1. Speed: end to end vs generator alone, same tiles, same run, per precision.
        print(f"\n[speed] {args.width}x{args.width} scene, tiles of 256 px (overlap 64), batch {args.batch_size}")
        results = {}
        for way in args.ways:
            r = results[way] = speed(square, tmp, generator, info, way, args)
            print(f"  {way:>12s} -> {r['precision']:12s}  generator alone {r['alone']:6.2f} tiles/s   "
                  f"end to end {r['end_to_end']:6.2f} tiles/s   ratio {r['ratio']:.2f} "
                  f"({r['ratios'][0]:.2f}-{r['ratios'][1]:.2f} over {args.repeat} pairs)   "
                  f"{r['mpx_s']:.3f} Mpx/s of input ({r['tiles']} tiles; first run {r['first_s']:.1f} s)", flush=True)
        base = results.get("fp32")
        for way, r in results.items():
            if base and way != "fp32":
                print(f"  end to end, {way} / fp32: {r['end_to_end'] / base['end_to_end']:.2f}")
        if args.naive:
            naive_start = time.perf_counter()
            n = naive(square, tmp / "naive.tif", generator.to("cpu"))
            print(f"  naive fp32 (1 tile/pass): {n / (time.perf_counter() - naive_start):6.2f} tiles/s")
        if args.skip_memory:
            return

        # 2 and 3. Peak memory, tall vs short (shipped model, fresh processes).
        tall = mirrored_mosaic(tmp / "tall.tif", args.width, args.tall_rows)
        print("\n[memory] shipped model, auto precision, peak RSS (VmHWM) of a fresh process, torch import included")
        rows = {}
        for mode in ("streaming", "naive") if args.naive else ("streaming",):
            for name, src in (("short", square), ("tall", tall)):
                rows[mode, name] = measure_rss(mode, src, tmp / f"{mode}-{name}.tif", args.model)
                r = rows[mode, name]
                print(f"  {mode:9s} {name:5s} ({args.width}x{args.width if name == 'short' else args.tall_rows}): "
                      f"{r['peak_rss_mib']:8.0f} MiB  {r['seconds']:6.1f} s")
            ratio = rows[mode, "tall"]["peak_rss_mib"] / rows[mode, "short"]["peak_rss_mib"]
            print(f"  {mode:9s} tall/short peak RSS ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
