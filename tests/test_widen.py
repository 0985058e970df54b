"""Widening a trained generator (geotrans.training.widen): the wider net draws what the narrow one drew,
and training grows its new channels."""
from dataclasses import replace
from pathlib import Path

import pytest
import rasterio
import torch
from rasterio.windows import Window

from geotrans.model.generator import build_generator, to_model_range
from geotrans.model.weights import load_generator, read_model_info
from geotrans.training.config import TrainConfig
from geotrans.training.data import PairSet, read_aligned
from geotrans.training.pix2pix import Pix2Pix
from geotrans.training.train import train
from geotrans.training.widen import WIDEN_SEED, widened

ROOT = Path(__file__).resolve().parent.parent
KOREA = ROOT / "sample_tiles" / "korea_rgb_jpeg_3857.tif"
MAPS_PAIRS = ROOT / "tests" / "data" / "maps_pairs"


def two_pairs() -> PairSet:
    """Two real maps-dataset pairs (photo, map), cut to 300 px so steps stay fast."""
    pairs = [read_aligned(p) for p in sorted(MAPS_PAIRS.glob("*.jpg"))[:2]]
    return PairSet([s[:, :300, :300] for s, _ in pairs], [t[:, :300, :300] for _, t in pairs])


def korea_tile() -> torch.Tensor:
    """A real 256 px photo (the Korea sample scene), as the generator reads it."""
    with rasterio.open(KOREA) as src:
        pixels = src.read([1, 2, 3], window=Window(0, 0, 256, 256))
    return to_model_range(torch.from_numpy(pixels)).unsqueeze(0)


def test_the_shipped_model_widened_draws_the_same_map():
    narrow, info = load_generator()
    wide = widened(narrow, info.ngf + 8).eval()
    assert wide.ngf == info.ngf + 8
    tile = korea_tile()
    with torch.no_grad():
        before, after = narrow(tile), wide(tile)
    assert before.std() > 0.05  # a map, not a blank
    assert torch.allclose(before, after, atol=1e-5)
    assert sum(p.numel() for p in wide.parameters()) > 1.4 * sum(p.numel() for p in narrow.parameters())


def test_the_new_channels_learn_from_the_first_steps(tmp_path):
    narrow = build_generator(ngf=8)
    wide = widened(narrow, 12)
    config = TrainConfig(data=str(MAPS_PAIRS), out=str(tmp_path / "run"), ngf=12, ndf=8, batch_size=1, sample_pairs=0)
    model = Pix2Pix(config, torch.device("cpu"))
    model.generator.load_state_dict(wide.state_dict())
    pairs = two_pairs()
    unread = model.generator.encoder[2][1].weight[:, 16:].clone()  # encoder 2 reading encoder 1's new channels
    assert torch.count_nonzero(unread) == 0
    new_rows = model.generator.encoder[1][1].weight[16:].clone()  # encoder 1's new channels themselves
    for source, target in pairs.batches(0, 1):
        model.step(source, target)
    assert torch.count_nonzero(model.generator.encoder[2][1].weight[:, 16:]) > 0.9 * unread.numel()
    assert not torch.equal(model.generator.encoder[1][1].weight[16:], new_rows)


def test_widening_refuses_to_narrow_or_to_keep_a_batch_norm():
    with pytest.raises(ValueError, match="narrow"):
        widened(build_generator(ngf=8), 4)
    with pytest.raises(ValueError, match="instance or no norm"):
        widened(build_generator(ngf=8, norm="batch"), 12)


def test_a_warm_start_at_a_larger_ngf_widens_the_file_and_the_card_says_so(tmp_path):
    from geotrans.model.weights import save_generator
    from training.export import export

    exported = tmp_path / "narrow.safetensors"
    narrow = build_generator(ngf=8).eval()
    save_generator(narrow, exported, name="narrow")
    config = TrainConfig(data=str(MAPS_PAIRS), out=str(tmp_path / "run"), ngf=12, ndf=8, batch_size=1,
                         sample_pairs=0, epochs=1, max_steps=1, init_generator=str(exported))
    model = train(config, torch.device("cpu"), train_set=two_pairs())
    assert model.generator.ngf == 12 and model.config.init_ngf == 8
    card = export(tmp_path / "run", tmp_path / "wide.safetensors", "wide")
    assert card["training"]["warm_start"]["widened_from_ngf"] == 8
    assert card["training"]["warm_start"]["widen_seed"] == WIDEN_SEED
    # Runs of other seeds widened from the same file start from the same net, so their weights can be averaged.
    other = replace(config, out=str(tmp_path / "other"), seed=5, max_steps=0)
    again = replace(config, out=str(tmp_path / "again"), max_steps=0)
    starts = [train(c, torch.device("cpu"), train_set=two_pairs()).generator.state_dict() for c in (other, again)]
    assert all(torch.equal(v, starts[1][k]) for k, v in starts[0].items())
    assert read_model_info(tmp_path / "wide.safetensors").ngf == 12


def test_a_soup_widens_a_narrower_part_as_the_wide_run_was_widened(tmp_path):
    """The soup of a model and a run widened from it lies on the line between the run's start and its end."""
    from geotrans.model.weights import save_generator
    from training.experiments.soup import soup

    narrow = build_generator(ngf=8)
    start = widened(narrow, 12, seed=3)
    step = {k: torch.randn_like(v) * 0.01 for k, v in start.state_dict().items()}
    trained = build_generator(ngf=12)
    trained.load_state_dict({k: v + step[k] for k, v in start.state_dict().items()})
    save_generator(narrow, tmp_path / "narrow.safetensors", name="narrow")
    save_generator(trained, tmp_path / "wide.safetensors", name="wide",
                   card={"training": {"warm_start": {"widened_from_ngf": 8, "widen_seed": 3}}})
    net, _, _ = soup([(str(tmp_path / "narrow.safetensors"), 1.0), (str(tmp_path / "wide.safetensors"), 1.0)])
    assert net.ngf == 12
    halfway = {k: (v + step[k] / 2).half().float() for k, v in start.state_dict().items()}
    assert all(torch.allclose(v.float(), halfway[k], atol=2e-3) for k, v in net.state_dict().items())


def test_a_narrower_ngf_than_the_warm_start_s_is_one_line(tmp_path, capsys):
    from training.train import main

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train").symlink_to(MAPS_PAIRS)
    with pytest.raises(SystemExit) as exit_:
        main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--init-generator",
              str(ROOT / "geotrans" / "default_model" / "generator.safetensors"), "--ngf", "16"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--ngf 16 is narrower than" in err[-1] and "32" in err[-1] and "Traceback" not in "\n".join(err)
    assert not (tmp_path / "run").exists()
