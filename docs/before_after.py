"""The README's before/after picture: real sample scenes, each run through `geotrans run` with two models.

    python docs/before_after.py --before OLD.safetensors --after NEW.safetensors --out docs/before_after.jpg \
        [--photo ../shared/data/labelled/dubai/tile6/images/image_part_004.jpg --photo-resolution 1.0]

Each row is one scene of ``sample_tiles/``: the scene as the model sees it (its
bands and stretch), the map by the model ``--before`` and the map by ``--after``,
each made by the real command line (``geotrans run SCENE --out MAP --model M``)
and shown at most ``--side`` px high. ``--photo`` adds rows of plain photos (a held-out
labelled photo, say), written as GeoTIFFs at ``--photo-resolution`` metres as the
semantic benchmark writes them; with ``--classes MIX:SOURCE`` each photo's labels (its mask, read through that
mix source's class table) are a fourth panel, drawn in the ``--after`` model's style. Needs pillow (the train
extra). Run by hand, not a test.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling

ROOT = Path(__file__).resolve().parent.parent
SCENES = ("vegas_rgba_4326.tif", "dakota_naip_rgbn_nodata.tif", "korea_rgb_jpeg_3857.tif")
GAP = 8


def run_map(scene: Path, model: Path, out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "geotrans", "run", str(scene), "--out", str(out), "--model", str(model),
                    "--overwrite", "-q"], check=True)
    return out


def panel(path: Path, height: int, bands=None) -> np.ndarray:
    """(h, w, 3) uint8 of a GeoTIFF at ``height`` rows, invalid pixels white; ``bands`` and a 2-98% stretch
    for a scene, as it is for a map."""
    with rasterio.open(path) as ds:
        width = max(1, round(ds.width * height / ds.height))
        bands = bands or [1, 2, 3]
        pixels = ds.read(bands, out_shape=(len(bands), height, width), resampling=Resampling.average)
        valid = ds.dataset_mask(out_shape=(height, width)) > 0
        stretch = ds.dtypes[0] != "uint8"
    pixels = pixels.astype(np.float32)
    if stretch:
        low, high = np.percentile(pixels[:, valid], (2, 98))
        pixels = (pixels - low) / max(high - low, 1e-6) * 255
    image = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    image[:, ~valid] = 255
    return image.transpose(1, 2, 0)


def labels_panel(photo: Path, classes: str, model: Path, height: int) -> np.ndarray:
    """The photo's labels (its mask through the mix source's class table) in ``model``'s style, unlabelled
    pixels white, ``height`` rows."""
    import json

    from PIL import Image

    from geotrans.model.style import IGNORE, MapStyle
    from geotrans.model.weights import read_model_info
    from geotrans.training.sources import mask_classes, mask_path

    mix, source = classes.rsplit(":", 1)
    spec = next(s for s in json.loads(Path(mix).read_text())["sources"] if s["name"] == source)
    with Image.open(mask_path(photo)) as img:
        codes = mask_classes(np.asarray(img), spec["classes"], spec.get("match") == "nearest", source)
    painted = MapStyle.from_card(read_model_info(model).card).paint(codes).transpose(1, 2, 0).copy()
    painted[codes == IGNORE] = 255
    width = max(1, round(codes.shape[1] * height / codes.shape[0]))
    return np.asarray(Image.fromarray(painted).resize((width, height), Image.NEAREST))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, type=Path)
    parser.add_argument("--after", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--side", type=int, default=400, help="panel height in px")
    parser.add_argument("--photo", action="append", default=[], type=Path, help="a plain photo to add (repeatable)")
    parser.add_argument("--photo-resolution", type=float, default=1.0, help="its ground resolution, metres")
    parser.add_argument("--classes", default=None, metavar="MIX:SOURCE",
                        help="draw each photo's labels beside its maps, by this mix source's class table")
    args = parser.parse_args()
    from PIL import Image

    from geotrans.model.style import IGNORE
    from geotrans.training.sources import LabelledImage
    from training.semantic import as_geotiff

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        scenes = [ROOT / "sample_tiles" / name for name in SCENES]
        for i, photo in enumerate(args.photo):
            with Image.open(photo) as img:
                pixels = np.asarray(img.convert("RGB")).transpose(2, 0, 1)
            scene = Path(tmp) / f"photo{i}.tif"
            as_geotiff(LabelledImage(photo.name, np.ascontiguousarray(pixels),
                                     np.full(pixels.shape[1:], IGNORE, np.uint8), args.photo_resolution), scene)
            scenes.append(scene)
        labels = {scene: labels_panel(photo, args.classes, args.after, args.side)
                  for scene, photo in zip(scenes[len(SCENES):], args.photo)} if args.classes else {}
        for scene in scenes:
            name = scene.name
            maps = [run_map(scene, model, Path(tmp) / f"{label}-{name}")
                    for label, model in (("before", args.before), ("after", args.after))]
            images = [panel(scene, args.side, [1, 2, 3])] + [panel(m, args.side) for m in maps]
            images += [labels[scene]] if scene in labels else []
            gap = np.full((args.side, GAP, 3), 255, np.uint8)
            rows.append(np.concatenate([part for image in images for part in (image, gap)][:-1], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, GAP), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    Image.fromarray(np.concatenate(rows)).save(args.out, quality=88)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
