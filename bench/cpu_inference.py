"""Ways to run the shipped generator on a CPU in fp32: eager (what geotrans does) against channels_last,
TorchScript frozen for inference, and torch.compile, in one run.

    python bench/cpu_inference.py [--model PATH] [--batch-size 8] [--batches 6] [--repeat 5] [--only NAME ...]

The input is real imagery: 256 x 256 tiles cut from the Korea sample. Each way is
timed over --batches batches after one warm-up batch, in --repeat rounds that
alternate with the baseline; the figures are medians, with the range of the
ratios. Each way's output is compared with the baseline's (largest difference in
8-bit levels). Pause any training run before measuring.
"""
from __future__ import annotations

import argparse
import copy
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import rasterio
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geotrans.model.weights import load_generator  # noqa: E402

SCENE = ROOT / "sample_tiles" / "korea_rgb_jpeg_3857.tif"


def real_tiles(n: int) -> torch.Tensor:
    """``n`` tiles (n, 3, 256, 256) in the model's range, from the Korea sample's 4 x 4 grid."""
    with rasterio.open(SCENE) as ds:
        rgb = ds.read([1, 2, 3]).astype(np.float32) / 127.5 - 1
    tiles = [rgb[:, r:r + 256, c:c + 256] for r in range(0, 1024, 256) for c in range(0, 1024, 256)]
    return torch.from_numpy(np.stack([tiles[i % len(tiles)] for i in range(n)]))


def ways(generator: torch.nn.Module, example: torch.Tensor) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """name -> a function from a batch to the generator's output, built lazily (compile time is reported)."""

    def eager(x):
        return generator(x)

    def channels_last():
        model = copy.deepcopy(generator).to(memory_format=torch.channels_last)
        return lambda x: model(x.contiguous(memory_format=torch.channels_last))

    def torchscript_frozen():
        with torch.inference_mode(False), torch.no_grad():
            scripted = torch.jit.optimize_for_inference(torch.jit.trace(generator, example))
        return scripted

    def compiled():
        import torch._inductor.config as inductor

        inductor.freezing = True
        model = torch.compile(generator)
        return model

    return {"eager (baseline)": lambda: eager, "channels_last": channels_last,
            "TorchScript frozen": torchscript_frozen, "torch.compile (freezing)": compiled}


def timed(run: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor, batches: int) -> float:
    """Seconds per batch over ``batches`` batches."""
    started = time.perf_counter()
    for _ in range(batches):
        run(batch)
    return (time.perf_counter() - started) / batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="a model file (default: the shipped model)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="+", default=None, help="only these ways (besides the baseline)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(0)
    generator, info = load_generator(args.model)
    generator = generator.eval()
    batch = real_tiles(args.batch_size)
    print(f"model {info.name}, ngf {info.ngf}, batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}")
    print("| way | tiles/s | x eager (median, range) | build s | largest difference (8-bit levels) |")
    print("|---|---|---|---|---|")
    with torch.inference_mode():
        baseline = generator(batch)
        builders = ways(generator, batch)
        for name, build in builders.items():
            if args.only and name != "eager (baseline)" and name not in args.only:
                continue
            started = time.perf_counter()
            run = build()
            out = run(batch)  # warm-up (compiles)
            build_s = time.perf_counter() - started
            diff = float((out.float() - baseline).abs().max()) * 127.5
            same = "identical" if torch.equal(out.float(), baseline) else f"{diff:.2g}"
            ours, base = [], []
            for _ in range(args.repeat):
                base.append(timed(generator, batch, args.batches))
                ours.append(timed(run, batch, args.batches))
            ratios = [b / o for b, o in zip(base, ours)]
            print(f"| {name} | {args.batch_size / statistics.median(ours):.2f} | {statistics.median(ratios):.2f} "
                  f"({min(ratios):.2f}-{max(ratios):.2f}) | {build_s:.1f} | {same} |", flush=True)


if __name__ == "__main__":
    main()
