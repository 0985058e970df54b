"""Fingerprints of what training, tuning and running produce, to hold a refactor to "identical tensors before and
after" (#58): a fixed-seed 20-step training run on a mix that reaches every loss term and augmentation, a
3-step ``geotrans tune``, and a ``geotrans run`` map, each reduced to one sha256 of its tensors or pixels.

    python -m training.experiments.fingerprint [--json F]     # run before and after; the lines must be equal

One torch thread, CPU, fp32: the figures are bitwise reproducible on one machine.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import rasterio
import torch

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SAMPLES = ROOT / "sample_tiles"
DUBAI = {"#8429F6": "background", "#6EC1E4": "street", "#E2A929": "water", "#FEDD3A": "green",
         "#3C1098": "building", "#9B9B9B": "ignore", "#000000": "ignore"}


def tensors_digest(tensors: dict) -> str:
    digest = hashlib.sha256()
    for key in sorted(tensors, key=str):
        value, name = tensors[key], str(key).encode()
        if isinstance(value, dict):
            digest.update(name + tensors_digest(value).encode())
        elif isinstance(value, torch.Tensor):
            digest.update(name + value.detach().cpu().contiguous().numpy().tobytes())
        elif isinstance(value, (list, tuple)):
            digest.update(name + tensors_digest(dict(enumerate(value))).encode())
        elif key != "seconds":  # wall time is no output
            digest.update(f"{key}={value!r}".encode())
    return digest.hexdigest()


def trained_digests(name: str, config) -> dict:
    """Train ``config`` (a research config) from seed 0 on the CPU; the digests of its checkpoint's weights and
    optimisers, of its losses (wall time left out) and its steps, each key starting with ``name``."""
    from geotrans.training.checkpoints import CHECKPOINT
    from geotrans.training.train import train
    from training.research import ResearchPix2Pix

    torch.manual_seed(0)
    train(config, torch.device("cpu"), model_class=ResearchPix2Pix)
    state = torch.load(Path(config.out) / CHECKPOINT, weights_only=True)
    losses = [line.split(",")[:-1] for line in (Path(config.out) / "losses.csv").read_text().splitlines()]
    return {f"{name}: weights and optimisers": tensors_digest({k: v for k, v in state.items() if k != "config"}),
            f"{name}: losses": hashlib.sha256(json.dumps(losses).encode()).hexdigest(),
            f"{name}: steps": state["progress"]["step"]}


def training_fingerprint(folder: Path) -> dict:
    """20 steps of a small pix2pix on New York pairs and Dubai masks, with every loss term and augmentation."""
    from training.research import ResearchConfig

    mix = folder / "mix.json"
    mix.write_text(json.dumps({"resolution_m": 0.9, "scale_jitter": 0.3, "recolour": {"building": [196, 182, 171]},
                               "sources": [
        {"name": "nyc", "kind": "pairs", "path": str(DATA / "maps_pairs"), "resolution_m": 0.9, "weight": 1},
        {"name": "dubai", "kind": "masks", "root": str(DATA / "dubai"), "images": "tile2/images/*.jpg",
         "val": "tile2/images/image_part_009.jpg", "resolution_m": 1.0, "match": "nearest", "classes": DUBAI,
         "weight": 1, "no_water": False}]}))
    config = ResearchConfig(data=str(DATA / "maps_pairs"), out=str(folder / "run"), epochs=20, decay_epochs=10,
                         batch_size=2, ngf=8, ndf=8, seed=0, sample_pairs=0, lambda_fm=10.0, lambda_grad=10.0,
                         rotations=True, jitter=0.2, grey=0.1, coarse=0.3, dark_land=0.5, dark_of="vegetation",
                         lambda_class=10.0, class_colours="classes", water_weight=0.33, building_weight=2.0,
                         ema=0.999, precision="fp32", max_steps=20, mix=str(mix), d_warmup_steps=2,
                         gan_ramp_steps=5)
    return trained_digests("training", config)


def experiments_fingerprint(folder: Path) -> dict:
    """20 steps with the research experiments no shipped model uses: the dry-land hinge, vegetation in its
    water's colour, the class decision on rendered maps only, buildings weighed."""
    from training.research import ResearchConfig

    mix = folder / "mix-experiments.json"
    mix.write_text(json.dumps({"resolution_m": 0.9, "sources": [
        {"name": "nyc", "kind": "pairs", "path": str(DATA / "maps_pairs"), "resolution_m": 0.9, "weight": 1},
        {"name": "dubai", "kind": "masks", "root": str(DATA / "dubai"), "images": "tile2/images/*.jpg",
         "val": "tile2/images/image_part_009.jpg", "resolution_m": 1.0, "match": "nearest",
         "classes": {k: "street" if v == "street" else "ignore" for k, v in DUBAI.items()},  # the rest dry land
         "weight": 2, "no_water": True}]}))
    config = ResearchConfig(data=str(DATA / "maps_pairs"), out=str(folder / "run-experiments"), epochs=20,
                            batch_size=2, ndf=8, seed=3, sample_pairs=0, lambda_fm=10.0, jitter=0.1, dark_land=0.5,
                    water_coloured=0.7, water_texture=(0.2, 0.8), lambda_dry=50.0, lambda_class=10.0,
                    class_colours="classes", class_on="rendered", water_weight=0.5, building_weight=3.0,
                    precision="fp32", max_steps=20, mix=str(mix), gan_ramp_steps=5,
                    init_generator=str(ROOT / "geotrans" / "default_model" / "generator.safetensors"), ngf=32)
    return {k: v for k, v in trained_digests("experiments", config).items() if not k.endswith("steps")}


def tune_fingerprint(folder: Path, model: Path) -> dict:
    """A 3-step ``geotrans tune`` of ``model`` on the Vegas sample and its roads."""
    from safetensors.torch import load_file

    from geotrans.training.tune import TuneJob, tune

    out = folder / "tuned.safetensors"
    tune(TuneJob([str(SAMPLES / "vegas_rgba_4326.tif")], [str(DATA / "vegas_roads" / "vegas_roads.geojson")],
                 str(out), base=str(model), minutes=60, label_class="street", max_steps=3, keep_worse=True,
                 batch_size=2))
    return {"tune: weights": tensors_digest(load_file(out))}


def run_fingerprint(folder: Path, model: Path) -> dict:
    """``geotrans run`` of the Korea sample with ``model``: the map's pixels and mask."""
    from click.testing import CliRunner

    from geotrans.cli import main

    out = folder / "map.tif"
    result = CliRunner().invoke(main, ["run", str(SAMPLES / "korea_rgb_jpeg_3857.tif"), "--out", str(out), "--model",
                                       str(model), "-q", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as ds:
        pixels = np.concatenate([ds.read().ravel(), ds.dataset_mask().ravel()])
    return {"run: map pixels": hashlib.sha256(pixels.tobytes()).hexdigest()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m training.experiments.fingerprint", description=__doc__)
    parser.add_argument("--json", default=None, help="also write the fingerprints here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from geotrans.model.generator import build_generator
    from geotrans.model.weights import default_model_path, read_model_info, save_generator

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = folder / "narrow.safetensors"
        torch.manual_seed(0)
        card = {k: read_model_info(default_model_path()).card[k] for k in ("map_classes", "palette", "palette_max_delta_e")}
        save_generator(build_generator(ngf=8), model, name="fingerprint-ngf8", card=card)
        found = {**training_fingerprint(folder), **experiments_fingerprint(folder), **tune_fingerprint(folder, model), **run_fingerprint(folder, model)}
    for key, value in found.items():
        print(f"{key}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(found, indent=2) + "\n")


if __name__ == "__main__":
    main()
