"""Mosaicker: blends overlapping tiles and streams finished rows to a sink.

Tiles arrive in row-major order. Each is added with a smooth weight window (a
cosine ramp over the overlap), and every pixel is divided by the sum of its
weights, so weights sum to 1 everywhere, scene edges included. Once a tile
starting at row r arrives, no later tile touches rows above r: those rows are
final and are handed to the sink. Only the open band of rows is held, at most
``tile + stride`` rows, whatever the scene's height. Writing the rows is the
sink's job (``geotrans.io.sink``).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from geotrans.io.tiler import Tile

RowSink = Callable[[int, np.ndarray, np.ndarray], None]
"""Receives (first row, values (bands, n, width) float32 in the model's range, valid (n, width) bool)."""


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

    def __init__(self, height: int, width: int, tile_size: int, overlap: int, sink: RowSink, bands: int = 3,
                 first_col: int = 0, first_row: int = 0):
        """A mosaic of ``height`` rows and ``width`` columns starting at scene row ``first_row`` and column
        ``first_col`` (a strip or band of a larger scene)."""
        self.height, self.width, self.bands = height, width, bands
        self.first_col = first_col
        self.sink = sink
        self.window = blend_window(tile_size, overlap)
        # Consecutive row starts are at most one stride apart, so the open rows
        # (from the first unfinished row to the bottom of the current tile) fit here.
        self.capacity = min(height, tile_size + (tile_size - overlap))
        self._values = np.zeros((bands, self.capacity, width), dtype=np.float32)
        self._weights = np.zeros((self.capacity, width), dtype=np.float32)
        self.top = first_row  # scene row held in buffer row 0
        self.bottom = first_row + height
        self.rows_flushed = 0

    @property
    def buffer_shape(self) -> tuple[int, int, int]:
        """(bands, rows, width) of the accumulator: the open band of rows, whatever the scene's height."""
        return self._values.shape

    def add(self, tile: Tile, pixels: np.ndarray, valid: np.ndarray) -> None:
        """Blend ``pixels`` (bands, >=h, >=w) of ``tile``; ``valid`` (h, w) zeroes weights of invalid pixels."""
        if tile.row < self.top:
            raise ValueError(f"tile at row {tile.row} arrived after rows up to {self.top} were written")
        self.flush_until(tile.row)
        r0, h, w, c0 = tile.row - self.top, tile.height, tile.width, tile.col - self.first_col
        if r0 + h > self.capacity:
            raise ValueError("tile does not fit the open band of rows; tiles must come from one TileGrid in order")
        if c0 < 0 or c0 + w > self.width:
            raise ValueError("tile lies outside the mosaic's columns")
        weight = self.window[:h, :w] if valid.all() else self.window[:h, :w] * valid
        contribution = pixels[:, :h, :w] * weight
        self._values[:, r0 : r0 + h, c0 : c0 + w] += contribution
        self._weights[r0 : r0 + h, c0 : c0 + w] += weight

    def flush_until(self, row: int) -> None:
        """Hand every row above ``row`` to the sink and drop it from the buffer."""
        row = min(row, self.bottom)
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
        self.flush_until(self.bottom)
