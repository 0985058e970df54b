"""Speed of palette snapping on a real map, against `snap` (CIELAB per pixel) measured in the same run.

The map is the shipped model's own, unsnapped: the Korea sample mirrored into a
2048 x 2048 mosaic (real imagery) and translated with --palette off. It is then
snapped in 448-row strips, as the map's sink does:
  * `snap`: the CIELAB conversion of every pixel (the baseline);
  * `Snapper`, first map: a fresh table, filled as colours appear (one per map in a run);
  * `Snapper`, table warm: the same strips again, every colour known (lookups only).
Prints medians of --repeat runs, Mpx/s, the ratio to the baseline, and how many
colours the table computed against the map's distinct colours.

Usage: python bench/palette.py [--repeat 5] [--size 2048]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from pipeline import mirrored_mosaic  # noqa: E402

from geotrans.model.palette import Palette, Snapper, snap  # noqa: E402
from geotrans.model.weights import load_generator  # noqa: E402
from geotrans.run.options import RunOptions  # noqa: E402
from geotrans.run.pipeline import translate  # noqa: E402
from geotrans.run.plan import plan_run  # noqa: E402

STRIP = 448


def unsnapped_map(size: int) -> tuple[np.ndarray, Palette]:
    generator, info = load_generator(None)
    tmp = Path(tempfile.mkdtemp())
    scene = mirrored_mosaic(tmp / "scene.tif", size, size)
    options = RunOptions(device="cpu", overwrite=True, gsd=info.resolution_m, palette="off")
    translate(plan_run(scene, options, info), tmp / "map.tif", generator)
    with rasterio.open(tmp / "map.tif") as ds:
        return ds.read(), Palette.from_card(info.card)


def timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()
    pixels, palette = unsnapped_map(args.size)
    strips = [pixels[:, row:row + STRIP] for row in range(0, pixels.shape[1], STRIP)]
    reference = snap(pixels, palette)
    times = {"snap (baseline)": [], "Snapper, first map": [], "Snapper, table warm": []}
    for _ in range(args.repeat):
        times["snap (baseline)"].append(timed(lambda: [snap(s, palette) for s in strips]))
        table = Snapper(palette)
        times["Snapper, first map"].append(timed(lambda table=table: [table(s) for s in strips]))
        times["Snapper, table warm"].append(timed(lambda table=table: [table(s) for s in strips]))
    assert np.array_equal(np.concatenate([table(s) for s in strips], axis=1), reference)
    keys = (pixels[0].astype(np.uint32) << 16) | (pixels[1].astype(np.uint32) << 8) | pixels[2]
    distinct = np.unique(keys).size
    computed = int((table._codes != Snapper.UNKNOWN).sum())
    megapixels = pixels.shape[1] * pixels.shape[2] / 1e6
    baseline = statistics.median(times["snap (baseline)"])
    print(f"palette snapping of a {pixels.shape[2]} x {pixels.shape[1]} map ({len(palette.colours)} colours, "
          f"{distinct} distinct in the map), medians of {args.repeat}")
    print(f"{'way':<22}{'seconds':>9}{'Mpx/s':>9}{'x baseline':>12}")
    for way, runs in times.items():
        seconds = statistics.median(runs)
        print(f"{way:<22}{seconds:>9.3f}{megapixels / seconds:>9.1f}{baseline / seconds:>12.2f}")
    print(f"colours computed by the table: {computed} ({computed / distinct:.2f} x the map's distinct colours)")


if __name__ == "__main__":
    main()
