"""The map-style renderer: labels (class rasters, vector layers) drawn in the shipped model's colours."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform as transform_coords

from geotrans.errors import InputError
from geotrans.io.labels import (
    Feature,
    Grid,
    classes_from_codes,
    osm_class,
    parse_class_table,
    parse_other_tags,
    rasterize_features,
    read_vector_labels,
    render_vectors,
)
from geotrans.model.palette import Palette
from geotrans.model.style import CODES, IGNORE, MapStyle
from geotrans.model.weights import read_model_info

SAMPLES = Path(__file__).resolve().parents[1] / "sample_tiles"
VEGAS = SAMPLES / "vegas_rgba_4326.tif"
ROADS = Path(__file__).resolve().parent / "data" / "vegas_roads" / "vegas_roads.geojson"
UTM11 = CRS.from_epsg(32611)


@pytest.fixture(scope="module")
def style() -> MapStyle:
    return MapStyle.from_card(read_model_info().card)


def utm_grid(pixel_m: float, size: int = 200) -> Grid:
    """A north-up UTM grid near Las Vegas (synthetic: the widths below need an exact, known pixel size)."""
    return Grid(UTM11, Affine(pixel_m, 0, 666000, 0, -pixel_m, 4012000), size, size)


def test_the_shipped_card_names_each_class_colour_from_its_palette(style):
    card = read_model_info().card
    palette = Palette.from_card(card).colours
    for name in ("background", "major_road", "highway", "water", "green", "building"):
        assert style.colours[name] in palette, name
    assert len(card["palette_classes"]) == len(palette)


def test_each_class_draws_its_colour(style):
    grid = utm_grid(1.0, 70)
    squares = {name: shapely.box(666000 + 10 * i, 4011940, 666000 + 10 * i + 8, 4011948)
               for i, name in enumerate(["street", "major_road", "highway", "water", "green", "building"])}
    features = [Feature(geometry, name, 0.0) for name, geometry in squares.items()]
    classes = rasterize_features(features, grid, complete=True)
    rgb = style.paint(classes)
    for i, name in enumerate(squares):
        row, col = 4012000 - 4011944, 10 * i + 4  # the square's centre, on 1 m pixels from the top-left corner
        assert classes[row, col] == CODES[name], name
        assert tuple(rgb[:, row, col]) == style.colours[name], name
    assert tuple(rgb[:, 2, 2]) == style.colours["background"]
    assert classes[2, 2] == CODES["background"]


@pytest.mark.parametrize("pixel_m", [0.5, 1.0])
def test_a_street_is_drawn_ten_metres_wide_at_any_resolution(pixel_m):
    grid = utm_grid(pixel_m)
    x = 666000 + 50.0  # a north-south street centre line, 50 m from the grid's west edge
    line = shapely.LineString([(x, 4012000 + 5), (x, 4012000 - 200 * pixel_m - 5)])
    classes = rasterize_features([Feature(line, "street", 10.0)], grid)
    covered = np.flatnonzero(classes[grid.height // 2] == CODES["street"])
    assert len(covered) == round(10.0 / pixel_m)
    centre = (covered.mean() + 0.5) * pixel_m  # metres east of the grid's edge
    assert centre == pytest.approx(50.0, abs=pixel_m / 2)
    assert (classes[grid.height // 2, covered.max() + 1:] == IGNORE).all()  # not complete: the rest is unknown


def test_osm_widths_follow_the_road_class():
    grid = utm_grid(1.0)
    lines = [shapely.LineString([(666000 + x, 4012005), (666000 + x, 4011795)]) for x in (40, 120)]
    path = {"highway": "motorway"}, {"highway": "service"}
    features = [Feature(line, osm_class(tags), 18.0 if tags["highway"] == "motorway" else 6.0)
                for line, tags in zip(lines, path)]
    row = rasterize_features(features, grid)[100]
    assert np.sum(row == CODES["highway"]) == 18 and np.sum(row == CODES["street"]) == 6


def write_geojson(path: Path, features: list[tuple[dict, dict]], crs: str | None = None) -> Path:
    collection = {"type": "FeatureCollection",
                  "features": [{"type": "Feature", "properties": p, "geometry": g} for p, g in features]}
    if crs:
        collection["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(collection))
    return path


def test_an_osm_tagged_geojson_renders_each_class(tmp_path, style):
    # Hand-made OSM-style features over the real Vegas sample (no OSM extract ships with the tests): a
    # park, a lake in it, a building in the park, a residential street and a motorway crossing, a bench.
    with rasterio.open(VEGAS) as ds:
        grid = Grid.of(ds)
    (w, s, e, n) = rasterio.transform.array_bounds(grid.height, grid.width, grid.transform)
    dx, dy = (e - w) / 10, (n - s) / 10

    def box(i0, j0, i1, j1):
        return shapely.geometry.mapping(shapely.box(w + i0 * dx, s + j0 * dy, w + i1 * dx, s + j1 * dy))

    def line(points):
        return {"type": "LineString", "coordinates": [[w + i * dx, s + j * dy] for i, j in points]}

    path = write_geojson(tmp_path / "osm.geojson", [
        ({"leisure": "park"}, box(0, 0, 6, 6)),
        ({"natural": "water"}, box(1, 1, 3, 3)),
        ({"building": "yes"}, box(4, 4, 5, 5)),
        ({"highway": "residential"}, line([(8, 0), (8, 10)])),
        ({"highway": "motorway"}, line([(0, 8), (10, 8)])),
        ({"amenity": "bench"}, {"type": "Point", "coordinates": [w + 7 * dx, s + 7 * dy]}),
    ])
    rgb, classes = render_vectors([path], grid, style, complete=True)

    def at(i, j):  # the class at (i, j) tenths of the grid from its south-west corner
        return int(classes[int(grid.height * (1 - j / 10)), int(grid.width * i / 10)])

    assert at(5, 1) == CODES["green"]
    assert at(2, 2) == CODES["water"]
    assert at(4.5, 4.5) == CODES["building"]
    assert at(8, 3) == CODES["street"]
    assert at(4, 8) == CODES["highway"]
    assert at(8, 8) == CODES["highway"]  # the motorway is drawn over the street where they cross
    assert at(7, 3) == CODES["background"]
    assert tuple(rgb[:, int(grid.height * 0.8), int(grid.width * 0.2)]) == style.colours["water"]


def test_vectors_in_another_crs_are_reprojected_onto_the_grid(tmp_path):
    # The real Vegas road centre lines (CRS84) on a UTM grid over the sample: each vertex lands where PROJ puts it.
    with rasterio.open(VEGAS) as ds:
        w, s, e, n = ds.bounds
    xs, ys = transform_coords("EPSG:4326", UTM11, [w, e], [s, n])
    grid = Grid(UTM11, Affine(0.5, 0, xs[0], 0, -0.5, ys[1]), int((xs[1] - xs[0]) / 0.5), int((ys[1] - ys[0]) / 0.5))
    features = read_vector_labels(ROADS, grid.crs, default_class="street")
    classes = rasterize_features(features, grid)
    collection = json.loads(ROADS.read_text())
    checked = 0
    for feature in collection["features"]:
        for lon, lat in feature["geometry"]["coordinates"]:
            (x,), (y,) = transform_coords("EPSG:4326", UTM11, [lon], [lat])
            col, row = ~grid.transform * (x, y)
            if 2 <= col < grid.width - 2 and 2 <= row < grid.height - 2:
                assert classes[int(row), int(col)] == CODES["street"]
                checked += 1
    assert checked >= 5
    # Drawn as if the degrees were metres (not reprojected), nothing would land on the grid at all.
    assert np.mean(classes == CODES["street"]) > 0.05


def test_empty_and_invalid_geometries_are_skipped_or_repaired_with_a_warning(tmp_path, caplog):
    bow_tie = {"type": "Polygon", "coordinates": [[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]}
    path = write_geojson(tmp_path / "mixed.geojson", [
        ({"class": "water"}, bow_tie),
        ({"class": "street"}, {"type": "LineString", "coordinates": []}),
        ({"class": "green"}, None),
        ({"class": "lava"}, {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}),
    ], crs="EPSG:32611")
    with caplog.at_level(logging.WARNING, logger="geotrans.model.style"):
        features = read_vector_labels(path, UTM11)
    assert [f.map_class for f in features] == ["water"]
    assert features[0].geometry.is_valid and features[0].geometry.area == pytest.approx(50.0)
    assert "repaired" in caplog.text and "empty" in caplog.text and "unknown class" in caplog.text


def test_a_file_with_nothing_to_draw_is_one_clear_error(tmp_path):
    path = write_geojson(tmp_path / "bench.geojson", [({"amenity": "bench"}, {"type": "Point",
                                                                             "coordinates": [0, 0]})])
    with pytest.raises(InputError, match="no feature to draw"):
        read_vector_labels(path, UTM11)
    (tmp_path / "broken.geojson").write_text("{not json")
    with pytest.raises(InputError, match="not a readable vector file"):
        read_vector_labels(tmp_path / "broken.geojson", UTM11)


def test_osm_tags_in_other_tags_and_the_rule_set():
    assert parse_other_tags('"landuse"=>"forest","name"=>"A \\"big\\" wood"') == {"landuse": "forest",
                                                                                 "name": 'A "big" wood'}
    assert osm_class({"highway": "primary"}) == "major_road"
    assert osm_class({"highway": "trunk"}) == "highway"
    assert osm_class({"waterway": "canal"}) == "water"
    assert osm_class({"leisure": "golf_course"}) == "green"
    assert osm_class({"building": "house", "leisure": "park"}) == "building"
    assert osm_class({"building": "no"}) is None
    assert osm_class({"highway": "footway"}) is None


def test_a_class_raster_goes_through_its_table(style):
    table = parse_class_table({"0": "background", "1": "street", "2": "water", "255": "ignore"})
    codes = np.array([[0, 1], [2, 255]], dtype=np.uint8)
    classes = classes_from_codes(codes, table)
    assert classes.tolist() == [[CODES["background"], CODES["street"]], [CODES["water"], IGNORE]]
    assert tuple(style.paint(classes)[:, 0, 1]) == (255, 255, 255)
    with pytest.raises(InputError, match="codes 7 are not in the class table"):
        classes_from_codes(np.array([[7]]), table)
    with pytest.raises(InputError, match="'lava'"):
        parse_class_table({"1": "lava"})


def test_a_card_without_map_classes_is_refused_in_one_line():
    with pytest.raises(InputError, match="no map_classes"):
        MapStyle.from_card({"name": "old"})


def test_a_map_names_its_class_colours_and_they_class_its_pixels_back(tmp_path, style):
    import json as json_

    from geotrans.run.options import RunOptions
    from geotrans.run.plan import plan_run

    plan = plan_run(VEGAS, RunOptions(), read_model_info())
    assert json_.loads(plan.tags["GEOTRANS_MAP_CLASSES"]) == read_model_info().card["map_classes"]
    painted = style.paint(np.arange(len(CODES), dtype=np.uint8)[None].repeat(3, 0))
    assert style.classify(painted).tolist() == [list(range(len(CODES)))] * 3
