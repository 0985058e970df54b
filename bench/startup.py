"""Start-up: how long `geotrans --help`, `--version` and a mistyped option take.

Each command runs in a fresh process, as a user types it, and is timed from
start to exit. The baseline is the same command with the pipeline (and torch)
imported before the command line is parsed, as geotrans did before the CLI
imported them lazily; baseline and new run in turn, A B A B, so a drift of the
machine's speed hits both. Prints the median wall seconds and peak RSS of each,
and the ratio of the wall seconds.

Usage: python bench/startup.py [--runs 7]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {"--help": ["--help"], "--version": ["--version"], "run --help": ["run", "--help"],
            "mistyped option": ["run", "scene.tif", "--out", "map.tif", "--precision", "fp8"]}
ENTRY = "import sys; sys.argv = ['geotrans'] + sys.argv[1:]; from geotrans.__main__ import entry; entry()"
EAGER = ("import geotrans.run.pipeline, geotrans.jobs.folder, geotrans.run.info, geotrans.jobs.split, "
         "geotrans.qgis.install; " + ENTRY)


def timed(code: str, args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one run in a fresh process."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    print(f"{'command':<18} {'eager s':>8} {'lazy s':>8} {'ratio':>6} {'eager MiB':>10} {'lazy MiB':>9}")
    for name, args in COMMANDS.items():
        timed(ENTRY, args), timed(EAGER, args)  # warm the file cache
        eager, lazy = [], []
        for _ in range(runs):
            eager.append(timed(EAGER, args))
            lazy.append(timed(ENTRY, args))
        (eager_s, eager_mib), (lazy_s, lazy_mib) = ([statistics.median(x) for x in zip(*runs_)]
                                                  for runs_ in (eager, lazy))
        print(f"{name:<18} {eager_s:>8.3f} {lazy_s:>8.3f} {lazy_s / eager_s:>6.2f} {eager_mib:>10.0f} {lazy_mib:>9.0f}")


if __name__ == "__main__":
    main()
