"""The README's features picture: real sample scenes, their maps, and the maps' features drawn over the scenes.

    python docs/vectors_picture.py --out docs/vectors.jpg [--scene SCENE ...] [--side PX]

The map and the GeoPackage are made by the real command line
(``geotrans run SCENE --out MAP --vectors FEATURES.gpkg``); the features are read
back from the GeoPackage with pyogrio and drawn in the scene's pixels: road centre
lines red, water outlines blue, green outlines dark green, buildings grey. Needs
pillow (the train extra). Run by hand, not a test.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyogrio
import rasterio
import shapely

ROOT = Path(__file__).resolve().parent.parent
STYLE = {"water": (30, 90, 255), "green": (20, 120, 40), "buildings": (90, 90, 90), "roads": (230, 20, 20)}
GAP = 8


def main() -> None:
    args = picture_arguments(__doc__.splitlines()[0])
    save_sheet([row(scene, args.side) for scene in args.scene], args.out)


def picture_arguments(description: str):
    """The pictures' command line: --scene (the Vegas and Korea samples), --out, --side."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--scene", nargs="+", default=[str(ROOT / "sample_tiles" / name) for name in
                                                       ("vegas_rgba_4326.tif", "korea_rgb_jpeg_3857.tif")])
    parser.add_argument("--out", required=True)
    parser.add_argument("--side", type=int, default=300, help="height of each panel, px")
    return parser.parse_args()


def save_sheet(rows: list, out: str) -> None:
    """The rows (PIL images) one under another, GAP apart, as a JPEG at ``out``."""
    from PIL import Image

    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows) + GAP * (len(rows) - 1)),
                      "white")
    y = 0
    for image in rows:
        sheet.paste(image, (0, y))
        y += image.height + GAP
    sheet.save(out, quality=88)
    print(f"wrote {out}")


def panels_row(panels: list, side: int):
    """PIL images resized to ``side`` px high and set side by side, GAP apart."""
    from PIL import Image

    scale = side / panels[0].height
    panels = [p.resize((round(p.width * scale), side), Image.LANCZOS) for p in panels]
    image = Image.new("RGB", (sum(p.width for p in panels) + GAP * (len(panels) - 1), side), "white")
    x = 0
    for panel in panels:
        image.paste(panel, (x, 0))
        x += panel.width + GAP
    return image


def row(scene_path: str, side: int):
    """Scene | map | features over the scene, ``side`` px high."""
    from PIL import Image, ImageDraw

    with tempfile.TemporaryDirectory() as folder:
        map_path, features = Path(folder) / "map.tif", Path(folder) / "features.gpkg"
        done = subprocess.run([sys.executable, "-m", "geotrans", "run", scene_path, "--out", str(map_path),
                               "--vectors", str(features), "-q"], capture_output=True, text=True)
        if done.returncode:
            sys.exit(done.stderr)
        with rasterio.open(scene_path) as ds:
            scene = np.moveaxis(ds.read([1, 2, 3]), 0, -1)
            inverse = ~ds.transform
        with rasterio.open(map_path) as ds:
            mapped = np.moveaxis(ds.read([1, 2, 3]), 0, -1)
        over = Image.fromarray(scene).convert("RGB")
        draw = ImageDraw.Draw(over)
        width = max(2, scene.shape[0] // 300)
        for layer in ("buildings", "green", "water", "roads"):
            _, _, wkb, _ = pyogrio.raw.read(features, layer=layer)
            for shape in shapely.from_wkb(wkb):
                lines = shape if layer == "roads" else shape.boundary
                for line in shapely.get_parts(lines):
                    pixels = [inverse * xy for xy in shapely.get_coordinates(line)]
                    draw.line(pixels, fill=STYLE[layer], width=width * (2 if layer == "roads" else 1))
    return panels_row([Image.fromarray(scene).convert("RGB"), Image.fromarray(mapped).convert("RGB"), over], side)


if __name__ == "__main__":
    main()
