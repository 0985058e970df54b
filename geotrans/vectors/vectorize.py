"""Map features as GIS layers: water, green and buildings as polygons, roads as centre lines.

    geotrans vectorize MAP.tif --out FEATURES.gpkg

A map's pixels are classed by the nearest colour of its model's ``map_classes``
(``MapStyle.classify``, the semantic benchmark's rule); a map names them in its
``GEOTRANS_MAP_CLASSES`` tag, or the model that made it gives them.

The map is read in strips of rows, so memory does not grow with its height:

* ``water``, ``green``, ``buildings``: polygons of those classes from
  ``rasterio.features.shapes`` (holes kept). A polygon that reaches a strip's
  lower edge waits, unsimplified, for the next strip and is joined with the
  polygons it shares an edge with there; then it is simplified to half a pixel
  and dropped when under ``min_area_m2``.
* ``roads``: centre lines of the street classes. The road pixels (small specks
  and holes removed) of a strip and a halo of rows around it are thinned with
  scikit-image's ``skeletonize``; the strip's own rows of the skeleton are
  traced into pieces that end at junctions, dead ends and the strip's seams.
  Pieces then join into a graph (``road_graph``): seams are joined, junction
  clusters contracted, spurs shorter than the road is wide pruned, and chains
  merged, so lines end only at junctions and dead ends. Each line has its class
  (the most common along it), its width (twice the distance from its centre to
  the road's edge, the median) and its length.

Areas and lengths are in metres (the ground size of the map's centre pixel,
true metres in geographic CRSs too); geometries are in the map's CRS. The
GeoPackage is written with pyogrio under a temporary name and renamed into
place when complete; each layer's metadata names the model.
"""
from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.errors import RasterioError
from rasterio.features import shapes
from rasterio.windows import Window

from geotrans.errors import GeotransError, InputError, one_line
from geotrans.io.files import atomic_path, output_lock, write_error
from geotrans.io.resolution import pixel_size_m
from geotrans.io.targets import Target, check_target
from geotrans.model.style import CODES, MAP_CLASSES_TAG, MapStyle

log = logging.getLogger(__name__)
# scipy, scikit-image and pyogrio are imported in the functions that make vectors: every `geotrans run`
# imports this module (geotrans.jobs.scene), and most runs make none.

POLYGON_LAYERS = {"water": "water", "green": "green", "buildings": "building"}  # layer -> map class
ROAD_CLASSES = ("street", "major_road", "highway")
LAYERS = (*POLYGON_LAYERS, "roads")
DEFAULT_MIN_AREA_M2 = 20.0  # a car park's speck of water
MIN_PIXELS = 4  # by default, a polygon of fewer pixels is a misclassed speck too, whatever its area
SMOOTHING_M = 1.0  # road edges are opened and closed with a disk of this radius before thinning
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


@dataclass(frozen=True)
class VectorOptions:
    """How a map becomes features."""

    min_area_m2: Optional[float] = None  # smaller polygons are dropped; None: DEFAULT_MIN_AREA_M2 or MIN_PIXELS
    strip_rows: int = 1024  # rows read at once, besides the halo: memory follows the width times this
    halo: int = 96  # rows each side of a strip that its road skeleton sees (twice the widest road's half width)
    min_road_m: float = 15.0  # a road piece with two dead ends shorter than this is a speck, not a road

    def __post_init__(self) -> None:
        if self.min_area_m2 is not None and self.min_area_m2 < 0:
            raise InputError("the minimum area must not be negative")
        if self.strip_rows < 1 or self.halo < 0:
            raise InputError("strips need at least one row and a halo of zero or more")


@dataclass(frozen=True)
class MapFile:
    """What vectorizing needs to know about a map: its grid, classes, model and pixel size in metres."""

    path: str
    crs: object
    transform: Affine
    width: int
    height: int
    style: MapStyle
    model: str
    pixel_m: tuple[float, float]  # ground (width, height) of a pixel

    @property
    def pixel_area_m2(self) -> float:
        return self.pixel_m[0] * self.pixel_m[1]

    def length_m(self, line: shapely.LineString) -> float:
        """The ground length of a line in pixel coordinates."""
        xy = shapely.get_coordinates(line)
        return float(np.hypot(np.diff(xy[:, 0]) * self.pixel_m[0], np.diff(xy[:, 1]) * self.pixel_m[1]).sum())


@dataclass(frozen=True)
class Road:
    """A centre line in pixel coordinates with its class, width and length in metres."""

    line: shapely.LineString
    road_class: str
    width_m: float
    length_m: float


@dataclass(frozen=True)
class Features:
    """The layers of one map, in the map's CRS: polygons with their areas, roads with class, width and length."""

    crs: object
    model: str
    polygons: dict  # layer -> [(geometry, area_m2)]
    roads: list  # [(geometry, class, width_m, length_m)]

    def counts(self) -> dict:
        return {**{name: len(items) for name, items in self.polygons.items()}, "roads": len(self.roads)}


def open_map(path: str | Path, style: Optional[MapStyle] = None) -> MapFile:
    """The map at ``path``; one line when it is not a readable, georeferenced geotrans map with class colours
    (its ``GEOTRANS_MAP_CLASSES`` tag, or ``style``, the card of the model that made it)."""
    try:
        with rasterio.open(path) as ds:
            tags = ds.tags()
            if ds.count < 3 or ds.dtypes[0] != "uint8":
                raise InputError(f"{path}: not a geotrans map (a map has three 8-bit bands)")
            if ds.crs is None:
                raise InputError(f"{path}: the map has no CRS, so its features would lie nowhere")
            if style is None:
                if MAP_CLASSES_TAG not in tags:
                    raise InputError(f"{path}: not a geotrans map with class colours (no {MAP_CLASSES_TAG} tag)",
                                     hint="give the model that made it with --model")
                try:
                    style = MapStyle.from_card({"name": tags.get("GEOTRANS_MODEL", "?"),
                                                "map_classes": json.loads(tags[MAP_CLASSES_TAG])})
                except (ValueError, TypeError) as err:
                    raise InputError(f"{path}: its {MAP_CLASSES_TAG} tag is not a class table ({err})") from None
            pixel_m = pixel_size_m(ds.crs, ds.transform, ds.width, ds.height)
            return MapFile(str(path), ds.crs, ds.transform, ds.width, ds.height, style,
                           tags.get("GEOTRANS_MODEL", "unknown"), pixel_m)
    except RasterioError as err:
        raise InputError(f"{path}: not a readable map ({one_line(err)})") from None


def read_classes(ds, style: MapStyle, first: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Class codes (uint8) and valid pixels of rows [first, stop) of an open map."""
    window = Window(0, first, ds.width, stop - first)
    rgb = ds.read([1, 2, 3], window=window)
    return style.classify(rgb), ds.read_masks(1, window=window) > 0


def strips(height: int, rows: int) -> Iterator[tuple[int, int]]:
    """(first, stop) rows of the strips covering ``height`` rows."""
    for first in range(0, height, rows):
        yield first, min(height, first + rows)


# --- polygons ---------------------------------------------------------------------------------------------

class SeamJoiner:
    """Polygons of one class arriving strip by strip, joined across the seams: a polygon that reaches a strip's
    lower edge is held until the next strip, whose polygons sharing an edge with it are merged into it."""

    def __init__(self):
        self.waiting: list[shapely.Polygon] = []

    def add(self, polygons: list[shapely.Polygon], first: int, stop: int, last: bool) -> list[shapely.Polygon]:
        """This strip's polygons (pixel coordinates, rows [first, stop)); returns the polygons now complete."""
        at_top = [p for p in polygons if p.bounds[1] <= first]
        rest = [p for p in polygons if p.bounds[1] > first]
        merged = _join_on_shared_edges(self.waiting, at_top)
        done, self.waiting = [], []
        for polygon in merged + rest:
            (self.waiting if not last and polygon.bounds[3] >= stop else done).append(polygon)
        return done


def _join_on_shared_edges(above: list, below: list) -> list:
    """``above`` and ``below`` with every group of polygons that share an edge across the seam made one."""
    if not above or not below:
        return above + below
    parent = list(range(len(above) + len(below)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    tree = shapely.STRtree(below)
    pairs = tree.query(above, predicate="intersects")
    for a, b in zip(*pairs):
        shared = shapely.intersection(above[a].boundary, below[b].boundary)
        if shapely.length(shared) > 0:  # an edge, not a corner (shapes joins pixels by their sides)
            parent[root(a)] = root(len(above) + b)
    groups: dict = {}
    for i, polygon in enumerate(above + below):
        groups.setdefault(root(i), []).append(polygon)
    return [group[0] if len(group) == 1 else shapely.union_all(group) for group in groups.values()]


def class_polygons(classes: np.ndarray, valid: np.ndarray, code: int, first: int) -> list[shapely.Polygon]:
    """Polygons (pixel coordinates of the whole map) of the pixels of class ``code``, holes kept."""
    mask = (classes == code) & valid
    if not mask.any():
        return []
    return [shapely.geometry.shape(geometry) for geometry, _ in
            shapes(mask.view(np.uint8), mask=mask, transform=Affine.translation(0, first))]


def finished_polygon(polygon: shapely.Geometry, map_file: MapFile,
                     options: VectorOptions) -> Optional[shapely.Geometry]:
    """A complete polygon simplified to half a pixel, or None when under the minimum area (by default
    ``DEFAULT_MIN_AREA_M2`` or ``MIN_PIXELS``, whichever is larger)."""
    smallest = options.min_area_m2
    if smallest is None:
        smallest = max(DEFAULT_MIN_AREA_M2, MIN_PIXELS * map_file.pixel_area_m2)
    if polygon.area * map_file.pixel_area_m2 < smallest:
        return None
    simple = shapely.simplify(polygon, 0.5, preserve_topology=True)
    if not simple.is_valid:
        simple = shapely.make_valid(simple)
    parts = [part for part in shapely.get_parts(simple) if part.geom_type == "Polygon"]
    return shapely.multipolygons(parts) if len(parts) > 1 else parts[0] if parts else None


# --- roads ------------------------------------------------------------------------------------------------

@dataclass
class Piece:
    """A run of road skeleton between two nodes: pixel-centre coordinates (x, y) of the whole map, and at each
    point the road's width (pixels) and class code."""

    xy: np.ndarray
    widths: np.ndarray
    kinds: np.ndarray

    @property
    def length(self) -> float:
        return float(np.hypot(*np.diff(self.xy, axis=0).T).sum())

    @property
    def width(self) -> float:
        return float(np.median(self.widths))

    @property
    def road_class(self) -> str:
        return max(ROAD_CLASSES, key=lambda name: int(np.sum(self.kinds == CODES[name])))

    def reversed(self) -> "Piece":
        return Piece(self.xy[::-1], self.widths[::-1], self.kinds[::-1])

    def then(self, other: "Piece") -> "Piece":
        """This piece continued by ``other``, which starts where this one ends."""
        return Piece(np.vstack([self.xy, other.xy[1:]]), np.concatenate([self.widths, other.widths[1:]]),
                     np.concatenate([self.kinds, other.kinds[1:]]))


def road_mask(classes: np.ndarray, valid: np.ndarray, pixel_area_m2: float) -> np.ndarray:
    """The road pixels, without specks under 25 m² and with holes under 30 m² (a car, a traffic island's
    misdrawn centre) filled."""
    from scipy.ndimage import binary_closing, binary_opening

    road = np.isin(classes, [CODES[name] for name in ROAD_CLASSES]) & valid
    radius = max(1, round(SMOOTHING_M / pixel_area_m2 ** 0.5))
    disk = np.hypot(*np.mgrid[-radius:radius + 1, -radius:radius + 1]) <= radius
    road = binary_closing(binary_opening(road, disk), disk)  # ragged edges grow spurs on the skeleton
    road = _without_small_parts(road, 25 / pixel_area_m2)
    return ~_without_small_parts(~road, 30 / pixel_area_m2)


def _without_small_parts(mask: np.ndarray, smallest: float) -> np.ndarray:
    """``mask`` without its side-connected parts of fewer than ``smallest`` pixels."""
    from scipy.ndimage import label

    parts, count = label(mask)
    if not count:
        return mask
    sizes = np.bincount(parts.ravel())
    keep = sizes >= smallest
    keep[0] = False
    return keep[parts]


def _neighbours(skeleton: np.ndarray, r: int, c: int) -> list[tuple[int, int]]:
    h, w = skeleton.shape
    return [(r + dr, c + dc) for dr, dc in _NEIGHBOURS
            if 0 <= r + dr < h and 0 <= c + dc < w and skeleton[r + dr, c + dc]]


def trace(skeleton: np.ndarray, top_seam: bool, bottom_seam: bool) -> list[list[tuple[int, int]]]:
    """The skeleton's pixels as paths that end at junctions, dead ends and seams: with ``top_seam`` the first
    row's pixels end paths, with ``bottom_seam`` the last row's too, and steps along the last row are left to
    the next strip (whose first row it is)."""
    pixels = list(zip(*np.nonzero(skeleton)))
    last = skeleton.shape[0] - 1
    nodes = {p for p in pixels if len(_neighbours(skeleton, *p)) != 2
             or (top_seam and p[0] == 0) or (bottom_seam and p[0] == last)}
    used: set = set()
    if bottom_seam:
        for p in pixels:
            if p[0] == last:
                used.update(frozenset((p, n)) for n in _neighbours(skeleton, *p) if n[0] == last)
    paths = []

    def walk(start, step):
        path, previous, current = [start, step], start, step
        used.add(frozenset((start, step)))
        while current not in nodes and current != start:
            following = next((n for n in _neighbours(skeleton, *current)
                              if n != previous and frozenset((current, n)) not in used), None)
            if following is None:
                break
            used.add(frozenset((current, following)))
            path.append(following)
            previous, current = current, following
        return path

    for node in sorted(nodes):
        for step in _neighbours(skeleton, *node):
            if frozenset((node, step)) not in used:
                paths.append(walk(node, step))
    for pixel in pixels:  # rings without a junction, a dead end or a seam
        for step in _neighbours(skeleton, *pixel):
            if frozenset((pixel, step)) not in used:
                paths.append(walk(pixel, step))
    return paths


def strip_pieces(classes: np.ndarray, road: np.ndarray, first: int, own: tuple[int, int], height: int) -> list[Piece]:
    """Pieces of the road skeleton in a window whose first row is map row ``first``, traced in the map rows
    ``own`` = [start, stop) plus the next strip's first row (its seam)."""
    from scipy.ndimage import distance_transform_edt
    from skimage.morphology import skeletonize

    if not road.any():
        return []
    skeleton = skeletonize(road)
    start, stop = own
    core_stop = min(stop + 1, height)
    top, bottom = start - first, core_stop - first
    core = skeleton[top:bottom]
    if not core.any():
        return []
    half_width = distance_transform_edt(road)[top:bottom]
    kinds = classes[top:bottom]
    pieces = []
    for path in trace(core, top_seam=start > 0, bottom_seam=core_stop > stop):
        rows, cols = np.array(path).T
        xy = np.column_stack([cols + 0.5, rows + start + 0.5]).astype(np.float64)
        pieces.append(Piece(xy, 2 * half_width[rows, cols].astype(np.float32), kinds[rows, cols]))
    return pieces


class RoadGraph:
    """Road pieces joined into lines that end only at junctions and dead ends."""

    def __init__(self, pieces: list[Piece]):
        self.pieces = {i: piece for i, piece in enumerate(pieces)}
        self.next_id = len(pieces)

    def _ends(self) -> dict:
        ends: dict = {}
        for i, piece in self.pieces.items():
            for end in (_key(piece.xy[0]), _key(piece.xy[-1])):
                ends.setdefault(end, []).append(i)
        return ends

    def merge_chains(self) -> None:
        """Join the two pieces at every node where exactly two meet (seams, and junctions pruning undid), in
        one pass over the nodes."""
        ends = self._ends()
        for node, ids in ends.items():
            if len(ids) != 2 or ids[0] == ids[1]:
                continue
            a, b = self.pieces.pop(ids[0]), self.pieces.pop(ids[1])
            a = a if _key(a.xy[-1]) == node else a.reversed()
            b = b if _key(b.xy[0]) == node else b.reversed()
            joined, self.next_id = self.next_id, self.next_id + 1
            self.pieces[joined] = a.then(b)
            for old, far in ((ids[0], _key(a.xy[0])), (ids[1], _key(b.xy[-1]))):
                others = ends[far]
                others[others.index(old)] = joined
            ends[node] = []

    def contract_junctions(self, longest: float = 1.5) -> None:
        """Pieces of at most ``longest`` pixels between two junctions (a skeleton's knot of junction pixels)
        become one junction, at their mean position."""
        ends = self._ends()
        degree = {node: len(ids) for node, ids in ends.items()}
        parent: dict = {}

        def root(node):
            while parent.get(node, node) != node:
                node = parent[node]
            return node

        for i, piece in list(self.pieces.items()):
            a, b = _key(piece.xy[0]), _key(piece.xy[-1])
            if a != b and piece.length <= longest and degree[a] >= 3 and degree[b] >= 3:
                parent[root(a)] = root(b)
                del self.pieces[i]
        if not parent:
            return
        members: dict = {}
        for node in ends:
            members.setdefault(root(node), []).append(node)
        where = {node: np.mean(np.array(group), axis=0) for group in members.values() if len(group) > 1
                 for node in group}
        for piece in self.pieces.values():
            for index in (0, -1):
                moved = where.get(_key(piece.xy[index]))
                if moved is not None:
                    piece.xy = piece.xy.copy()
                    piece.xy[index] = moved

    def prune(self, min_road_px: float) -> bool:
        """Drop spurs (a dead end to a junction) shorter than twice the widest road at their junction (a
        ragged edge's branch of the skeleton), and isolated pieces and rings shorter than ``min_road_px``;
        True when any went."""
        ends = self._ends()
        doomed = []
        for i, piece in self.pieces.items():
            a, b = _key(piece.xy[0]), _key(piece.xy[-1])
            if a == b:  # a ring: a roundabout stays, a knot goes
                if piece.length < max(min_road_px, 2 * piece.width):
                    doomed.append(i)
                continue
            dead = [len(ends[a]) == 1, len(ends[b]) == 1]
            if all(dead):
                if piece.length < min_road_px:
                    doomed.append(i)
            elif any(dead):
                junction = b if dead[0] else a
                wide = max(self.pieces[j].width for j in ends[junction] if j != i)
                if piece.length < max(2 * wide, min_road_px / 2):
                    doomed.append(i)
        for i in doomed:
            del self.pieces[i]
        return bool(doomed)

    def lines(self, min_road_px: float) -> list[Piece]:
        self.merge_chains()
        self.contract_junctions()
        for _ in range(10):
            self.merge_chains()
            if not self.prune(min_road_px):
                break
        self.merge_chains()
        return list(self.pieces.values())


def _key(xy: np.ndarray) -> tuple[float, float]:
    return round(float(xy[0]), 3), round(float(xy[1]), 3)


def road_lines(pieces: list[Piece], map_file: MapFile, options: VectorOptions) -> list[Road]:
    """The roads of a map's skeleton pieces: joined, pruned, simplified to a pixel."""
    mean_m = sum(map_file.pixel_m) / 2
    roads = []
    for piece in RoadGraph(pieces).lines(options.min_road_m / mean_m):
        line = shapely.simplify(shapely.LineString(piece.xy), 0.75)
        roads.append(Road(line, piece.road_class, round(piece.width * mean_m, 2), round(map_file.length_m(line), 2)))
    return roads


# --- the whole map ----------------------------------------------------------------------------------------

def vectorize(path: str | Path, style: Optional[MapStyle] = None, options: VectorOptions = VectorOptions(),
              on_strip: Optional[Callable[[int, int], None]] = None) -> Features:
    """The feature layers of the map at ``path``, read strip by strip; ``on_strip(done, total)`` follows."""
    map_file = open_map(path, style)
    joiners = {layer: SeamJoiner() for layer in POLYGON_LAYERS}
    polygons: dict = {layer: [] for layer in POLYGON_LAYERS}
    pieces: list[Piece] = []
    spans = list(strips(map_file.height, options.strip_rows))
    with rasterio.open(path) as ds:
        for n, (start, stop) in enumerate(spans):
            last = stop == map_file.height
            first, window_stop = max(0, start - options.halo), min(map_file.height, stop + 1 + options.halo)
            classes, valid = read_classes(ds, map_file.style, first, window_stop)
            own = slice(start - first, stop - first)
            for layer, name in POLYGON_LAYERS.items():
                found = class_polygons(classes[own], valid[own], CODES[name], start)
                for polygon in joiners[layer].add(found, start, stop, last):
                    kept = finished_polygon(polygon, map_file, options)
                    if kept is not None:
                        polygons[layer].append(kept)
            road = road_mask(classes, valid, map_file.pixel_area_m2)
            pieces += strip_pieces(classes, road, first, (start, stop), map_file.height)
            if on_strip:
                on_strip(n + 1, len(spans))
    roads = road_lines(pieces, map_file, options)
    to_map = map_file.transform.to_shapely()
    features = Features(
        map_file.crs, map_file.model,
        {layer: [(shapely.affinity.affine_transform(p, to_map), round(p.area * map_file.pixel_area_m2, 2))
                 for p in found] for layer, found in polygons.items()},
        [(shapely.affinity.affine_transform(r.line, to_map), r.road_class, r.width_m, r.length_m) for r in roads])
    log.info("%s: %s", path, ", ".join(f"{count} {name}" for name, count in features.counts().items()))
    return features


def write_features(features: Features, out: str | Path) -> Path:
    """The layers to a GeoPackage at ``out`` (every layer, empty ones too), under a temporary name renamed
    into place when complete."""
    import pyogrio.errors
    import pyogrio.raw

    out = Path(out)
    metadata = {"geotrans_model": features.model}
    crs = features.crs.to_wkt()
    with atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*extension", category=RuntimeWarning)  # the .part name
        try:
            for i, layer in enumerate(LAYERS):
                if layer == "roads":
                    geometries = [g for g, *_ in features.roads]
                    columns = {"class": np.array([c for _, c, _, _ in features.roads], dtype=object),
                               "width_m": np.array([w for *_, w, _ in features.roads], dtype=np.float64),
                               "length_m": np.array([m for *_, m in features.roads], dtype=np.float64)}
                    kind = "LineString"
                else:
                    geometries = [shapely.multipolygons(shapely.get_parts(g)) for g, _ in features.polygons[layer]]
                    columns = {"area_m2": np.array([a for _, a in features.polygons[layer]], dtype=np.float64)}
                    kind = "MultiPolygon"
                wkb = np.array([shapely.to_wkb(g) for g in geometries], dtype=object)
                pyogrio.raw.write(tmp, wkb, list(columns.values()), list(columns), layer=layer, driver="GPKG",
                                  geometry_type=kind, crs=crs, append=i > 0, layer_metadata=metadata)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as err:  # a full disk is one
            raise write_error(out, "writing the features", [one_line(err)]) from None
    return out


def vectorize_map(map_path: str | Path, out: str | Path, style: Optional[MapStyle] = None,
                  options: VectorOptions = VectorOptions(), overwrite: bool = False,
                  inputs: tuple = ()) -> Features:
    """Vectorize the map at ``map_path`` into the GeoPackage ``out``, under the one write rule
    (``geotrans.io.targets``): never the map or another input, never an existing file without ``overwrite``."""

    check_target(Target(out, "vectors"), inputs=[map_path, *inputs], overwrite=overwrite)
    features = vectorize(map_path, style, options)
    with output_lock(out):  # one writer; and the rule again, under the lock: another run may have written it since
        check_target(Target(out, "vectors"), files=[], overwrite=overwrite)  # the inputs were checked above
        write_features(features, out)
    log.info("wrote %s", out)
    return features


def vectors_path(map_path: str | Path, maps_dir: str | Path, vectors_dir: str | Path) -> Path:
    """Where folder mode puts a map's features: its relative path under ``vectors_dir``, as ``.gpkg``."""
    return Path(vectors_dir) / Path(map_path).relative_to(maps_dir).with_suffix(".gpkg")


def vectorize_folder(maps: list[str], maps_dir: str | Path, vectors_dir: str | Path,
                     options: VectorOptions = VectorOptions(), force: bool = False,
                     overwrite: bool = False) -> dict[str, str]:
    """One GeoPackage per map (``vectors_path``), made when missing, older than its map, or ``force``d; a
    file there that geotrans did not write is left alone (the map's entry says so) unless ``overwrite``.
    Returns map -> "written", "current" or the one-line error."""
    outcome = {}
    for map_path in maps:
        out = vectors_path(map_path, maps_dir, vectors_dir)
        try:
            ours = written_by_geotrans_vectors(out)
            if not force and ours and out.stat().st_mtime >= Path(map_path).stat().st_mtime:
                outcome[map_path] = "current"
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            check_target(Target(out, "vectors"), inputs=[map_path], overwrite=overwrite or ours)
            features = vectorize(map_path, None, options)
            with output_lock(out):  # one writer, and the rule again under the lock
                check_target(Target(out, "vectors"), files=[], overwrite=overwrite or ours)
                write_features(features, out)
            outcome[map_path] = "written"
        except (GeotransError, OSError) as err:
            outcome[map_path] = one_line(err)
            log.error("%s: no features: %s", map_path, outcome[map_path])
    return outcome


def written_by_geotrans_vectors(path: Path) -> bool:
    """Whether ``path`` is a GeoPackage of features geotrans wrote (its layers' metadata name a model)."""
    import pyogrio
    import pyogrio.errors

    try:
        return "geotrans_model" in (pyogrio.read_info(path, layer="roads").get("layer_metadata") or {})
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError):
        return False
