"""The manual's palette picture: real sample scenes, the shipped model's map with --palette off, and with it.

    python docs/palette_picture.py --out docs/palette_samples.jpg [--scene SCENE ...] [--side PX]

Each map is made by the real command line (``geotrans run SCENE --out MAP [--palette off]``); the sizes of the
two map files (DEFLATE) are printed, for the caption. Needs pillow (the train extra). Run by hand, not a test.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio

ROOT = Path(__file__).resolve().parent.parent
GAP = 8


def main() -> None:
    from PIL import Image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", nargs="+", default=[str(ROOT / "sample_tiles" / name) for name in
                                                       ("vegas_rgba_4326.tif", "korea_rgb_jpeg_3857.tif")])
    parser.add_argument("--out", required=True)
    parser.add_argument("--side", type=int, default=300, help="height of each panel, px")
    args = parser.parse_args()
    rows = [row(scene, args.side) for scene in args.scene]
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows) + GAP * (len(rows) - 1)),
                      "white")
    y = 0
    for image in rows:
        sheet.paste(image, (0, y))
        y += image.height + GAP
    sheet.save(args.out, quality=88)
    print(f"wrote {args.out}")


def row(scene_path: str, side: int):
    """Scene | map without the palette | map with it, ``side`` px high."""
    from PIL import Image

    images = []
    with rasterio.open(scene_path) as ds:
        images.append(np.moveaxis(ds.read([1, 2, 3]), 0, -1))
    with tempfile.TemporaryDirectory() as folder:
        sizes = []
        for name, extra in (("plain", ["--palette", "off"]), ("palette", [])):
            path = Path(folder) / f"{name}.tif"
            done = subprocess.run([sys.executable, "-m", "geotrans", "run", scene_path, "--out", str(path), "-q",
                                   *extra], capture_output=True, text=True)
            if done.returncode:
                sys.exit(done.stderr)
            with rasterio.open(path) as ds:
                images.append(np.moveaxis(ds.read([1, 2, 3]), 0, -1))
            sizes.append(path.stat().st_size)
    print(f"{Path(scene_path).name}: map {sizes[0] / 1000:.0f} KB without the palette, {sizes[1] / 1000:.0f} KB "
          "with it (DEFLATE)")
    panels = [Image.fromarray(image).convert("RGB") for image in images]
    scale = side / panels[0].height
    panels = [p.resize((round(p.width * scale), side), Image.LANCZOS) for p in panels]
    image = Image.new("RGB", (sum(p.width for p in panels) + GAP * 2, side), "white")
    x = 0
    for panel in panels:
        image.paste(panel, (x, 0))
        x += panel.width + GAP
    return image


if __name__ == "__main__":
    main()
