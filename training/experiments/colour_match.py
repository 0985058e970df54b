"""Does matching a scene's colours to the training photos' help the model outside New York?

Each scene's R, G, B bands are mapped, over its valid pixels, onto the colour
statistics of the ``maps/train`` photos (every second pixel of each), then
scored as ``training.evaluate`` scores them: the Vegas road F1, Dakota's water
against its NDWI (from the original green band, kept as an extra band) and the
share of Korea's forest drawn as water. Ways of matching:

  none        the scene as it is
  meanstd     per band, the training photos' mean and standard deviation
  hist        per band, the training photos' histogram (quantile mapping)
  grey        one gain and offset for all bands, from the grey level's mean and sd
  gain        per band, a gain to the training photos' mean (colour cast and brightness)

    python -m training.experiments.colour_match --model geotrans/default_model/generator.safetensors \
        --data ../shared/data/maps --scenes ../shared/data/scenes [--ways none meanstd hist grey gain]
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from geotrans.model.weights import load_generator  # noqa: E402
from geotrans.training.data import list_pairs, read_aligned  # noqa: E402
from training.roads import evaluate_roads  # noqa: E402
from training.water import evaluate_false_water, evaluate_water  # noqa: E402

LEVELS = np.arange(256)


def training_histograms(train: Path) -> np.ndarray:
    """(3, 256) counts of the training photos' R, G, B values."""
    hist = np.zeros((3, 256), np.int64)
    for path in list_pairs(train):
        photo = read_aligned(path)[0][:, ::2, ::2]
        for band in range(3):
            hist[band] += np.bincount(photo[band].ravel(), minlength=256)
    return hist


def lookup_tables(values: np.ndarray, hist: np.ndarray, way: str) -> np.ndarray:
    """(3, 256) float tables mapping the scene's ``values`` (3, N) onto the training statistics."""
    weights = hist / hist.sum(1, keepdims=True)
    mean = (weights * LEVELS).sum(1)
    sd = np.sqrt((weights * (LEVELS - mean[:, None]) ** 2).sum(1))
    tables = np.empty((3, 256))
    grey = values.mean(0)
    for band, v in enumerate(values):
        if way == "meanstd":
            tables[band] = (LEVELS - v.mean()) * sd[band] / max(v.std(), 1) + mean[band]
        elif way == "hist":
            cdf = np.cumsum(np.bincount(v, minlength=256)) / v.size
            tables[band] = np.interp(cdf, np.cumsum(weights[band]), LEVELS)
        elif way == "grey":
            tables[band] = (LEVELS - grey.mean()) * sd.mean() / max(grey.std(), 1) + mean.mean()
        elif way == "gain":
            tables[band] = LEVELS * mean[band] / max(v.mean(), 1)
        else:
            raise ValueError(way)
    return np.clip(np.round(tables), 0, 255).astype(np.uint8)


def matched_copy(scene: Path, hist: np.ndarray, way: str, folder: Path) -> Path:
    """A copy of ``scene`` with bands 1-3 matched, plus its original band 2 appended (the NDWI's green)."""
    out = folder / f"{way}_{scene.name}"
    with rasterio.open(scene) as ds:
        data, valid = ds.read(), ds.dataset_mask() > 0
        profile = {**ds.profile, "count": ds.count + 1, "compress": "deflate", "photometric": None}
        tables = lookup_tables(data[:3][:, valid], hist, way)
        for band in range(3):
            data[band] = tables[band][data[band]]
        with rasterio.open(out, "w", **{k: v for k, v in profile.items() if v is not None}) as dst:
            dst.write(np.concatenate([data, ds.read([2])]))
            dst.colorinterp = [*ds.colorinterp, rasterio.enums.ColorInterp.undefined]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="the maps dataset (its train/ photos give the statistics)")
    parser.add_argument("--scenes", required=True, help="folder with the Vegas, Dakota and Korea scenes")
    parser.add_argument("--ways", nargs="+", default=["none", "meanstd", "hist", "grey", "gain"])
    args = parser.parse_args()
    generator, info = load_generator(args.model)
    hist = training_histograms(Path(args.data) / "train")
    scenes = Path(args.scenes)
    vegas, dakota, korea = (scenes / n for n in ("vegas_rgba_epsg4326.tif", "dakota_naip_rgbn_nodata.tif",
                                                  "korea_cog_jpeg_3857.tif"))
    print("| matching | Vegas road F1 (floor) | Dakota dry land as water | Korea drawn as water (palette off / auto) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for way in args.ways:
            copy = (lambda s: s) if way == "none" else (lambda s, way=way: matched_copy(s, hist, way, Path(tmp)))
            green = 2 if way == "none" else 5
            roads = evaluate_roads(generator, copy(vegas), scenes / "vegas_roads.geojson", model_info=info)
            water = evaluate_water(generator, copy(dakota), green_nir=(green, 4), model_info=info)
            korea_water = evaluate_false_water(generator, copy(korea), model_info=info)["drawn_as_water"]
            print(f"| {way} | {roads['map']['f1']:.3f} ({roads['shifted_by_a_block']['f1']:.3f}) "
                  f"| {water['map']['dry_land_as_water']:.1%} "
                  f"| {korea_water['palette_off']:.1%} / {korea_water['palette_auto']:.1%} |", flush=True)
            print(json.dumps({"way": way, "roads": roads, "water": water, "korea": korea_water}), file=sys.stderr)


if __name__ == "__main__":
    main()
