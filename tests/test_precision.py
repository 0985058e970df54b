"""Precision: bf16 only where the hardware has it natively, fp32 on request."""
import numpy as np
import pytest
import torch

from geotrans.model.precision import Precision, cpu_has_native_bf16, resolve_precision


def test_auto_takes_bf16_only_on_cpus_with_native_bf16():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu, native_bf16=lambda: True).name == "bf16"
    assert resolve_precision("auto", cpu, native_bf16=lambda: False).name == "fp32"


def test_explicit_precisions_are_kept_and_fp16_is_refused_on_the_cpu():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu, native_bf16=lambda: True).name == "fp32"
    assert resolve_precision("bf16", cpu, native_bf16=lambda: False).name == "bf16"
    with pytest.raises(ValueError, match="CUDA"):
        resolve_precision("fp16", cpu)
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("int8", cpu)


def test_autocast_runs_convolutions_in_the_chosen_dtype():
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.rand(1, 3, 8, 8)
    with Precision("bf16", "cpu").autocast():
        assert conv(x).dtype == torch.bfloat16
    with Precision("fp32", "cpu").autocast():
        assert conv(x).dtype == torch.float32


def test_native_bf16_detection_answers_a_bool():
    assert isinstance(cpu_has_native_bf16(), bool)


def test_auto_on_the_cpu_follows_the_measured_switch():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu, native_bf16=lambda: True, cpu_bf16=False).name == "fp32"
    assert resolve_precision("auto", cpu, native_bf16=lambda: True, cpu_bf16=True).name == "bf16"
    assert resolve_precision("bf16", cpu, native_bf16=lambda: False, cpu_bf16=False).name == "bf16"


def test_fp32_inference_equals_a_plain_forward_pass(tmp_path):
    """One 256 px tile of a real scene: the map must be exactly the generator's fp32 output, rounded."""
    import numpy as np
    import rasterio
    from helpers import KOREA, crop, run_scene
    from rasterio.windows import Window

    from geotrans.model.generator import build_generator, from_model_range, to_model_range
    from geotrans.run.options import RunOptions

    src = crop(KOREA, Window(300, 300, 256, 256), tmp_path / "tile.tif")
    torch.manual_seed(1)
    net = build_generator(ngf=8).eval()
    run_scene(src, tmp_path / "map.tif", net, RunOptions(precision="fp32", device="cpu"))
    with rasterio.open(src) as ds:
        pixels = ds.read()
    with torch.no_grad():
        expected = from_model_range(net(torch.from_numpy(to_model_range(pixels))[None])[0].numpy())
    with rasterio.open(tmp_path / "map.tif") as out:
        assert np.array_equal(out.read(), expected)


def test_the_runner_runs_the_model_in_the_resolved_dtype(monkeypatch):
    import geotrans.run.runner
    from geotrans.io.tiler import Tile
    from geotrans.model.generator import build_generator
    from geotrans.run.runner import Batch, BatchRunner

    seen = []
    net = build_generator(ngf=8)
    net.head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    batch = Batch()
    batch.append(Tile(0, 0, 256, 256), np.zeros((3, 256, 256), np.float32), np.ones((256, 256), bool))
    BatchRunner(net, torch.device("cpu"), precision="fp32").run(batch)
    BatchRunner(net, torch.device("cpu"), precision="bf16").run(batch)
    assert seen == [torch.float32, torch.bfloat16]
    monkeypatch.setattr(geotrans.run.runner, "CPU_INFERENCE_BF16", False)
    assert BatchRunner(net, torch.device("cpu")).precision.name == "fp32"


def test_a_tile_s_bf16_output_does_not_depend_on_its_batch_companions():
    """Real Korea tiles, the shipped model: one batch of 5 against five batches of 1, bit for bit. With this,
    a split run (strips batch tiles differently) equals a serial run in bf16 too."""
    from helpers import KOREA

    from geotrans.model.weights import load_generator
    from geotrans.run.pipeline import read_batches
    from geotrans.run.plan import plan_run
    from geotrans.run.runner import Batch, BatchRunner

    generator, info = load_generator()
    tiles = [t for batch in read_batches(plan_run(KOREA)) for t in zip(batch.tiles, batch.pixels, batch.valid)][:5]
    runner = BatchRunner(generator, torch.device("cpu"), precision="bf16")
    together = Batch()
    for tile in tiles:
        together.append(*tile)
    alone = []
    for tile in tiles:
        single = Batch()
        single.append(*tile)
        alone.append(runner.run(single)[0])
    assert np.array_equal(runner.run(together), np.stack(alone))
