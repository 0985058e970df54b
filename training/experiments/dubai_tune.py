"""The proof of ``geotrans tune`` on Dubai: tune on tiles 1-4, score the unseen tiles 5 and 6 before and after.

The Dubai photos are JPEGs without georeferencing, so a user could not hand them
to ``geotrans tune`` as they are. This script writes them as a user's own data
would look: each photo a GeoTIFF in UTM zone 40N (Dubai's) at the set's 1.0 m
(``training/mixes/beyond_new_york.json`` says how that was estimated), placed
apart on the map, and each mask a single-band class raster on that grid, with a
class table. It also writes a mix file whose held-out images are tiles 5 and 6,
for ``python -m training.evaluate --labelled``:

    python -m training.experiments.dubai_tune OUT
    geotrans tune OUT/scenes/*.tif --labels OUT/labels/*.tif --class-table OUT/classes.json \\
        --out OUT/dubai.safetensors --minutes 30
    python -m training.evaluate --model OUT/dubai.safetensors --data ../shared/data/maps/val --limit 100 \\
        --no-dropout-run --precision fp32 --labelled OUT/tiles56.json --json OUT/dubai.json
"""
import argparse
import json
import os
import sys
from pathlib import Path

import rasterio
from rasterio.transform import from_origin

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from geotrans.model.style import CODES, IGNORE  # noqa: E402
from geotrans.training.sources import labelled_images, read_mix  # noqa: E402

MIX = Path(__file__).resolve().parents[1] / "mixes" / "beyond_new_york.json"
CRS = "EPSG:32640"  # UTM zone 40N: Dubai
SPACING_M = 5000  # photos are placed this far apart, so no label file overlaps another's scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--tiles", default="1234", help="the tiles to tune on (digits)")
    args = parser.parse_args()
    mix = read_mix(MIX)
    spec = next(s for s in mix.sources if s["name"] == "dubai")
    train = {**spec, "images": f"tile[{args.tiles}]/images/*.jpg", "val": []}
    for folder in ("scenes", "labels"):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(labelled_images(mix, train, "images")):
        name = image.name.split("/", 1)[1].replace("/images/", "_").replace(".jpg", ".tif")
        _, height, width = image.photo.shape
        profile = {"driver": "GTiff", "width": width, "height": height, "crs": CRS, "tiled": True,
                   "transform": from_origin(300000 + SPACING_M * i, 2800000, image.resolution_m, image.resolution_m)}
        with rasterio.open(args.out / "scenes" / name, "w", **profile, count=3, dtype="uint8",
                           photometric="RGB", compress="deflate") as ds:
            ds.write(image.photo)
        with rasterio.open(args.out / "labels" / name, "w", **profile, count=1, dtype="uint8",
                           compress="deflate") as ds:
            ds.write(image.classes[None])
    classes = {str(code): name for name, code in CODES.items()} | {str(IGNORE): "ignore"}
    (args.out / "classes.json").write_text(json.dumps(classes, indent=1))
    held = {**spec, "root": os.path.relpath(mix.resolve(spec["root"]), args.out.resolve()),
            "images": "tile[56]/images/*.jpg", "val": "tile[56]/images/*.jpg", "weight": 1.0}
    (args.out / "tiles56.json").write_text(json.dumps({"resolution_m": mix.resolution_m, "scale_jitter": 0.0,
                                                       "sources": [held]}, indent=1))
    print(f"{i + 1} scenes and class rasters in {args.out}")


if __name__ == "__main__":
    main()
