"""Labels drawn in the map style: class rasters and vector layers to a map on a grid.

Two steps, each a pure function:

* labels to classes: ``classes_from_codes`` (a class raster and a table from its
  codes to map classes) or ``rasterize_features`` (vector features, each with a
  map class, read by ``read_vector_labels``), giving a ``uint8`` raster of class
  codes (``CODES``) with ``IGNORE`` where nothing is known;
* classes to pixels: ``MapStyle.paint`` (``geotrans.model.style``), the colours of
  the model card's ``map_classes`` (one source of truth: the card).

Vector features carry a ``class`` attribute (one of ``CLASSES``) or
OpenStreetMap tags (``highway=*``, ``natural=water``, ``waterway=*``,
``landuse=*``, ``leisure=*``, ``building=*``), classed by ``osm_class``. Lines
(roads, rivers) are drawn with a width in metres by kind (``LINE_WIDTHS_M``,
about what a zoom-17 web map draws), converted with the grid's ground
resolution. Polygons are filled. Classes are drawn in a fixed order
(``DRAW_ORDER``): green, water, buildings, then roads by rank, so water lies
under roads and buildings over green.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.features import rasterize

from geotrans.errors import InputError, one_line
from geotrans.io.footprint import reproject_geometries, to_pixels
from geotrans.io.resolution import pixel_size_m
from geotrans.model.style import CLASSES, CODES, IGNORE, IGNORE_NAME, MapStyle

log = logging.getLogger(__name__)
DRAW_ORDER = ("green", "water", "building", "street", "major_road", "highway")
# Widths in metres of line features, by OSM value (highway=* or waterway=*), and by map class for lines
# that carry a ``class`` attribute.
LINE_WIDTHS_M = {
    "motorway": 18.0, "motorway_link": 10.0, "trunk": 18.0, "trunk_link": 10.0,
    "primary": 14.0, "primary_link": 9.0, "secondary": 13.0, "secondary_link": 9.0,
    "tertiary": 11.0, "tertiary_link": 8.0, "residential": 10.0, "unclassified": 10.0, "road": 10.0,
    "living_street": 8.0, "pedestrian": 8.0, "service": 6.0,
    "river": 20.0, "canal": 12.0, "stream": 4.0, "drain": 3.0, "ditch": 2.0,
}
CLASS_LINE_WIDTHS_M = {"street": 10.0, "major_road": 14.0, "highway": 18.0, "water": 10.0, "green": 4.0,
                       "building": 4.0, "background": 4.0}
_HIGHWAYS = {
    "highway": ("motorway", "motorway_link", "trunk", "trunk_link"),
    "major_road": ("primary", "primary_link", "secondary", "secondary_link"),
    "street": ("tertiary", "tertiary_link", "residential", "unclassified", "road", "living_street", "pedestrian",
               "service"),
}
_GREEN = {
    "landuse": ("forest", "grass", "meadow", "recreation_ground", "village_green", "orchard", "vineyard",
                "cemetery", "allotments", "greenfield"),
    "leisure": ("park", "golf_course", "pitch", "garden", "nature_reserve", "playground", "dog_park"),
    "natural": ("wood", "scrub", "grassland", "heath", "wetland", "tree_row"),
}
_WATER = {
    "natural": ("water", "bay", "strait"),
    "waterway": ("river", "riverbank", "canal", "stream", "drain", "ditch", "dock"),
    "landuse": ("reservoir", "basin"),
    "leisure": ("swimming_pool", "marina"),
}
_HSTORE = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


def osm_class(tags: Mapping[str, object]) -> Optional[str]:
    """The map class of an OpenStreetMap feature from its tags, or None for features the style does not draw.

    Buildings win over land use (a building in a park is a building); roads over everything else."""
    highway = tags.get("highway")
    for name, values in _HIGHWAYS.items():
        if highway in values:
            return name
    building = tags.get("building")
    if building and building != "no":
        return "building"
    if tags.get("water") or any(tags.get(key) in values for key, values in _WATER.items()):
        return "water"
    if any(tags.get(key) in values for key, values in _GREEN.items()):
        return "green"
    return None


def parse_other_tags(text: Optional[str]) -> dict[str, str]:
    """GDAL's OSM driver keeps tags without a column of their own in ``other_tags``, an hstore string."""
    return {k.replace('\\"', '"'): v.replace('\\"', '"') for k, v in _HSTORE.findall(text or "")}


@dataclass(frozen=True)
class Grid:
    """The raster labels are drawn on: a CRS, an affine transform and a shape."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @classmethod
    def of(cls, ds) -> "Grid":
        """The grid of an open rasterio dataset."""
        return cls(ds.crs, ds.transform, ds.width, ds.height)

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def metres_per_pixel(self) -> float:
        """Mean ground size of a pixel at the grid's centre, in metres (true metres in geographic CRSs too)."""
        width_m, height_m = pixel_size_m(self.crs, self.transform, self.width, self.height)
        return (width_m + height_m) / 2


@dataclass(frozen=True)
class Feature:
    """One labelled geometry in a grid's CRS, with its map class and, for lines, its width in metres."""

    geometry: shapely.Geometry
    map_class: str
    width_m: float


def parse_class_table(table: Mapping[str, str], source: str = "class table") -> dict[int, int]:
    """A table from codes (as strings, JSON's keys) to class names or ``ignore``, as {code: class code}."""
    parsed = {}
    for key, name in table.items():
        try:
            code = int(key)
        except (TypeError, ValueError):
            raise InputError(f"{source}: code {key!r} is not an integer") from None
        if name == IGNORE_NAME:
            parsed[code] = IGNORE
        elif name in CODES:
            parsed[code] = CODES[name]
        else:
            raise InputError(f"{source}: class {name!r} of code {key} is not one of "
                             f"{', '.join(CLASSES)} or {IGNORE_NAME}")
    if not parsed:
        raise InputError(f"{source}: no codes")
    return parsed


def classes_from_codes(codes: np.ndarray, table: Mapping[int, int], source: str = "class raster") -> np.ndarray:
    """A raster of label codes (H, W) to class codes through ``table`` ({code: class code}, from
    ``parse_class_table``). A code missing from the table is an error: a silent default would teach a guess."""
    values = np.unique(codes)
    unknown = [int(v) for v in values if int(v) not in table]
    if unknown:
        shown = ", ".join(map(str, unknown[:8])) + (" ..." if len(unknown) > 8 else "")
        raise InputError(f"{source}: codes {shown} are not in the class table",
                         hint="map every code to a class, or to ignore")
    lookup = np.full(int(values.max()) + 1, IGNORE, dtype=np.uint8)
    for code, cls in table.items():
        if 0 <= code < lookup.size:
            lookup[code] = cls
    return lookup[codes]


def _feature_class(properties: Mapping[str, object], default: Optional[str]) -> Optional[str]:
    declared = properties.get("class")
    if declared is not None:
        return str(declared)
    tags = {k: v for k, v in properties.items() if v is not None and k != "other_tags"}
    tags.update(parse_other_tags(properties.get("other_tags")))  # type: ignore[arg-type]
    return osm_class(tags) or default


def _line_width(properties: Mapping[str, object], map_class: str) -> float:
    for key in ("highway", "waterway"):
        value = properties.get(key)
        if value in LINE_WIDTHS_M:
            return LINE_WIDTHS_M[value]  # type: ignore[index]
    return CLASS_LINE_WIDTHS_M[map_class]


def read_vector_labels(path: str | Path, crs: CRS, default_class: Optional[str] = None) -> list[Feature]:
    """The features of a vector file (GeoJSON, GeoPackage, Shapefile, ... as GDAL reads them) that carry a map
    class (``class`` attribute or OSM tags; else ``default_class``, say street for a road layer), reprojected
    to ``crs``.

    Empty geometries, points and features of no drawn class are skipped; invalid polygons are repaired; each
    with one warning per file. A file with no drawable feature is an error."""
    import pyogrio  # vectorised reads (geometries as one WKB array), by the GeoPandas team

    try:
        meta, _, wkb, fields = pyogrio.raw.read(path)
    except Exception as err:  # noqa: BLE001 - pyogrio raises DataSourceError, DataLayerError, OSError...
        raise InputError(f"{path}: not a readable vector file ({one_line(err)})") from None
    names = list(meta["fields"])
    source_crs = meta.get("crs") or "EPSG:4326"  # GeoJSON without a crs member is WGS84 by definition
    geometries = shapely.from_wkb(wkb, on_invalid="ignore") if len(wkb) else np.array([])
    if len(geometries) and source_crs and CRS.from_user_input(source_crs) != crs:
        geometries = reproject_geometries(geometries, source_crs, crs)
    features, skipped = [], {"empty": 0, "points": 0, "no class": 0, "repaired": 0, "unknown class": 0}
    for i, geometry in enumerate(geometries):
        properties = {name: column[i] for name, column in zip(names, fields)}
        map_class = _feature_class(properties, default_class)
        if geometry is None or shapely.is_empty(geometry):
            skipped["empty"] += 1
            continue
        if map_class is None:
            skipped["no class"] += 1
            continue
        if map_class not in CODES:
            skipped["unknown class"] += 1
            continue
        if shapely.get_dimensions(geometry) == 0:
            skipped["points"] += 1
            continue
        if not shapely.is_valid(geometry):
            geometry = shapely.make_valid(geometry)
            skipped["repaired"] += 1
        features.append(Feature(geometry, map_class, _line_width(properties, map_class)))
    said = ", ".join(f"{n} {what}" for what, n in skipped.items() if n)
    if said:
        log.warning("%s: %s (of %d features)", path, said, len(geometries))
    if not features:
        raise InputError(f"{path}: no feature to draw ({said or 'the file is empty'})",
                         hint="features need a 'class' attribute or OpenStreetMap tags such as highway=*")
    return features


def rasterize_features(features: Iterable[Feature], grid: Grid, complete: bool = False) -> np.ndarray:
    """uint8 (H, W) class codes of ``features`` (in the grid's CRS) on ``grid``, in ``DRAW_ORDER``.

    Lines are buffered to their width in metres at the grid's ground resolution. Where no feature lies, the
    result is background if the labels are ``complete`` (say, a full OSM extract), else ``IGNORE``."""
    features = list(features)
    metres = grid.metres_per_pixel
    out = np.full(grid.shape, CODES["background"] if complete else IGNORE, dtype=np.uint8)
    for name in DRAW_ORDER:
        shapes = []
        for f in features:
            if f.map_class != name:
                continue
            pixels = _areas(to_pixels(f.geometry, grid.transform), f.width_m / metres)
            if not shapely.is_empty(pixels):
                shapes.append((pixels, CODES[name]))
        if shapes:
            rasterize(shapes, out=out, transform=Affine.identity(), all_touched=False)
    # Background polygons (a 'class' attribute of background) mark known land, drawn first of all.
    land = [to_pixels(f.geometry, grid.transform) for f in features if f.map_class == "background"]
    if land and not complete:
        known = rasterize([(g, 1) for g in land], out_shape=grid.shape, transform=Affine.identity())
        out[(known == 1) & (out == IGNORE)] = CODES["background"]
    return out


def _areas(geometry: shapely.Geometry, width_px: float) -> shapely.Geometry:
    """Polygons as they are, lines buffered to ``width_px`` (flat ends), points dropped."""
    parts = [shapely.buffer(p, width_px / 2, cap_style="flat") if shapely.get_dimensions(p) == 1 else p
             for p in shapely.get_parts(geometry) if shapely.get_dimensions(p) > 0]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def render_vectors(paths: Sequence[str | Path], grid: Grid, style: MapStyle, complete: bool = False,
                   default_class: Optional[str] = None) -> tuple[np.ndarray, np.ndarray]:
    """(map pixels uint8 (3, H, W), class codes uint8 (H, W)) of the vector files ``paths`` drawn on ``grid``."""
    features = [f for path in paths for f in read_vector_labels(path, grid.crs, default_class)]
    classes = rasterize_features(features, grid, complete)
    return style.paint(classes), classes
