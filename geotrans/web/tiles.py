"""Web tiles of a map and of its scene: PNGs in Web Mercator (EPSG:3857, Google's and OSM's tile grid), from
the map's native zoom down to a view of the whole scene, one tile at a time (memory stays flat however large
the map).

The tile grid is morecantile's ``WebMercatorQuad`` and each tile is read by rio-tiler (a window of a warped
view of the file, at the tile's resolution): the two libraries titiler serves tiles with, rather than our own
tile maths. PNG keeps the map's class colours exact and its transparency. Two ways to store them:

* ``xyz``: a folder of ``z/x/y.png`` files, which opens from ``file://`` in any browser and in QGIS as an XYZ
  layer, with no server; thousands of small files to copy;
* ``pmtiles``: one archive per layer (protomaps' PMTiles, written by its ``pmtiles`` package), one file to
  copy or upload to any static host; a browser reads it by HTTP range requests, so it needs a server
  (``geotrans web --serve``, or any that answers ranges).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

import rasterio

from geotrans.errors import InputError

FORMATS = ("xyz", "pmtiles")
MAX_TILES = 10_000_000  # a zoom range that would write more is refused before anything is written
TILE = 256
GDAL_CACHE = 64 << 20  # bytes of GDAL's block cache while tiling: a coarse tile reads every block of the map,
# and GDAL's default cache (5% of RAM) would keep them all, so memory would grow with the map
EPSILON = 1e-11  # degrees: morecantile's own LL_EPSILON, so that our ranges are its tiles()'


def libraries(tile_format: str = "xyz"):
    """morecantile and rio-tiler (and pmtiles, for that format), or one line saying how to install them (the
    ``web`` extras)."""
    try:
        import morecantile
        from rio_tiler.io import Reader

        if tile_format == "pmtiles":
            import pmtiles.writer  # noqa: F401
    except ImportError as err:
        raise InputError(f"web tiles need rio-tiler, morecantile and pmtiles ({err})",
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

    def tiles(self, clustered: bool = False) -> Iterator[tuple[int, int, int]]:
        """(x, y, z) of every tile, the coarsest zoom first; ``clustered``: each zoom's in PMTiles's order (its
        tile ids, along a Hilbert curve), so that an archive's neighbouring tiles lie together."""
        for zoom in range(self.minzoom, self.maxzoom + 1):
            x0, y0, x1, y1 = self.ranges(zoom)
            cells = ((x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1))
            if clustered:
                from pmtiles.tile import zxy_to_tileid

                cells = sorted(cells, key=lambda cell: zxy_to_tileid(zoom, *cell))
            for x, y in cells:
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


def render_tiles(path: str | os.PathLike, pyramid: Pyramid, bands: Sequence[int] = (1, 2, 3),
                 stretch: Optional[Sequence[tuple[float, float]]] = None, resampling: str = "nearest",
                 clustered: bool = False) -> Iterator[tuple[int, int, int, bytes]]:
    """(x, y, z, PNG) of every tile of ``pyramid`` from the raster at ``path`` (RGBA, transparent where the
    raster has no data), ``bands`` as red, green and blue, each stretched from its (low, high) in ``stretch``
    to 0-255 where given; a tile wholly outside the data is left out (a viewer shows it empty).
    ``resampling``: nearest for a map (its colours stay the classes'), bilinear for a photo."""
    _, Reader = libraries()
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE), Reader(os.fspath(path)) as reader:
        for x, y, z in pyramid.tiles(clustered):
            if not reader.tile_exists(x, y, z):
                continue
            image = reader.tile(x, y, z, indexes=tuple(bands), tilesize=TILE, resampling_method=resampling,
                                reproject_method=resampling)
            if not image.mask.any():
                continue
            if stretch is not None:
                image.rescale(in_range=[tuple(s) for s in stretch], out_range=((0, 255),))
            yield x, y, z, image.render(img_format="PNG", add_mask=True)


def write_tile_folder(tiles: Iterable[tuple[int, int, int, bytes]], folder: Path,
                      progress: Optional[Callable[[int], None]] = None) -> int:
    """``tiles`` as ``folder/z/x/y.png``; returns how many; ``progress`` hears each one."""
    written = 0
    for x, y, z, png in tiles:
        target = folder / str(z) / str(x) / f"{y}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png)
        written += 1
        if progress is not None:
            progress(1)
    return written


def write_pmtiles(tiles: Iterable[tuple[int, int, int, bytes]], archive: Path, pyramid: Pyramid, name: str,
                  progress: Optional[Callable[[int], None]] = None) -> int:
    """``tiles`` (PNGs, best in PMTiles's order: ``render_tiles(clustered=True)``) as one PMTiles v3 archive
    at ``archive``, its header giving the pyramid's bounds and zooms, its metadata ``name``; returns how many
    tiles. Tiles that are the same bytes (empty corners, open water) are stored once."""
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    written = 0
    west, south, east, north = pyramid.bounds
    with open(archive, "wb") as f:
        writer = Writer(f)
        for x, y, z, png in tiles:
            writer.write_tile(zxy_to_tileid(z, x, y), png)
            written += 1
            if progress is not None:
                progress(1)
        if not written:
            raise InputError(f"{name}: no tile holds data; nothing to write")
        header = {"tile_type": TileType.PNG, "tile_compression": Compression.NONE,
                  "min_lon_e7": round(west * 1e7), "min_lat_e7": round(south * 1e7),
                  "max_lon_e7": round(east * 1e7), "max_lat_e7": round(north * 1e7),
                  "center_zoom": pyramid.minzoom}
        writer.finalize(header, {"name": name, "format": "png", "type": "overlay",
                                 "minzoom": pyramid.minzoom, "maxzoom": pyramid.maxzoom})
    return written


def write_tiles(path: str | os.PathLike, target: Path, pyramid: Pyramid, bands: Sequence[int] = (1, 2, 3),
                stretch: Optional[Sequence[tuple[float, float]]] = None, resampling: str = "nearest",
                progress: Optional[Callable[[int], None]] = None, tile_format: str = "xyz") -> int:
    """Every tile of ``pyramid`` from the raster at ``path`` (``render_tiles``), as the folder ``target``
    (``xyz``) or the archive ``target`` (``pmtiles``). Returns the tiles written; ``progress`` hears each."""
    if tile_format == "pmtiles":
        tiles = render_tiles(path, pyramid, bands, stretch, resampling, clustered=True)
        return write_pmtiles(tiles, target, pyramid, Path(path).name, progress)
    if tile_format != "xyz":
        raise InputError(f"{tile_format}: not a tile format; one of {', '.join(FORMATS)}")
    return write_tile_folder(render_tiles(path, pyramid, bands, stretch, resampling), target, progress)
