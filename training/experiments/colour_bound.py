"""How well colour alone can tell a scene's water from its dry land: what a per-pixel colour rule does.

On a scene with R, G, B, NIR bands, the NDWI truth (``training.water``) marks the water. Each valid
pixel's colour falls in a bin (``--levels`` levels a channel), and a colour rule calls water the bins
whose share of water is above a threshold. Fitted on the whole scene and scored on it, the rule is the
best any rule reading one pixel's colour can do there (in-sample: optimistic, the finer the bins the
more so). Fitted on one half of the scene (left, right, top, bottom) and scored on the other, it is
what colour tells about land it has not seen, the task a model has. With ``--map``, the map's own trade,
and the mean R, G, B, NIR of its hits, misses, false water and the dry land it keeps.

    python -m training.experiments.colour_bound --scene ../shared/data/scenes/dakota_naip_rgbn_nodata.tif \
        [--map MAP.tif] [--recall 0.5 0.68 0.8]
"""
from __future__ import annotations

import argparse

import numpy as np
import rasterio

from training.water import map_water, water_truth

HALVES = ("left", "right", "top", "bottom")


def colour_bins(rgb: np.ndarray, levels: int) -> np.ndarray:
    """The bin of each of ``rgb``'s (3, ...) uint8 colours, ``levels`` levels a channel: shape (...)."""
    q = (rgb.astype(np.int64) * levels) // 256
    return (q[0] * levels + q[1]) * levels + q[2]


def water_share(bins: np.ndarray, water: np.ndarray, levels: int) -> np.ndarray:
    """(levels**3,) each bin's share of water among the pixels in it (0 for a bin with none)."""
    wet = np.bincount(bins[water], minlength=levels ** 3).astype(np.float64)
    seen = np.bincount(bins, minlength=levels ** 3).astype(np.float64)
    return np.divide(wet, seen, out=np.zeros_like(wet), where=seen > 0)


def trade(score: np.ndarray, water: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, dry land as water) of "water where the score is at least s", every s from the highest down;
    pixels of one score are taken together."""
    order = np.argsort(-score, kind="stable")
    s, w = score[order], water[order]
    last = np.r_[s[1:] != s[:-1], True]  # a threshold ends only where the score changes
    recall = np.cumsum(w)[last] / max(w.sum(), 1)
    dry = np.cumsum(~w)[last] / max((~w).sum(), 1)
    return recall, dry


def least_dry_at(recall: np.ndarray, dry_rate: np.ndarray, wanted: float) -> float:
    """The least dry land as water a rule draws while finding at least ``wanted`` of the water."""
    return float(dry_rate[min(np.searchsorted(recall, wanted), len(recall) - 1)])


def half(shape: tuple[int, int], which: str) -> np.ndarray:
    """Boolean ``shape``: the ``which`` half of a scene."""
    h, w = shape
    mask = np.zeros(shape, bool)
    mask[{"left": (slice(None), slice(0, w // 2)), "right": (slice(None), slice(w // 2, None)),
          "top": (slice(0, h // 2), slice(None)), "bottom": (slice(h // 2, None), slice(None))}[which]] = True
    return mask


def fitted_trade(bins: np.ndarray, water: np.ndarray, fit: np.ndarray, test: np.ndarray,
                 levels: int) -> tuple[np.ndarray, np.ndarray]:
    """The trade of the colour rule fitted on the ``fit`` pixels, scored on the ``test`` ones (all (H, W);
    ``bins`` from ``colour_bins``)."""
    return trade(water_share(bins[fit], water[fit], levels)[bins[test]], water[test])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scene", required=True, help="a scene with bands R, G, B, NIR (NAIP)")
    parser.add_argument("--map", default=None, help="a map of the scene by geotrans run (same grid)")
    parser.add_argument("--levels", type=int, default=32, help="colour levels a channel (32: bins of 8)")
    parser.add_argument("--recall", type=float, nargs="+", default=[0.5, 0.68, 0.8])
    args = parser.parse_args()
    with rasterio.open(args.scene) as src:
        bands = src.read()
        valid = src.dataset_mask() > 0
    truth = water_truth(bands[1], bands[3])
    bins = colour_bins(bands[:3], args.levels)
    whole = fitted_trade(bins, truth, valid, valid, args.levels)
    held = {name: fitted_trade(bins, truth, valid & half(valid.shape, name), valid & ~half(valid.shape, name),
                               args.levels) for name in HALVES}
    print(f"{args.scene}: water (NDWI) {truth[valid].mean():.1%} of {valid.sum()} valid pixels, "
          f"colour bins of {256 // args.levels} levels")
    print("colour rule, dry land as water at recall   fitted on the scene   fitted on one half, scored on the other "
          f"({', '.join(HALVES)})")
    for wanted in args.recall:
        others = [least_dry_at(*held[name], wanted) for name in HALVES]
        print(f"  {wanted:>38.2f}   {least_dry_at(*whole, wanted):>19.1%}   "
              f"mean {np.mean(others):.1%} ({', '.join(f'{x:.1%}' for x in others)})")
    if args.map:
        with rasterio.open(args.map) as src:
            drawn = map_water(src.read((1, 2, 3))) & valid
        wet, dry = truth & valid, ~truth & valid
        found = (drawn & wet).sum() / max(wet.sum(), 1)
        print(f"the map: recall {found:.3f}, dry land as water {(drawn & dry).sum() / max(dry.sum(), 1):.1%}; "
              f"a colour rule fitted on the scene, at that recall: {least_dry_at(*whole, found):.1%}")
        print("mean R, G, B, NIR of   pixels")
        for name, where in (("water drawn as water", drawn & wet), ("water missed", ~drawn & wet),
                            ("dry drawn as water", drawn & dry), ("dry kept dry", ~drawn & dry)):
            means = ", ".join(f"{bands[b][where].mean():.0f}" for b in range(4))
            print(f"  {name:<20}  {means:<18}  {where.sum()}")


if __name__ == "__main__":
    main()
