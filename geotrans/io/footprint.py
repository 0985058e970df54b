"""Where a scene has data, and where the user wants a map: shapely geometries on the processing grid.

The valid footprint comes from one decimated read of the dataset mask (exact up to
2048 px a side; beyond, nearest-neighbour blocks grown by one block, so the
footprint errs on the generous side; each window's own mask then decides pixel
by pixel). An area of
interest (``--aoi``: GeoJSON, or any vector file GDAL reads, a layer chosen QGIS's
way with ``PATH|layername=NAME``) is reprojected from its CRS (WGS84 unless it names
another) to the scene's with rasterio, then to pixel coordinates.
"""
from __future__ import annotations

import json
import logging
import math
import os
import warnings
from typing import Optional

import numpy as np
import shapely
from affine import Affine
from rasterio.enums import MaskFlags, Resampling
from rasterio.features import geometry_mask, shapes
from rasterio.warp import transform as transform_coords
from rasterio.warp import transform_geom
from rasterio.windows import transform as window_transform
from shapely.geometry import box, shape
from shapely.ops import unary_union

from geotrans.errors import InputError, one_line
from geotrans.io.bands import usable_values

log = logging.getLogger(__name__)

MASK_MAX_SIDE = 2048  # long side of the decimated mask read for the footprint


def valid_footprint(ds, float_bands: Optional[tuple[int, ...]] = None, source=None) -> shapely.Geometry:
    """Valid pixels of ``ds`` (a dataset or WarpedVRT) as a geometry in its pixel coordinates. With
    ``float_bands``, those bands' NaN, infinite and fill values are invalid too, as the run's mask has them.
    ``source``: the dataset ``ds`` resamples over the same bounds (a WarpedVRT of it on the processing grid);
    when the mask is read decimated anyway, it is read from the source, which costs GDAL no warp (a VRT can
    declare a million pixels a side)."""
    if float_bands is None and all(MaskFlags.all_valid in flags for flags in ds.mask_flag_enums):
        return box(0, 0, ds.width, ds.height)  # nothing to read
    factor = max(1, math.ceil(max(ds.width, ds.height) / MASK_MAX_SIDE))
    shape_out = (math.ceil(ds.height / factor), math.ceil(ds.width / factor))
    decimated_source = factor > 1 and float_bands is None and source is not None and source is not ds
    mask = (source if decimated_source else ds).dataset_mask(out_shape=shape_out) > 0
    if float_bands:
        unique = sorted(set(float_bands))
        mask &= usable_values(ds.read(unique, out_shape=(len(unique), *shape_out), resampling=Resampling.nearest))
    if factor > 1:  # grow by one block so that valid pixels between samples are kept
        grown = mask.copy()
        grown[1:] |= mask[:-1]
        grown[:-1] |= mask[1:]
        grown[:, 1:] |= grown[:, :-1].copy()
        grown[:, :-1] |= grown[:, 1:].copy()
        mask = grown
    if mask.all():
        return box(0, 0, ds.width, ds.height)
    to_pixels = Affine.scale(ds.width / shape_out[1], ds.height / shape_out[0])
    polygons = [shape(geom) for geom, value in shapes(mask.astype(np.uint8), mask=mask, transform=to_pixels) if value]
    return unary_union(polygons) if polygons else shapely.Polygon()


LAYER_MARK = "|layername="  # QGIS's way of naming a layer of a vector file: area.gpkg|layername=fields


def aoi_file(aoi: str | os.PathLike) -> tuple[str, Optional[str]]:
    """The file and the layer (None: the first) an ``--aoi`` names."""
    path, mark, layer = str(aoi).partition(LAYER_MARK)
    return path, (layer if mark else None)


def _looks_like_json(path: str) -> bool:
    """A file that starts (after blanks) like JSON, or is named so: read as GeoJSON, with its own messages."""
    if path.lower().endswith((".geojson", ".json")):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(64).lstrip()[:1] in (b"{", b"[")
    except OSError:
        return True  # said by the GeoJSON reader, in its words


AOI_MAX_BYTES = 256 << 20  # an area of interest is a few polygons; a larger file is not one (or /dev/zero)


def _check_small_file(name: str) -> None:
    """An AOI is a regular file of at most ``AOI_MAX_BYTES``: a pipe or a device would block or never end."""
    import stat

    try:
        mode = os.stat(name)
    except OSError:
        return  # missing: said by the reader, in its words
    if not stat.S_ISREG(mode.st_mode):
        raise InputError(f"{name}: the area of interest is not a regular file (a pipe, a device or a folder)",
                         hint="save the area to a file first")
    if mode.st_size > AOI_MAX_BYTES:
        raise InputError(f"{name}: {mode.st_size / 2**20:.0f} MiB is not an area of interest (at most "
                         f"{AOI_MAX_BYTES >> 20} MiB)", hint="give the area's polygons alone")


def read_aoi(path: str | os.PathLike, scene_crs) -> shapely.Geometry:
    """The area in a vector file, in the scene's CRS: GeoJSON (Feature, FeatureCollection or geometry), or any
    vector format GDAL reads (GeoPackage, Shapefile, FlatGeobuf, KML; ``PATH|layername=NAME`` for a layer)."""
    name, layer = aoi_file(path)
    _check_small_file(name)
    if layer is not None or not _looks_like_json(name):
        return _area(path, _vector_geometries(name, layer, scene_crs))
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable GeoJSON file ({err})") from None
    except RecursionError:
        raise InputError(f"{path}: not a readable GeoJSON file (nested too deeply)") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a GeoJSON object (a {type(data).__name__} at the top)",
                         hint="give a Feature, FeatureCollection or geometry")
    features = data.get("features") if data.get("type") == "FeatureCollection" else [data]
    if not isinstance(features or [], list) or not all(isinstance(f, dict) for f in features or []):
        raise InputError(f"{path}: its features are not a list of GeoJSON objects")
    geometries = [f.get("geometry", f) if f.get("type") == "Feature" else f for f in features or []]
    geometries = [g for g in geometries if g]
    if not geometries:
        raise InputError(f"{path}: no geometry in the GeoJSON")
    crs_member = data.get("crs") or {}
    aoi_crs = crs_member.get("properties", {}).get("name", "EPSG:4326") \
        if isinstance(crs_member, dict) and isinstance(crs_member.get("properties", {}), dict) else None
    if not isinstance(aoi_crs, str):
        raise InputError(f"{path}: its crs member is not a named CRS ({json.dumps(crs_member)[:60]})",
                         hint='write it as {"type": "name", "properties": {"name": "EPSG:32633"}}, or leave it '
                              "out for WGS84")
    if "CRS84" in aoi_crs:
        aoi_crs = "EPSG:4326"
    try:
        parts = [shape(transform_geom(aoi_crs, scene_crs, g)) for g in geometries]
    except Exception as err:  # noqa: BLE001 - GDAL/PROJ errors come in several types
        raise InputError(f"{path}: cannot reproject the area to the scene's CRS ({err})") from None
    return _area(path, parts)


def _vector_geometries(name: str, layer: Optional[str], scene_crs) -> list[shapely.Geometry]:
    """The geometries of a vector file's layer (GDAL's reading, through pyogrio), in the scene's CRS."""
    import pyogrio  # vectorised reads, by the GeoPandas team (as geotrans.io.labels reads labels)


    where = f"{name}{LAYER_MARK}{layer}" if layer is not None else name
    try:
        with warnings.catch_warnings():  # "more than one layer": the first is the one meant, as in QGIS
            warnings.simplefilter("ignore", UserWarning)
            meta, _, wkb, _ = pyogrio.raw.read(name, layer=layer, read_geometry=True, columns=[])
    except Exception as err:  # noqa: BLE001 - pyogrio raises DataSourceError, DataLayerError, OSError...
        raise InputError(f"{where}: not a readable vector file ({one_line(err)})",
                         hint="give GeoJSON, GeoPackage, Shapefile, FlatGeobuf or KML; a layer as "
                              "FILE|layername=NAME") from None
    geometries = shapely.from_wkb(wkb, on_invalid="ignore") if len(wkb) else np.array([])
    geometries = geometries[~shapely.is_missing(geometries)] if len(geometries) else geometries
    geometries = geometries[~shapely.is_empty(geometries)] if len(geometries) else geometries
    if not len(geometries):
        raise InputError(f"{where}: no geometry in the layer")
    try:
        geometries = reproject_geometries(geometries, meta.get("crs") or "EPSG:4326", scene_crs)
    except Exception as err:  # noqa: BLE001 - GDAL/PROJ errors come in several types
        raise InputError(f"{where}: cannot reproject the area to the scene's CRS ({one_line(err)})") from None
    return list(geometries)


def _area(path, parts: list[shapely.Geometry]) -> shapely.Geometry:
    """One area of ``parts`` (repaired where invalid); points, lines and slivers are refused."""
    kinds = ", ".join(sorted({p.geom_type for p in parts}))
    invalid = [p for p in parts if not p.is_valid]
    if invalid and any(shapely.get_dimensions(p) == 2 for p in invalid):
        log.warning("%s: the area of interest is not a valid polygon (%s); repaired with make_valid", path,
                    shapely.is_valid_reason(invalid[0]))
        parts = [shapely.make_valid(p) if not p.is_valid else p for p in parts]
    area = unary_union(parts)
    if not area.area > FLAT * _extent(area) ** 2:  # a point, a line, or a flat polygon, even once repaired
        raise InputError(f"{path}: the area of interest is not an area ({kinds} without area)",
                         hint="give a polygon")
    return area


def reproject_geometries(geometries: np.ndarray, source_crs, crs) -> np.ndarray:
    """Shapely geometries from ``source_crs`` to ``crs``, every vertex through PROJ at once."""
    def move(xy: np.ndarray) -> np.ndarray:
        xs, ys = transform_coords(source_crs, crs, xy[:, 0].tolist(), xy[:, 1].tolist())
        return np.column_stack([xs, ys])

    return shapely.transform(geometries, move)


FLAT = 1e-6  # an area below this share of its extent squared is a line drawn as a polygon (rounding gives it area)


def _extent(geometry: shapely.Geometry) -> float:
    if geometry.is_empty:
        return 0.0
    left, bottom, right, top = geometry.bounds
    return max(right - left, top - bottom)


def pixels_inside(geometry: shapely.Geometry, limit: int = 1) -> int:
    """How many pixel centres ``geometry`` (in pixel coordinates) holds, counted up to ``limit``: what a
    run's mask keeps of it. Only the pixels of its bounds are drawn."""
    if geometry.is_empty:
        return 0
    left, bottom, right, top = geometry.bounds
    col, first, last = math.floor(left), math.floor(bottom), math.ceil(top)
    width = math.ceil(right) - col
    rows = max(1, 4096 * 4096 // width)  # drawn a band of rows at a time, so a long sliver costs no more
    count = 0
    for row in range(first, last, rows):
        inside = geometry_mask([geometry], out_shape=(min(rows, last - row), width),
                               transform=Affine.translation(col, row), invert=True)
        count += int(inside.sum())
        if count >= limit:
            break
    return min(limit, count)


def to_pixels(geometry: shapely.Geometry, transform: Affine) -> shapely.Geometry:
    """A geometry in map coordinates to the pixel coordinates of a grid with ``transform``."""
    inverse = ~transform
    return shapely.affinity.affine_transform(geometry, [inverse.a, inverse.b, inverse.d, inverse.e,
                                                        inverse.xoff, inverse.yoff])


def inside_mask(geometry: Optional[shapely.Geometry], transform: Affine, window, shape_hw) -> Optional[np.ndarray]:
    """Pixels of ``window`` (on a grid with ``transform``) inside ``geometry``, or None for no geometry."""
    if geometry is None:
        return None
    return geometry_mask([geometry], out_shape=shape_hw, transform=window_transform(window, transform), invert=True)
