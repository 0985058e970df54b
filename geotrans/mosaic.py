"""Mosaicker: blends overlapping tiles and streams finished rows into a GeoTIFF.

Tiles arrive in row-major order. Each is added with a smooth weight window (a
cosine ramp over the overlap), and every pixel is divided by the sum of its
weights, so weights sum to 1 everywhere, scene edges included. Once a tile
starting at row r arrives, no later tile touches rows above r: those rows are
final and are handed to the sink. Only the open band of rows is held, at most
``tile + stride`` rows, whatever the scene's height.
"""
from __future__ import annotations

import logging
import math
import os
import uuid
from pathlib import Path
from typing import Callable

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import ColorInterp, Resampling
from rasterio.windows import Window

from geotrans.tiler import Tile

log = logging.getLogger(__name__)

RowSink = Callable[[int, np.ndarray, np.ndarray], None]
"""Receives (first row, values (bands, n, width) float32 in [-1, 1], valid (n, width) bool)."""


def blend_ramp(size: int, overlap: int) -> np.ndarray:
    """1-D weights: a cosine (sin^2) ramp over ``overlap`` pixels at each end, 1 inside, never 0."""
    weights = np.ones(size, dtype=np.float64)
    if overlap > 0:
        t = (np.arange(overlap) + 0.5) / overlap
        ramp = np.sin(t * math.pi / 2) ** 2
        weights[:overlap] = np.minimum(weights[:overlap], ramp)
        weights[size - overlap :] = np.minimum(weights[size - overlap :], ramp[::-1])
    return weights


def blend_window(size: int, overlap: int) -> np.ndarray:
    """2-D separable weight window of ``size`` x ``size``."""
    ramp = blend_ramp(size, overlap)
    return np.outer(ramp, ramp).astype(np.float32)


class StreamingMosaic:
    """Weighted accumulator over the open band of rows of a ``height`` x ``width`` scene."""

    def __init__(self, height: int, width: int, tile: int, overlap: int, sink: RowSink, bands: int = 3):
        self.height, self.width, self.bands = height, width, bands
        self.sink = sink
        self.window = blend_window(tile, overlap)
        # Consecutive row starts are at most one stride apart, so the open rows
        # (from the first unfinished row to the bottom of the current tile) fit here.
        self.capacity = min(height, tile + (tile - overlap))
        self._values = np.zeros((bands, self.capacity, width), dtype=np.float32)
        self._weights = np.zeros((self.capacity, width), dtype=np.float32)
        self.top = 0  # scene row held in buffer row 0
        self.rows_flushed = 0

    def add(self, tile: Tile, pixels: np.ndarray, valid: np.ndarray) -> None:
        """Blend ``pixels`` (bands, >=h, >=w) of ``tile``; ``valid`` (h, w) zeroes weights of invalid pixels."""
        if tile.row < self.top:
            raise ValueError(f"tile at row {tile.row} arrived after rows up to {self.top} were written")
        self.flush_until(tile.row)
        r0, h, w = tile.row - self.top, tile.height, tile.width
        if r0 + h > self.capacity:
            raise ValueError("tile does not fit the open band of rows; tiles must come from one TileGrid in order")
        weight = self.window[:h, :w] * valid
        self._values[:, r0 : r0 + h, tile.col : tile.col + w] += pixels[:, :h, :w] * weight
        self._weights[r0 : r0 + h, tile.col : tile.col + w] += weight

    def flush_until(self, row: int) -> None:
        """Hand every row above ``row`` to the sink and drop it from the buffer."""
        row = min(row, self.height)
        while self.top < row:
            n = min(row - self.top, self.capacity)
            weights = self._weights[:n]
            covered = weights > 0
            values = np.divide(self._values[:, :n], weights, out=np.zeros_like(self._values[:, :n]), where=covered)
            self.sink(self.top, values, covered)
            self._values[:, : self.capacity - n] = self._values[:, n:]
            self._values[:, self.capacity - n :] = 0
            self._weights[: self.capacity - n] = self._weights[n:]
            self._weights[self.capacity - n :] = 0
            self.top += n
            self.rows_flushed += n

    def close(self) -> None:
        """Flush the remaining rows; after this every scene row has reached the sink once."""
        self.flush_until(self.height)


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Model output in [-1, 1] to 0..255."""
    return np.clip(np.rint((values + 1.0) * 127.5), 0, 255).astype(np.uint8)


def overview_factors(height: int, width: int, smallest: int = 256) -> list[int]:
    """Power-of-two decimations until the coarsest overview fits in ``smallest`` pixels."""
    factors, factor = [], 1
    while max(height, width) / factor > smallest:
        factor *= 2
        factors.append(factor)
    return factors


class GeoTiffSink:
    """Streams rows into a new 3-band RGB GeoTIFF on the source grid, written atomically.

    Writes to a hidden temporary file beside ``path``; ``commit`` builds overviews
    and renames it into place, ``discard`` removes it.
    """

    def __init__(self, path: str | os.PathLike, profile: dict, write_mask: bool, tags: dict | None = None,
                 cog: bool = False):
        self.path = Path(path)
        self.tmp_path = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.part")
        self.cog_path = self.tmp_path.with_name(self.tmp_path.name + ".cog")
        self.write_mask = write_mask
        self.cog = cog
        out_profile = {
            "driver": "GTiff",
            "width": profile["width"],
            "height": profile["height"],
            "count": 3,
            "dtype": "uint8",
            "crs": profile["crs"],
            "transform": profile["transform"],
            "nodata": None,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "compress": "deflate",
            "predictor": 2,
            "zlevel": 6,
            "photometric": "RGB",
            "interleave": "pixel",
            "bigtiff": "IF_SAFER",
        }
        self._ds = None
        self._env = rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True)
        self._env.__enter__()
        try:
            self._ds = rasterio.open(self.tmp_path, "w", **out_profile)
            self._ds.colorinterp = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
            if tags:
                self._ds.update_tags(**tags)
        except BaseException:  # an interrupt during creation must not leave the file behind
            self.discard()
            raise

    def __call__(self, row: int, values: np.ndarray, valid: np.ndarray) -> None:
        """Mosaicker rows (values in [-1, 1]) starting at ``row``."""
        self.write_pixels(row, to_uint8(values), valid)

    def write_pixels(self, row: int, pixels: np.ndarray, valid: np.ndarray) -> None:
        """uint8 (3, n, width) rows starting at ``row``; invalid pixels are zeroed (in place) and masked."""
        pixels[:, ~valid] = 0
        window = Window(0, row, pixels.shape[2], pixels.shape[1])
        self._ds.write(pixels, window=window)
        if self.write_mask:
            self._ds.write_mask(valid.astype(np.uint8) * 255, window=window)

    def finish(self, overviews: bool = True) -> Path:
        """Close the temporary file, with internal overviews (average) or as a COG; returns its path."""
        if self.cog:
            self._close()
            rasterio.shutil.copy(self.tmp_path, self.cog_path, driver="COG", compress="DEFLATE", predictor="YES",
                                 blocksize=256, overview_resampling="AVERAGE", bigtiff="IF_SAFER")
            os.replace(self.cog_path, self.tmp_path)
            return self.tmp_path
        factors = overview_factors(self._ds.height, self._ds.width) if overviews else []
        if factors:
            self._ds.build_overviews(factors, Resampling.average)
            self._ds.update_tags(ns="rio_overview", resampling="average")
        self._close()
        return self.tmp_path

    def commit(self) -> None:
        """Finish and rename over ``path``: only now does anything appear there."""
        self.finish()
        os.replace(self.tmp_path, self.path)
        log.info("wrote %s", self.path)

    def discard(self) -> None:
        """Close and delete the temporary file; nothing is left at ``path``."""
        try:
            self._close()
        finally:
            for leftover in (self.tmp_path, self.tmp_path.with_name(self.tmp_path.name + ".msk"), self.cog_path):
                leftover.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._ds is not None and not self._ds.closed:
            self._ds.close()
        if self._env is not None:
            self._env.__exit__(None, None, None)
            self._env = None
