"""pix2pix training: PatchGAN, losses, data, resume, export, metrics."""
import json
from pathlib import Path

import numpy as np
import torch

from training.data import PairSet, geotiff_pairs, read_aligned
from training.networks import build_discriminator, receptive_field
from training.train import CHECKPOINT, Pix2Pix, TrainConfig, lr_at, train

MAPS_PAIRS = Path(__file__).resolve().parent / "data" / "maps_pairs"


def tiny_pairs(n=2, seed=0):
    """Two real maps-dataset pairs (photo, map), cut to 300 px so steps stay fast."""
    paths = sorted(MAPS_PAIRS.glob("*.jpg"))[:n]
    pairs = [read_aligned(p) for p in paths]
    return PairSet([s[:, :300, :300] for s, _ in pairs], [t[:, :300, :300] for _, t in pairs], seed=seed)


def tiny_config(tmp_path, **kw):
    return TrainConfig(data=str(MAPS_PAIRS), out=str(tmp_path / "run"), ngf=8, ndf=8, batch_size=1,
                       sample_pairs=0, **kw)


def test_patchgan_receptive_field_is_70():
    assert receptive_field(build_discriminator()) == 70


def test_patchgan_layers_and_output_map():
    d = build_discriminator()
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert [c.stride[0] for c in convs] == [2, 2, 2, 1, 1]
    assert convs[0].in_channels == 6  # source and target concatenated
    assert d(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)


def test_aligned_pairs_split_left_photo_right_map():
    source, target = read_aligned(sorted(MAPS_PAIRS.glob("*.jpg"))[0])
    assert source.shape == target.shape == (3, 600, 600)
    # Maps are flat pastel colours: far fewer distinct colours than the photo.
    assert np.unique(target.reshape(3, -1), axis=1).shape[1] < np.unique(source.reshape(3, -1), axis=1).shape[1] / 3


def test_augmentation_is_seeded_and_crops_native_resolution():
    pairs = tiny_pairs()
    a = pairs.sample(0, epoch=3)
    b = pairs.sample(0, epoch=3)
    c = pairs.sample(0, epoch=4)
    assert torch.equal(a[0], b[0]) and a[0].shape == (3, 256, 256)
    assert not torch.equal(a[0], c[0])
    # A crop is a window of the original pixels (optionally mirrored), never resampled.
    src = torch.from_numpy(pairs.sources[0]).float() / 127.5 - 1
    found = any(torch.equal(a[0], src[:, r:r + 256, q:q + 256]) or torch.equal(a[0], src[:, r:r + 256, q:q + 256].flip(-1))
                for r in range(45) for q in range(45))
    assert found


def test_fake_batch_holds_generated_images():
    real, fake = Pix2Pix.discriminator_pairs(torch.zeros(2, 3, 8, 8), torch.ones(2, 3, 8, 8), torch.full((2, 3, 8, 8), 0.5))
    assert torch.all(real[:, 3:] == 1)
    assert torch.all(fake[:, 3:] == 0.5) and not torch.equal(fake[:, 3:], real[:, 3:])
    assert torch.all(fake[:, :3] == 0)


def test_generator_step_leaves_discriminator_weights_to_the_discriminator_step(tmp_path):
    model = Pix2Pix(tiny_config(tmp_path), torch.device("cpu"))
    pairs = tiny_pairs()
    source, target = next(pairs.batches(0, 1))
    d_before = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    # A generator-only update: gradients reach the generator through D, but D is untouched.
    from training.train import set_requires_grad

    set_requires_grad(model.discriminator, False)
    fake = model.generator(source)
    model.gan_loss(model.discriminator(torch.cat([source, fake], 1)), torch.ones(1, 1, 30, 30)).backward()
    assert all(p.grad is None for p in model.discriminator.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters())
    for k, v in model.discriminator.state_dict().items():
        assert torch.equal(v, d_before[k])


def test_a_few_steps_on_two_pairs_reduce_l1(tmp_path):
    model = Pix2Pix(tiny_config(tmp_path, lr=1e-3), torch.device("cpu"))
    pairs = tiny_pairs()
    source, target = (torch.stack(t) for t in zip(*[pairs.sample(i, 0) for i in range(2)]))
    first = model.step(source, target)["g_l1"]
    for _ in range(25):
        last = model.step(source, target)["g_l1"]
    assert last < 0.7 * first


def test_resume_equals_uninterrupted_training(tmp_path):
    pairs = tiny_pairs(seed=5)
    straight = train(tiny_config(tmp_path / "a", epochs=3), torch.device("cpu"), train_set=pairs)
    cut = tiny_config(tmp_path / "b", epochs=3, max_steps=3)  # stops mid-epoch 2
    train(cut, torch.device("cpu"), train_set=pairs)
    assert json.loads((tmp_path / "b" / "run" / "run.json").read_text())["progress"]["step"] == 3
    resumed = train(tiny_config(tmp_path / "b", epochs=3), torch.device("cpu"), resume=True, train_set=pairs)
    for name in ("generator", "discriminator"):
        a, b = getattr(straight, name).state_dict(), getattr(resumed, name).state_dict()
        for key in a:
            assert torch.equal(a[key], b[key]), (name, key)
    rows = (tmp_path / "b" / "run" / "losses.csv").read_text().splitlines()
    assert len(rows) == 1 + 6  # header + one row per step, none repeated
    assert (tmp_path / "b" / "run" / "loss_curve.png").stat().st_size > 0
    assert (tmp_path / "b" / "run" / CHECKPOINT).exists()


def test_lr_is_constant_then_decays_linearly():
    config = TrainConfig(data="", out="", epochs=10, decay_epochs=4)
    assert [lr_at(config, e) for e in range(6)] == [2e-4] * 6
    decayed = [lr_at(config, e) for e in range(6, 10)]
    assert decayed == sorted(decayed, reverse=True) and decayed[-1] > 0 and decayed[0] < 2e-4


def test_geotiff_pairs_use_the_tiler(tmp_path):
    import rasterio

    from conftest import KOREA

    with rasterio.open(KOREA) as ds:
        profile = ds.profile
        profile.update(compress="deflate", photometric="RGB")
        with rasterio.open(tmp_path / "map.tif", "w", **profile) as out:
            out.write(255 - ds.read())
    pairs = geotiff_pairs(KOREA, tmp_path / "map.tif", tile=512)
    assert len(pairs) == 4
    assert np.array_equal(pairs.targets[0], 255 - pairs.sources[0])


def test_distributed_data_parallel_under_torchrun(tmp_path):
    """Two CPU processes (gloo) under torchrun: each takes half the pairs, rank 0 writes the run."""
    import subprocess
    import sys

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train").symlink_to(MAPS_PAIRS)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "training.train", "--data", str(tmp_path / "data"), "--out", str(out), "--ngf", "8", "--ndf", "8",
           "--epochs", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    run = json.loads((out / "run.json").read_text())
    assert run["progress"]["step"] == 1  # 2 pairs over 2 ranks at batch size 1
    assert (out / CHECKPOINT).exists()


def test_resume_keeps_the_paths_given_now_and_the_stored_architecture():
    from training.train import resumed_config

    stored = TrainConfig(data="old/data", out="old/run", ngf=32, epochs=1)
    given = TrainConfig(data="new/data", out="new/run", ngf=64, epochs=9, decay_epochs=3)
    config = resumed_config(stored, given)
    assert (config.data, config.out, config.epochs, config.decay_epochs) == ("new/data", "new/run", 9, 3)
    assert config.ngf == 32
