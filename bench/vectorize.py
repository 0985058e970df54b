"""Peak memory and speed of `geotrans vectorize` on a tall map against a short one, each in a fresh process.

A map is read in strips of rows (`VectorOptions.strip_rows`), so its memory should follow its width, not its
height. The maps repeat the shipped model's real map of the Korea sample (mirrored, so every seam joins
features) down their height; their features are what a mapping team would get from a long strip of imagery.

Usage: python bench/vectorize.py [--heights 1024 16384]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parent.parent
KOREA = ROOT / "sample_tiles" / "korea_rgb_jpeg_3857.tif"


def korea_map(dst: Path) -> Path:
    """The shipped model's map of the Korea sample, as `geotrans run` writes it."""
    done = subprocess.run([sys.executable, "-m", "geotrans", "run", str(KOREA), "--out", str(dst), "-q"],
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(done.stderr)
    return dst


def tall_map(src: Path, dst: Path, height: int) -> Path:
    """``src`` repeated (every other copy mirrored upside down) down ``height`` rows, with its tags."""
    with rasterio.open(src) as ds:
        block, mask, profile, tags = ds.read(), ds.read_masks(1), ds.profile, ds.tags()
    pair = np.concatenate([block, block[:, ::-1]], axis=1)
    pair_mask = np.concatenate([mask, mask[::-1]], axis=0)
    profile.update(height=height, tiled=True, blockxsize=256, blockysize=256, compress="deflate")
    with rasterio.open(dst, "w", **profile) as out:
        out.update_tags(**tags)
        for row in range(0, height, pair.shape[1]):
            n = min(pair.shape[1], height - row)
            out.write(pair[:, :n], window=Window(0, row, pair.shape[2], n))
            out.write_mask(pair_mask[:n], window=Window(0, row, pair.shape[2], n))
    return dst


RUN = """
import json, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from geotrans.vectors.vectorize import vectorize

started = time.perf_counter()
features = vectorize({src!r})
seconds = time.perf_counter() - started
peak = next(int(l.split()[1]) / 1024 for l in Path("/proc/self/status").read_text().splitlines()
            if l.startswith("VmHWM"))
print(json.dumps({{"seconds": seconds, "peak_mib": peak, "counts": features.counts()}}))
"""


def measure(src: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", RUN.format(root=str(ROOT), src=str(src))], capture_output=True,
                          text=True)
    if done.returncode:
        sys.exit(done.stderr)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heights", type=int, nargs=2, default=[1024, 16384], metavar=("SHORT", "TALL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = korea_map(Path(folder) / "korea_map.tif")
        rows = []
        for height in args.heights:
            path = tall_map(base, Path(folder) / f"map_{height}.tif", height)
            with rasterio.open(path) as ds:
                width = ds.width
            result = measure(path)
            rows.append((height, width, result))
            print(f"{width} x {height:>6} px: {result['seconds']:6.1f} s, "
                  f"{width * height / 1e6 / result['seconds']:5.2f} Mpx/s, peak {result['peak_mib']:6.0f} MiB, "
                  + ", ".join(f"{n} {layer}" for layer, n in result["counts"].items()))
        (short_h, _, short), (tall_h, _, tall) = rows
        print(f"tall / short: {tall_h / short_h:.0f}x the rows, {tall['peak_mib'] / short['peak_mib']:.2f}x the "
              f"peak memory, {tall['seconds'] / short['seconds']:.1f}x the time")


if __name__ == "__main__":
    main()
