"""pix2pix training: PatchGAN, losses, data, resume, export, metrics."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from geotrans.model.palette import near_colour
from geotrans.run.background import background
from geotrans.training.checkpoints import CHECKPOINT, StopRequest
from geotrans.training.config import TrainConfig
from geotrans.training.data import Augment, PairSet, geotiff_pairs, read_aligned
from geotrans.training.losses import feature_matching, gradient_l1
from geotrans.training.networks import build_discriminator, receptive_field
from geotrans.training.pix2pix import Pix2Pix
from geotrans.training.train import lr_at, train

MAPS_PAIRS = Path(__file__).resolve().parent / "data" / "maps_pairs"


def tiny_pairs(n=2, seed=0, augment=Augment()):
    """Two real maps-dataset pairs (photo, map), cut to 300 px so steps stay fast."""
    paths = sorted(MAPS_PAIRS.glob("*.jpg"))[:n]
    pairs = [read_aligned(p) for p in paths]
    return PairSet([s[:, :300, :300] for s, _ in pairs], [t[:, :300, :300] for _, t in pairs], seed=seed,
                   augment=augment)


def tiny_config(tmp_path, **kw):
    return TrainConfig(**{"data": str(MAPS_PAIRS), "out": str(tmp_path / "run"), "ngf": 8, "ndf": 8,
                          "batch_size": 1, "sample_pairs": 0, **kw})


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
    from geotrans.training.pix2pix import set_requires_grad

    set_requires_grad(model.discriminator, False)
    fake = model.generator(source)
    model.gan_loss(model.discriminator(torch.cat([source, fake], 1)), torch.ones(1, 1, 30, 30)).backward()
    assert all(p.grad is None for p in model.discriminator.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters())
    for k, v in model.discriminator.state_dict().items():
        assert torch.equal(v, d_before[k])


@pytest.mark.slow
def test_a_few_steps_on_two_pairs_reduce_l1(tmp_path):
    model = Pix2Pix(tiny_config(tmp_path, lr=1e-3), torch.device("cpu"))
    pairs = tiny_pairs()
    source, target = (torch.stack(t) for t in zip(*[pairs.sample(i, 0) for i in range(2)]))
    first = model.step(source, target)["g_l1"]
    for _ in range(25):
        last = model.step(source, target)["g_l1"]
    assert last < 0.7 * first


@pytest.mark.slow
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
    from helpers import KOREA

    with rasterio.open(KOREA) as ds:
        profile = ds.profile
        profile.update(compress="deflate", photometric="RGB")
        with rasterio.open(tmp_path / "map.tif", "w", **profile) as out:
            out.write(255 - ds.read())
    pairs = geotiff_pairs(KOREA, tmp_path / "map.tif", tile=512)
    assert len(pairs) == 4
    assert np.array_equal(pairs.targets[0], 255 - pairs.sources[0])


@pytest.mark.slow
def test_distributed_data_parallel_under_torchrun(tmp_path):
    """Two CPU processes (gloo) under torchrun: the batch splits over them, rank 0 writes the run."""
    import subprocess
    import sys

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train").symlink_to(MAPS_PAIRS)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "training.train", "--data", str(tmp_path / "data"), "--out", str(out), "--ngf", "8", "--ndf", "8",
           "--epochs", "1", "--batch-size", "2"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    run = json.loads((out / "run.json").read_text())
    assert run["progress"]["step"] == 1  # 2 pairs, one step of batch 2: one pair on each rank
    assert run["config"]["batch_size"] == 2
    assert "batch 2 (1 per process)" in result.stderr
    assert (out / CHECKPOINT).exists()


def test_distributed_processes_stop_after_the_same_step(tmp_path):
    """One process reaching its budget stops them all; alone, it would leave the other in the next all-reduce."""
    import subprocess
    import sys

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train").symlink_to(MAPS_PAIRS)
    script = tmp_path / "uneven_budgets.py"
    script.write_text("import os, sys\nfrom training.train import main\n"
                      "main(sys.argv[1:] + ['--max-steps', '1' if os.environ['RANK'] == '1' else '3'])\n")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
           "--data", str(tmp_path / "data"), "--out", str(out), "--ngf", "8", "--ndf", "8", "--epochs", "3",
           "--batch-size", "2"]
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((out / "run.json").read_text())["progress"]["step"] == 1
    assert torch.load(out / CHECKPOINT, weights_only=True)["progress"]["step"] == 1
    assert "another process stopped" in result.stderr  # rank 0's own budget had 2 steps left


def test_a_batch_that_does_not_split_over_the_processes_is_refused(tmp_path, monkeypatch, capsys):
    from training.train import main

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train").symlink_to(MAPS_PAIRS)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SystemExit) as exit_:
        main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--batch-size", "3"])
    assert exit_.value.code == 2
    assert "--batch-size 3 does not split over 2 processes" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="does not split"):
        train(tiny_config(tmp_path, batch_size=3), train_set=tiny_pairs())


@pytest.mark.parametrize("option, message", [(["--jitter", "1.5"], "jitter must be in [0, 1)"),
                                             (["--water-texture", "0.5", "0.2"], "water_texture must be two shares")])
def test_an_augmentation_out_of_range_is_one_line_and_no_run(tmp_path, capsys, option, message):
    from training.train import main

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train").symlink_to(MAPS_PAIRS)
    with pytest.raises(SystemExit) as exit_:
        main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), *option])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_resume_keeps_the_paths_given_now_and_the_stored_architecture():
    from training.train import resumed_config

    stored = TrainConfig(data="old/data", out="old/run", ngf=32, epochs=1)
    given = TrainConfig(data="new/data", out="new/run", ngf=64, epochs=9, decay_epochs=3)
    config = resumed_config(stored, given)
    assert (config.data, config.out, config.epochs, config.decay_epochs) == ("new/data", "new/run", 9, 3)
    assert config.ngf == 32


def test_a_resume_changes_only_the_recipe_options_given_now():
    from training.research import ResearchConfig
    from training.train import resumed_config

    stored = ResearchConfig(data="d", out="o", ngf=32, lambda_fm=10.0, jitter=0.0, grey=0.0, batch_size=4)
    given = ResearchConfig(data="d", out="o", ngf=64, batch_size=1)  # defaults everywhere else
    config = resumed_config(stored, given, {"jitter": 0.2, "grey": 0.1, "water_coloured": 0.5,
                                            "water_texture": [0.05, 0.3], "ngf": 64, "batch_size": 1})
    assert (config.jitter, config.grey, config.water_coloured) == (0.2, 0.1, 0.5)
    assert (config.augment.water_coloured, config.augment.water_texture) == (0.5, (0.05, 0.3))
    assert (config.lambda_fm, config.ngf, config.batch_size) == (10.0, 32, 4)  # not given, or not a recipe option
    assert resumed_config(stored, given).jitter == 0.0


NEW_RECIPE = dict(lambda_fm=10.0, lambda_grad=100.0, rotations=True, jitter=0.2, grey=0.5, batch_size=2,
                  precision="auto", ema=0.9)


@pytest.mark.slow
def test_resume_is_exact_under_the_new_recipe(tmp_path):
    """bf16 where native, batch 2, feature matching, gradient loss, rotations, jitter, grey: still bit for bit."""
    config = dict(NEW_RECIPE)
    two = [read_aligned(p) for p in sorted(MAPS_PAIRS.glob("*.jpg"))[:2]]
    # Four real 300 px pairs (two corners of each image): two steps of batch 2 per epoch.
    sources = [s[:, r:r + 300, r:r + 300] for s, _ in two for r in (0, 300)]
    targets = [t[:, r:r + 300, r:r + 300] for _, t in two for r in (0, 300)]
    pairs = PairSet(sources, targets, seed=3, augment=TrainConfig(data="", out="", **config).augment)
    straight = train(tiny_config(tmp_path / "a", epochs=3, **config), torch.device("cpu"), train_set=pairs)
    train(tiny_config(tmp_path / "b", epochs=3, max_steps=3, **config), torch.device("cpu"), train_set=pairs)  # mid-epoch 2
    resumed = train(tiny_config(tmp_path / "b", epochs=3, **config), torch.device("cpu"), resume=True,
                    train_set=pairs)
    for name in ("generator", "discriminator", "ema_generator"):
        a, b = getattr(straight, name).state_dict(), getattr(resumed, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    header, *rows = (tmp_path / "b" / "run" / "losses.csv").read_text().splitlines()
    assert "g_fm" in header and "g_grad" in header and len(rows) == 6
    assert all(float(r.split(",")[header.split(",").index("g_fm")]) > 0 for r in rows)


def test_precision_fp32_turns_autocast_off_and_auto_follows_the_cpu(tmp_path, monkeypatch):
    import geotrans.model.precision

    model = Pix2Pix(tiny_config(tmp_path, precision="fp32"), torch.device("cpu"))
    assert model.precision.name == "fp32"
    monkeypatch.setattr(geotrans.model.precision, "cpu_has_native_bf16", lambda: False)
    assert Pix2Pix(tiny_config(tmp_path), torch.device("cpu")).precision.name == "fp32"
    monkeypatch.setattr(geotrans.model.precision, "cpu_has_native_bf16", lambda: True)
    model = Pix2Pix(tiny_config(tmp_path), torch.device("cpu"))
    assert model.precision.name == "bf16"
    # The step's forward passes really run in bf16, while the losses stay fp32.
    seen = []
    model.generator.head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    losses = model.step(*next(tiny_pairs().batches(0, 1)))
    assert seen == [torch.bfloat16] and all(isinstance(v, float) for v in losses.values())


def test_feature_matching_is_zero_for_identical_features_and_positive_otherwise():
    d = build_discriminator(ndf=8)
    pair = torch.rand(1, 6, 64, 64) * 2 - 1
    _, real = d(pair, features=True)
    _, same = d(pair.clone(), features=True)
    assert len(real) == 4 and feature_matching(same, real).item() == 0
    _, other = d(pair.flip(-1), features=True)
    assert feature_matching(other, real).item() > 0
    logits, _ = d(pair, features=True)
    assert torch.equal(logits, d(pair))  # the features option changes nothing else


def test_gradient_loss_is_zero_for_identical_images_and_positive_for_shifted_ones():
    _, target = read_aligned(sorted(MAPS_PAIRS.glob("*.jpg"))[0])
    image = torch.from_numpy(target[:, :256, :256]).float()[None] / 127.5 - 1
    assert gradient_l1(image, image.clone()).item() == 0
    assert gradient_l1(torch.roll(image, 3, dims=-1), image).item() > 0.01
    # A constant offset has the same gradients: the term is about edges, not colours.
    assert gradient_l1(image + 0.1, image).item() < 1e-6


def test_rotations_turn_photo_and_map_together():
    plain = tiny_pairs(seed=1, augment=Augment(flips=False))
    turned = tiny_pairs(seed=1, augment=Augment(flips=False, rotations=True))
    found_turn = False
    for epoch in range(8):
        (ps, pt), (ts, tt) = plain.sample(0, epoch), turned.sample(0, epoch)
        turns = [k for k in range(4) if torch.equal(torch.rot90(ps, k, (-2, -1)), ts)]
        assert turns and torch.equal(torch.rot90(pt, turns[0], (-2, -1)), tt)
        found_turn |= turns[0] != 0
    assert found_turn


def test_jitter_and_grey_change_the_photo_only():
    plain = tiny_pairs(seed=2, augment=Augment(flips=False))
    grey = tiny_pairs(seed=2, augment=Augment(flips=False, grey=1.0))
    jitter = tiny_pairs(seed=2, augment=Augment(flips=False, jitter=0.3))
    (ps, pt), (gs, gt), (js, jt) = plain.sample(1, 0), grey.sample(1, 0), jitter.sample(1, 0)
    assert torch.equal(pt, gt) and torch.equal(pt, jt)
    assert torch.equal(gs[0], gs[1]) and torch.equal(gs[1], gs[2]) and not torch.equal(gs, ps)
    assert not torch.equal(js, ps) and js.min() >= -1 and js.max() <= 1


def test_a_coarse_photo_loses_detail_the_map_keeps_its_own():
    """The photo looks like a scene 1.5-4x coarser that a run upsampled: same colours on average, less
    pixel-to-pixel detail; the map is untouched."""
    plain = tiny_pairs(seed=2, augment=Augment(flips=False))
    coarse = tiny_pairs(seed=2, augment=Augment(flips=False, coarse=1.0))
    (ps, pt), (cs, ct) = plain.sample(1, 0), coarse.sample(1, 0)
    assert torch.equal(pt, ct)

    def detail(photo):
        return (photo[:, 1:, :] - photo[:, :-1, :]).abs().mean()

    assert detail(cs) < 0.7 * detail(ps)
    assert abs(float(cs.mean() - ps.mean())) < 0.02
    never = tiny_pairs(seed=2, augment=Augment(flips=False, coarse=0.0))
    assert torch.equal(never.sample(1, 0)[0], ps)


def test_prefetch_yields_the_same_batches_in_order():
    pairs = tiny_pairs(seed=4)
    direct = list(pairs.batches(1, 1))
    fetched = list(pairs.prefetched(1, 1))
    assert len(direct) == len(fetched) == 2
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(direct, fetched))


def test_background_reraises_errors_from_its_thread():
    def broken():
        yield 1
        raise OSError("disk gone")

    items = background(broken())
    assert next(items) == 1
    with pytest.raises(OSError, match="disk gone"):
        next(items)


def test_a_stop_request_checkpoints_after_the_current_step(tmp_path):
    pairs = tiny_pairs()
    stop = StopRequest()

    class StopAfterFirst(PairSet):
        def batches(self, *args, **kwargs):
            for batch in super().batches(*args, **kwargs):
                yield batch
                stop.set()

    stopping = StopAfterFirst(pairs.sources, pairs.targets, seed=0)
    train(tiny_config(tmp_path, epochs=5), torch.device("cpu"), train_set=stopping, stop=stop)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["progress"]["step"] == 1
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["progress"]["step"] == 1


@pytest.mark.slow
def test_sigterm_writes_a_checkpoint_and_exits_cleanly(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train").symlink_to(MAPS_PAIRS)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "training.train", "--data", str(tmp_path / "data"), "--out", str(out),
           "--ngf", "8", "--ndf", "8", "--epochs", "100000", "--threads", "1"]
    proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parent.parent, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "losses.csv").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "SIGTERM" in err and "Traceback" not in err
    state = torch.load(out / CHECKPOINT, weights_only=True)
    assert state["progress"]["step"] >= 1


def test_a_warm_start_takes_the_exported_generator_and_a_fresh_discriminator(tmp_path):
    """The run folder is gone: a new run starts from the exported weights (as shipped, fp16) and a new D."""
    from geotrans.model.weights import read_model_info, save_generator

    trained = train(tiny_config(tmp_path / "a", epochs=1), torch.device("cpu"), train_set=tiny_pairs())
    exported = tmp_path / "exported.safetensors"
    save_generator(trained.generator, exported, name="tiny", card={"licence": "CC BY-NC-SA 4.0 as a whole"})
    warm = train(tiny_config(tmp_path / "b", epochs=1, max_steps=0, init_generator=str(exported)),
                 torch.device("cpu"), train_set=tiny_pairs())
    shipped = {k: v.half().float() for k, v in trained.generator.state_dict().items()}
    assert all(torch.equal(v, shipped[k]) for k, v in warm.generator.state_dict().items())
    fresh = Pix2Pix(tiny_config(tmp_path / "c"), torch.device("cpu")).discriminator.state_dict()
    assert all(torch.equal(v, fresh[k]) for k, v in warm.discriminator.state_dict().items())
    assert not any(torch.equal(v, trained.discriminator.state_dict()[k])
                   for k, v in warm.discriminator.state_dict().items() if k.endswith("weight"))
    assert warm.config.init_sha256 == read_model_info(exported).sha256
    # One step on, the run's export names where it started.
    from training.export import export

    train(tiny_config(tmp_path / "e", epochs=1, max_steps=1, init_generator=str(exported)), torch.device("cpu"),
          train_set=tiny_pairs())
    card = export(tmp_path / "e" / "run", tmp_path / "warm.safetensors", "warm")
    assert card["training"]["warm_start"]["sha256"] == read_model_info(exported).sha256
    assert card["licence"] == "CC BY-NC-SA 4.0 as a whole"  # a model made from a share-alike one is under it too
    with pytest.raises(ValueError, match="ngf=8"):  # a warm start widens a generator, never narrows it
        train(tiny_config(tmp_path / "d", ngf=4, max_steps=0, init_generator=str(exported)), torch.device("cpu"),
              train_set=tiny_pairs())


def test_the_moving_average_follows_the_generator_and_is_what_the_export_holds(tmp_path):
    model = Pix2Pix(tiny_config(tmp_path, ema=0.75), torch.device("cpu"))
    assert Pix2Pix(tiny_config(tmp_path), torch.device("cpu")).ema_generator is None
    before = {k: v.clone() for k, v in model.generator.state_dict().items()}
    source, target = next(tiny_pairs().batches(0, 1))
    model.step(source, target)
    after = model.generator.state_dict()
    ema = model.ema_generator.state_dict()
    assert any(not torch.equal(after[k], before[k]) for k in after)
    for k in after:
        torch.testing.assert_close(ema[k], 0.75 * before[k] + 0.25 * after[k])
    assert not any(p.requires_grad for p in model.ema_generator.parameters())

    from geotrans.training.checkpoints import save_checkpoint
    from training.export import export

    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(run / CHECKPOINT, model, {"epoch": 0, "batch": 1, "step": 1, "seconds": 1.0})
    averaged = export(run, tmp_path / "ema.safetensors", "ema")
    raw = export(run, tmp_path / "raw.safetensors", "raw", raw=True)
    from geotrans.model.weights import load_generator

    for path, source_weights in ((tmp_path / "ema.safetensors", ema), (tmp_path / "raw.safetensors", after)):
        loaded = load_generator(path)[0].state_dict()
        assert all(torch.equal(loaded[k], source_weights[k].half().float()) for k in loaded), path.name
    assert "moving average" in averaged["training"]["weights"] and "weights" not in raw["training"]


def test_a_warm_start_starts_the_moving_average_from_the_warm_weights(tmp_path):
    """Not from the random init: with decay 0.999, 1000 steps later a third of it would still be noise."""
    from geotrans.model.weights import save_generator

    trained = train(tiny_config(tmp_path / "a", epochs=1), torch.device("cpu"), train_set=tiny_pairs())
    exported = tmp_path / "exported.safetensors"
    save_generator(trained.generator, exported, name="tiny", card={"licence": "CC BY-NC-SA 4.0 as a whole"})
    warm = train(tiny_config(tmp_path / "b", epochs=1, max_steps=0, ema=0.999, init_generator=str(exported)),
                 torch.device("cpu"), train_set=tiny_pairs())
    for key, value in warm.generator.state_dict().items():
        assert torch.equal(warm.ema_generator.state_dict()[key], value), key


def test_a_resume_that_turns_the_average_on_starts_it_from_the_generator(tmp_path):
    first = train(tiny_config(tmp_path, epochs=1), torch.device("cpu"), train_set=tiny_pairs())
    state = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    assert "ema_generator" not in state
    model = Pix2Pix(tiny_config(tmp_path, ema=0.999), torch.device("cpu"))
    model.load_state(state)
    reference = first.generator.state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in model.ema_generator.state_dict().items())


def test_sample_grid_rows_are_photo_generated_map(tmp_path):
    from PIL import Image

    from geotrans.model.generator import build_generator
    from geotrans.training.report import sample_pairs, write_sample_grid

    pairs = sample_pairs(MAPS_PAIRS, 2)
    assert len(pairs) == 2 and sample_pairs(tmp_path / "missing", 2) == []
    generator = build_generator(ngf=8).train()
    write_sample_grid(generator, pairs, tmp_path / "samples.png", torch.device("cpu"))
    grid = np.asarray(Image.open(tmp_path / "samples.png")).transpose(2, 0, 1)
    assert grid.shape == (3, 2 * 600, 3 * 600)
    for row, (photo, real_map) in enumerate(pairs):
        band = grid[:, row * 600:(row + 1) * 600]
        assert np.array_equal(band[..., :600], photo) and np.array_equal(band[..., 1200:], real_map)
        generated = band[..., 600:1200]
        assert not np.array_equal(generated, photo) and not np.array_equal(generated, real_map)
    assert generator.training  # the run goes on training after the samples


def test_dark_land_darkens_a_new_york_photos_land_not_its_water():
    """The photo's land (what the real map does not draw as water) gets darker; water and the map stay."""
    photo, map_ = read_aligned(MAPS_PAIRS.parent / "maps_water" / "23.jpg")  # half water
    plain, dark = (PairSet([photo[:, :300, :300]], [map_[:, :300, :300]], seed=2, augment=Augment(flips=False, **kw))
                   for kw in ({}, {"dark_land": 1.0}))
    (ps, pt), (ds, dt) = plain.sample(0, 0), dark.sample(0, 0)
    assert torch.equal(pt, dt)
    rgb = ((pt + 1) * 127.5).round().to(torch.uint8).numpy()
    water = torch.from_numpy(near_colour(rgb, (176, 208, 252), 15))
    pool = torch.nn.functional.max_pool2d
    land = pool(water.float()[None, None], 11, stride=1, padding=5)[0, 0] == 0  # 5 px from any water
    sea = -pool(-water.float()[None, None], 11, stride=1, padding=5)[0, 0] > 0
    assert land.sum() > 500 and sea.sum() > 500
    ps, ds = (ps + 1) * 127.5, (ds + 1) * 127.5
    assert torch.allclose(ds[:, sea], ps[:, sea], atol=1.0)
    assert float(ds[:, land].mean() / ps[:, land].mean()) < 0.76


def test_dark_vegetation_darkens_only_the_green_land_of_a_new_york_photo():
    """With dark_of "vegetation", a photo's trees darken and its streets and roofs keep their brightness;
    dark land darkens both by the same drawn factor."""
    photo, map_ = read_aligned(MAPS_PAIRS / "1.jpg")  # streets, roofs and street trees
    plain, land, green = (PairSet([photo[:, :300, :300]], [map_[:, :300, :300]], seed=2,
                                  augment=Augment(flips=False, **kw))
                          for kw in ({}, {"dark_land": 1.0}, {"dark_land": 1.0, "dark_of": "vegetation"}))
    (ps, pt), (ls, _), (gs, gt) = plain.sample(0, 0), land.sample(0, 0), green.sample(0, 0)
    assert torch.equal(pt, gt)
    ps, ls, gs = ((x + 1) * 127.5 for x in (ps, ls, gs))
    green_share = torch.nn.functional.avg_pool2d(((2 * ps[1] - ps[0] - ps[2]) > 8).float()[None, None], 9, stride=1,
                                                 padding=4, count_include_pad=False)[0, 0]
    leafy, grey = green_share > 0.9, green_share < 0.02  # well inside trees, and well away from any
    assert leafy.sum() > 1000 and grey.sum() > 1000

    def ratio(sample, where):
        return float(sample[:, where].mean() / ps[:, where].mean())

    assert ratio(ls, leafy) < 0.76 and abs(ratio(gs, leafy) - ratio(ls, leafy)) < 0.05
    assert ratio(gs, grey) > 0.98 and ratio(ls, grey) < 0.76
    with pytest.raises(ValueError, match="dark_of"):
        Augment(dark_of="forest")


def test_a_soup_is_the_weighted_mean_of_its_parts_and_keeps_any_parts_licence(tmp_path):
    """Three random narrow generators (weights need no training to be averaged)."""
    from safetensors.torch import load_file

    from geotrans.model.generator import build_generator
    from geotrans.model.weights import read_model_info, save_generator
    from training.experiments.soup import soup, soup_card

    paths = []
    for seed, card in ((0, {"style": "a"}), (1, {}), (2, {"licence": "CC BY-NC-SA 4.0 as a whole"})):
        torch.manual_seed(seed)
        paths.append(tmp_path / f"m{seed}.safetensors")
        save_generator(build_generator(ngf=8), paths[-1], name=f"m{seed}", card=card)
    net, info, parts = soup([(str(paths[0]), 2.0), (str(paths[1]), 1.0), (str(paths[2]), 1.0)])
    stored = [load_file(p) for p in paths]
    key = next(k for k in stored[0] if k.endswith("weight"))
    mean = 0.5 * stored[0][key].float() + 0.25 * stored[1][key].float() + 0.25 * stored[2][key].float()
    assert torch.allclose(net.state_dict()[key].float(), mean, atol=1e-3)
    assert [(p["model"], p["weight"]) for p in parts] == [("m0", 0.5), ("m1", 0.25), ("m2", 0.25)]
    assert parts[0]["sha256"] == read_model_info(paths[0]).sha256
    card = soup_card(info.card, "s", parts)
    assert card["style"] == "a" and card["name"] == "s" and card["soup_of"] == parts
    assert card["licence"] == "CC BY-NC-SA 4.0 as a whole"  # the third part's, though the card is the first's
    assert "licence" not in soup_card(info.card, "s", parts[:2])
