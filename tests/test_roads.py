"""The real-scene road metric on the Vegas sample and SpaceNet's road centre lines."""
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import VEGAS

from geotrans.io.resolution import pixel_size_m
from training.roads import evaluate_roads, label_raster, road_pixels, road_scores, shifted

LABELS = Path(__file__).resolve().parent / "data" / "vegas_roads" / "vegas_roads.geojson"


def vegas_grid():
    with rasterio.open(VEGAS) as ds:
        x_m, y_m = pixel_size_m(ds.crs, ds.transform, ds.width, ds.height)
        return ds.crs, ds.transform, (ds.height, ds.width), (y_m, x_m)


def test_labels_cross_the_vegas_sample():
    crs, transform, shape, _ = vegas_grid()
    labels = label_raster(LABELS, crs, transform, shape)
    assert 0.005 < labels.mean() < 0.2  # lines, not nothing and not everything


def test_a_map_drawn_from_the_labels_scores_one_and_an_empty_map_zero():
    crs, transform, shape, size_m = vegas_grid()
    labels = label_raster(LABELS, crs, transform, shape)
    drawn = np.where(labels, 252, 232).astype(np.uint8)[None].repeat(3, 0)  # white streets on map background
    perfect = road_scores(road_pixels(drawn), labels, size_m)
    assert perfect.recall == perfect.precision == perfect.f1 == 1.0
    empty = road_scores(road_pixels(np.full((3, *shape), 232, np.uint8)), labels, size_m)
    assert empty.f1 == 0.0 and empty.road_pixels == 0


def test_tolerance_is_in_metres():
    crs, transform, shape, size_m = vegas_grid()
    labels = label_raster(LABELS, crs, transform, shape)
    # Streets drawn 3 m east of the labels: all within 4 m, none within 2 m.
    cols = round(3.0 / size_m[1])
    moved = shifted(labels, 0, cols) & ~labels
    assert road_scores(moved, labels, size_m, tolerance_m=4.0).precision > 0.95
    assert road_scores(moved, labels, size_m, tolerance_m=2.0).precision < 0.3


def test_only_valid_pixels_count():
    crs, transform, shape, size_m = vegas_grid()
    labels = label_raster(LABELS, crs, transform, shape)
    wrong = shifted(labels, 150, 150)
    valid = np.zeros(shape, bool)
    assert road_scores(wrong, labels, size_m, valid=valid).f1 == 0.0
    assert road_scores(labels, labels, size_m, valid=~valid).f1 == 1.0


def test_evaluate_roads_runs_geotrans_on_the_scene_and_reports_the_shifted_floor(identity):
    # The identity "generator" returns the photo: bright roofs and concrete count as streets, so this
    # only checks the plumbing (a map on the scene's grid, scored, with the floor beside it).
    report = evaluate_roads(identity, VEGAS, LABELS)
    assert report["scene"] == VEGAS.name
    for name in ("map", "shifted_by_a_block"):
        assert 0 <= report[name]["f1"] <= 1 and report[name]["label_pixels"] > 0
    assert report["map"]["label_pixels"] == report["shifted_by_a_block"]["label_pixels"]


def test_road_pixels_are_the_near_white_streets():
    rgb = np.array([[[252, 232, 176, 255]], [[252, 224, 208, 255]], [[252, 216, 252, 244]]], np.uint8)
    assert road_pixels(rgb).tolist() == [[True, False, False, False]]
    # The shipped palette's street colour counts; its background colour does not.
    from geotrans.model.palette import Palette
    from geotrans.model.weights import read_model_info

    colours = Palette.from_card(read_model_info().card).colours
    street = min(colours, key=lambda c: sum((255 - v) ** 2 for v in c))
    background = (232, 229, 222)
    assert background in colours
    both = np.array([street, background], np.uint8).T[:, None, :]
    assert road_pixels(both).tolist() == [[True, False]]
    with pytest.raises(ValueError):
        road_scores(np.zeros((2, 2), bool), np.zeros((3, 3), bool), (1.0, 1.0))


@pytest.mark.slow
def test_the_shipped_model_draws_streets_on_vegas_through_the_default_path():
    """With the palette on (the default), streets are snapped to the palette's white: they still count."""
    from geotrans.model.weights import load_generator

    generator, info = load_generator()
    report = evaluate_roads(generator, VEGAS, LABELS, model_info=info)
    assert report["map"]["road_pixels"] > 0.01 * np.prod(vegas_grid()[2])
