"""Do the pipeline's stages gain from running on threads, or from lowering the helpers' priority?

Runs one 2048 x 2048 scene (mirrored from the Korea sample, at the model's resolution) through
`translate` in the auto precision with the stages swapped in turn, alternated `REPEAT` times (default 5),
and prints median tiles/s for each way:
  overlapped (reader thread + generator thread + the caller blending and writing: geotrans on a GPU,
  and on the CPU too until December 2026), reader thread only (the generator in the caller, in turn with
  blending: geotrans on the CPU now), no threads at all,
  and, as root only (lowering a priority can only be undone by root), the reader thread at nice 10,
  and the reader and the caller (blending, writing) at nice 10.

Usage: python bench/stages.py [REPEAT] [--compile]   (--compile: the generator through torch.compile)
"""
import functools
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from pipeline import mirrored_mosaic

import geotrans.run.pipeline as gp
from geotrans.model.weights import load_generator
from geotrans.run.background import background
from geotrans.run.options import RunOptions
from geotrans.run.plan import plan_run
from geotrans.run.runner import resolved, run_stages

TMP = Path(tempfile.mkdtemp())
src = mirrored_mosaic(TMP / "scene.tif", 2048, 2048)
OUT = str(TMP / "map.tif")
gen, info = load_generator(None)
opts = resolved(RunOptions(gsd=0.9, overwrite=True, compile="--compile" in sys.argv))
sys.argv = [a for a in sys.argv if a != "--compile"]

overlapped = functools.partial(run_stages, overlap=True)
reader_only = functools.partial(run_stages, overlap=False)

def no_threads(batches, runner, depth=2):
    for batch in batches:
        yield batch, runner.run(batch) if len(batch) else None

modes = {"overlapped": overlapped, "reader thread only": reader_only, "no threads": no_threads}
rates = {m: [] for m in modes}
plan = plan_run(str(src), opts, info)
gp.translate(plan, OUT, gen)  # warm
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
    for name, fn in modes.items():
        gp.run_stages = fn
        t = time.perf_counter()
        r = gp.translate(plan, OUT, gen)
        s = time.perf_counter() - t
        rates[name].append(r.tiles_run / s)
for name, v in rates.items():
    print(f"{name:20s} median {statistics.median(v):6.2f} tiles/s  ({min(v):.2f}-{max(v):.2f})")

# --- niceness: helpers yield the CPU to the generator's OpenMP threads --------------------------------
if os.geteuid() != 0:
    sys.exit("(the niced ways need root: a lowered priority can only be restored by root)")
def nice_me(level=10):
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), level)

def niced(items):
    nice_me()
    yield from items

def niced_reader(batches, runner, depth=2):
    def generate():
        for batch in background(niced(batches), depth, name="geotrans-reader"):
            yield batch, runner.run(batch) if len(batch) else None
    return background(generate(), depth, name="geotrans-model")

def niced_reader_and_caller(batches, runner, depth=2):
    stages = niced_reader(batches, runner, depth)
    first = True
    for item in stages:
        if first:  # the model thread exists now (nice 0); the caller (blend, write) steps back
            nice_me()
            first = False
        yield item
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 0)  # root only: restore for the next mode

modes2 = {"overlapped": overlapped, "niced reader": niced_reader, "niced reader+caller": niced_reader_and_caller}
rates = {m: [] for m in modes2}
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
    for name, fn in modes2.items():
        gp.run_stages = fn
        t = time.perf_counter()
        r = gp.translate(plan, OUT, gen)
        s = time.perf_counter() - t
        rates[name].append(r.tiles_run / s)
print()
for name, v in rates.items():
    print(f"{name:20s} median {statistics.median(v):6.2f} tiles/s  ({min(v):.2f}-{max(v):.2f})")
