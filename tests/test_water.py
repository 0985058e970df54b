"""The real-scene water metric on the NAIP sample (R, G, B, NIR: North Dakota's fields and prairie ponds)."""
import numpy as np
import rasterio
import torch
from helpers import KOREA, NAIP, IdentityGenerator

from training.water import WATER_RGB, evaluate_water, map_water, water_scores, water_truth


def naip_truth():
    with rasterio.open(NAIP) as ds:
        green, nir = ds.read([2, 4])
    return water_truth(green, nir)


def test_the_nir_band_finds_the_ponds_and_lakes_and_not_the_fields():
    """Points picked by eye on the sample (x, y): dark ponds and green lakes are water; crops and bare
    fields are not."""
    truth = naip_truth()
    assert 0.1 < truth.mean() < 0.6  # this corner of Dakota is full of prairie lakes
    water = [(545, 125), (150, 400), (130, 230), (380, 200)]
    dry = [(540, 330), (380, 240), (60, 100), (250, 120)]
    assert all(truth[y, x] for x, y in water) and not any(truth[y, x] for x, y in dry)
    with rasterio.open(NAIP) as ds:
        nir = ds.read(4).astype(float)
    assert nir[truth].mean() < 0.5 * nir[~truth].mean()  # water absorbs near infrared


def test_a_map_drawn_from_the_truth_scores_one_and_an_all_water_map_floods_the_fields():
    truth = naip_truth()
    background = (232, 229, 222)
    drawn = np.where(truth[None], np.array(WATER_RGB, np.uint8)[:, None, None],
                     np.array(background, np.uint8)[:, None, None]).astype(np.uint8)
    assert np.array_equal(map_water(drawn), truth)
    perfect = water_scores(map_water(drawn), truth)
    assert (perfect.precision, perfect.recall, perfect.iou, perfect.dry_land_as_water) == (1.0, 1.0, 1.0, 0.0)
    flooded = water_scores(np.ones_like(truth), truth)
    assert flooded.dry_land_as_water == 1.0 and flooded.recall == 1.0
    assert flooded.precision == flooded.iou == truth.mean()


def test_evaluate_water_runs_geotrans_on_the_scene(identity):
    """Through geotrans's own path: an identity 'map' of the photo draws no map-blue water anywhere."""
    report = evaluate_water(identity, NAIP)
    scores = report["map"]
    assert report["scene"] == NAIP.name and 0.01 < scores["water_share"] < 0.5
    assert scores["map_water_share"] < 0.01 and scores["recall"] < 0.05


def test_evaluate_s_command_line_reports_the_water_scores(tmp_path, narrow_model_file, capsys):
    import json
    from pathlib import Path

    from training.evaluate import main

    val = Path(__file__).resolve().parent / "data" / "maps_val"
    main(["--model", str(narrow_model_file), "--data", str(val), "--limit", "1", "--no-dropout-run",
          "--water", str(NAIP), "--no-water", str(KOREA), "--json", str(tmp_path / "eval.json")])
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["water"]["scene"] == NAIP.name
    assert set(report["water"]["map"]) >= {"precision", "recall", "iou", "dry_land_as_water"}
    assert [r["scene"] for r in report["false_water"]] == [KOREA.name]
    assert set(report["false_water"][0]["drawn_as_water"]) == {"palette_off", "palette_auto"}
    out = capsys.readouterr().out
    assert "dry land as water" in out and "drawn as water on scenes without open water" in out


class FloodGenerator(torch.nn.Module):
    """Draws the map style's water everywhere: every pixel of any scene is false water."""

    def forward(self, x, dropout_seeds=None):
        water = torch.tensor(WATER_RGB, dtype=x.dtype).view(1, 3, 1, 1) / 127.5 - 1
        return water.expand(x.shape[0], 3, *x.shape[2:]).contiguous()


def test_false_water_is_none_for_the_photo_itself_and_all_for_a_flood():
    """Korea (winter forest and fields, no open water): the identity 'map' of the photo draws no water;
    a map of nothing but water floods every valid pixel, palette off and on."""
    from training.water import evaluate_false_water

    dry = evaluate_false_water(IdentityGenerator(), KOREA)["drawn_as_water"]
    flood = evaluate_false_water(FloodGenerator(), KOREA)
    assert flood["scene"] == KOREA.name
    assert dry["palette_off"] < 0.005 and dry["palette_auto"] < 0.005
    assert flood["drawn_as_water"] == {"palette_off": 1.0, "palette_auto": 1.0}
