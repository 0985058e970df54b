"""geotrans tune: fine-tuning on the user's own scenes and labels, scored on a spatial hold-out."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from helpers import LANDSAT, VEGAS, assert_one_line_error, run_cli

from geotrans.model.generator import build_generator
from geotrans.model.style import CODES, IGNORE
from geotrans.model.weights import inherited_style, load_generator, read_model_info, save_generator
from geotrans.training.tune import GAP_PX, holdout_column, prepare_areas

ROADS = Path(__file__).resolve().parent / "data" / "vegas_roads" / "vegas_roads.geojson"


@pytest.fixture(scope="module")
def styled_narrow_model(tmp_path_factory) -> Path:
    """A random ngf=8 generator with the shipped model's style in its card (fast; for plumbing tests)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "narrow-styled.safetensors"
    save_generator(build_generator(ngf=8), path, name="narrow-styled", card=inherited_style(read_model_info().path))
    return path


def class_raster(tmp_path: Path, fill) -> Path:
    """A one-band class raster on the Vegas sample's grid, its codes (H, W) ``fill(zeros)``."""
    raster = tmp_path / "classes.tif"
    with rasterio.open(VEGAS) as ds:
        profile = {"driver": "GTiff", "width": ds.width, "height": ds.height, "count": 1, "dtype": "uint8",
                   "crs": ds.crs, "transform": ds.transform}
    with rasterio.open(raster, "w", **profile) as dst:
        dst.write(fill(np.zeros((ds.height, ds.width), np.uint8))[None])
    return raster


def test_the_holdout_is_the_east_block_holding_its_share_of_the_labels():
    labelled = np.zeros((10, 100), bool)
    labelled[:, 20:80] = True  # 600 labelled pixels in columns 20-79
    col = holdout_column(labelled, 0.25)
    assert labelled[:, col:].sum() >= 0.25 * 600 > labelled[:, col + 1:].sum()
    assert col == 65


def test_the_holdout_never_meets_the_training_block_on_the_real_vegas_scene(styled_narrow_model):
    info = read_model_info(styled_narrow_model)
    [area] = prepare_areas([str(VEGAS)], [str(ROADS)], info, holdout=0.3, label_class="street")
    train_cols = range(area.photo.shape[2])[area.train_cols]
    held_cols = range(area.photo.shape[2])[area.holdout_cols]
    assert max(train_cols) + GAP_PX < min(held_cols)
    labelled = area.classes != IGNORE
    assert labelled[:, area.holdout_cols].sum() == pytest.approx(0.3 * labelled.sum(), rel=0.1)
    assert set(np.unique(area.classes)) == {CODES["street"], IGNORE}
    assert area.complete_for == ("street",)


def test_a_short_tune_writes_a_loadable_model_whose_card_names_its_sources(tmp_path, styled_narrow_model):
    base = tmp_path / "models" / "narrow-styled.safetensors"  # the base under a share-alike licence
    base.parent.mkdir()
    net, info = load_generator(styled_narrow_model)
    save_generator(net, base, name=info.name, card={**info.card, "licence": "CC BY-NC-SA 4.0 as a whole"})
    out = tmp_path / "vegas.safetensors"
    result = run_cli("tune", VEGAS, "--labels", ROADS, "--label-class", "street", "--out", out,
                     "--model", base, "--max-steps", "2", "--keep-worse")
    assert result.exit_code == 0, result.output
    assert "street F1" in result.output and "base" in result.output and "tuned" in result.output
    logged = [line for line in result.output.splitlines() if line.startswith("geotrans: ")]
    for event in ("model narrow-styled", "running the generator in"):  # one line an event (#44)
        assert sum(event in line for line in logged) == 1, logged
    assert not any("{" in line for line in logged), logged  # scores are the table's, not a logged JSON dump
    assert "2 steps" in result.output and "of training" in result.output
    net, info = load_generator(out)
    tune = info.card["tune"]
    assert tune["base"] == "narrow-styled" and tune["steps"] == 2
    assert tune["areas"][0]["scene"] == str(VEGAS) and tune["areas"][0]["labels"] == [str(ROADS)]
    assert tune["hold_out_before"]["street_f1"] is not None and "street_f1" in tune["hold_out_after"]
    assert info.card["map_classes"] == read_model_info().card["map_classes"]
    assert info.card["licence"] == "CC BY-NC-SA 4.0 as a whole"  # what is made from it is under it too
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # the run folder and temporaries are gone
    assert run_cli("run", VEGAS, "--out", tmp_path / "map.tif", "--model", out, "-q").exit_code == 0  # and it runs


def test_labels_that_do_not_overlap_the_scene_are_one_line_and_nothing_is_written(tmp_path, styled_narrow_model):
    out = tmp_path / "m.safetensors"
    result = run_cli("tune", LANDSAT, "--labels", ROADS, "--label-class", "street", "--out", out,
                     "--model", styled_narrow_model, "--max-steps", "1")
    assert_one_line_error(result, "none of the 1 label file(s) overlaps it")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_of_labels_gives_its_label_files(tmp_path, styled_narrow_model):
    from geotrans.training.tune import label_files

    folder = tmp_path / "labels"
    folder.mkdir()
    for name in ("roads.geojson", "b.tif", "notes.txt", "table.json"):
        (folder / name).write_bytes(ROADS.read_bytes() if name == "roads.geojson" else b"x")
    assert label_files([str(folder), "water.gpkg"]) == [str(folder / "b.tif"), str(folder / "roads.geojson"),
                                                        "water.gpkg"]
    (folder / "b.tif").unlink()
    out = tmp_path / "m.safetensors"
    result = run_cli("tune", VEGAS, "--labels", folder, "--label-class", "street", "--out", out,
                     "--model", styled_narrow_model, "--max-steps", "1", "--keep-worse", "-q")
    assert result.exit_code == 0, result.output
    assert load_generator(out)[1].card["tune"]["areas"][0]["labels"] == [str(folder / "roads.geojson")]
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("tune", VEGAS, "--labels", empty, "--out", tmp_path / "n.safetensors", "--model",
                     styled_narrow_model)
    assert_one_line_error(result, "a folder without label files")


def test_an_unknown_class_in_the_table_is_one_line(tmp_path, styled_narrow_model):
    table = tmp_path / "table.json"
    table.write_text(json.dumps({"1": "street", "2": "lava"}))
    raster = class_raster(tmp_path, lambda codes: codes + 1)
    out = tmp_path / "m.safetensors"
    result = run_cli("tune", VEGAS, "--labels", raster, "--class-table", table, "--out", out,
                     "--model", styled_narrow_model)
    assert_one_line_error(result, "'lava'")
    assert not out.exists()


def test_a_class_raster_goes_through_its_table(tmp_path, styled_narrow_model):
    table = tmp_path / "table.json"
    table.write_text(json.dumps({"0": "ignore", "1": "water"}))

    def west_water(codes):
        codes[:, : codes.shape[1] * 3 // 4] = 1  # the west three quarters are (declared) water
        return codes

    raster = class_raster(tmp_path, west_water)
    from geotrans.io.labels import parse_class_table

    [area] = prepare_areas([str(VEGAS)], [str(raster)], read_model_info(styled_narrow_model), 0.2,
                           table=parse_class_table({"0": "ignore", "1": "water"}))
    edge = area.photo.shape[2] * 3 // 4
    assert (area.classes[:, : edge - 2] == CODES["water"]).all() and (area.classes[:, edge + 2:] == IGNORE).all()


def test_a_scene_without_crs_and_an_unreadable_label_file_are_one_line(tmp_path, styled_narrow_model):
    plain = tmp_path / "plain.tif"
    with rasterio.open(VEGAS) as ds:
        data = ds.read([1, 2, 3])
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning):
        with rasterio.open(plain, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=3,
                           dtype="uint8") as dst:
            dst.write(data)
    out = tmp_path / "m.safetensors"
    result = run_cli("tune", plain, "--labels", ROADS, "--out", out, "--model", styled_narrow_model)
    assert result.exit_code == 1 and "Traceback" not in result.output and not out.exists()
    broken = tmp_path / "broken.geojson"
    broken.write_text("{not json")
    result = run_cli("tune", VEGAS, "--labels", broken, "--out", out, "--model", styled_narrow_model)
    assert_one_line_error(result, "not a readable vector file")
    assert not out.exists()


def test_the_output_may_not_be_an_input(tmp_path, styled_narrow_model):
    result = run_cli("tune", VEGAS, "--labels", ROADS, "--out", ROADS, "--model", styled_narrow_model, "--overwrite")
    assert_one_line_error(result, "is an input of the run")


def test_a_stopped_tune_checkpoints_and_resume_finishes_it(tmp_path, styled_narrow_model):
    from geotrans.training.checkpoints import StopRequest
    from geotrans.training.tune import TuneJob, tune

    out = tmp_path / "vegas.safetensors"
    stop = StopRequest()
    with pytest.raises(KeyboardInterrupt):
        tune(TuneJob([str(VEGAS)], [str(ROADS)], str(out), base=str(styled_narrow_model), label_class="street",
                     max_steps=3), stop=stop, on_step=lambda progress: stop.set())  # Ctrl-C after the first step
    assert not out.exists()
    run_dir = tmp_path / ".vegas.safetensors.tune"
    assert json.loads((run_dir / "run.json").read_text())["progress"]["step"] == 1
    report = tune(TuneJob([str(VEGAS)], [str(ROADS)], str(out), base=str(styled_narrow_model), label_class="street",
                          max_steps=3, resume=True, keep_worse=True))
    assert report.steps == 3 and out.exists() and not run_dir.exists()
    assert read_model_info(out).card["tune"]["steps"] == 3
    assert report.minutes_now is not None and report.minutes_now <= report.minutes  # this run's share (#44)


def test_a_resumed_tune_says_its_minutes_in_all_and_in_this_run():
    from geotrans.training.tune import TuneReport

    resumed = TuneReport({}, {}, written=True, steps=90, minutes=1.5, out="m.safetensors", minutes_now=0.5)
    assert resumed.summary() == "90 steps, 1.5 min of training, 0.5 of them in this run"
    whole = TuneReport({}, {}, written=True, steps=60, minutes=1.0, out="m.safetensors", minutes_now=1.0)
    assert whole.summary() == "60 steps, 1 min of training"


@pytest.mark.parametrize("damage", ["truncated", "pickle"])
def test_a_damaged_checkpoint_to_resume_is_one_line_before_any_work(tmp_path, styled_narrow_model, damage,
                                                                     monkeypatch):
    """#42: a cut-short checkpoint, or a pickle that would run code, is said in one line, before the model
    loads, and torch's advice to unpickle never reaches the user."""
    import pickle

    import geotrans.training.tune

    out = tmp_path / "mine.safetensors"
    run_dir = tmp_path / ".mine.safetensors.tune"
    run_dir.mkdir()
    checkpoint = run_dir / "checkpoint.pt"
    if damage == "truncated":
        torch.save({"config": "{}", "weights": torch.zeros(1000)}, checkpoint)
        checkpoint.write_bytes(checkpoint.read_bytes()[:300])
    else:
        checkpoint.write_bytes(pickle.dumps({"config": "{}", "thing": Path("x")}))
    before = checkpoint.read_bytes()
    monkeypatch.setattr(geotrans.training.tune, "read_model_info", lambda *a: pytest.fail("the model was read first"))
    result = run_cli("tune", VEGAS, "--labels", ROADS, "--label-class", "street", "--out", out, "--resume",
                     "--model", styled_narrow_model)
    assert_one_line_error(result, "checkpoint to resume")
    assert "weights_only" not in result.output and checkpoint.read_bytes() == before and not out.exists()
