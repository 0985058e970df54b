"""Web tiles of a map and of its scene: XYZ PNGs in Web Mercator (EPSG:3857, Google's and OSM's tile grid),
from the map's native zoom down to a view of the whole scene, one tile at a time (memory stays flat however
large the map).

The tile grid is morecantile's ``WebMercatorQuad`` and each tile is read by rio-tiler (a window of a warped
view of the file, at the tile's resolution): the two libraries titiler serves tiles with, rather than our own
tile maths. A folder of ``z/x/y.png`` files opens from ``file://`` in any browser and in QGIS as an XYZ
layer; PNG keeps the map's class colours exact and its transparency.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import rasterio

from geotrans.errors import InputError

MAX_TILES = 10_000_000  # a zoom range that would write more is refused before anything is written
TILE = 256
GDAL_CACHE = 64 << 20  # bytes of GDAL's block cache while tiling: a coarse tile reads every block of the map,
# and GDAL's default cache (5% of RAM) would keep them all, so memory would grow with the map
EPSILON = 1e-11  # degrees: morecantile's own LL_EPSILON, so that our ranges are its tiles()'


def libraries():
    """morecantile and rio-tiler, or one line saying how to install them (the ``web`` extras)."""
    try:
        import morecantile
        from rio_tiler.io import Reader
    except ImportError as err:
        raise InputError(f"web tiles need rio-tiler and morecantile ({err})",
                         hint="pip install '.[web]' in the clone") from None
    return morecantile.tms.get("WebMercatorQuad"), Reader


@dataclass(frozen=True)
class Pyramid:
    """The tiles of one raster: every XYZ tile touching its ``bounds`` (west, south, east, north in degrees)
    at each zoom from ``minzoom`` (the whole raster in about one tile) to ``maxzoom`` (its native
    resolution)."""

    minzoom: int
    maxzoom: int
    bounds: tuple[float, float, float, float]

    def ranges(self, zoom: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1), inclusive: the tiles at ``zoom`` that touch the bounds (as morecantile's
        ``tiles`` finds them: a bound on a tile's edge does not reach into the next tile)."""
        tms, _ = libraries()
        west, south, east, north = self.bounds
        first = tms.tile(west + EPSILON, north - EPSILON, zoom)
        last = tms.tile(east - EPSILON, south + EPSILON, zoom)
        return first.x, first.y, last.x, last.y

    def count(self) -> int:
        total = 0
        for zoom in range(self.minzoom, self.maxzoom + 1):
            x0, y0, x1, y1 = self.ranges(zoom)
            total += (x1 - x0 + 1) * (y1 - y0 + 1)
        return total

    def tiles(self) -> Iterator[tuple[int, int, int]]:
        """(x, y, z) of every tile, the coarsest zoom first."""
        for zoom in range(self.minzoom, self.maxzoom + 1):
            x0, y0, x1, y1 = self.ranges(zoom)
            for x in range(x0, x1 + 1):
                for y in range(y0, y1 + 1):
                    yield x, y, zoom


def pyramid_of(path: str | os.PathLike, maxzoom: Optional[int] = None, minzoom: Optional[int] = None) -> Pyramid:
    """The pyramid of the raster at ``path``: its native zoom (rio-tiler's, from its resolution) down to the
    zoom where its longer side fits one 256 px tile; ``maxzoom``, ``minzoom`` override them. One line for a
    raster without georeferencing, or a range of more than ``MAX_TILES`` tiles."""
    tms, Reader = libraries()
    with Reader(os.fspath(path)) as reader:
        if reader.dataset.crs is None:
            raise InputError(f"{path}: has no georeferencing (no CRS); web tiles need to know where it lies")
        bounds = tuple(reader.get_geographic_bounds(tms.rasterio_geographic_crs))
        native = reader.maxzoom
        side = max(reader.dataset.width, reader.dataset.height)
    top = native if maxzoom is None else maxzoom
    whole = max(0, native - math.ceil(math.log2(max(1.0, side / TILE))))
    bottom = min(top, whole if minzoom is None else minzoom)
    if not 0 <= bottom <= top <= 24:
        raise InputError(f"zooms {bottom}-{top}: web tiles go from 0 to 24, the lower first")
    pyramid = Pyramid(bottom, top, bounds)
    count = pyramid.count()
    if count > MAX_TILES:
        raise InputError(f"{path}: zooms {bottom}-{top} would write {count:,} tiles, more than {MAX_TILES:,}",
                         hint="give a lower {max_zoom}", options=["max_zoom"])
    return pyramid


def write_tiles(path: str | os.PathLike, folder: Path, pyramid: Pyramid, bands: Sequence[int] = (1, 2, 3),
                stretch: Optional[Sequence[tuple[float, float]]] = None, resampling: str = "nearest",
                progress: Optional[Callable[[int], None]] = None) -> int:
    """Every tile of ``pyramid`` from the raster at ``path`` as ``folder/z/x/y.png`` (RGBA, transparent where
    the raster has no data), ``bands`` as red, green and blue, each stretched from its (low, high) in
    ``stretch`` to 0-255 where given; a tile wholly outside the data is not written (a viewer shows it empty).
    ``resampling``: nearest for a map (its colours stay the classes'), bilinear for a photo. Returns the
    tiles written; ``progress`` hears each one."""
    _, Reader = libraries()
    written = 0
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE), Reader(os.fspath(path)) as reader:
        for x, y, z in pyramid.tiles():
            if not reader.tile_exists(x, y, z):
                continue
            image = reader.tile(x, y, z, indexes=tuple(bands), tilesize=TILE, resampling_method=resampling,
                                reproject_method=resampling)
            if not image.mask.any():
                continue
            if stretch is not None:
                image.rescale(in_range=[tuple(s) for s in stretch], out_range=((0, 255),))
            target = folder / str(z) / str(x) / f"{y}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(image.render(img_format="PNG", add_mask=True))
            written += 1
            if progress is not None:
                progress(1)
    return written
