"""How faithful `geotrans vectorize` is to the maps of real scenes: round trip, roads on road pixels, seams.

For each scene, the shipped model's map (`geotrans run SCENE --out MAP`) is vectorized, then:
* the polygons are rasterised back onto the map's grid and compared with the map's class pixels (IoU per
  class, holes included), with every polygon kept (min area 0) and with the default minimum area;
* points every 1/20 of each road line are checked to lie within a pixel of the map's road pixels;
* the map vectorized in strips of 200 rows is compared with it in one piece.

Usage: python bench/vectorize_quality.py SCENE [SCENE ...]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.features import rasterize
from scipy.ndimage import binary_dilation

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geotrans.model.style import CODES  # noqa: E402
from geotrans.vectors.vectorize import POLYGON_LAYERS, ROAD_CLASSES, VectorOptions, open_map, read_classes, vectorize  # noqa: E402


def round_trip(path: Path, options: VectorOptions) -> tuple[dict, float, dict, float]:
    """(IoU per polygon layer, share of road points on road pixels, counts, road km)."""
    features = vectorize(path, options=options)
    with rasterio.open(path) as ds:
        classes, valid = read_classes(ds, open_map(path).style, 0, ds.height)
        transform = ds.transform
    scores = {}
    for layer, name in POLYGON_LAYERS.items():
        truth = (classes == CODES[name]) & valid
        shapes = [g for g, _ in features.polygons[layer]]
        drawn = rasterize(shapes, out_shape=truth.shape, transform=transform).astype(bool) if shapes else truth & False
        scores[layer] = (truth & drawn).sum() / max(1, (truth | drawn).sum())
    road = binary_dilation(np.isin(classes, [CODES[c] for c in ROAD_CLASSES]))
    inverse, on, total = ~transform, 0, 0
    for line, *_ in features.roads:
        for d in np.linspace(0, line.length, 20):
            col, row = inverse * shapely.get_coordinates(line.interpolate(d))[0]
            on += road[min(int(row), road.shape[0] - 1), min(int(col), road.shape[1] - 1)]
            total += 1
    return scores, on / max(1, total), features.counts(), sum(r[3] for r in features.roads) / 1000


def seams(path: Path) -> str:
    whole = vectorize(path, options=VectorOptions(strip_rows=100_000))
    strips = vectorize(path, options=VectorOptions(strip_rows=200))
    worst = 0.0
    for layer in POLYGON_LAYERS:
        a = shapely.union_all([g for g, _ in whole.polygons[layer]])
        b = shapely.union_all([g for g, _ in strips.polygons[layer]])
        worst = max(worst, shapely.symmetric_difference(a, b).area / max(a.area, 1e-30))
    a, b = (shapely.union_all([g for g, *_ in f.roads]) for f in (whole, strips))
    pixel = abs(open_map(path).transform.a)
    return (f"{'same' if whole.counts() == strips.counts() else 'DIFFERENT'} counts; polygons differ by "
            f"{worst:.3%} of their area; roads within {shapely.hausdorff_distance(a, b) / pixel:.2f} px")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenes", nargs="+")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for scene in args.scenes:
            path = Path(folder) / (Path(scene).stem + "_map.tif")
            done = subprocess.run([sys.executable, "-m", "geotrans", "run", scene, "--out", str(path), "-q"],
                                  capture_output=True, text=True)
            if done.returncode:
                sys.exit(done.stderr)
            print(Path(scene).name)
            for label, options in (("min area 0", VectorOptions(min_area_m2=0)), ("default", VectorOptions())):
                scores, on_road, counts, km = round_trip(path, options)
                print(f"  {label:10}  IoU " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
                      + f"; road points on road pixels {on_road:.1%}; "
                      + ", ".join(f"{n} {k}" for k, n in counts.items()) + f" ({km:.2f} km of road)")
            print(f"  strips of 200 rows vs one piece: {seams(path)}")


if __name__ == "__main__":
    main()
