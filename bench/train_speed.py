"""Training throughput: samples/s of pix2pix steps under several settings, in one run.

    python bench/train_speed.py [--data ../shared/data/maps] [--ngf 32] [--seconds 40] [--only NAME ...]

Each setting trains a fresh model (at --ngf, or the setting's own) on real maps pairs through the real
data path (random crops, augmentation, background prefetch) and is timed after
warm-up steps. The first setting is today's recipe (fp32, batch 1); every other
is reported as a ratio to it. Pause any training run before measuring.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geotrans.training.config import TrainConfig  # noqa: E402
from geotrans.training.data import PairSet  # noqa: E402
from geotrans.training.pix2pix import Pix2Pix  # noqa: E402

# name -> TrainConfig overrides (and a thread count)
SETTINGS = {
    "fp32 b1 (today)": dict(precision="fp32", batch_size=1),
    "fp32 b4": dict(precision="fp32", batch_size=4),
    "fp32 b8": dict(precision="fp32", batch_size=8),
    "fp32 b4 channels_last": dict(precision="fp32", batch_size=4, channels_last=True),
    "fp32 b4 +fm": dict(precision="fp32", batch_size=4, lambda_fm=10.0),
    "fp32 b4 +fm compile": dict(precision="fp32", batch_size=4, lambda_fm=10.0, compile=True),
    "bf16 b1": dict(precision="bf16", batch_size=1),
    "bf16 b4": dict(precision="bf16", batch_size=4),
    "bf16 b8": dict(precision="bf16", batch_size=8),
    "bf16 b4 channels_last": dict(precision="bf16", batch_size=4, channels_last=True),
    "bf16 b4 1 thread": dict(precision="bf16", batch_size=4, threads=1),
    "bf16 b4 compile": dict(precision="bf16", batch_size=4, compile=True),
    "bf16 b4 +fm": dict(precision="bf16", batch_size=4, lambda_fm=10.0),
    "bf16 b4 +fm ngf40": dict(precision="bf16", batch_size=4, lambda_fm=10.0, ngf=40),
    "bf16 b4 +fm ngf48": dict(precision="bf16", batch_size=4, lambda_fm=10.0, ngf=48),
    "bf16 b4 +fm +grad +rot": dict(precision="bf16", batch_size=4, lambda_fm=10.0, lambda_grad=100.0,
                                   rotations=True),
}
WARMUP_STEPS = 3


def endless(pairs: PairSet, batch_size: int):
    """Batches of epoch after epoch, each prepared in the background as in training."""
    if len(pairs) < batch_size:  # an epoch would hold no batch, and the loop would wait forever
        raise SystemExit(f"train_speed: {len(pairs)} pairs make no batch of {batch_size}; load more with --pairs")
    epoch = 0
    while True:
        yield from pairs.prefetched(epoch, batch_size)
        epoch += 1


def measure(name: str, overrides: dict, pairs: PairSet, ngf: int, seconds: float) -> dict:
    overrides = dict(overrides)
    threads = overrides.pop("threads", None) or len(__import__("os").sched_getaffinity(0))
    torch.set_num_threads(threads)
    config = TrainConfig(**{"data": "", "out": "", "ngf": ngf, **overrides})  # a setting may name its own ngf
    pairs.augment = config.augment
    model = Pix2Pix(config, torch.device("cpu"))
    batches = endless(pairs, config.batch_size)
    started = time.perf_counter()
    for _ in range(WARMUP_STEPS):
        model.step(*next(batches))
    warmup = time.perf_counter() - started
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        model.step(*next(batches))
        steps += 1
    elapsed = time.perf_counter() - started
    batches.close()
    return {"name": name, "samples_per_s": steps * config.batch_size / elapsed, "steps": steps,
            "warmup_s": warmup, "threads": threads, "precision": model.precision.name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parent.parent.parent / "shared/data/maps"))
    parser.add_argument("--ngf", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=40, help="timed seconds per setting, after warm-up")
    parser.add_argument("--pairs", type=int, default=64, help="training pairs to load")
    parser.add_argument("--only", nargs="*", default=None, help="setting names to run (the first always runs)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    train = Path(args.data) / "train"
    if not train.is_dir():  # stand-alone: the two real pairs shipped with the tests
        train = Path(__file__).resolve().parent.parent / "tests" / "data" / "maps_pairs"
    pairs = PairSet.from_folder(train, limit=args.pairs)
    names = list(SETTINGS)
    if args.only:
        names = [names[0]] + [n for n in names[1:] if n in args.only]
    print(f"torch {torch.__version__}, ngf {args.ngf}, {len(pairs)} real pairs from {train}, "
          f"{args.seconds:g} s per setting")
    results = []
    for name in names:
        result = measure(name, SETTINGS[name], pairs, args.ngf, args.seconds)
        results.append(result)
        base = results[0]["samples_per_s"]
        print(f"  {name:<26} {result['samples_per_s']:6.2f} samples/s   x{result['samples_per_s'] / base:4.2f}"
              f"   ({result['steps']} steps, {result['threads']} threads, {result['precision']},"
              f" warm-up {result['warmup_s']:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
