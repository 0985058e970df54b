"""Folder runs: serial against a 2-worker local Dask cluster, and per-scene overhead.

Builds a folder of N scenes (default 24) from the real samples: Korea, Landsat,
Vegas, NAIP and Atlanta, cycled, each a different crop so no two are alike. Then
it times, each in a fresh process as a user would run them:
  1. one scene alone (`geotrans run scene.tif`), for the per-scene baseline;
  2. the whole folder serially (`geotrans run folder/`);
  3. the whole folder on `--cluster local:2`.
Prints wall seconds, scenes/s, the speed-up of the cluster over serial, and the
per-scene overhead: (folder time / N) - single-scene compute time.

Usage: python bench/batch.py [--scenes 24] [--model PATH] [--workers 2]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rasterio
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ["korea_rgb_jpeg_3857.tif", "landsat_rgb_nodata_utm.tif", "vegas_rgba_4326.tif",
           "dakota_naip_rgbn_nodata.tif", "atlanta_pan_uint16_utm.tif"]


def make_folder(folder: Path, count: int) -> None:
    for i in range(count):
        src = ROOT / "sample_tiles" / SAMPLES[i % len(SAMPLES)]
        with rasterio.open(src) as ds:
            size = min(ds.width, ds.height) - 16 * (i // len(SAMPLES)) - 40
            window = Window(8 * (i // len(SAMPLES)), 8 * (i // len(SAMPLES)), size, size)
            profile = ds.profile
            profile.update(width=size, height=size, transform=ds.window_transform(window), compress="deflate",
                           photometric=None, tiled=False, blockysize=16)
            profile.pop("blockxsize", None)
            with rasterio.open(folder / f"scene{i:02d}_{src.stem}.tif", "w", **profile) as out:
                out.write(ds.read(window=window))
                out.colorinterp = ds.colorinterp


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "geotrans", "run", *args, "-q"], check=False, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=int, default=24)
    parser.add_argument("--model", default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    model = ["--model", args.model] if args.model else []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "scenes"
        folder.mkdir()
        make_folder(folder, args.scenes)
        first = sorted(folder.iterdir())[0]
        single = timed([str(first), "--out", str(tmp / "one.tif"), *model])
        serial = timed([str(folder), "--out", str(tmp / "serial"), *model])
        summary = json.loads((tmp / "serial" / "geotrans-summary.json").read_text())
        compute = {Path(s["src"]).name: s["seconds"] for s in summary["scenes"]}
        spread = timed([str(folder), "--out", str(tmp / "dask"), "--cluster", f"local:{args.workers}", *model])
        n = args.scenes
        mean_compute = sum(compute.values()) / n
        print(f"{n} scenes from the real samples, model {args.model or 'shipped'}")
        print(f"  single scene, fresh process : {single:7.1f} s wall ({compute[first.name]:.1f} s inside translate)")
        print(f"  folder, serial              : {serial:7.1f} s wall, {n / serial:.2f} scenes/s, "
              f"mean translate {mean_compute:.2f} s, overhead per scene {serial / n - mean_compute:.2f} s")
        print(f"  folder, --cluster local:{args.workers}   : {spread:7.1f} s wall, {n / spread:.2f} scenes/s")
        print(f"  speed-up of the cluster over serial: {serial / spread:.2f}x")
        same = all((tmp / "serial" / p.name).read_bytes() == (tmp / "dask" / p.name).read_bytes()
                   for p in folder.iterdir())
        print(f"  cluster outputs byte-identical to serial: {same}")


if __name__ == "__main__":
    main()
