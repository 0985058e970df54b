"""Metrics, evaluation through geotrans's path, export, and the shipped model."""
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from helpers import KOREA, crop, run_scene, write_mix
from rasterio.windows import Window

from geotrans.model.generator import build_generator
from geotrans.model.weights import card_path, default_model_path, load_generator, save_generator
from geotrans.run.options import RunOptions
from geotrans.training.config import TrainConfig
from geotrans.training.data import PairSet, read_aligned
from geotrans.training.train import train
from training.evaluate import evaluate, resize_bilinear
from training.evaluate import main as evaluate_main
from training.export import export
from training.metrics import image_metrics

DATA = Path(__file__).resolve().parent / "data"


def real_map(size=256):
    _, target = read_aligned(DATA / "maps_val" / "1.jpg")
    return resize_bilinear(target, size)


def test_identical_images_score_perfectly():
    m = image_metrics(real_map(), real_map())
    assert m["rmse"] == 0 and m["rmse_gcgan"] == 0
    assert m["acc5"] == 100 and m["acc10"] == 100
    assert math.isinf(m["psnr"]) and m["ssim"] == pytest.approx(1)


def test_known_offset_gives_the_hand_computed_values():
    real = np.full((64, 64, 3), 100, np.uint8)
    generated = real.copy()
    generated[..., 0] += 6  # red off by 6, green and blue exact
    m = image_metrics(generated, real)
    assert m["rmse"] == pytest.approx(math.sqrt(36 / 3))  # per element: sqrt(mean over 3 channels)
    assert m["rmse_gcgan"] == pytest.approx(6)  # channels summed: sqrt(36)
    assert m["acc5"] == 0 and m["acc10"] == 100  # largest channel difference is 6
    assert m["psnr"] == pytest.approx(20 * math.log10(255 / math.sqrt(12)))
    uniform = real.copy() + 4
    assert image_metrics(uniform, real)["rmse_gcgan"] == pytest.approx(math.sqrt(3) * 4)


def test_evaluate_runs_pairs_through_geotrans_tiling(tmp_path):
    torch.manual_seed(0)
    net = build_generator(ngf=8)
    det = evaluate(net, DATA / "maps_val", device="cpu")
    noisy = evaluate(net, DATA / "maps_val", dropout_seed=1, device="cpu")
    assert det["pairs"] == 2 and 0 < det["rmse"] < 255
    assert det != noisy
    again = evaluate(net, DATA / "maps_val", device="cpu")
    timing = {"tiles_per_second"}
    assert {k: v for k, v in again.items() if k not in timing} == {k: v for k, v in det.items() if k not in timing}
    assert det["tiles_per_second"] > 0 and 0 < det["deflate_bytes_per_value"] <= 1.1


def test_evaluate_scores_the_palette_and_tta_variants():
    """Snapping to the colours of a map changes the scores; TTA of a generator that is not equivariant too."""
    from geotrans.model.palette import Palette

    torch.manual_seed(0)
    net = build_generator(ngf=8)
    plain = evaluate(net, DATA / "maps_val", device="cpu", precision="fp32")
    palette = Palette(((232, 228, 220), (176, 208, 252), (252, 252, 252), (200, 220, 172)), 60.0)
    snapped = evaluate(net, DATA / "maps_val", device="cpu", precision="fp32", palette=palette)
    tta = evaluate(net, DATA / "maps_val", device="cpu", precision="fp32", tta=True)
    assert snapped["rmse"] != plain["rmse"] and tta["rmse"] != plain["rmse"]
    assert snapped["deflate_bytes_per_value"] < plain["deflate_bytes_per_value"]


def test_export_round_trip_is_bitwise_and_carries_the_card(tmp_path):
    config = TrainConfig(data=str(DATA / "maps_pairs"), out=str(tmp_path / "run"), ngf=8, ndf=8, epochs=1,
                         sample_pairs=0)
    model = train(config, torch.device("cpu"), train_set=PairSet.from_folder(DATA / "maps_pairs"))
    card = export(tmp_path / "run", tmp_path / "g.safetensors", "tiny", {"native_resolution_m": 0.9})
    loaded, info = load_generator(tmp_path / "g.safetensors")
    for key, value in model.generator.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value.half().float()), key
    on_disk = json.loads((tmp_path / "g.json").read_text())
    assert on_disk == card == info.card
    assert card["architecture"]["ngf"] == 8 and card["native_resolution_m"] == 0.9
    assert card["training"]["steps"] == 2


def test_evaluate_refuses_the_model_its_card_a_missing_model_or_results_folder_in_one_line(tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    save_generator(build_generator(ngf=8), model, "tiny", card={"native_resolution_m": 0.9})
    card_path(model).write_text('{"name": "tiny"}')
    weights = model.read_bytes()
    for target in (card_path(model), model):
        with pytest.raises(SystemExit) as exit_info:
            evaluate_main(["--model", str(model), "--data", str(DATA / "maps_val"), "--json", str(target)])
        assert exit_info.value.code != 0
        assert "is an input of the run" in capsys.readouterr().err
    assert card_path(model).read_text() == '{"name": "tiny"}' and model.read_bytes() == weights
    with pytest.raises(SystemExit) as exit_info:  # a model that is not there: one line, no traceback
        evaluate_main(["--model", str(tmp_path / "gone.safetensors"), "--data", str(DATA / "maps_val")])
    assert exit_info.value.code != 0 and "gone.safetensors: no such model file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # a results folder that is not there: refused before scoring
        evaluate_main(["--model", str(model), "--data", str(DATA / "maps_val"),
                       "--json", str(tmp_path / "no-such-folder" / "m-eval.json")])
    assert exit_info.value.code != 0 and "output folder does not exist" in capsys.readouterr().err
    results = tmp_path / "m-eval.json"
    evaluate_main(["--model", str(model), "--data", str(DATA / "maps_val"), "--no-dropout-run", "--limit", "1",
                   "--json", str(results)])
    assert json.loads(results.read_text())["results"]["deterministic"]["pairs"] == 1
    evaluate_main(["--model", str(model), "--data", str(DATA / "maps_val"), "--no-dropout-run", "--limit", "2",
                   "--json", str(results)])  # an earlier evaluation's results are replaced
    assert json.loads(results.read_text())["results"]["deterministic"]["pairs"] == 2


def test_evaluate_never_replaces_a_file_that_is_not_results_without_overwrite(tmp_path, capsys):
    import hashlib

    model = tmp_path / "m.safetensors"
    save_generator(build_generator(ngf=8), model, "tiny", card={"native_resolution_m": 0.9})
    users = tmp_path / "notes.json"
    users.write_text('{"my": "notes"}')
    scene = tmp_path / "scene.tif"  # a scene the run scores is an input too
    scene.write_bytes((DATA.parent.parent / "sample_tiles" / "korea_rgb_jpeg_3857.tif").read_bytes())
    before = {p: hashlib.md5(p.read_bytes()).hexdigest() for p in (users, scene)}
    for target, said in ((users, "is not an evaluation's results"), (scene, "is an input of the run")):
        with pytest.raises(SystemExit) as exit_info:
            evaluate_main(["--model", str(model), "--data", str(DATA / "maps_val"), "--no-water", str(scene),
                           "--json", str(target)])
        assert exit_info.value.code != 0 and said in capsys.readouterr().err
    assert {p: hashlib.md5(p.read_bytes()).hexdigest() for p in (users, scene)} == before
    evaluate_main(["--model", str(model), "--data", str(DATA / "maps_val"), "--no-dropout-run", "--limit", "1",
                   "--json", str(users), "--overwrite"])
    assert json.loads(users.read_text())["results"]["deterministic"]["pairs"] == 1


def colour_stats(image_hwc):
    pixels = image_hwc.reshape(-1, 3).astype(float)
    return np.concatenate([pixels.mean(0), pixels.std(0)])


def test_shipped_model_turns_a_real_photo_into_map_colours(tmp_path):
    try:
        path = default_model_path()
    except Exception as err:  # noqa: BLE001
        pytest.fail(f"no shipped model: {err}")
    generator, info = load_generator(path)
    assert path.stat().st_size <= 50 * 2**20
    for key in ("architecture", "input", "training", "native_resolution_m", "val_metrics"):
        assert key in info.card, key
    src = crop(KOREA, Window(0, 0, 512, 512), tmp_path / "photo.tif")
    run_scene(src, tmp_path / "map.tif", generator, RunOptions(device="cpu"))
    with rasterio.open(src) as ds:
        photo = ds.read().transpose(1, 2, 0)
    with rasterio.open(tmp_path / "map.tif") as ds:
        output = ds.read().transpose(1, 2, 0)
    maps = [read_aligned(p)[1].transpose(1, 2, 0) for p in sorted((DATA / "maps_val").glob("*.jpg"))]
    reference = np.mean([colour_stats(m) for m in maps], axis=0)
    to_maps = np.linalg.norm(colour_stats(output) - reference)
    to_photo = np.linalg.norm(colour_stats(output) - colour_stats(photo))
    assert to_maps < 0.5 * to_photo, (to_maps, to_photo)


def test_evaluate_runs_the_real_scenes_in_the_precision_asked_for(tmp_path, monkeypatch):
    """`--precision fp32` covers the scene metrics too, not only the val pairs: on a CPU with native
    bf16, `auto` would otherwise run the scenes in bf16 and the figures would not compare."""
    import training.water
    from training.evaluate import main

    seen = []
    real_translated = training.water.translated

    def recording(generator, scene, options=RunOptions(), model_info=None):
        seen.append(options.precision)
        return real_translated(generator, scene, options, model_info)

    monkeypatch.setattr(training.water, "translated", recording)
    scene = crop(KOREA, Window(0, 0, 160, 160), tmp_path / "korea.tif")
    for precision in ("fp32", "bf16"):
        main(["--data", str(DATA / "maps_val"), "--limit", "1", "--no-dropout-run", "--precision", precision,
              "--no-water", str(scene), "--json", str(tmp_path / "eval.json")])
        assert json.loads((tmp_path / "eval.json").read_text())["false_water"][0]["scene"] == "korea.tif"
    assert seen == ["fp32", "fp32", "bf16", "bf16"]


def goal_report(psnr, road_f1, korea_water):
    """The parts of an evaluation report (training.evaluate --json) the summary reads; hand-made, since
    what is tested is the table of two reports, not the scores in them."""
    return {"model": "m", "results": {"deterministic": {"psnr": psnr, "ssim": 0.75, "acc5": 44.0}},
            "roads": {"scene": "vegas.tif", "map": {"f1": road_f1}, "shifted_by_a_block": {"f1": 0.3}},
            "false_water": [{"scene": "korea.tif", "drawn_as_water": {"palette_auto": korea_water}}]}


def test_compare_marks_each_row_better_or_worse_by_its_direction(tmp_path, capsys):
    from training.compare import main as compare_main

    (tmp_path / "a.json").write_text(json.dumps(goal_report(26.83, 0.458, 0.037)))
    (tmp_path / "b.json").write_text(json.dumps(goal_report(26.67, 0.464, 0.016)))
    compare_main([f"v3={tmp_path / 'a.json'}", f"new={tmp_path / 'b.json'}"])
    cells = [re.split(r"\s{2,}", line.strip()) for line in capsys.readouterr().out.splitlines()[1:]]
    rows = {row[0]: " ".join(row[1:]).split() for row in cells}
    assert rows["maps val PSNR (dB)"] == ["26.830", "26.670", "(-0.160)-"]  # higher is better
    assert rows["vegas.tif road F1"] == ["0.458", "0.464", "(+0.006)+"]
    assert rows["korea.tif drawn as water"] == ["0.037", "0.016", "(-0.021)+"]  # lower is better
    assert rows["(floor: shifted a block)"] == ["0.300", "0.300", "(+0.000)"]  # a reference, no verdict


def test_compare_refuses_a_file_that_is_not_an_evaluation_in_one_line(tmp_path):
    from training.compare import main as compare_main

    (tmp_path / "card.json").write_text(json.dumps({"name": "a model card"}))
    with pytest.raises(SystemExit) as exit_:
        compare_main([str(tmp_path / "card.json")])
    assert str(exit_.value) == f"error: {tmp_path / 'card.json'}: holds no figures of training.evaluate"


def test_the_summary_shows_street_precision_beside_recall_for_every_set():
    """Field edges drawn as streets are the commonest false road: precision is shown wherever recall is."""
    from training.evaluate import summary_rows

    report = {"model": "m", "roads": {"scene": "vegas.tif", "map": {"f1": 0.47, "precision": 0.41},
                                      "shifted_by_a_block": {"f1": 0.29}},
              "semantic": [{"source": "loveda-rural", "street_f1": 0.1, "street_recall": 0.3,
                            "street_precision": 0.06}]}
    rows = {row.name: row for row in summary_rows(report)}
    assert rows["vegas.tif road precision"].value == 0.41 and rows["vegas.tif road precision"].better == "higher"
    assert rows["loveda-rural street precision"].value == 0.06
    assert rows["loveda-rural street recall"].value == 0.3


def _research_cases(tmp_path: Path) -> list[tuple]:
    from training.export import main as export_main
    from training.train import main as train_main

    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "card.json").write_text("[1, 2]")
    (tmp_path / "notjson.json").write_bytes(b"\xff\xfe")
    model = tmp_path / "m.safetensors"
    save_generator(build_generator(ngf=8), model, name="m")
    data = ["--data", str(DATA / "maps_val")]
    (tmp_path / "pairs").mkdir()
    (tmp_path / "pairs" / "train").symlink_to(DATA / "maps_val")
    run = ["--data", str(tmp_path / "pairs"), "--out", str(tmp_path / "run")]
    return [
        (evaluate_main, [*data, "--limit", "nan"], "--limit: a whole number in [1, inf), not 'nan'"),
        (evaluate_main, [*data, "--limit", "0"], "--limit: a whole number in [1, inf), not '0'"),
        (evaluate_main, ["--model", str(model), "--data", str(tmp_path / "gone")], "no such folder"),
        (export_main, ["--run", str(tmp_path / "gone"), "--out", str(tmp_path / "x.safetensors")],
         "the run's checkpoint is not there"),
        (export_main, ["--run", str(tmp_path / "garbage"), "--out", str(tmp_path / "x.safetensors")],
         "the run's checkpoint is damaged or not a geotrans checkpoint"),
        (export_main, ["--model", str(model), "--out", str(tmp_path / "y.safetensors"), "--card",
                       str(tmp_path / "card.json")], "holds a JSON list, not an object"),
        (export_main, ["--model", str(model), "--out", str(tmp_path / "y.safetensors"), "--card",
                       str(tmp_path / "notjson.json")], "not a JSON object"),
        (export_main, ["--run", str(tmp_path / "garbage"), "--out", str(tmp_path / "garbage" / "checkpoint.pt")],
         "is an input of the run"),
        (train_main, [*run, "--lr", "nan"], "--lr: a number in (0, inf), not 'nan'"),
        (train_main, [*run, "--lr", "inf"], "--lr: a number in (0, inf), not 'inf'"),
        (train_main, [*run, "--epochs", "-1"], "--epochs: a whole number in [1, inf), not '-1'"),
        (train_main, [*run, "--ema", "1"], "--ema: a number in [0, 1), not '1'"),
        (train_main, [*run, "--epochs", "2", "--decay-epochs", "3"], "decay_epochs 3 is more than epochs 2"),
        (train_main, ["--data", str(tmp_path / "pairs"), "--out", str(tmp_path / "garbage"), "--resume"],
         "the checkpoint to resume is damaged or not a geotrans checkpoint"),
    ]


def test_the_research_entry_points_say_bad_options_and_garbage_files_in_one_line(tmp_path, capsys):
    for entry, argv, said in _research_cases(tmp_path):
        capsys.readouterr()
        with pytest.raises(SystemExit) as ended:
            entry(argv)
        err = capsys.readouterr().err
        assert ended.value.code == 2, (argv, err)
        assert said in err.splitlines()[-1] and "Traceback" not in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json", "garbage", "m.safetensors", "notjson.json",
                                                          "pairs"]  # nothing written, and no run folder made
    assert (tmp_path / "garbage" / "checkpoint.pt").read_bytes() == b"not a checkpoint"


def test_evaluate_scores_the_fit_on_training_images_of_the_labelled_mix_and_refuses_it_alone(tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    save_generator(build_generator(ngf=8), model, "tiny", card={"native_resolution_m": 0.9})
    with pytest.raises(SystemExit) as exit_info:  # nothing to fit without the mix: one line, before scoring
        evaluate_main(["--model", str(model), "--data", str(DATA / "maps_val"), "--fit", "2"])
    assert exit_info.value.code != 0 and "--fit scores the training images of --labelled" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # no images to score: argparse's one line
        evaluate_main(["--model", str(model), "--data", str(DATA / "maps_val"), "--fit", "0"])
    assert exit_info.value.code != 0 and "--fit" in capsys.readouterr().err
    mix = write_mix(tmp_path)  # New York pairs and two Dubai photos, one held out
    results = tmp_path / "m-eval.json"
    evaluate_main(["--model", str(model), "--data", str(DATA / "maps_val"), "--no-dropout-run", "--limit", "1",
                   "--labelled", str(mix), "--fit", "5", "--json", str(results)])
    report = json.loads(results.read_text())
    assert [r["images"] for r in report["semantic"]] == [1] and [r["images"] for r in report["fit"]] == [1]
    assert "training labels" in capsys.readouterr().out
