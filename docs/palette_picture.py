"""The manual's palette picture: real sample scenes, the shipped model's map with --palette off, and with it.

    python docs/palette_picture.py --out docs/palette_samples.jpg [--scene SCENE ...] [--side PX]

Each map is made by the real command line (``geotrans run SCENE --out MAP [--palette off]``); the sizes of the
two map files (DEFLATE) are printed, for the caption. Needs pillow (the train extra). Run by hand, not a test.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from vectors_picture import panels_row, picture_arguments, save_sheet  # the pictures' common parts, beside it


def main() -> None:
    args = picture_arguments(__doc__.splitlines()[0])
    save_sheet([row(scene, args.side) for scene in args.scene], args.out)


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
    return panels_row([Image.fromarray(image).convert("RGB") for image in images], side)


if __name__ == "__main__":
    main()
