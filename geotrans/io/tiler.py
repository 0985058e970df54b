"""Tiler: lays a grid of fixed-size windows with overlap over a scene.

Every pixel is covered. Along each axis the windows start every ``tile - overlap``
pixels; the last window is shifted inward so it ends exactly on the scene's edge
(never stretched, never dropped). An axis shorter than one tile gets a single
window that the reader pads by reflection up to the tile size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from rasterio.windows import Window

from geotrans.errors import InputError

DEFAULT_TILE = 256
# 64 px (a quarter tile): the generator is least reliable near tile borders, where its
# receptive field meets zero padding, and GAN textures differ from tile to tile; a
# 64 px cosine ramp hides both. Costs (256/192)^2 = 1.78x the tiles of no overlap.
DEFAULT_OVERLAP = 64


def check_overlap(overlap: int, tile_size: int) -> None:
    """The one rule for overlaps: 0 up to half a tile (beyond that, three windows would share pixels)."""
    if not 0 <= overlap <= tile_size // 2:
        raise InputError(f"overlap must be between 0 and {tile_size // 2} pixels, not {overlap}")


@dataclass(frozen=True)
class Tile:
    """One window of the scene, in pixel coordinates of the full-resolution scene.

    ``height``/``width`` is the part that lies inside the scene; it is smaller than
    the tile size only when the scene itself is smaller than one tile.
    """

    row: int
    col: int
    height: int
    width: int
    index: int = 0

    @property
    def window(self) -> Window:
        return Window(self.col, self.row, self.width, self.height)

    @property
    def row_stop(self) -> int:
        return self.row + self.height

    @property
    def col_stop(self) -> int:
        return self.col + self.width


def axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Window start offsets along one axis of ``length`` pixels."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)  # last window flush with the edge
    return starts


@dataclass(frozen=True)
class TileGrid:
    """The windows covering a ``height`` x ``width`` scene, in row-major order."""

    height: int
    width: int
    tile: int = DEFAULT_TILE
    overlap: int = DEFAULT_OVERLAP

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise ValueError("scene must have at least one pixel")
        check_overlap(self.overlap, self.tile)

    @property
    def row_starts(self) -> list[int]:
        return axis_starts(self.height, self.tile, self.overlap)

    @property
    def col_starts(self) -> list[int]:
        return axis_starts(self.width, self.tile, self.overlap)

    def __len__(self) -> int:
        return len(self.row_starts) * len(self.col_starts)

    def __iter__(self) -> Iterator[Tile]:
        index = 0
        for row in self.row_starts:
            for col in self.col_starts:
                yield Tile(row, col, min(self.tile, self.height - row), min(self.tile, self.width - col), index)
                index += 1


MAX_BAND_WIDTH = 8192  # columns blended at once: the mosaic's memory no longer grows with the scene's width
BLOCK = 256  # the map's block size: spans are multiples of it, so each output block is written by one span


@dataclass(frozen=True)
class Span:
    """The output pixels [start, stop) along one axis that one pass over the tile grid blends and writes,
    and the pixels [first, last) its tiles cover (the neighbouring span recomputes the tiles at the seam)."""

    start: int
    stop: int
    first: int
    last: int

    def holds(self, tile: Tile) -> bool:
        """Whether ``tile`` touches this span; each axis (``ColumnBand``, ``RowStrip``) says how."""
        raise NotImplementedError

    def tiles(self, grid: TileGrid) -> Iterator[Tile]:
        """The grid's tiles that touch this span, in row-major order."""
        return filter(self.holds, grid)


def spans(starts: list[int], length: int, tile: int, size: int) -> list[Span]:
    """Spans of at most ``size`` pixels (a multiple of the block size) covering ``length`` pixels, for windows
    starting at ``starts``; one span when the axis is no longer than that."""
    if size < BLOCK or size % BLOCK:
        raise ValueError(f"a span must be a positive multiple of {BLOCK} pixels, not {size}")
    result = []
    for start in range(0, length, size):
        stop = min(length, start + size)
        touching = [(s, min(s + tile, length)) for s in starts if s < stop and s + tile > start]
        result.append(Span(start, stop, min(s for s, _ in touching), max(e for _, e in touching)))
    return result


@dataclass(frozen=True)
class ColumnBand(Span):
    """Output columns blended at once (a very wide scene is blended band by band)."""

    def holds(self, tile: Tile) -> bool:
        """Whether ``tile`` touches this band's columns."""
        return tile.col < self.stop and tile.col_stop > self.start


@dataclass(frozen=True)
class RowStrip(Span):
    """Output rows that one worker computes and writes (one scene split across a cluster)."""

    def holds(self, tile: Tile) -> bool:
        """Whether ``tile`` touches this strip's rows."""
        return tile.row < self.stop and tile.row_stop > self.start


def column_bands(grid: TileGrid, max_width: int = MAX_BAND_WIDTH) -> list[ColumnBand]:
    """Bands of at most ``max_width`` output columns covering the scene; one when it is no wider than that."""
    return [ColumnBand(**vars(s)) for s in spans(grid.col_starts, grid.width, grid.tile, max_width)]


def row_strips(grid: TileGrid, rows: int) -> list[RowStrip]:
    """Strips of at most ``rows`` output rows covering the scene; one when it is no taller than that."""
    return [RowStrip(**vars(s)) for s in spans(grid.row_starts, grid.height, grid.tile, rows)]
