"""The batch runner: batching and skip accounting as a plain generator, stages on threads, devices."""
import threading

import numpy as np
import pytest
import torch
from helpers import IdentityGenerator

from geotrans.errors import InputError
from geotrans.io.tiler import Tile, TileGrid
from geotrans.model.generator import to_model_range
from geotrans.run.runner import Batch, BatchRunner, batched, resolve_device, run_stages


def reads(n, skip=()):
    pixels = np.zeros((3, 256, 256), np.uint8)
    valid = np.ones((256, 256), bool)
    for tile in list(TileGrid(256 * n, 256, 256, 0)):
        yield tile, None if tile.index in skip else (pixels + tile.index, valid)


def test_batches_hold_up_to_batch_size_tiles_and_count_the_skipped():
    batches = list(batched(reads(7, skip={1, 2, 6}), 2))
    assert [[t.index for t in b.tiles] for b in batches] == [[0, 3], [4, 5], []]
    assert [b.skipped for b in batches[:2]] == [2, 0]
    assert len(batches) == 3 and len(batches[2]) == 0 and batches[2].skipped == 1  # tile 6: skipped last
    everything = list(batched(reads(7, skip={6}), 3))
    assert [len(b) for b in everything] == [3, 3, 0] and everything[-1].skipped == 1
    assert sum(len(b) + b.skipped for b in everything) == 7


def test_stages_return_every_batch_in_order_with_its_output():
    runner = BatchRunner(IdentityGenerator(), torch.device("cpu"))
    results = list(run_stages(batched(reads(9, skip={4}), 2), runner))
    order = [t.index for batch, _ in results for t in batch.tiles]
    assert order == [0, 1, 2, 3, 5, 6, 7, 8]
    for batch, outputs in results:
        for tile, output in zip(batch.tiles, outputs):
            assert np.all(output == to_model_range(np.array(tile.index, np.uint8)))  # identity: its own pixels came back
    assert runner.tiles_run == 8


def test_the_runner_brings_8_bit_and_stretched_pixels_into_the_model_range_as_numpy_does():
    rng = np.random.default_rng(0)
    eight_bit = rng.integers(0, 256, (3, 256, 256), dtype=np.uint8)
    stretched = rng.uniform(0, 255, (3, 256, 256)).astype(np.float32)
    batch = Batch()
    for pixels in (eight_bit, stretched):
        batch.append(Tile(0, 0, 256, 256), pixels, np.ones((256, 256), bool))
    out = BatchRunner(IdentityGenerator(), torch.device("cpu"), precision="fp32").run(batch)
    assert out.dtype == np.float32
    assert np.array_equal(out[0], to_model_range(eight_bit)) and np.array_equal(out[1], to_model_range(stretched))


class ThreadRecorder:
    """Stands in for a BatchRunner on ``device``; records the thread each batch ran in."""

    def __init__(self, device):
        self.device, self.threads = torch.device(device), []

    def run(self, batch):
        self.threads.append(threading.current_thread().name)
        return np.zeros((len(batch), 3, 256, 256), np.float32)


@pytest.mark.parametrize("device, in_caller", [("cpu", True), ("meta", False)])
def test_the_generator_runs_in_the_caller_on_the_cpu_and_beside_it_on_an_accelerator(device, in_caller):
    """On the CPU the generator's threads take every core, so blending (the caller) waits for it; on an
    accelerator a thread of its own lets the caller blend meanwhile. Reading is always in the background."""
    runner = ThreadRecorder(device)
    readers = []

    def batches():
        for batch in batched(reads(4), 2):
            readers.append(threading.current_thread().name)
            yield batch

    assert len(list(run_stages(batches(), runner))) == 2
    assert set(readers) == {"geotrans-reader"}
    assert (set(runner.threads) == {threading.current_thread().name}) == in_caller
    assert in_caller or set(runner.threads) == {"geotrans-model"}


def test_a_read_error_reaches_the_caller_and_stops_the_stages():
    def failing():
        yield from batched(reads(2), 1)
        raise InputError("scene.tif: read failed")

    runner = BatchRunner(IdentityGenerator(), torch.device("cpu"))
    with pytest.raises(InputError, match="read failed"):
        list(run_stages(failing(), runner))


def test_empty_batches_of_skipped_tiles_never_reach_the_model():
    class Refusing(torch.nn.Module):
        def forward(self, x, dropout_seeds=None):
            raise AssertionError("model called")

    results = list(run_stages(iter([Batch(skipped=3)]), BatchRunner(Refusing(), torch.device("cpu"))))
    assert results[0][1] is None and results[0][0].skipped == 3


def test_devices():
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA"):
            resolve_device("cuda")
