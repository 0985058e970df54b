"""Batch runner: forms batches of tiles and pushes them through the generator on the chosen device.

``batched`` is the batching policy, a plain generator. ``run_stages`` runs the
stages: reading in a background thread with its own rasterio handle, the
generator, and whatever the caller does with each result (blending and writing,
in the calling thread), with bounded queues between. On an accelerator the
generator runs in a thread of its own, so the CPU reads and blends while it
computes; on the CPU its threads already take every core, and it runs in the
caller's thread, in turn with blending.
"""
from __future__ import annotations

import copy
import importlib.util
import logging
import os
import shutil
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator, Optional

import numpy as np
import torch
from torch import nn

from geotrans.errors import InputError
from geotrans.io.tiler import Tile
from geotrans.model.choices import DEVICES
from geotrans.model.generator import to_model_range
from geotrans.model.precision import CPU_INFERENCE_BF16, resolve_precision
from geotrans.run.background import background
from geotrans.run.options import RunOptions

log = logging.getLogger(__name__)

QUEUE_DEPTH = 2  # batches in flight between stages


@dataclass
class Batch:
    """Tiles and their model input: pixels (3, T, T) per tile as 0..255 values (uint8, or float32 where
    stretched or filled), validity per tile; ``skipped`` counts the tiles left out since the previous batch
    (for progress)."""

    tiles: list[Tile] = field(default_factory=list)
    pixels: list[np.ndarray] = field(default_factory=list)
    valid: list[np.ndarray] = field(default_factory=list)
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.tiles)

    def append(self, tile: Tile, pixels: np.ndarray, valid: np.ndarray) -> None:
        self.tiles.append(tile)
        self.pixels.append(pixels)
        self.valid.append(valid)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available and otherwise the CPU, saying so once."""
    if name not in DEVICES:
        raise InputError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("the CUDA device asked for is not there: torch sees no CUDA device")
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        else:
            log.info("no CUDA device found; running on the CPU")
            name = "cpu"
    return torch.device(name)


def resolved(options: RunOptions) -> RunOptions:
    """``options`` with the device and the precision decided for this machine (each said once), so that the
    map's tags and a folder run's resume fingerprints record what ran, not "auto"."""
    device = resolve_device(options.device)
    try:
        precision = resolve_precision(options.precision, device, cpu_bf16=CPU_INFERENCE_BF16)
    except ValueError as err:
        raise InputError(str(err)) from None
    if options.compile:
        check_compiler(device)
    return replace(options, device=device.type, precision=precision.name)


def check_compiler(device: torch.device) -> None:
    """Raise InputError unless ``torch.compile`` can build kernels for ``device``: inductor needs a C++
    compiler for the CPU (``$CXX``, else g++) and Triton for CUDA."""
    if device.type == "cuda":
        if importlib.util.find_spec("triton") is None:
            raise InputError("{compile} on CUDA needs Triton (pip install triton); run without {compile}",
                             options=["compile"])
        return
    compiler = os.environ.get("CXX") or "g++"
    if shutil.which(compiler) is None:
        raise InputError(f"{{compile}} on the CPU needs a C++ compiler and {compiler} was not found "
                         "(install g++ or set CXX); run without {compile}", options=["compile"])


def padded(images: torch.Tensor, size: int) -> torch.Tensor:
    """``images`` (n, ...) with zero images appended up to ``size``, so a compiled generator always sees one
    batch shape (a new shape would compile again); outputs beyond n are dropped by the caller."""
    missing = size - images.shape[0]
    if missing <= 0:
        return images
    return torch.cat([images, images.new_zeros((missing, *images.shape[1:]))])


def tile_seed(seed: int, tile: Tile) -> int:
    """A dropout seed of its own for each tile, so noise does not depend on batching."""
    return (seed * 1_000_003 + tile.row) * 1_000_003 + tile.col & (2**62 - 1)


D4 = tuple((flip, turns) for flip in (False, True) for turns in range(4))  # the 8 flips and rotations


def d4(images: torch.Tensor, flip: bool, turns: int) -> torch.Tensor:
    """(n, c, T, T) images mirrored left-right (if ``flip``), then turned ``turns`` quarter turns."""
    return torch.rot90(images.flip(-1) if flip else images, turns, dims=(-2, -1))


def d4_inverse(images: torch.Tensor, flip: bool, turns: int) -> torch.Tensor:
    """Undoes :func:`d4` with the same arguments."""
    turned = torch.rot90(images, -turns, dims=(-2, -1))
    return turned.flip(-1) if flip else turned


class BatchRunner:
    """Runs the generator under ``inference_mode`` in the resolved precision (``geotrans.model.precision``).

    With ``dropout_seed`` set, the generator keeps the paper's test-time dropout,
    seeded per tile so that runs repeat; otherwise inference is deterministic.
    With ``tta``, each tile's output is the mean over the 8 flips and rotations of
    the tile (each output turned back first): 8 times the generator's work.
    With ``compile``, the generator runs through ``torch.compile`` with the weights
    frozen into the graph: it builds once per process (up to 40 s on a CPU, a few
    seconds with inductor's on-disk cache warm), then runs faster; every batch is padded to ``batch_size`` so that it
    builds only once. Its output differs from eager's by float rounding.
    """

    def __init__(self, generator: nn.Module, device: torch.device, dropout_seed: Optional[int] = None,
                 precision: str = "auto", tta: bool = False, compile: bool = False, batch_size: int = 8):
        self.device = device
        self.generator = generator.to(device).eval()
        self.dropout_seed = dropout_seed
        self.tta = tta
        self.batch_size = batch_size
        self.tiles_run = 0
        try:
            self.precision = resolve_precision(precision, device, cpu_bf16=CPU_INFERENCE_BF16)
        except ValueError as err:
            raise InputError(str(err)) from None
        if compile and dropout_seed is not None:
            raise ValueError("a compiled generator runs without dropout: give compile or dropout_seed, not both")
        log.info("running the generator in %s on %s%s", self.precision.name, device,
                 ", compiled (the first batch builds it)" if compile else "")
        if device.type == "cuda":
            self.generator = self.generator.to(memory_format=torch.channels_last)
        self.model = self.generator
        if compile:
            check_compiler(device)
            self.model = torch.compile(self.generator, options={"freezing": True})
        self.compiled = compile

    def running(self, generator: nn.Module) -> "BatchRunner":
        """A runner of ``generator`` with this one's device, precision and options (not compiled), said once:
        for scoring a second model (a tuned one against its base) without a second set of log lines."""
        if self.compiled:
            raise ValueError("a compiled runner's generator cannot be swapped")
        other = copy.copy(self)
        other.generator = other.model = generator.to(self.device).eval()
        if self.device.type == "cuda":
            other.generator = other.model = other.generator.to(memory_format=torch.channels_last)
        other.tiles_run = 0
        return other

    @classmethod
    def for_options(cls, generator: nn.Module, device: torch.device, options: RunOptions) -> "BatchRunner":
        """The runner that ``options`` asks for."""
        return cls(generator, device, options.dropout_seed, options.precision, options.tta, options.compile,
                   options.batch_size)

    def run(self, batch: Batch) -> np.ndarray:
        """Generator output for ``batch`` as (n, 3, T, T) float32 in [-1, 1]."""
        stacked = torch.from_numpy(np.stack(batch.pixels))
        if self.device.type == "cuda":
            stacked = stacked.pin_memory().to(self.device, non_blocking=True)
            stacked = stacked.contiguous(memory_format=torch.channels_last)
        stacked = to_model_range(stacked)  # here, on every core (or the GPU), not in the reader
        seeds = [tile_seed(self.dropout_seed, t) for t in batch.tiles] if self.dropout_seed is not None else None
        try:
            if self.compiled:
                stacked = padded(stacked, self.batch_size)
            with torch.inference_mode(), self.precision.autocast():
                if self.tta:
                    out = sum(d4_inverse(self._forward(d4(stacked, *t), seeds).float(), *t) for t in D4) / len(D4)
                else:
                    out = self._forward(stacked, seeds)
        except RuntimeError as err:  # the CPU allocator's refusal (CUDA's is OutOfMemoryError, retried by folders)
            if "can't allocate memory" not in str(err):
                raise
            raise InputError(f"a batch of {self.batch_size if self.compiled else len(batch)} tiles does not fit "
                             "in this machine's memory", hint="lower --batch-size") from None
        self.tiles_run += len(batch)
        return out[:len(batch)].float().cpu().numpy()

    def _forward(self, images: torch.Tensor, seeds: Optional[list[int]]) -> torch.Tensor:
        return self.generator(images, dropout_seeds=seeds) if seeds is not None else self.model(images)


def batched(reads: Iterable[tuple[Tile, Optional[tuple[np.ndarray, np.ndarray]]]], batch_size: int) -> Iterator[Batch]:
    """Batches of up to ``batch_size`` tiles from (tile, (pixels, valid)) pairs; a pair whose read is
    None is a skipped tile, counted in the next batch (a last batch may hold only skipped tiles)."""
    batch = Batch()
    for tile, read in reads:
        if read is None:
            batch.skipped += 1
            continue
        batch.append(tile, *read)
        if len(batch) == batch_size:
            yield batch
            batch = Batch()
    if len(batch) or batch.skipped:
        yield batch


def run_stages(batches: Iterator[Batch], runner: BatchRunner, depth: int = QUEUE_DEPTH,
               overlap: Optional[bool] = None) -> Iterator[tuple[Batch, Optional[np.ndarray]]]:
    """(batch, generator output) pairs, with ``batches`` produced in a background thread. With ``overlap``
    (by default: on an accelerator) the generator runs in another thread, so the caller's work overlaps it;
    otherwise (the CPU) it runs here, when the caller asks for the next pair (blending beside it would
    stall its threads)."""
    def generate() -> Iterator[tuple[Batch, Optional[np.ndarray]]]:
        for batch in background(batches, depth, name="geotrans-reader"):
            yield batch, runner.run(batch) if len(batch) else None

    if not (runner.device.type != "cpu" if overlap is None else overlap):
        return generate()
    return background(generate(), depth, name="geotrans-model")
