"""Ground resolution: how big a scene's pixels are on the ground, and the grid the model reads.

A generator learns its imagery at one ground resolution (the model card's
``native_resolution_m``). A scene at another resolution is read resampled to it
through a WarpedVRT in the scene's own CRS, with the same origin:

* downsampling (scene finer than the model) uses ``average``: every source pixel
  contributes, so fine texture is low-passed instead of aliased;
* upsampling (scene coarser) uses ``bilinear``: smooth, without the overshoot
  halos that cubic kernels draw around sharp edges.

Ground size is measured at the scene centre on the WGS84 ellipsoid, so geographic
CRSs (degrees) and web mercator (whose nominal metres grow with latitude) give
true metres.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Optional

from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import transform as transform_coords

from geotrans.errors import InputError

log = logging.getLogger(__name__)

WGS84_A = 6378137.0
WGS84_E2 = 0.00669437999014
TOLERANCE = 0.05  # resolutions within 5% of the model's are used as they are
MAX_UPSAMPLE = 4.0  # a scene far coarser than the model is out of its domain anyway; don't explode its size


def metres_per_degree(lat: float) -> tuple[float, float]:
    """(east-west, north-south) metres per degree at latitude ``lat`` on the WGS84 ellipsoid."""
    phi = math.radians(lat)
    w = 1 - WGS84_E2 * math.sin(phi) ** 2
    prime_vertical = WGS84_A / math.sqrt(w)
    meridional = WGS84_A * (1 - WGS84_E2) / w**1.5
    return prime_vertical * math.cos(phi) * math.pi / 180, meridional * math.pi / 180


def pixel_size_m(crs, transform: Affine, width: int, height: int) -> tuple[float, float]:
    """(ground width, ground height) of the scene's centre pixel, in metres."""
    col, row = width / 2, height / 2
    xs, ys = zip(*(transform * (c, r) for c, r in ((col, row), (col + 1, row), (col, row + 1))))
    lons, lats = transform_coords(crs, "EPSG:4326", list(xs), list(ys))
    east, north = metres_per_degree(lats[0])

    def distance(i: int) -> float:
        return math.hypot((lons[i] - lons[0]) * east, (lats[i] - lats[0]) * north)

    return distance(1), distance(2)


def ground_resolution_m(crs, transform: Affine, width: int, height: int) -> float:
    """Geometric mean of a centre pixel's ground width and height, in metres."""
    x_m, y_m = pixel_size_m(crs, transform, width, height)
    return math.sqrt(x_m * y_m)


@dataclass(frozen=True)
class ProcessingGrid:
    """The grid the model reads: the scene's own, or a resampled one at the model's resolution."""

    width: int
    height: int
    transform: Affine
    scene_gsd_m: Optional[float]
    model_gsd_m: Optional[float]
    resampling: Optional[Resampling] = None  # None: the scene's own grid, no resampling
    scale: float = 1.0  # processing pixel size / scene pixel size

    @property
    def resampled(self) -> bool:
        return self.resampling is not None

    @property
    def back_resampling(self) -> Resampling:
        """Resampling from the model's grid back onto the scene's: averaging where the model's pixels are the
        smaller ones, bilinear where they are bigger."""
        return Resampling.average if self.scale < 1 else Resampling.bilinear

    def describe(self) -> str:
        if self.scene_gsd_m is None:
            return "ground resolution unknown; processed at the scene's pixel size"
        text = f"{self.scene_gsd_m:.3g} m/px"
        if self.model_gsd_m is None:
            return text + " (the model does not state its resolution; used as is)"
        if not self.resampled:
            return text + f", within {TOLERANCE:.0%} of the model's {self.model_gsd_m:.3g} m/px"
        return (text + f", read at {self.gsd_m:.3g} m/px for the model's {self.model_gsd_m:.3g} m/px "
                f"({self.resampling.name}): {self.width} x {self.height} px")

    @property
    def gsd_m(self) -> Optional[float]:
        """Ground size of the pixels the model reads."""
        return None if self.scene_gsd_m is None else self.scene_gsd_m * self.scale

ASPECT_WARNING = 2.0  # pixels longer than wide (or wider than long) by this on the ground are far from square
FINE_WARNING = 20.0  # pixels this many times finer than the model's are far finer: suspect the georeferencing


def warn_odd_pixels(width_m: float, height_m: float, model_gsd_m: Optional[float]) -> None:
    """Warn of pixels far from square on the ground (a geographic grid at a pole, a wrong transform) or far
    finer than the model's (0.00001 degrees is 1 m at the equator, and far less near a pole)."""
    if min(width_m, height_m) <= 0:
        return
    aspect = max(width_m, height_m) / min(width_m, height_m)
    if aspect >= ASPECT_WARNING:
        log.warning("pixels are %.3g x %.3g m on the ground, %.1fx longer one way than the other; the model "
                    "learnt square pixels, so the map will be distorted", width_m, height_m, aspect)
    gsd = math.sqrt(width_m * height_m)
    if model_gsd_m and gsd * FINE_WARNING <= model_gsd_m:
        log.warning("pixels of %.3g m are %.0fx finer than the model's %.3g m; check the scene's georeferencing "
                    "(or give --gsd)", gsd, model_gsd_m / gsd, model_gsd_m)


RESAMPLINGS = ("auto", "nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average")


def processing_grid(crs, transform: Affine, width: int, height: int, model_gsd_m: Optional[float],
                    gsd_override_m: Optional[float] = None, resampling: str = "auto") -> ProcessingGrid:
    """Where the model reads the scene: resampled to ``model_gsd_m`` unless within tolerance, with
    ``resampling`` (auto: average when the scene is finer than the model, bilinear when it is coarser)."""
    if gsd_override_m is not None:
        scene_gsd = gsd_override_m
    elif crs is None:
        scene_gsd = None
    else:
        scene_gsd = ground_resolution_m(crs, transform, width, height)
        warn_odd_pixels(*pixel_size_m(crs, transform, width, height), model_gsd_m)
    if scene_gsd is None or model_gsd_m is None or abs(scene_gsd / model_gsd_m - 1) <= TOLERANCE:
        return ProcessingGrid(width, height, transform, scene_gsd, model_gsd_m)
    scale = model_gsd_m / scene_gsd  # > 1: the model's pixels are bigger, so fewer of them
    if width / scale < 1 or height / scale < 1:
        raise InputError(f"at {scene_gsd:.3g} m per pixel the scene is {width * scene_gsd:.3g} x "
                         f"{height * scene_gsd:.3g} m, smaller than one {model_gsd_m:.3g} m pixel of the model; "
                         "check the ground resolution")
    if scale < 1 / MAX_UPSAMPLE:
        log.warning("scene pixels (%.3g m) are %.0fx the model's (%.3g m); upsampling is capped at %gx, so the "
                    "map will not look like the model's training imagery", scene_gsd, 1 / scale, model_gsd_m,
                    MAX_UPSAMPLE)
        scale = 1 / MAX_UPSAMPLE
    return ProcessingGrid(
        width=max(1, math.ceil(width / scale)),
        height=max(1, math.ceil(height / scale)),
        transform=transform * Affine.scale(scale),
        scene_gsd_m=scene_gsd,
        model_gsd_m=model_gsd_m,
        resampling=(Resampling.average if scale > 1 else Resampling.bilinear) if resampling == "auto"
        else Resampling[resampling],
        scale=scale,
    )
