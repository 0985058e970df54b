"""Which bands feed the model, and how their values map onto its 8-bit RGB input range.

* RGB uint8 is used as is; an alpha band is the validity mask (GDAL's dataset mask).
* ``--bands`` picks three 1-based bands in R, G, B order (or one, repeated to grey).
* Otherwise the colour interpretation decides; without one (NAIP's R, G, B, NIR) the
  first three bands are used and the choice is logged.
* A single band is repeated to grey RGB, with a warning.
* Other dtypes (uint16, float) are stretched per scene between percentiles (2-98 by
  default) computed once from a decimated read that excludes nodata and NaN, so
  every tile of the scene uses the same scaling.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from rasterio.enums import ColorInterp

from geotrans.errors import InputError

log = logging.getLogger(__name__)

RGB = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
FILL_MAGNITUDE = 1e30  # float values this large are fill values (float32's max, -1e38), not measurements
STATS_MAX_SIDE = 1024  # long side of the decimated read used for the stretch statistics
DEFAULT_PERCENTILES = (2.0, 98.0)


@dataclass(frozen=True)
class BandPlan:
    """Three 1-based band indexes (R, G, B) and, for non-8-bit data, each one's (low, high) stretch."""

    bands: tuple[int, int, int]
    stretch: Optional[tuple[tuple[float, float], ...]] = None

    def describe(self) -> str:
        text = "bands " + ",".join(map(str, self.bands))
        if self.stretch:
            text += " stretched " + ", ".join(f"{lo:g}..{hi:g}" for lo, hi in self.stretch)
        return text

    def to_uint8_range(self, data: np.ndarray) -> np.ndarray:
        """Band values (3, h, w) as 0..255 values: 8-bit data passes through unchanged (uint8), other data
        is stretched to float32."""
        if self.stretch is None:
            return data
        out = np.empty(data.shape, dtype=np.float32)
        for i, (low, high) in enumerate(self.stretch):
            scaled = (data[i].astype(np.float64) - low) / max(high - low, 1e-12) * 255.0
            out[i] = np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255)
        return out


def usable_values(data: np.ndarray) -> np.ndarray:
    """(h, w) bool of band values (n, h, w): True where every band is a measurement, finite and not a fill
    value such as 3.4e38. Integer data is always usable (its nodata is the mask's job)."""
    if not np.issubdtype(data.dtype, np.floating):
        return np.ones(data.shape[1:], dtype=bool)
    with np.errstate(invalid="ignore"):
        return (np.isfinite(data) & (np.abs(data) < FILL_MAGNITUDE)).all(axis=0)


def choose_bands(ds, requested: Optional[Sequence[int]] = None) -> tuple[int, int, int]:
    """R, G, B band indexes for the open dataset ``ds``."""
    if requested is not None:
        for band in requested:
            if not 1 <= band <= ds.count:
                raise InputError(f"{ds.name}: band {band} is out of range; the scene has {ds.count} band(s)")
            if ds.colorinterp[band - 1] == ColorInterp.alpha:
                raise InputError(f"{ds.name}: band {band} is the alpha (transparency) band, not image data; "
                                 "choose image bands")
        return tuple(requested) * 3 if len(requested) == 1 else tuple(requested)
    interp = list(ds.colorinterp)
    if ds.count == 1:
        log.warning("%s: one band; repeating it to grey RGB", ds.name)
        return (1, 1, 1)
    if ds.count == 2:
        raise InputError(f"{ds.name}: 2 bands; say which to use as R, G, B",
                         hint="for example --bands 1,1,2")
    if all(ci in interp for ci in RGB):
        return tuple(interp.index(ci) + 1 for ci in RGB)
    log.info("%s: no RGB colour interpretation; using bands 1, 2, 3 as R, G, B", ds.name)
    return (1, 2, 3)


def plan_bands(ds, requested: Optional[Sequence[int]] = None,
               percentiles: tuple[float, float] = DEFAULT_PERCENTILES) -> BandPlan:
    """Bands, plus a per-scene percentile stretch when the data is not 8-bit."""
    bands = choose_bands(ds, requested)
    if all(ds.dtypes[b - 1] == "uint8" for b in bands):
        return BandPlan(bands)
    return BandPlan(bands, scene_stretch(ds, bands, percentiles))


def scene_stretch(ds, bands: Sequence[int], percentiles: tuple[float, float]) -> tuple[tuple[float, float], ...]:
    """(low, high) percentiles of each band over valid pixels, from one decimated read of the scene."""
    factor = max(1, int(np.ceil(max(ds.width, ds.height) / STATS_MAX_SIDE)))
    shape = (max(1, ds.height // factor), max(1, ds.width // factor))
    unique = sorted(set(bands))
    data = ds.read(unique, out_shape=(len(unique), *shape), masked=True)
    valid = ~np.ma.getmaskarray(data).any(axis=0) & usable_values(data.filled(0))
    if not valid.any():
        raise InputError(f"{ds.name}: no valid pixels (all nodata, NaN, infinite or fill values); nothing to "
                         "translate")
    limits = {}
    for i, band in enumerate(unique):
        values = np.asarray(data[i].filled(0))[valid].astype(np.float64)
        low, high = np.percentile(values, percentiles)
        limits[band] = (float(low), float(high) if high > low else float(low) + 1.0)
    return tuple(limits[b] for b in bands)
