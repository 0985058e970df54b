"""The semantic benchmark: per-class scores of maps against held-out labels."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import DUBAI_CLASSES, write_mix
from torch import nn

from geotrans.model.style import CODES, IGNORE, MapStyle
from geotrans.model.weights import read_model_info
from geotrans.training.scores import Tally
from geotrans.training.sources import labelled_images, read_mix
from training.semantic import evaluate_labelled

DATA = Path(__file__).resolve().parent / "data"
STYLE = MapStyle.from_card(read_model_info().card)


def test_each_class_colour_classes_as_itself_and_near_colours_as_the_nearest():
    table = STYLE.table
    rgb = np.concatenate([table, np.clip(table.astype(int) + 3, 0, 255).astype(np.uint8)])[None].transpose(2, 0, 1)
    assert STYLE.classify(rgb)[0].tolist() == list(range(len(table))) * 2


def test_iou_dry_land_and_street_f1_count_the_right_pixels():
    truth = np.full((10, 10), CODES["background"], np.uint8)
    truth[:, :4] = CODES["water"]
    truth[:, 6] = CODES["street"]
    truth[9, :] = IGNORE
    drawn = np.full((10, 10), CODES["background"], np.uint8)
    drawn[:, :5] = CODES["water"]  # one column of land drawn as water
    drawn[:, 7] = CODES["major_road"]  # the street drawn one pixel east: within 3 m at 1 m pixels
    drawn[9, 9] = CODES["water"]  # an unlabelled pixel: not counted
    tally = Tally.empty()
    tally.add(drawn, truth, np.ones((10, 10), bool), pixel_m=1.0)
    scores = tally.scores()
    assert scores["water_iou"] == pytest.approx(36 / 45)
    assert scores["dry_land_as_water"] == pytest.approx(9 / 54)
    assert scores["street_f1"] == 1.0 and scores["street_iou"] == 0.0
    assert scores["green_iou"] is None  # the labels hold no green
    far = Tally.empty()
    far.add(drawn, truth, np.ones((10, 10), bool), pixel_m=5.0)  # one pixel is 5 m: beyond the tolerance
    assert far.scores()["street_f1"] == 0.0
    strict = Tally.empty(tolerance_m=0.5)  # a source's own tolerance (LoveDA's lanes: 2 px at 0.9 m)
    strict.add(drawn, truth, np.ones((10, 10), bool), pixel_m=1.0)  # one pixel east is beyond half a metre
    assert strict.scores()["street_f1"] == 0.0 and strict.scores()["tolerance_m"] == 0.5


def test_a_source_complete_for_streets_counts_streets_drawn_on_unlabelled_pixels():
    truth = np.full((6, 6), IGNORE, np.uint8)
    truth[:, 0] = CODES["street"]
    drawn = np.full((6, 6), CODES["background"], np.uint8)
    drawn[:, 0] = drawn[:, 5] = CODES["street"]
    loose, strict = Tally.empty(), Tally.empty()
    loose.add(drawn, truth, np.ones((6, 6), bool), 1.0)
    strict.add(drawn, truth, np.ones((6, 6), bool), 1.0, complete_for=("street",))
    assert loose.scores()["street_precision"] == 1.0
    assert strict.scores()["street_precision"] == 0.5


class Constant(nn.Module):
    """A generator that draws every pixel in one colour (a stand-in with known scores)."""

    def __init__(self, rgb):
        super().__init__()
        self.register_buffer("value", torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1) / 127.5 - 1)

    def forward(self, x):
        return self.value.expand(x.shape[0], 3, *x.shape[2:]).to(x.dtype)


def test_held_out_photos_go_through_geotrans_run_and_score_against_their_labels(tmp_path):
    mix_path = tmp_path / "mix.json"
    mix_path.write_text(json.dumps({"sources": [
        {"name": "dubai", "kind": "masks", "root": str(DATA / "dubai"), "images": "tile2/images/*.jpg",
         "val": "tile2/images/image_part_009.jpg", "resolution_m": 1.0, "match": "nearest", "weight": 1,
         "classes": {"#8429F6": "background", "#6EC1E4": "street", "#E2A929": "water", "#FEDD3A": "green",
                     "#3C1098": "building", "#9B9B9B": "ignore", "#000000": "ignore"}}]}))
    [report] = evaluate_labelled(Constant(STYLE.colours["water"]), mix_path)
    truth = labelled_images(read_mix(mix_path), read_mix(mix_path).sources[0], "val")[0].classes
    labelled = truth != IGNORE
    assert report["images"] == 1
    assert report["water_iou"] == pytest.approx(np.mean(truth[labelled] == CODES["water"]), abs=0.01)
    assert report["dry_land_as_water"] == pytest.approx(1.0, abs=0.01)
    assert report["street_f1"] == 0.0 and report["building_iou"] == 0.0


def test_the_colour_rule_ranks_colours_by_their_share_of_water_and_takes_one_colours_pixels_together():
    # Hand-worked: the arithmetic of the bound, on three colours (a real scene is its usage line).
    from training.experiments.colour_bound import colour_bins, fitted_trade, least_dry_at, trade, water_share

    blue, teal, green = (40, 60, 120), (60, 90, 70), (60, 120, 40)
    rgb = np.array([blue, blue, teal, teal, green, green], np.uint8).T  # (3, 6)
    water = np.array([True, True, True, False, False, False])
    bins = colour_bins(rgb, 32)
    share = water_share(bins, water, 32)
    assert share[bins].tolist() == [1.0, 1.0, 0.5, 0.5, 0.0, 0.0]
    recall, dry = trade(share[bins], water)
    assert recall.tolist() == pytest.approx([2 / 3, 1, 1]) and dry.tolist() == pytest.approx([0, 1 / 3, 1])
    assert least_dry_at(recall, dry, 0.5) == 0 and least_dry_at(recall, dry, 0.9) == pytest.approx(1 / 3)
    # Fitted where teal never shows, the rule calls teal dry: scored there, it finds blue's water only.
    image = rgb.reshape(3, 2, 3)  # rows: blue, blue, teal | teal, green, green
    fit = np.array([[True, True, False], [False, True, True]])
    recall, dry = fitted_trade(colour_bins(image, 32), water.reshape(2, 3), fit, ~fit, 32)
    assert recall.tolist() == [1.0] and dry.tolist() == [1.0]  # both teal pixels score 0: one threshold


def test_the_confusion_experiment_counts_each_labelled_pixel_by_its_label_and_drawn_class():
    from training.experiments.confusion import confusion, table

    truth = np.array([[CODES["water"], CODES["water"], CODES["street"], IGNORE]], np.uint8)
    drawn = np.array([[CODES["water"], CODES["background"], CODES["street"], CODES["water"]]], np.uint8)
    valid = np.array([[True, True, True, True]])
    counts = confusion(drawn, truth, valid)
    assert counts.sum() == 3  # the unlabelled pixel is not counted
    assert counts[CODES["water"], CODES["water"]] == counts[CODES["water"], CODES["background"]] == 1
    assert counts[CODES["street"], CODES["street"]] == 1
    valid[0, 0] = False
    assert confusion(drawn, truth, valid)[CODES["water"], CODES["water"]] == 0
    rows = table(counts).splitlines()
    assert len(rows) == 4 and rows[2].startswith("| street | 0% | 100% |")


def test_the_confusion_experiment_gives_the_mean_photo_colour_of_each_label_drawn_as_it_and_missed():
    from training.experiments.confusion import colour_sums, colour_table

    truth = np.array([[CODES["water"], CODES["water"], CODES["water"], IGNORE]], np.uint8)
    drawn = np.array([[CODES["water"], CODES["green"], CODES["background"], CODES["water"]]], np.uint8)
    photo = np.array([[[10, 60, 80, 255]], [[20, 90, 100, 255]], [[30, 60, 70, 255]]], np.uint8)
    sums = colour_sums(photo, drawn, truth, np.ones_like(truth, bool))
    assert sums[CODES["water"], 1].tolist() == [10, 20, 30, 1]  # the one water pixel drawn as water
    assert sums[CODES["water"], 0].tolist() == [140, 190, 130, 2]  # the two it missed; the unlabelled one left out
    assert sums[CODES["green"]].sum() == 0
    rows = colour_table(sums).splitlines()
    assert rows[2] == "| water | 10, 20, 30 (1 px) | 70, 95, 65 (2 px) |" and len(rows) == 3


def test_land_class_figures_count_woods_and_fields_drawn_as_water_and_woods_drawn_green():
    truth = np.full((10, 10), CODES["background"], np.uint8)  # fields
    truth[:, :5] = CODES["green"]  # woods: 50 px
    truth[0, :] = IGNORE  # unlabelled: never counted
    drawn = np.full((10, 10), CODES["background"], np.uint8)
    drawn[:, :4] = CODES["green"]  # 36 of the 45 labelled wood pixels drawn green
    drawn[1:3, 4] = CODES["water"]  # 2 wood pixels drawn as water
    drawn[1:4, 9] = CODES["water"]  # 3 field pixels drawn as water
    drawn[0, :] = CODES["water"]  # on unlabelled pixels: not counted
    tally = Tally.empty()
    tally.add(drawn, truth, np.ones((10, 10), bool), pixel_m=1.0)
    scores = tally.scores()
    assert scores["green_drawn_green"] == pytest.approx(36 / 45)
    assert scores["green_as_water"] == pytest.approx(2 / 45)
    assert scores["background_as_water"] == pytest.approx(3 / 45)
    empty = Tally.empty()
    empty.add(drawn, np.full((10, 10), CODES["street"], np.uint8), np.ones((10, 10), bool), pixel_m=1.0)
    assert empty.scores()["green_as_water"] is None  # no woods in the labels: no figure, not 0


def test_the_fit_scores_training_images_only_and_as_many_as_asked(tmp_path):
    from training.semantic import evaluate_fit

    mix_path = write_mix(tmp_path)  # its Dubai source holds image_part_009 out
    mix = read_mix(mix_path)
    [report] = evaluate_fit(Constant(STYLE.colours["water"]), mix_path, 1)
    [first] = labelled_images(mix, mix.sources[1], "images", 1)
    assert report["images"] == 1 and first.name.endswith("image_part_005.jpg")  # never the held-out one
    labelled = first.classes != IGNORE
    assert report["water_iou"] == pytest.approx(np.mean(first.classes[labelled] == CODES["water"]), abs=0.01)
    with pytest.raises(ValueError, match="at least one"):
        evaluate_fit(Constant(STYLE.colours["water"]), mix_path, 0)


def test_a_spread_reads_images_evenly_from_first_to_last_and_counts_collages_whole(tmp_path):
    import shutil

    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    for name in ("a", "b", "c"):  # three photos of one size, as a collage needs
        shutil.copy(DATA / "dubai/tile2/images/image_part_005.jpg", tmp_path / "images" / f"{name}.jpg")
        shutil.copy(DATA / "dubai/tile2/masks/image_part_005.png", tmp_path / "masks" / f"{name}.png")
    spec = {"name": "copies", "kind": "masks", "root": str(tmp_path), "images": "images/*.jpg",
            "resolution_m": 1.0, "match": "nearest", "weight": 1,
            "classes": DUBAI_CLASSES}
    mix_path = tmp_path / "mix.json"
    mix_path.write_text(json.dumps({"sources": [spec]}))
    mix = read_mix(mix_path)
    assert [i.name for i in labelled_images(mix, spec, "images")] == [f"copies/images/{n}.jpg" for n in "abc"]
    assert [i.name for i in labelled_images(mix, spec, "images", 2)] == ["copies/images/a.jpg",  # first, last
                                                                        "copies/images/c.jpg"]
    assert [i.name for i in labelled_images(mix, spec, "images", 1)] == ["copies/images/a.jpg"]
    [joined] = labelled_images(mix, {**spec, "collage": 2}, "images", 1)  # one collage: all three photos
    single = labelled_images(mix, spec, "images", 1)[0].classes.shape
    assert joined.name == "copies/images/a.jpg+2" and joined.classes.shape == (2 * single[0], 2 * single[1])


def test_the_segmentation_probe_turns_and_flips_each_crop_with_its_labels():
    from training.experiments.segmentation_probe import crops

    rng = np.random.default_rng(3)
    marked = torch.from_numpy(rng.random((40, 40)) < 0.3)  # water where the photo's blue band is 1, else land
    photo = torch.stack([torch.full((40, 40), 0.5), torch.full((40, 40), 0.5), marked.float()])
    classes = torch.where(marked, CODES["water"], CODES["background"]).long()
    photos, labels = crops([(photo, classes)], 16, 24, np.random.default_rng(0))
    assert photos.shape == (16, 3, 24, 24) and labels.shape == (16, 24, 24)
    # Brightness and contrast move every pixel alike (and keep their order), so blue above the middle is water.
    assert torch.equal(labels == CODES["water"], photos[:, 2] > 0.5)
    assert not torch.equal(photos[0, 2], photo[2, :24, :24])  # not every crop the first, unturned one


def test_the_segmentation_probe_weighs_rare_classes_more_and_absent_ones_not_at_all():
    from geotrans.model.style import CLASSES
    from training.experiments.segmentation_probe import class_weights

    classes = torch.full((10, 10), CODES["background"])
    classes[0, :4] = CODES["water"]
    classes[1, :] = IGNORE
    weights = class_weights([(torch.zeros(3, 10, 10), classes)])
    assert weights.shape == (len(CLASSES),) and weights[CODES["street"]] == 0
    assert weights[CODES["water"]] > weights[CODES["background"]] > 0
    assert (weights[CODES["water"]] + weights[CODES["background"]]) / 2 == pytest.approx(1)


def test_the_segmentation_probe_scores_its_classes_on_the_labels_grid_with_the_benchmarks_tally():
    from geotrans.model.style import CLASSES
    from geotrans.training.sources import LabelledImage
    from training.experiments.segmentation_probe import scored

    class Blue(nn.Module):  # water where the blue band is bright, else land: the labels' own rule
        def forward(self, x):
            logits = torch.zeros(x.shape[0], len(CLASSES), *x.shape[2:])
            logits[:, CODES["water"]] = (x[:, 2] > 0.5).float()
            logits[:, CODES["background"]] = 0.5
            return logits

    photo = np.zeros((3, 60, 60), np.uint8)
    photo[2, :, :30] = 255
    truth = np.full((60, 60), CODES["background"], np.uint8)
    truth[:, :30] = CODES["water"]
    image = LabelledImage("half/water", photo, truth, 0.3)  # read at 0.9 m (20 px), scored on its own 60
    assert scored(Blue(), [image], 0.9, (), 1.8)["water_iou"] == pytest.approx(1)
    truth[:, :40] = CODES["water"]  # a third of the labelled water is drawn as land
    scores = scored(Blue(), [image], 0.9, (), 1.8)
    assert scores["water_iou"] == pytest.approx(30 / 40) and scores["dry_land_as_water"] == 0


def test_the_segmentation_probe_reads_the_generators_samples_as_the_class_decision_does(tmp_path):
    """``--samples``: each labelled pixel's class is the map class whose colour its sample's map shows (Dubai's
    maps are rendered from labels, so exactly), unlabelled pixels ``IGNORE``, the photo in 0-1."""
    from geotrans.model.style import CLASSES
    from geotrans.training.data import Augment
    from geotrans.training.sampling import mixed_set
    from training.experiments.segmentation_probe import sampled_crops

    mix = tmp_path / "dubai.json"
    mix.write_text(json.dumps({"resolution_m": 0.9, "sources": [
        {"name": "dubai", "kind": "masks", "root": str(DATA / "dubai"), "images": "tile2/images/*.jpg",
         "resolution_m": 1.0, "match": "nearest", "weight": 1,
         "classes": {**DUBAI_CLASSES, "#8429F6": "ignore"}}]}))  # its land unlabelled: some pixels are
    augment = Augment(rotations=True)
    photos, classes = next(sampled_crops(str(mix), augment, 4, 128, seed=5))
    mixed = mixed_set(mix, crop=128, augment=augment, seed=5)
    mixed.epoch_size = 4  # as the probe fills its batches from two images
    photo, target, labelled, _, _ = next(mixed.batches(0, 4))
    assert torch.equal(photos, (photo + 1) / 2) and 0 <= photos.min() and photos.max() <= 1
    known = labelled[:, 0] > 0.5
    assert torch.equal(classes == IGNORE, ~known) and known.any() and (~known).any()
    style = read_mix(mix).style()
    colours = torch.tensor([style.colours[name] for name in CLASSES], dtype=torch.float32)
    rgb = ((target + 1) * 127.5).round().permute(0, 2, 3, 1)
    assert torch.equal(colours[classes[known]], rgb[known])
    assert len(classes[known].unique()) >= 2  # more than one class: the test can tell them apart


def test_the_segmentation_probe_normalises_as_asked_batch_by_default_or_as_the_generator_per_image():
    from geotrans.model.style import CLASSES
    from training.experiments.segmentation_probe import SmallUNet

    def norms(net):
        return {type(m) for m in net.modules() if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d))}

    assert norms(SmallUNet(len(CLASSES), 4)) == {nn.BatchNorm2d}
    instance = SmallUNet(len(CLASSES), 4, "instance").eval()
    assert norms(instance) == {nn.InstanceNorm2d}
    assert instance(torch.rand(2, 3, 40, 40)).shape == (2, len(CLASSES), 40, 40)
    # Per image, even while learning: an image's logits do not depend on the other images of its batch.
    images = torch.rand(2, 3, 40, 40)
    instance.train()
    assert torch.allclose(instance(images)[:1], instance(images[:1]), atol=1e-5)
    batch = SmallUNet(len(CLASSES), 4).train()
    assert not torch.allclose(batch(images)[:1], batch(images[:1]), atol=1e-5)
