"""Peak memory of very wide scenes: 3 000 000 x 300 against 20 000 x 300, each in a fresh process.

A scene wider than 8192 columns is blended in vertical bands of columns
(`geotrans.io.tiler.column_bands`), so its memory should not grow with its width.
The scenes repeat the real Korea sample (mirrored) across their width. An
identity model stands in for the generator: the generator's memory is the same
for every scene, and its time would only make the run longer.

Usage: python bench/wide.py [--widths 20000 3000000] [--height 300]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parent.parent
KOREA = ROOT / "sample_tiles" / "korea_rgb_jpeg_3857.tif"
CHUNK = 8192


def wide_scene(dst: Path, width: int, height: int) -> Path:
    """A ``height`` x ``width`` scene of mirrored copies of the Korea sample, written a chunk of columns at a time."""
    with rasterio.open(KOREA) as src:
        block = src.read()[:, :height]
        profile = src.profile
    pair = np.concatenate([block, block[:, :, ::-1]], axis=2)
    chunk = np.concatenate([pair] * (CHUNK // pair.shape[2] + 1), axis=2)[:, :, :CHUNK]
    profile.update(width=width, height=height, compress="deflate", photometric="RGB", tiled=True,
                   blockxsize=256, blockysize=256, bigtiff="YES")
    with rasterio.open(dst, "w", **profile) as out:
        for col in range(0, width, CHUNK):
            n = min(CHUNK, width - col)
            out.write(chunk[:, :, :n], window=Window(col, 0, n, height))
    return dst


RUN = """
import json, sys, time, torch
sys.path.insert(0, {root!r})
from pathlib import Path
from geotrans.run.options import RunOptions
from geotrans.run.pipeline import translate
from geotrans.run.plan import plan_run

class Identity(torch.nn.Module):
    def forward(self, x, dropout_seeds=None):
        return x.clone()

started = time.perf_counter()
report = translate(plan_run({src!r}, RunOptions(device="cpu", overwrite=True)), {dst!r}, Identity())
peak = next(int(l.split()[1]) / 1024 for l in Path("/proc/self/status").read_text().splitlines()
            if l.startswith("VmHWM:"))
print(json.dumps({{"seconds": time.perf_counter() - started, "peak_rss_mib": peak, "tiles": report.tiles_run}}))
"""


def measure(src: Path, dst: Path) -> dict:
    """Translate ``src`` in a fresh process; its peak RSS (VmHWM), seconds and tiles."""
    out = subprocess.run([sys.executable, "-c", RUN.format(root=str(ROOT), src=str(src), dst=str(dst))],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[20_000, 3_000_000])
    parser.add_argument("--height", type=int, default=300)
    args = parser.parse_args()
    print(f"identity model, peak RSS (VmHWM) of a fresh process, torch import included; height {args.height}")
    rows = []
    with tempfile.TemporaryDirectory(dir=ROOT.parent) as tmp:
        for width in args.widths:
            started = time.perf_counter()
            src = wide_scene(Path(tmp) / f"wide{width}.tif", width, args.height)
            built = time.perf_counter() - started
            r = measure(src, Path(tmp) / f"map{width}.tif")
            rows.append(r)
            print(f"  {width:>9,d} x {args.height}: {r['peak_rss_mib']:7.0f} MiB  {r['seconds']:7.1f} s  "
                  f"{r['tiles']:6d} tiles  {r['tiles'] / r['seconds']:7.1f} tiles/s  (scene built in {built:.0f} s)")
            src.unlink()
    print(f"  widest / narrowest peak RSS: {rows[-1]['peak_rss_mib'] / rows[0]['peak_rss_mib']:.2f}")


if __name__ == "__main__":
    main()
