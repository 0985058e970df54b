"""The training experiments no shipped model uses (``training.experiments``): each still does what it did in
the package, and the package carries none of them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import DUBAI_CLASSES, inside, to_model, write_mix

from geotrans.model.style import CODES, MapStyle
from geotrans.model.weights import read_model_info
from geotrans.training.config import TrainConfig
from geotrans.training.data import Augment
from geotrans.training.pix2pix import Judged
from geotrans.training.sampling import MixedSet
from geotrans.training.sources import load_sources, read_mix
from geotrans.training.train import train
from training.research import ResearchConfig, ResearchPix2Pix, dry_hinge
from training.water_coloured import WaterColouredAugment, water_coloured_land

DATA = Path(__file__).resolve().parent / "data"
PACKAGE = Path(__file__).resolve().parents[1] / "geotrans"


def research_model(tmp_path, **kw) -> ResearchPix2Pix:
    return ResearchPix2Pix(ResearchConfig(data="d", out=str(tmp_path), ngf=8, ndf=8, **kw), torch.device("cpu"))


def judged(labelled, rendered, fake) -> Judged:
    """What the loss terms see, for a term that reads only the labelled and rendered samples and the map."""
    return Judged(fake, fake, fake, labelled, None, rendered, fake, [], [])


def test_the_dry_term_pushes_only_pixels_drawn_near_water_and_only_where_dry(tmp_path):
    water = torch.tensor([0.4, 0.6, 0.98])
    fake = water.view(1, 3, 1, 1).repeat(1, 1, 2, 2)  # all drawn as water
    fake[..., 0, :] = torch.tensor([0.8, 0.8, 0.74]).view(1, 3, 1)  # the top row drawn as background
    dry = torch.ones(1, 1, 2, 2)
    assert dry_hinge(fake, dry, water, 0.15).item() == pytest.approx(0.075)  # water rows at 0.15, the rest 0
    dry[..., 1, :] = 0
    assert dry_hinge(fake, dry, water, 0.15).item() == 0.0
    model = research_model(tmp_path, lambda_dry=100.0, water_rgb=[176, 207, 253])
    source = torch.rand(1, 3, 256, 256) * 2 - 1
    target, labelled, dry = torch.zeros(1, 3, 256, 256), torch.zeros(1, 1, 256, 256), torch.ones(1, 1, 256, 256)
    generated = model.generator(source)
    losses = model.step(source, target, labelled, dry)
    water_of_it = (generated - to_model(water_rgb=[176, 207, 253])).abs().mean(1)
    assert losses["g_dry"] == pytest.approx(torch.relu(0.15 - water_of_it).mean().item(), rel=0.05, abs=1e-4)
    assert research_model(tmp_path).step(source, target, labelled, dry)["g_dry"] == 0.0  # off unless weighted




def test_a_run_on_a_mix_resumes_exactly_and_its_export_lists_the_sources(tmp_path):
    from training.export import export

    # Dubai's buildings unknown but dry (no_water), kept from the water colour by the dry term.
    mix = write_mix(tmp_path, jitter=0.3, classes={**DUBAI_CLASSES, "#3C1098": "ignore"}, no_water=True)
    config = dict(data=str(DATA / "maps_pairs"), ngf=8, ndf=8, batch_size=2, sample_pairs=0, epochs=2,
                  mix=str(mix), d_warmup_steps=1, lambda_dry=100.0)
    straight = train(ResearchConfig(out=str(tmp_path / "a"), **config), torch.device("cpu"), model_class=ResearchPix2Pix)
    train(ResearchConfig(out=str(tmp_path / "b"), max_steps=1, **config), torch.device("cpu"), model_class=ResearchPix2Pix)
    resumed = train(ResearchConfig(out=str(tmp_path / "b"), **config), torch.device("cpu"), resume=True,
                    model_class=ResearchPix2Pix)
    for key, value in straight.generator.state_dict().items():
        assert torch.equal(value, resumed.generator.state_dict()[key]), key
    assert resumed.config.water_rgb == list(MapStyle.from_card(read_model_info().card).colours["water"])
    card = export(tmp_path / "b", tmp_path / "m.safetensors", "mixed")
    assert [s["name"] for s in card["training"]["sources"]] == ["nyc", "dubai"] and card["training"]["lambda_dry"] == 100
    assert card["training"]["d_warmup_steps"] == 1
    from geotrans.model.colours import LearntColours  # the colours it learnt, for run's warning on unlike scenes

    learnt, measured = LearntColours.from_card(card), card["input_colours"]["measured"]
    assert measured["training_photos"] == sum(len(s.examples) for s in load_sources(read_mix(mix)))
    assert learnt is not None and learnt.limit >= max(measured["val_furthest"].values())




def test_water_coloured_land_gives_vegetation_its_water_s_colour_and_keeps_part_of_its_texture(tmp_path):
    # A real Dubai photo with sea and green land; a real New York photo of streets and trees with no water.
    from geotrans.model.palette import near_colour
    from geotrans.training.data import GREEN_EXCESS, PairSet, read_aligned

    style = MapStyle.from_card(read_model_info().card)
    water_rgb = tuple(style.colours["water"])
    dubai = load_sources(read_mix(write_mix(tmp_path)))[1]
    plain = MixedSet([dubai], 0.9, augment=Augment(flips=False), seed=5)
    coloured = MixedSet([dubai], 0.9, augment=WaterColouredAugment(flips=False, water_coloured=1.0, water_rgb=water_rgb), seed=5)
    (p, t, labelled, _, _), (c, ct, cl, _, _) = plain.sample(0, 0, 0, 2), coloured.sample(0, 0, 0, 2)
    assert torch.equal(t, ct) and torch.equal(labelled, cl)  # the map and its labels are untouched
    p, c = (p + 1) * 127.5, (c + 1) * 127.5
    water = (((t + 1) * 127.5).round() == torch.tensor(water_rgb).view(3, 1, 1)).all(0) & (labelled[0] > 0)
    known = ~water & (labelled[0] > 0)
    # green with a margin of 2 levels either way, as the sample's rounding moves pixels across the threshold
    green, greenish = ((2 * p[1] - p[0] - p[2] > GREEN_EXCESS + m) & known for m in (2, -2))
    pool = torch.nn.functional.avg_pool2d
    leafy, far = (pool(g.float()[None, None], 9, stride=1, padding=4, count_include_pad=False)[0, 0] == v
                  for g, v in ((green, 1), (greenish, 0)))  # wholly recoloured, and untouched by the fade
    sea, rest = inside(water) & far, far & ~water
    assert leafy.sum() > 100 and sea.sum() > 1000 and rest.sum() > 1000
    sea_colour = p[:, water].mean(1)
    before, after = (float((x[:, leafy].mean(1) - sea_colour).abs().max()) for x in (p, c))
    assert before > 20 and after < 12  # the vegetation wears the sea's colour
    kept = float(c[:, leafy].std(1).mean() / p[:, leafy].std(1).mean())
    low, high = WaterColouredAugment().water_texture
    assert low - 0.05 <= kept <= high + 0.05 and kept > 0.1
    assert torch.allclose(c[:, sea], p[:, sea], atol=1.0) and torch.allclose(c[:, rest], p[:, rest], atol=1.0)
    # Off, it draws nothing: the samples of older recipes stay the same.
    off = MixedSet([dubai], 0.9, augment=WaterColouredAugment(flips=False, water_coloured=0.0), seed=5).sample(0, 0, 0, 2)
    assert torch.equal(off[0], plain.sample(0, 0, 0, 2)[0])
    # New York's water is as green as its trees (2G - R - B above the threshold): the water keeps its texture.
    photo, map_ = read_aligned(DATA / "maps_water" / "23.jpg")
    photo, map_ = torch.from_numpy(photo[:, :300, :300]).float(), torch.from_numpy(map_[:, :300, :300]).float()
    river = inside(torch.from_numpy(near_colour(map_.numpy().astype(np.uint8), water_rgb, 15)), 8)
    assert river.sum() > 10000
    changed = water_coloured_land(photo, map_, 0.5, water_rgb)
    assert torch.equal(changed[:, river], photo[:, river]) and not torch.equal(changed, photo)
    # A photo without water has no water colour to give: left as it is.
    photo, map_ = read_aligned(DATA / "maps_pairs" / "1.jpg")
    dry = [PairSet([photo[:, :300, :300]], [map_[:, :300, :300]], seed=2, augment=augment)
           for augment in (Augment(flips=False), WaterColouredAugment(flips=False, water_coloured=1.0))]
    assert torch.equal(dry[0].sample(0, 0)[0], dry[1].sample(0, 0)[0])
    # Told to keep less texture, it keeps less.
    faint = MixedSet([dubai], 0.9, augment=WaterColouredAugment(flips=False, water_coloured=1.0, water_texture=(0.05, 0.1),
                                                   water_rgb=water_rgb), seed=5).sample(0, 0, 0, 2)[0]
    faint = (faint + 1) * 127.5
    assert float(faint[:, leafy].std(1).mean() / p[:, leafy].std(1).mean()) <= 0.15
    with pytest.raises(ValueError, match="water_coloured"):
        WaterColouredAugment(water_coloured=2.0)
    with pytest.raises(ValueError, match="water_texture"):
        WaterColouredAugment(water_texture=(0.5, 0.2))




def test_the_class_decision_on_rendered_maps_scores_only_samples_whose_map_is_drawn_from_labels(tmp_path):
    sources = load_sources(read_mix(write_mix(tmp_path)))
    flags = [MixedSet([source], resolution_m=0.9).sample(0, 0, epoch=0, position=0)[4].item() for source in sources]
    assert flags == [0.0, 1.0]  # the New York pairs' maps are real, Dubai's are drawn from its labels
    labelled, fake = torch.ones(2, 1, 4, 4), torch.zeros(2, 3, 4, 4)
    labelled[1, :, 0, 0] = 0
    rendered = torch.tensor([[0.0], [1.0]])
    assert torch.equal(research_model(tmp_path, class_on="all").classed(judged(labelled, rendered, fake)), labelled)
    on_rendered = research_model(tmp_path, class_on="rendered")
    classed = on_rendered.classed(judged(labelled, rendered, fake))
    assert not classed[0].any() and torch.equal(classed[1], labelled[1])
    assert torch.equal(on_rendered.classed(judged(None, rendered, fake))[:, :, 1, 1], torch.tensor([[0.0], [1.0]]))
    assert not on_rendered.classed(judged(labelled, None, fake)).any()  # no sample is known to be rendered
    with pytest.raises(ValueError, match="class_on is one of all, rendered"):
        research_model(tmp_path, class_on="labels")




def test_buildings_weighed_in_the_class_decision_record_their_colour_and_weigh_it(tmp_path):
    mix = write_mix(tmp_path)
    roofs = train(ResearchConfig(data=str(DATA / "maps_pairs"), out=str(tmp_path / "run4"), ngf=8, ndf=8,
                                 batch_size=2, sample_pairs=0, max_steps=1, epochs=1, mix=str(mix),
                                 lambda_class=5.0, class_colours="classes", building_weight=0.0),
                  torch.device("cpu"), model_class=ResearchPix2Pix)
    assert roofs.config.building_rgb == list(MapStyle.from_card(read_model_info().card).colours["building"])
    assert roofs.class_weights.tolist() == [0.0 if i == CODES["building"] else 1.0 for i in range(len(CODES))]
    with pytest.raises(ValueError, match="building_weight needs"):
        research_model(tmp_path, building_weight=0.0)


def test_green_and_streets_weighed_in_the_class_decision_beside_buildings(tmp_path):
    weighed = train(ResearchConfig(data=str(DATA / "maps_pairs"), out=str(tmp_path / "run5"), ngf=8, ndf=8,
                                   batch_size=2, sample_pairs=0, max_steps=1, epochs=1, mix=str(write_mix(tmp_path)),
                                   lambda_class=5.0, class_colours="classes", building_weight=4.0, green_weight=3.0,
                                   street_weight=2.0),
                    torch.device("cpu"), model_class=ResearchPix2Pix)
    style = MapStyle.from_card(read_model_info().card)
    assert (weighed.config.green_rgb, weighed.config.street_rgb) == (list(style.colours["green"]),
                                                                     list(style.colours["street"]))
    weights = {"building": 4.0, "green": 3.0, "street": 2.0}
    assert weighed.class_weights.tolist() == [weights.get(name, 1.0) for name in sorted(CODES, key=CODES.get)]
    with pytest.raises(ValueError, match="street_weight needs"):
        research_model(tmp_path, street_weight=2.0)


def test_the_installed_package_carries_no_experiment():
    names = ("lambda_dry", "water_coloured", "water_texture", "building_weight", "class_on", "DRY_MARGIN",
             "dry_hinge", "recoloured_texture")
    carried = {f"{path.relative_to(PACKAGE)}: {name}" for path in PACKAGE.rglob("*.py") for name in names
               if name in path.read_text()}
    assert not carried
    assert not {"water_coloured", "lambda_dry", "building_weight", "class_on"} & set(TrainConfig.__dataclass_fields__)


def test_an_older_checkpoint_s_config_loads_in_both_and_the_package_says_in_one_line_what_it_ignored(caplog):
    stored = {"data": "d", "out": "o", "ngf": 32, "lambda_fm": 10.0, "lambda_dry": 50.0, "water_coloured": 0.5,
              "water_texture": [0.2, 0.8], "class_on": "rendered", "building_weight": 4.0}
    with caplog.at_level("WARNING", logger="geotrans.training"):
        config = TrainConfig.from_stored(stored)
    assert (config.ngf, config.lambda_fm) == (32, 10.0)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["ignored what this geotrans no longer trains with: building_weight, class_on, lambda_dry, "
                     "water_coloured, water_texture"]
    caplog.clear()
    research = ResearchConfig.from_stored(stored)
    assert (research.lambda_dry, research.class_on, research.augment.water_coloured) == (50.0, "rendered", 0.5)
    assert not caplog.records
