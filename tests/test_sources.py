"""Training on many sources: mixes, labelled photos drawn in the map style, masked losses, the D warm-up."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import DUBAI_CLASSES, inside, write_mix

from geotrans.model.style import CODES, IGNORE, MapStyle
from geotrans.model.weights import read_model_info
from geotrans.training.config import TrainConfig
from geotrans.training.data import Augment
from geotrans.training.pix2pix import Pix2Pix
from geotrans.training.sampling import MixedSet
from geotrans.training.sources import MixError, labelled_images, load_sources, mask_classes, read_mix
from geotrans.training.train import train

DATA = Path(__file__).resolve().parent / "data"
def test_held_out_images_never_train(tmp_path):
    mix = read_mix(write_mix(tmp_path))
    sources = load_sources(mix)
    dubai = sources[1]
    assert len(dubai.examples) == 1
    held = labelled_images(mix, mix.sources[1], "val")
    assert [h.name for h in held] == ["dubai/tile2/images/image_part_009.jpg"]
    assert not np.array_equal(dubai.examples[0].photo, held[0].photo)


def test_masks_are_drawn_in_the_cards_colours_and_unlabelled_pixels_are_known(tmp_path):
    style = MapStyle.from_card(read_model_info().card)
    # This photo has no unlabelled pixels: class its buildings as unknown to see them left out.
    mix = read_mix(write_mix(tmp_path, classes={**DUBAI_CLASSES, "#3C1098": "ignore"}))
    example = load_sources(mix)[1].examples[0]
    classes = labelled_images(mix, {**mix.sources[1], "val": "tile2/images/image_part_005.jpg"}, "val")[0].classes
    assert {int(c) for c in np.unique(classes)} <= {*CODES.values(), IGNORE}
    assert (classes == IGNORE).any() and (classes == CODES["water"]).any()
    assert np.array_equal(example.labelled, classes != IGNORE)
    water = classes == CODES["water"]
    assert (example.target[:, water].T == style.colours["water"]).all()


def test_nearest_matching_classes_soft_masks_and_exact_matching_refuses_them():
    grey = np.array([[0, 40], [200, 255]], dtype=np.uint8)
    classes = mask_classes(grey, {"0": "ignore", "255": "street"}, nearest=True, source="m")
    assert classes.tolist() == [[IGNORE, IGNORE], [CODES["street"], CODES["street"]]]
    with pytest.raises(MixError, match="not in the class table"):
        mask_classes(grey, {"0": "ignore", "255": "street"}, nearest=False, source="m")


def test_samples_are_at_the_models_resolution_seeded_and_padded_when_small(tmp_path):
    sources = load_sources(read_mix(write_mix(tmp_path)))
    dubai = sources[1]
    mixed = MixedSet([dubai], resolution_m=0.9, scale_jitter=0.3, augment=Augment(flips=False), seed=3)
    a, b = mixed.sample(0, 0, epoch=1, position=4), mixed.sample(0, 0, epoch=1, position=4)
    assert all(torch.equal(x, y) for x, y in zip(a, b))  # a resumed epoch draws the same samples
    assert not torch.equal(a[0], mixed.sample(0, 0, epoch=2, position=4)[0])
    assert [t.shape for t in a] == [(3, 256, 256), (3, 256, 256), (1, 256, 256), (1, 256, 256), (1,)]
    assert a[4].item() == 1.0  # a map rendered from the labels
    assert not a[3].any()  # no dry land is known beyond the labels of a source without no_water
    # Declared at 0.3 m, the 510 px photo spans 153 m: 170 px at 0.9 m, padded to 256 and unlabelled there.
    fine = MixedSet([type(dubai)(dubai.name, 1.0, [type(dubai.examples[0])(
        dubai.examples[0].photo, dubai.examples[0].target, None, 0.3, True)])], resolution_m=0.9,
        augment=Augment(flips=False))
    photo, _, labelled, _, _ = fine.sample(0, 0, epoch=0, position=0)
    assert labelled[0, :170, :170].all() and not labelled[0, 181:, :].any() and not labelled[0, :, 181:].any()
    assert (photo[:, 181:, :] == -1).all()  # black photo where padded


def test_a_no_water_sources_unlabelled_pixels_are_dry_land_and_travel_with_the_sample(tmp_path):
    # The Dubai photo's buildings classed unknown: with no_water, they are known dry land.
    mix = read_mix(write_mix(tmp_path, classes={**DUBAI_CLASSES, "#3C1098": "ignore"}, no_water=True))
    example = load_sources(mix)[1].examples[0]
    assert example.dry.any() and np.array_equal(example.dry, ~example.labelled)
    mixed = MixedSet([load_sources(mix)[1]], resolution_m=1.0, augment=Augment(flips=True, rotations=True), seed=1)
    seen = 0
    for position in range(8):  # cut, flipped and turned with the photo, as the labels are
        _, _, labelled, dry, _ = mixed.sample(0, 0, epoch=0, position=position)
        assert torch.equal(dry, 1 - labelled)
        seen += int(dry.sum())
    assert seen > 0
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"sources": [{"name": "x", "kind": "pairs", "weight": 1, "resolution_m": 1,
                                             "no_water": True}]}))
    with pytest.raises(MixError, match="no_water"):
        read_mix(path)


def test_sources_are_drawn_by_weight(tmp_path):
    sources = load_sources(read_mix(write_mix(tmp_path)))
    sources[0].weight, sources[1].weight = 3.0, 1.0
    mixed = MixedSet(sources, resolution_m=0.9, epoch_size=4000)
    share = np.mean([s == 1 for s, _ in mixed.order(0)])
    assert share == pytest.approx(0.25, abs=0.03)


def test_a_bad_mix_is_refused_in_one_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"sources": [{"name": "x", "kind": "maps", "weight": 1}]}))
    with pytest.raises(MixError, match="kind must be one of"):
        read_mix(path)
    path.write_text(json.dumps({"sources": [{"name": "x", "kind": "pairs", "weight": 1}]}))
    with pytest.raises(MixError, match="resolution_m"):
        read_mix(path)


def tiny_model(tmp_path, **kw) -> Pix2Pix:
    return Pix2Pix(TrainConfig(data="d", out=str(tmp_path), ngf=8, ndf=8, **kw), torch.device("cpu"))


def test_the_l1_term_reads_only_labelled_pixels():
    model = Pix2Pix(TrainConfig(data="d", out="o", ngf=8, ndf=8), torch.device("cpu"))
    fake, target = torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    target[..., 2:, :] = 5.0  # wrong only in the bottom half
    labelled = torch.zeros(1, 1, 4, 4)
    labelled[..., :2, :] = 1
    assert model._l1(fake, target, labelled).item() == 0.0
    assert model._l1(fake, target, 1 - labelled).item() == pytest.approx(5.0)
    assert model._l1(fake, target, None).item() == pytest.approx(2.5)


def test_the_discriminator_sees_the_generators_own_pixels_where_the_target_knows_nothing(tmp_path):
    model = tiny_model(tmp_path)
    seen = []
    model.discriminator.register_forward_hook(lambda m, args, out: seen.append(args[0].detach().clone()))
    source, target = torch.rand(2, 3, 256, 256) * 2 - 1, torch.rand(2, 3, 256, 256) * 2 - 1
    labelled = torch.zeros(2, 1, 256, 256)
    labelled[:, :, :, :128] = 1
    model.step(source, target, labelled)
    real, fake = seen[0].chunk(2)  # the discriminator's pass over real and generated pairs
    assert torch.equal(real[:, :3], fake[:, :3])
    assert torch.allclose(real[:, 3:, :, 128:], fake[:, 3:, :, 128:])  # unlabelled: the generated map
    assert torch.equal(real[:, 3:, :, :128], target[:, :, :, :128])  # labelled: the real map


def test_the_generator_is_frozen_while_the_discriminator_warms_up_and_then_ramps_in(tmp_path):
    model = tiny_model(tmp_path, d_warmup_steps=2, gan_ramp_steps=4)
    before = {k: v.clone() for k, v in model.generator.state_dict().items()}
    d_before = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    source, target = torch.rand(1, 3, 256, 256) * 2 - 1, torch.rand(1, 3, 256, 256) * 2 - 1
    for step in range(2):
        losses = model.step(source, target, step=step)
        assert losses["g_gan"] == 0.0
    assert all(torch.equal(v, before[k]) for k, v in model.generator.state_dict().items())
    assert not all(torch.equal(v, d_before[k]) for k, v in model.discriminator.state_dict().items())
    model.step(source, target, step=2)
    assert not all(torch.equal(v, before[k]) for k, v in model.generator.state_dict().items())
    assert [model.adversarial_weight(s) for s in (0, 1, 2, 3, 5, 9)] == [0.0, 0.0, 0.25, 0.5, 1.0, 1.0]


def test_dark_land_darkens_known_land_and_leaves_water_and_unknown_pixels(tmp_path):
    # A real Dubai photo with sea, its buildings classed unknown.
    style = MapStyle.from_card(read_model_info().card)
    mix = read_mix(write_mix(tmp_path, classes={**DUBAI_CLASSES, "#3C1098": "ignore"}))
    dubai = load_sources(mix)[1]
    water_rgb = tuple(style.colours["water"])
    plain = MixedSet([dubai], 0.9, augment=Augment(flips=False), seed=5)
    dark = MixedSet([dubai], 0.9, augment=Augment(flips=False, dark_land=1.0, water_rgb=water_rgb), seed=5)
    (p, t, labelled, _, _), (d, dt, dl, _, _) = plain.sample(0, 0, 0, 2), dark.sample(0, 0, 0, 2)
    assert torch.equal(t, dt) and torch.equal(labelled, dl)  # the map and its labels are untouched
    p, d = (p + 1) * 127.5, (d + 1) * 127.5
    water = (((t + 1) * 127.5).round() == torch.tensor(water_rgb).view(3, 1, 1)).all(0)
    known = labelled[0] > 0
    land, sea, unknown = inside(known & ~water), inside(water & known), inside(~known)
    assert land.sum() > 1000 and sea.sum() > 1000 and unknown.sum() > 1000
    bright = land & (p.mean(0) > 40)
    ratio = (d[:, bright].sum(0) / p[:, bright].sum(0)).median()
    assert 0.29 <= float(ratio) <= 0.76
    assert torch.allclose(d[:, sea], p[:, sea], atol=1.0) and torch.allclose(d[:, unknown], p[:, unknown], atol=1.0)
    # Off, it draws nothing: the samples of older recipes stay the same.
    off = MixedSet([dubai], 0.9, augment=Augment(flips=False, dark_land=0.0), seed=5).sample(0, 0, 0, 2)
    assert torch.equal(off[0], plain.sample(0, 0, 0, 2)[0])
    # A no_water source's unknown pixels are known dry land: darkened too.
    dry = load_sources(read_mix(write_mix(tmp_path, classes={**DUBAI_CLASSES, "#3C1098": "ignore"},
                                          no_water=True)))[1]
    dd = MixedSet([dry], 0.9, augment=Augment(flips=False, dark_land=1.0, water_rgb=water_rgb), seed=5)
    dd = (dd.sample(0, 0, 0, 2)[0] + 1) * 127.5
    lit = unknown & (p.mean(0) > 40)
    assert float((dd[:, lit].sum(0) / p[:, lit].sum(0)).median()) <= 0.76


def test_a_collage_joins_small_photos_in_name_order_and_leaves_missing_places_unlabelled():
    """Synthetic 2 x 2 photos, so that every joined pixel's origin can be read off (real chips show the same
    join, but not which pixel came from where)."""
    from geotrans.training.sources import LabelledImage, collage

    images = [LabelledImage(f"p{k}", np.full((3, 2, 2), k, np.uint8), np.full((2, 2), k, np.uint8), 0.25)
              for k in range(5)]
    joined = collage(images, 2)
    assert [j.name for j in joined] == ["p0+3", "p4"]
    assert joined[0].classes.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    assert (joined[0].photo[:, 2:, :2] == 2).all() and joined[0].resolution_m == 0.25
    assert (joined[1].classes[:2, :2] == 4).all() and (joined[1].classes[2:] == IGNORE).all()
    assert (joined[1].photo[:, 2:] == 0).all()
    assert collage(images, 1) == images
    with pytest.raises(MixError, match="one size"):
        collage([*images[:3], LabelledImage("big", np.zeros((3, 4, 4), np.uint8), np.zeros((4, 4), np.uint8), 1)], 2)


def test_a_collage_source_trains_on_joined_photos_and_holds_out_its_val_part(tmp_path):
    mix = read_mix(write_mix(tmp_path, images="tile2/images/*.jpg", val="tile2/images/image_part_009.jpg",
                             collage=2))
    held = labelled_images(mix, mix.sources[1], "val")
    assert len(held) == 1 and held[0].name.endswith("image_part_009.jpg")  # one photo: no join
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"sources": [{**json.loads(write_mix(tmp_path).read_text())["sources"][1],
                                            "collage": 0}]}))
    with pytest.raises(MixError, match="collage"):
        read_mix(bad)


def test_the_class_decision_pulls_an_unsure_pixel_to_its_labels_class_and_reads_only_labelled_pixels():
    from geotrans.model.generator import to_model_range
    from geotrans.model.style import CLASSES
    from geotrans.training.losses import class_cross_entropy
    from geotrans.training.pix2pix import CLASS_TEMPERATURE

    style = MapStyle.from_card(read_model_info().card)
    colours = to_model_range(torch.tensor([style.colours[n] for n in CLASSES], dtype=torch.float32))
    water, green = colours[CLASSES.index("water")], colours[CLASSES.index("green")]
    target = water.view(1, 3, 1, 1).expand(1, 3, 2, 2).clone()
    sure = target.clone()
    unsure = ((water + green) / 2).view(1, 3, 1, 1).expand(1, 3, 2, 2).clone().requires_grad_(True)
    loss = class_cross_entropy(unsure, target, colours, None, CLASS_TEMPERATURE)
    assert class_cross_entropy(sure, target, colours, None, CLASS_TEMPERATURE) < 0.01 < loss.item()
    loss.backward()
    step = -unsure.grad[0, :, 0, 0]  # descent moves the pixel toward water, away from green
    assert torch.dot(step, water - green) > 0
    labelled = torch.zeros(1, 1, 2, 2)
    labelled[..., 0, 0] = 1
    mixed = sure.clone()
    mixed[..., 1, 1] = green.view(3)  # wrong where unlabelled: not counted
    assert class_cross_entropy(mixed, target, colours, labelled, CLASS_TEMPERATURE).item() < 0.01


def test_the_water_weight_weighs_only_pixels_whose_target_is_water():
    from geotrans.model.generator import to_model_range
    from geotrans.model.style import CLASSES
    from geotrans.training.losses import class_cross_entropy, class_weights
    from geotrans.training.pix2pix import CLASS_TEMPERATURE

    style = MapStyle.from_card(read_model_info().card)
    colours = to_model_range(torch.tensor([style.colours[n] for n in CLASSES], dtype=torch.float32))
    water, green = colours[CLASSES.index("water")], colours[CLASSES.index("green")]
    weights = class_weights(colours, [(to_model_range(torch.tensor(style.colours["water"], dtype=torch.float32)), 3.0)])
    assert weights[CLASSES.index("water")] == 3 and weights.sum() == len(CLASSES) + 2
    both = class_weights(colours, [(water, 3.0), (colours[CLASSES.index("building")], 0.0)])
    assert both.tolist() == [{"water": 3.0, "building": 0.0}.get(name, 1.0) for name in CLASSES]
    between = ((water + green) / 2).view(1, 3, 1, 1).expand(1, 3, 1, 2).clone()
    target = torch.stack([water, green]).T.reshape(1, 3, 1, 2)  # left pixel water, right green
    plain = class_cross_entropy(between, target, colours, None, CLASS_TEMPERATURE)
    weighed = class_cross_entropy(between, target, colours, None, CLASS_TEMPERATURE, weights)
    per_pixel = [class_cross_entropy(between[..., i:i + 1], target[..., i:i + 1], colours, None, CLASS_TEMPERATURE)
                 for i in range(2)]
    assert torch.isclose(plain, (per_pixel[0] + per_pixel[1]) / 2)
    assert torch.isclose(weighed, (3 * per_pixel[0] + per_pixel[1]) / 2)


@pytest.mark.parametrize("option", [["--building-weight", "0"], ["--water-weight", "0"], ["--class-on", "all"]])
def test_the_class_decision_s_options_are_refused_without_it_in_one_line(tmp_path, capsys, option):
    from training.train import main

    with pytest.raises(SystemExit) as exit_:
        main(["--data", str(tmp_path), "--out", str(tmp_path / "run"), "--mix", str(write_mix(tmp_path)), *option])
    assert exit_.value.code == 2 and "needs --lambda-class" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_run_with_the_class_decision_records_the_class_colours_and_logs_the_term(tmp_path):
    from geotrans.model.palette import Palette

    mix = write_mix(tmp_path)
    model = train(TrainConfig(data=str(DATA / "maps_pairs"), out=str(tmp_path / "run"), ngf=8, ndf=8, batch_size=2,
                              sample_pairs=0, max_steps=2, epochs=1, mix=str(mix), lambda_class=5.0),
                  torch.device("cpu"))
    assert model.config.class_rgb == [list(c) for c in Palette.from_card(read_model_info().card).colours]
    classes = train(TrainConfig(data=str(DATA / "maps_pairs"), out=str(tmp_path / "run2"), ngf=8, ndf=8,
                                batch_size=2, sample_pairs=0, max_steps=1, epochs=1, mix=str(mix), lambda_class=5.0,
                                class_colours="classes", water_weight=3.0), torch.device("cpu"))
    assert classes.config.class_rgb[CODES["water"]] == list(MapStyle.from_card(read_model_info().card).colours["water"])
    assert classes.class_weights.tolist() == [3.0 if i == CODES["water"] else 1.0 for i in range(len(classes.config.class_rgb))]
    from training.export import export

    card = export(tmp_path / "run2", tmp_path / "classes.safetensors", "classes")["training"]
    assert (card["lambda_class"], card["class_colours"], card["water_weight"]) == (5.0, "classes", 3.0)
    assert "building_weight" not in card and "class_on" not in card  # defaults are not written
    with pytest.raises(ValueError, match="water_weight needs"):
        train(TrainConfig(data=str(DATA / "maps_pairs"), out=str(tmp_path / "run3"), ngf=8, ndf=8, batch_size=2,
                          sample_pairs=0, max_steps=1, epochs=1, mix=str(mix), water_weight=3.0), torch.device("cpu"))
    rows = (tmp_path / "run" / "losses.csv").read_text().splitlines()
    assert "g_class" in rows[0] and float(rows[1].split(",")[rows[0].split(",").index("g_class")]) > 0


def test_the_run_records_its_mix_s_water_colour_reading_the_style_model_once(tmp_path, monkeypatch):
    """Colours from a mix come from its style; the style model's card is read again only for the class
    decision's palette."""
    import geotrans.training.sources as sources
    import geotrans.training.train as training

    reads = []

    def counted(path=None):
        reads.append(path)
        return read_model_info(path)

    monkeypatch.setattr(sources, "read_model_info", counted)
    monkeypatch.setattr(training, "read_model_info", counted)
    config = TrainConfig(data="d", out="o", mix=str(write_mix(tmp_path)), dark_land=0.5)
    recorded = training.with_recorded_colours(config)
    assert recorded.water_rgb == list(MapStyle.from_card(read_model_info().card).colours["water"])
    assert len(reads) == 1
    reads.clear()
    training.with_recorded_colours(TrainConfig(data="d", out="o", mix=config.mix, lambda_class=1.0))
    assert len(reads) == 2  # the style, and the palette the class decision chooses among


def _masks_source(folder: Path, mask_values, name: str = "farm", **extra) -> Path:
    """A mix of one masks source: a real Dubai photo with a grey mask of ``mask_values`` (its left half the
    first, its right half the second), in ``folder``."""
    from PIL import Image

    photo = DATA / "dubai" / "tile2" / "images" / "image_part_009.jpg"
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    (folder / "images" / "a.jpg").write_bytes(photo.read_bytes())
    with Image.open(photo) as img:
        width, height = img.size
    mask = np.full((height, width), mask_values[0], dtype=np.uint8)
    mask[:, width // 2:] = mask_values[1]
    Image.fromarray(mask).save(folder / "masks" / "a.png")
    spec = {"resolution_m": 0.9, "sources": [
        {"name": name, "kind": "masks", "root": str(folder), "images": "images/*.jpg", "resolution_m": 1.0,
         "match": "exact", "classes": {"1": "background", "4": "water"}, "weight": 1, **extra}]}
    path = folder / "mix.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.parametrize("case, said", [
    ("value", "images/a.jpg: mask values not in the class table: 9"),
    ("missing folder", "is not a folder"),
    ("empty folder", "no training images found in"),
    ("missing mask", "no mask at"),
])
def test_a_bad_masks_source_is_one_line_naming_the_file_before_anything_is_written(tmp_path, capsys, case, said):
    from training.train import main

    mix = _masks_source(tmp_path / "farm", (1, 9 if case == "value" else 4))
    spec = json.loads(mix.read_text())
    if case == "missing folder":
        spec["sources"][0]["root"] = str(tmp_path / "nowhere")
    elif case == "empty folder":
        spec["sources"][0]["images"] = "images/*.png"
    elif case == "missing mask":
        (tmp_path / "farm" / "masks" / "a.png").unlink()
    mix.write_text(json.dumps(spec))
    with pytest.raises(SystemExit) as exit_:
        main(["--data", str(DATA), "--mix", str(mix), "--out", str(tmp_path / "run"), "--ngf", "8", "--ndf", "8"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_a_coarse_copy_is_its_photo_shrunk_to_the_coarse_scale_and_read_back_as_a_run_reads_it(tmp_path):
    from geotrans.io.resolution import MAX_UPSAMPLE
    from geotrans.training.sources import coarse_copy

    fine = labelled_images(read_mix(write_mix(tmp_path)), read_mix(write_mix(tmp_path)).sources[1], "val")[0]
    coarse = coarse_copy(fine, 4.5)
    assert coarse.resolution_m == pytest.approx(4.5 / MAX_UPSAMPLE)
    h, w = fine.classes.shape
    assert coarse.classes.shape == (round(h * fine.resolution_m / coarse.resolution_m),
                                    round(w * fine.resolution_m / coarse.resolution_m))
    assert coarse.photo.shape == (3, *coarse.classes.shape) and coarse.photo.dtype == np.uint8
    # the same land, blurred: as bright on average, with far less detail than the photo resampled to its size
    sharp = torch.nn.functional.interpolate(torch.from_numpy(fine.photo).float()[None], size=coarse.classes.shape,
                                            mode="area")[0].numpy()
    detail = lambda image: np.abs(np.diff(image.astype(float), axis=2)).mean()  # noqa: E731
    assert abs(coarse.photo.mean() - sharp.mean()) < 2
    assert detail(coarse.photo) < 0.6 * detail(sharp)
    assert set(np.unique(coarse.classes)) <= set(np.unique(fine.classes))  # nearest: no class invented
    bad = json.loads(write_mix(tmp_path).read_text())
    bad["sources"][1]["coarse_m"] = 0.5  # finer than the source's own 1.0 m
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(MixError, match="coarse_m"):
        read_mix(tmp_path / "bad.json")


NEW_BUILDING = [196, 182, 171]


def test_a_recoloured_class_is_drawn_in_its_new_colour_and_new_york_s_old_colour_teaches_nothing(tmp_path):
    from geotrans.training.sources import recoloured_pixels

    path = tmp_path / "mix.json"
    spec = json.loads(write_mix(tmp_path).read_text())
    path.write_text(json.dumps({**spec, "recolour": {"building": NEW_BUILDING}}))
    mix = read_mix(path)
    old, new = mix.card_style(), mix.style()
    assert new.colours["building"] == tuple(NEW_BUILDING) and new.colours["water"] == old.colours["water"]
    nyc, dubai = load_sources(mix)
    classes = labelled_images(mix, {**mix.sources[1], "val": "tile2/images/image_part_005.jpg"}, "val")[0].classes
    example = dubai.examples[0]
    assert (example.target[:, example.labelled & (classes == CODES["building"])].T == NEW_BUILDING).all() \
        if (classes == CODES["building"]).any() else True
    for pair in nyc.examples:  # real maps: the pixels nearest the old grey are unknown, the rest known
        old_grey = old.classify(pair.target) == CODES["building"]
        assert np.array_equal(pair.labelled, ~old_grey)
    assert any((~p.labelled).any() for p in nyc.examples) and all(p.labelled.mean() > 0.5 for p in nyc.examples)
    assert recoloured_pixels(nyc.examples[0].target, old, old) is None


@pytest.mark.parametrize("recolour, said", [([1, 2, 3], "recolour maps a map class"),
                                            ({"roof": NEW_BUILDING}, "'roof' is not a map class"),
                                            ({"building": [300, 0, 0]}, "three 8-bit values")])
def test_a_bad_recolour_is_one_line(tmp_path, recolour, said):
    path = tmp_path / "mix.json"
    path.write_text(json.dumps({**json.loads(write_mix(tmp_path).read_text()), "recolour": recolour}))
    with pytest.raises(MixError, match=said):
        read_mix(path)


def test_a_recoloured_run_exports_a_card_in_the_new_colours(tmp_path):
    from training.export import export

    path = tmp_path / "mix.json"
    path.write_text(json.dumps({**json.loads(write_mix(tmp_path).read_text()), "recolour": {"building": NEW_BUILDING}}))
    from geotrans.model.generator import build_generator
    from geotrans.model.weights import save_generator

    shipped = read_model_info().card
    start = tmp_path / "start.safetensors"  # a narrow model in the shipped style, to start from
    save_generator(build_generator(ngf=8), start, name="start",
                   card={k: shipped[k] for k in ("map_classes", "palette")})
    config = TrainConfig(data=str(DATA / "maps_pairs"), out=str(tmp_path / "run"), ngf=8, ndf=8, batch_size=2,
                         sample_pairs=0, epochs=1, max_steps=1, mix=str(path), lambda_class=1.0,
                         class_colours="classes", init_generator=str(start))
    trained = train(config, torch.device("cpu"))
    assert trained.config.class_rgb[CODES["building"]] == NEW_BUILDING
    card = export(tmp_path / "run", tmp_path / "m.safetensors", "recoloured")
    assert card["training"]["recolour"] == {"building": NEW_BUILDING}
    assert card["map_classes"]["building"] == NEW_BUILDING and NEW_BUILDING in card["palette"]
    assert list(shipped["map_classes"]["building"]) not in card["palette"]
    assert card["map_classes"]["water"] == shipped["map_classes"]["water"]


def test_evenly_takes_the_first_and_last_and_spaces_the_rest():
    from geotrans.training.sources import evenly

    assert evenly(list(range(10)), 4) == [0, 3, 6, 9]
    assert evenly(list(range(3)), 5) == [0, 1, 2]  # fewer than asked: all of them
    assert evenly(list(range(7)), 1) == [0]
