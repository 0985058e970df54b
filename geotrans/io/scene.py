"""Reading a source scene: validation, band choice, validity, and tiles as model input."""
from __future__ import annotations

import logging
import math
import os
import warnings
from bisect import bisect_left, bisect_right
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np
import rasterio
import shapely
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.errors import RasterioError
from rasterio.fill import fillnodata
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from shapely.geometry import box

from geotrans.errors import InputError, one_line
from geotrans.io.bands import BandPlan, plan_bands, usable_values
from geotrans.io.colours import scene_colours
from geotrans.io.footprint import inside_mask, pixels_inside, read_aoi, to_pixels, valid_footprint
from geotrans.io.gdal_messages import gdal_messages, reason
from geotrans.io.resolution import ProcessingGrid, processing_grid
from geotrans.io.targets import check_name
from geotrans.io.tiler import Tile, TileGrid
from geotrans.model.colours import Colours

log = logging.getLogger(__name__)


def is_gdal_path(path: str) -> bool:
    """A path only GDAL can resolve: a virtual file system (/vsizip/, /vsicurl/, ...) or a URL (https://, s3://)."""
    return path.startswith("/vsi") or "://" in path


@dataclass(frozen=True)
class SceneInfo:
    """What the pipeline needs to know about a source scene, read once."""

    path: str
    band_plan: BandPlan  # bands used as R, G, B and their scaling to 8 bits
    has_mask: bool  # False when every pixel is valid
    floating: bool  # float bands: NaN and infinities are invalid too
    profile: dict  # the source's own profile and grid: crs, transform, width, height
    grid: ProcessingGrid  # the grid the model reads (the source's, or resampled to the model's resolution)
    footprint: shapely.Geometry  # what to process (valid pixels, within the AOI), in processing-grid pixels
    aoi: Optional[shapely.Geometry] = None  # the area of interest in the scene's CRS
    files: Optional[tuple[str, ...]] = None  # the files GDAL listed for it (dataset.files): what it is made of
    source: str = ""  # the scene as the user named it (``path`` may read it through a vrt:// connection)
    colours: Optional[Colours] = None  # as the model will read them, where asked for (``inspect_scene``)

    def __post_init__(self) -> None:
        if not self.source:
            object.__setattr__(self, "source", self.path)

    def touches(self, tile: Tile) -> bool:
        """Whether ``tile`` overlaps the footprint; windows that don't are never read."""
        return self.footprint.intersects(box(tile.col, tile.row, tile.col_stop, tile.row_stop))

    def touching(self, tiles: TileGrid) -> Iterator[Tile]:
        """The windows of ``tiles`` that overlap the footprint (as ``touches`` says), in row-major order.

        Row by row of windows: the footprint cut to the row's band meets a window of the band exactly where
        its parts' column extents meet the window's columns, so each row costs one intersection and a
        bisection, whatever the scene's size (a VRT can declare a million pixels a side)."""
        for i in range(len(tiles.row_starts)):
            yield from self.touching_row(tiles, i)

    def touching_row(self, tiles: TileGrid, i: int) -> Iterator[Tile]:
        """The windows of the ``i``-th row of windows that overlap the footprint, left to right."""
        cols, row = tiles.col_starts, tiles.row_starts[i]
        height = min(tiles.tile, tiles.height - row)
        for start, stop in self._columns_met(tiles, row, height):
            for j in range(start, stop):
                col = cols[j]
                yield Tile(row, col, height, min(tiles.tile, tiles.width - col), i * len(cols) + j)

    def count_touching(self, tiles: TileGrid) -> int:
        """How many windows ``touching`` yields, without making them."""
        return sum(stop - start for row in tiles.row_starts
                   for start, stop in self._columns_met(tiles, row, min(tiles.tile, tiles.height - row)))

    def _columns_met(self, tiles: TileGrid, row: int, height: int) -> list[tuple[int, int]]:
        """Ranges [start, stop) of indexes into ``tiles.col_starts``, sorted and apart, of the windows in the
        band [row, row + height] that the footprint meets (edges included, as shapely's ``intersects``)."""
        if self.footprint.is_empty:
            return []
        band = self.footprint.intersection(box(-1, row, tiles.width + 1, row + height))
        if band.is_empty:
            return []
        parts = getattr(band, "geoms", [band])
        cols, ranges = tiles.col_starts, []
        for part in parts:
            if part.is_empty:
                continue
            left, _, right, _ = part.bounds
            first = bisect_left(cols, left - tiles.tile)
            while first < len(cols) and cols[first] + min(tiles.tile, tiles.width - cols[first]) < left:
                first += 1
            ranges.append((first, bisect_right(cols, right)))
        merged: list[tuple[int, int]] = []
        for start, stop in sorted(r for r in ranges if r[1] > r[0]):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
            else:
                merged.append((start, stop))
        return merged

    @property
    def bands(self) -> tuple[int, int, int]:
        return self.band_plan.bands

    def output_grid(self, model_grid: bool) -> dict:
        """crs/transform/width/height of the map: the scene's own grid, or the grid the model reads."""
        keys = ("crs", "transform", "width", "height")
        if not model_grid:
            return {k: self.profile[k] for k in keys}
        return {"crs": self.profile["crs"], "transform": self.grid.transform, "width": self.grid.width,
                "height": self.grid.height}


def inspect_scene(path: str | os.PathLike, bands: Optional[Sequence[int]] = None, model_gsd_m: Optional[float] = None,
                  gsd_m: Optional[float] = None, allow_ungeoreferenced: bool = False,
                  aoi_path: Optional[str | os.PathLike] = None, resampling: str = "auto",
                  nodata: Optional[str] = None, colours: bool = False) -> SceneInfo:
    """Open ``path`` and check that geotrans can translate it; raises InputError otherwise.

    ``model_gsd_m`` is the model's ground resolution (the scene is read resampled to it, with
    ``resampling``), ``gsd_m`` overrides the scene's own, ``nodata`` its nodata value (a number, or ``none``
    for none), through GDAL's ``vrt://`` connection (the file itself is only read). ``colours``: also measure
    the scene's colours as the model will read them (``geotrans.io.colours``), while it is open.
    """
    path = os.fspath(path)
    check_name(path, "scene", InputError)
    if not is_gdal_path(path):
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file")
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory, not a GeoTIFF scene")
    source = path
    if nodata is not None:
        path = f"vrt://{path}?a_nodata={str(nodata).strip().lower()}"
    with gdal_messages() as messages:
        try:
            scene = _inspect(path, bands, model_gsd_m, gsd_m, allow_ungeoreferenced, aoi_path, resampling, colours)
            return replace(scene, source=source)
        except RasterioError as err:
            detail = reason(messages, one_line(err), err)
            if is_gdal_path(path):
                raise InputError(f"{path}: GDAL cannot open it ({detail})") from None
            raise InputError(f"{path}: not a readable raster, truncated or damaged ({detail})") from None


def _inspect(path: str, bands, model_gsd_m, gsd_m, allow_ungeoreferenced: bool, aoi_path,
             resampling: str = "auto", colours: bool = False) -> SceneInfo:
    with rasterio.open(path) as ds:
        if bands is None and ds.count == 1 and ds.colorinterp[0] == ColorInterp.palette:
            # Read through its colour table, so that it is resampled as colours, never as palette indexes.
            log.info("%s: one band with a colour table; expanded to R, G, B through it", path)
            expanded = f"vrt://{path}?expand=rgb"
        else:
            expanded = None
        if expanded is None:
            return _inspect_open(ds, path, bands, model_gsd_m, gsd_m, allow_ungeoreferenced, aoi_path, resampling,
                                 colours)
    return _inspect(expanded, bands, model_gsd_m, gsd_m, allow_ungeoreferenced, aoi_path, resampling, colours)


def _inspect_open(ds, path: str, bands, model_gsd_m, gsd_m, allow_ungeoreferenced: bool, aoi_path,
                  resampling: str, colours: bool = False) -> SceneInfo:
    """``_inspect`` of the open dataset ``ds``."""
    georeferenced = ds.crs is not None and not ds.transform.is_identity
    if not georeferenced and ds.gcps[0]:
        raise InputError(f"{path}: is georeferenced only by ground control points; warp it onto a map grid "
                         "first (gdalwarp)")
    if not georeferenced and not allow_ungeoreferenced:
        raise InputError(f"{path}: has no CRS or geotransform, so the output could not be placed on a map",
                         hint="--allow-ungeoreferenced processes it in pixel space")
    if georeferenced:
        check_placement(ds, path)
        grid = processing_grid(ds.crs, ds.transform, ds.width, ds.height, model_gsd_m, gsd_m, resampling)
    else:
        log.warning("%s: no georeferencing; processing in pixel space, the output has none either", path)
        grid = ProcessingGrid(ds.width, ds.height, ds.transform, gsd_m, model_gsd_m)
    complex_bands = [i + 1 for i, dtype in enumerate(ds.dtypes) if np.issubdtype(np.dtype(dtype), np.complexfloating)]
    if complex_bands:
        raise InputError(f"{path}: complex-valued data ({ds.dtypes[complex_bands[0] - 1]}), such as SAR "
                         "phase, is not imagery geotrans can translate; convert it to amplitude first")
    band_plan = plan_bands(ds, bands)
    floats = any(np.issubdtype(np.dtype(ds.dtypes[b - 1]), np.floating) for b in band_plan.bands)
    has_mask = floats or any(MaskFlags.all_valid not in ds.mask_flag_enums[b - 1] for b in band_plan.bands)
    with processing_view(ds, grid) as view:
        footprint = valid_footprint(view, band_plan.bands if floats else None, source=ds)
    if footprint.is_empty:
        raise InputError(f"{path}: no valid pixels (all nodata); nothing to translate")
    aoi = None
    if aoi_path is not None:
        if not georeferenced:
            raise InputError(f"{path}: an area of interest needs a georeferenced scene")
        aoi = read_aoi(aoi_path, ds.crs)
        footprint = _clip_to_aoi(footprint, aoi, grid, path, aoi_path)
        has_mask = True
    shapely.prepare(footprint)
    log.info("%s: %d x %d px, %s; %s; valid %.1f%%", path, ds.width, ds.height, band_plan.describe(),
             grid.describe(), 100 * footprint.area / (grid.width * grid.height))
    return SceneInfo(path, band_plan, has_mask, floats, dict(ds.profile), grid, footprint, aoi, tuple(ds.files),
                     colours=scene_colours(ds, band_plan) if colours else None)


def check_placement(ds, path: str) -> None:
    """A georeferenced scene's grid places it on the Earth: finite pixels of non-zero size, and corners its CRS
    can carry to longitude and latitude (an origin of 1e30 would send reprojection into a search that never
    ends). Checked before any transform."""
    t = ds.transform
    if not all(math.isfinite(v) for v in (t.a, t.b, t.c, t.d, t.e, t.f)) or t.determinant == 0:
        raise InputError(f"{path}: its geotransform has a zero or non-finite pixel size ({tuple(t)[:6]})",
                         hint="fix the georeferencing (gdal_edit.py -a_ullr or -a_srs)")
    try:
        with rasterio.Env(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            west, south, east, north = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    except Exception:  # noqa: BLE001 - PROJ and GDAL errors come in several types
        west = south = east = north = math.nan
    if not all(math.isfinite(v) for v in (west, south, east, north)) or abs(south) > 90 or abs(north) > 90:
        raise InputError(f"{path}: its georeferencing places it off the Earth (bounds {tuple(ds.bounds)} in "
                         f"{ds.crs.to_string() if ds.crs else 'no CRS'})",
                         hint="fix the georeferencing (gdal_edit.py -a_ullr, -a_srs)")


SMALL_AOI_PX = 4096  # an area of interest smaller than this (in pixels) is checked to hold a pixel's centre


def _clip_to_aoi(footprint: shapely.Geometry, aoi: shapely.Geometry, grid: ProcessingGrid, path: str,
                 aoi_path) -> shapely.Geometry:
    """The footprint within the AOI (in processing-grid pixels); refuses an AOI off the scene or on nodata."""
    aoi_pixels = to_pixels(aoi, grid.transform)
    if not aoi_pixels.intersects(box(0, 0, grid.width, grid.height)):
        raise InputError(f"{aoi_path}: the area of interest does not intersect {path}")
    clipped = footprint.intersection(aoi_pixels)
    if clipped.is_empty:
        raise InputError(f"{aoi_path}: the area of interest covers only nodata in {path}")
    if clipped.area < SMALL_AOI_PX and not pixels_inside(clipped):
        raise InputError(f"{aoi_path}: the area of interest holds no pixel of {path} (its area is "
                         f"{clipped.area:.2g} of a pixel)", hint="give a larger area")
    return clipped


@contextmanager
def processing_view(ds, grid: ProcessingGrid) -> Iterator:
    """``ds`` itself, or a WarpedVRT of it on the processing grid when that is resampled."""
    if not grid.resampled:
        yield ds
        return
    flags = ds.mask_flag_enums[0] if ds.count else []
    # A per-dataset mask (internal or .msk) that is neither an alpha band nor nodata does not travel through a
    # WarpedVRT by itself: warped as an alpha band, it stays the view's mask.
    own_mask = MaskFlags.per_dataset in flags and MaskFlags.alpha not in flags and MaskFlags.nodata not in flags
    with WarpedVRT(ds, crs=ds.crs, transform=grid.transform, width=grid.width, height=grid.height,
                   resampling=grid.resampling, add_alpha=own_mask) as vrt:
        yield vrt


class SceneReader:
    """Reads tiles of one scene as model input. Each thread must use its own reader."""

    def __init__(self, scene: SceneInfo, tile_size: int):
        """``tile_size``: pixels per side of the model's input, to which small scenes are padded."""
        self.scene = scene
        self.tile_size = tile_size
        self._ds = None  # the source, or a WarpedVRT of it at the processing grid

    def __enter__(self) -> "SceneReader":
        self._stack = ExitStack()
        self._ds = self._stack.enter_context(
            processing_view(self._stack.enter_context(rasterio.open(self.scene.path)), self.scene.grid))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def read(self, tile: Tile) -> tuple[np.ndarray, np.ndarray]:
        """Pixels as (3, T, T) 0..255 values (uint8 for 8-bit scenes, float32 where stretched or filled), and
        validity as (h, w) bool for the in-scene part. The batch runner brings them into the model's range.

        Tiles of scenes smaller than the tile size are padded by reflection.
        """
        values, valid = self.read_window(tile.window)
        return to_tile(values, self.tile_size), valid

    def read_window(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """A window's pixels as 0..255 values, invalid pixels filled from their neighbours, and its validity."""
        try:
            data = self._ds.read(self.scene.bands, window=window)
            valid = valid_pixels(self._ds, self.scene, window, data)
        except RasterioError as err:
            raise InputError(f"{self.scene.path}: read failed at {window}, truncated or damaged "
                             f"({reason([], one_line(err), err)})") from None
        values = self.scene.band_plan.to_uint8_range(data)
        if valid.any() and not valid.all():
            values = fill_invalid(values, valid)
        return values, valid


def valid_pixels(ds, scene: SceneInfo, window, data: Optional[np.ndarray] = None) -> np.ndarray:
    """The one validity rule, for reading tiles and for warping maps back: (h, w) bool, True where ``ds``
    (the scene, or a view of it) has a valid pixel in ``window``: unmasked, a measurement (float scenes: finite
    and not a fill value, ``usable_values``), and inside the AOI.
    ``data`` is the window's scene bands when already read (float scenes need them for NaN)."""
    shape = (int(window.height), int(window.width))
    valid = ds.dataset_mask(window=window) > 0 if scene.has_mask else np.ones(shape, dtype=bool)
    if scene.floating:
        data = ds.read(scene.bands, window=window) if data is None else data
        valid &= usable_values(data)
    in_aoi = inside_mask(scene.aoi, ds.transform, window, valid.shape)
    if in_aoi is not None:
        valid &= in_aoi
    return valid


def tile_reads(scene: SceneInfo, tiles: Iterable[Tile], reader: SceneReader) -> Iterator[tuple[Tile, Optional[tuple]]]:
    """The skip policy: each tile with (pixels, valid), or with None when it is skipped: outside the
    footprint (never read) or without a valid pixel."""
    for tile in tiles:
        if not scene.touches(tile):
            yield tile, None
            continue
        pixels, valid = reader.read(tile)
        yield tile, ((pixels, valid) if valid.any() else None)


def fill_invalid(values: np.ndarray, valid: np.ndarray, search_px: int = 64) -> np.ndarray:
    """Fill invalid pixels from valid neighbours (GDAL's inverse-distance fill), beyond reach with the
    valid mean, so the generator never sees a black nodata border next to valid pixels."""
    filled = np.empty(values.shape, np.float32)
    for band in range(values.shape[0]):
        channel = np.where(valid, values[band], np.nan).astype(np.float32)
        channel = fillnodata(channel, mask=valid.astype(np.uint8), max_search_distance=search_px,
                             smoothing_iterations=0)
        filled[band] = np.where(np.isnan(channel), values[band][valid].mean(), channel)
    return filled


def to_tile(data: np.ndarray, tile_size: int) -> np.ndarray:
    """(3, h, w) values padded by reflection up to (3, T, T), the model's input size."""
    pad_rows, pad_cols = tile_size - data.shape[1], tile_size - data.shape[2]
    if pad_rows or pad_cols:
        data = np.pad(data, ((0, 0), (0, pad_rows), (0, pad_cols)),
                      mode="reflect" if min(data.shape[1:]) > 1 else "edge")
    return data
