"""The confidence benchmark's measures (issue #45): AUROC, the confident half, the colour margin and the D4
views. Small synthetic arrays: each figure is checked against a value worked out by hand."""
import numpy as np
import pytest

from geotrans.model.style import CODES, IGNORE, MapStyle
from geotrans.model.weights import read_model_info
from training.confidence import D4, auroc, confident_half, d4_back, d4_view, margins, merged


def test_auroc_is_one_when_every_right_pixel_is_surer_and_a_half_for_a_constant():
    right = np.array([True, True, False, False])
    assert auroc(np.array([0.9, 0.8, 0.2, 0.1]), right) == 1.0
    assert auroc(np.array([0.1, 0.2, 0.8, 0.9]), right) == 0.0
    assert auroc(np.full(4, 0.5), right) == 0.5
    # one wrong pixel (0.85) above one right one (0.8): 3 of the 4 right-wrong pairs ordered right
    assert auroc(np.array([0.9, 0.8, 0.85, 0.1]), right) == pytest.approx(0.75)
    assert auroc(np.array([0.9, 0.8]), np.array([True, True])) is None


def test_the_confident_half_is_wrong_half_as_often_or_not_at_all():
    right = np.array([True, True, True, False, True, False, True, False])  # 3 of 8 wrong
    confidence = np.array([8, 7, 6, 5, 4, 3, 2, 1], float)
    # the surest half holds 1 wrong pixel of 4: 0.25 against 0.375 overall
    assert confident_half(confidence, right) == pytest.approx(0.25 / 0.375)
    assert confident_half(confidence, np.ones(8, bool)) is None


def test_the_margin_is_zero_halfway_between_two_class_colours_and_large_on_one():
    style = MapStyle.from_card(read_model_info().card)
    water, land = np.array(style.colours["water"]), np.array(style.colours["background"])
    pixels = np.stack([water, land, (water + land) / 2]).astype(np.uint8).T[:, None, :]  # (3, 1, 3)
    m = margins(pixels, style)[0]
    assert m[0] > 10 and m[1] > 3 and m[2] < 2


def test_roads_are_one_class_and_every_d4_view_comes_back():
    codes = np.array([CODES["street"], CODES["major_road"], CODES["highway"], CODES["water"]], np.uint8)
    assert list(merged(codes)) == [CODES["street"]] * 3 + [CODES["water"]]
    photo = np.arange(3 * 4 * 6, dtype=np.uint8).reshape(3, 4, 6)
    for flip, turns in D4:
        view = d4_view(photo, flip, turns)
        assert np.array_equal(d4_back(view, flip, turns), photo)
    assert len({d4_view(photo, f, t).tobytes() for f, t in D4}) == 8


def test_the_heads_tiles_cover_the_photo_and_pad_labels_as_unknown():
    from training.confidence_head import TILE, tiles

    photo = np.random.default_rng(0).integers(0, 255, (3, 300, 260), dtype=np.uint8)
    labels = np.full((300, 260), CODES["water"], np.uint8)
    cut = list(tiles(photo, labels))
    assert len(cut) == 4 and all(p.shape == (3, TILE, TILE) and lab.shape == (TILE, TILE) for p, lab in cut)
    assert np.array_equal(cut[3][0][:, :44, :4], photo[:, 256:, 256:])
    assert (cut[3][1][44:] == 255).all() and (cut[3][1][:44, :4] == CODES["water"]).all()


def test_dakota_judges_water_only_and_complete_labels_judge_what_is_drawn_off_them():
    from training.confidence_head import known_and_right

    water, green, land, street = CODES["water"], CODES["green"], CODES["background"], CODES["street"]
    labels = np.array([[land, land, water]], np.uint8)
    classes = np.array([[green, water, water]], np.uint8)
    known, right = known_and_right("dakota-water", classes, labels, ())
    assert list(known) == [True] * 3 and list(right) == [True, False, True]  # green on land is not water: right
    known, right = known_and_right("epfl-suburbs", np.array([[street, land, street]], np.uint8),
                                   np.array([[street, 255, 255]], np.uint8), (street,))
    assert list(known) == [True, False, True] and list(right) == [True, False, False]


def test_a_hardened_copy_darkens_green_land_only_and_coarsens_the_whole_tile():
    """A constructed tile (a green field, a green pond, an unlabelled green strip, grey land), so that which
    pixels may change is exact; real tiles mix all four in ways no assertion could name."""
    from training.confidence_head import hardened, with_hard_copies

    tile = np.zeros((3, 64, 64), np.uint8)
    tile[:] = np.array([60, 140, 60], np.uint8)[:, None, None]  # vegetation everywhere ...
    tile[:, :, 48:] = 128  # ... but grey land on the right
    labels = np.full((64, 64), CODES["green"], np.uint8)
    labels[:, 16:32] = CODES["water"]
    labels[:, 32:48] = IGNORE
    labels[:, 48:] = CODES["background"]
    dark = hardened(tile, labels, 0.5, None)
    assert abs(int(dark[1, 32, 2]) - 70) <= 1  # green land, far from other classes: halved
    assert (dark[:, :, 20:28] == tile[:, :, 20:28]).all()  # water keeps its brightness
    assert (dark[:, :, 36:44] == tile[:, :, 36:44]).all()  # unknown too
    assert (dark[:, :, 52:] == tile[:, :, 52:]).all()  # grey land is not vegetation
    coarse = hardened(tile, labels, None, 4.0)
    assert coarse[1, 32, 47] != tile[1, 32, 47] and (coarse[:, :, :8] == tile[:, :, :8]).all()
    samples = [("s", tile, labels, ())] * 50
    copies = list(with_hard_copies(iter(samples), 1.0, 0.0))
    assert len(copies) == 100 and not np.array_equal(copies[1][1], tile)
    assert len(list(with_hard_copies(iter(samples), 0.0, 0.0))) == 50
