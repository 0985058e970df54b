"""What the model learnt its colours from, and a scene's colours against them: a false-colour reading of a real
scene is told it is unlike the training photos before its map is drawn; the sample scenes, read as they
should be, are not; the measure is bounded however large the scene."""
from __future__ import annotations

import json

import numpy as np
import rasterio
from helpers import ATLANTA, KOREA, LANDSAT, NAIP, ROTTERDAM, VEGAS, run_cli
from rasterio.windows import Window

from geotrans.io.bands import plan_bands
from geotrans.io.colours import WINDOW, sample_windows, scene_colours
from geotrans.model.colours import Colours, LearntColours, photo_colours
from geotrans.model.weights import read_model_info
from geotrans.run.options import RunOptions
from geotrans.run.plan import EXPECTATIONS_TAG, plan_run

UNLIKE = "colours unlike the photos the model learnt from"


def test_near_infrared_read_as_red_is_told_unlike_what_the_model_learnt_before_the_map():
    # NAIP's bands are R, G, B, NIR: read as colour infrared (NIR, R, G) its fields turn red, as no photo did
    told = json.loads(run_cli("info", NAIP, "--bands", "4,1,2", "--json").output.splitlines()[-1])
    [unlike] = [line for line in told["expect"] if UNLIKE in line]
    assert "red" in unlike.split("; ")[2] and "far higher than theirs" in unlike and "--bands" in unlike
    assert told["colours"]["distance"] > 2 * told["colours"]["limit"]
    plan = plan_run(NAIP, RunOptions(bands=(4, 1, 2)), read_model_info())
    assert any(UNLIKE in line for line in json.loads(plan.tags[EXPECTATIONS_TAG]))  # kept in the map's tags


def test_the_sample_scenes_read_as_they_should_be_are_not_told_so():
    model = read_model_info()
    for scene in (KOREA, LANDSAT, VEGAS, ATLANTA, ROTTERDAM, NAIP):
        plan = plan_run(scene, RunOptions(), model)
        assert plan.scene.colours is not None and not any(UNLIKE in line for line in plan.expectations), scene


def test_the_shipped_card_holds_the_training_photos_colours_and_a_limit_its_val_photos_keep():
    card = read_model_info().card
    learnt = LearntColours.from_card(card)
    assert learnt is not None and learnt.limit == 9
    measured = card["input_colours"]["measured"]
    assert measured["training_photos"] > 1000 and max(measured["val_furthest"].values()) <= learnt.limit
    centre = Colours(tuple(learnt.mean[:3]), tuple(learnt.mean[3:]))
    assert learnt.distance(centre) < 1e-6 and learnt.unlike(centre) is None
    again = LearntColours.from_card({"input_colours": learnt.card("test")})
    assert np.allclose(again.covariance, learnt.covariance, atol=1e-3) and again.limit == learnt.limit
    for broken in ({}, {"input_colours": "red"}, {"input_colours": {"mean": [1, 2], "covariance": [], "limit": 1}}):
        assert LearntColours.from_card(broken) is None  # a model without them says nothing of colours


def test_a_small_scene_is_measured_whole_and_a_large_one_by_bounded_windows(tmp_path):
    with rasterio.open(LANDSAT) as ds:
        whole = photo_colours(ds.read([1, 2, 3]), ds.read_masks(1) > 0)
        assert scene_colours(ds, plan_bands(ds)) == whole  # the nodata border left out
    large = tmp_path / "large.tif"  # Korea's real pixels, mirrored, 4096 px a side
    with rasterio.open(KOREA) as ds:
        rgb = ds.read()
        profile = {**ds.profile, "driver": "GTiff", "width": 4096, "height": 4096, "compress": "deflate", "photometric": "RGB",
                   "tiled": True}
        profile.pop("jpeg_quality", None)
    pair = np.concatenate([rgb, rgb[:, :, ::-1]], axis=2)
    square = np.concatenate([pair, pair[:, ::-1]], axis=1)
    with rasterio.open(large, "w", **profile) as out:
        for row in range(0, 4096, 2048):
            for col in range(0, 4096, 2048):
                out.write(square, window=Window(col, row, 2048, 2048))
    windows = sample_windows(4096, 4096)
    assert len(windows) == 64 and all(w.width == w.height == WINDOW for w in windows)
    assert {w.col_off for w in windows} >= {0, 4096 - WINDOW}  # spread from edge to edge
    with rasterio.open(large) as ds:
        sampled = scene_colours(ds, plan_bands(ds))
    full = photo_colours(square)
    assert np.abs(sampled.vector() - full.vector()).max() < 12  # 1/256 of the pixels, the same colours
