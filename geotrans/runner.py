"""Batch runner: pushes batches of tiles through the generator on the chosen device."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from torch import nn

from geotrans.errors import GeotransError
from geotrans.tiler import Tile

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class Batch:
    """Tiles and their model input: pixels (n, 3, T, T) float32 in [-1, 1], validity per tile."""

    tiles: list[Tile] = field(default_factory=list)
    pixels: list[np.ndarray] = field(default_factory=list)
    valid: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tiles)

    def append(self, tile: Tile, pixels: np.ndarray, valid: np.ndarray) -> None:
        self.tiles.append(tile)
        self.pixels.append(pixels)
        self.valid.append(valid)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available and otherwise the CPU, saying so once."""
    if name not in DEVICES:
        raise GeotransError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise GeotransError("--device cuda was asked for, but torch sees no CUDA device")
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        else:
            log.warning("no CUDA device found; running on the CPU")
            name = "cpu"
    return torch.device(name)


def tile_seed(seed: int, tile: Tile) -> int:
    """A dropout seed of its own for each tile, so noise does not depend on batching."""
    return (seed * 1_000_003 + tile.row) * 1_000_003 + tile.col & (2**62 - 1)


class BatchRunner:
    """Runs the generator under ``inference_mode``, with mixed precision on CUDA.

    With ``dropout_seed`` set, the generator keeps the paper's test-time dropout,
    seeded per tile so that runs repeat; otherwise inference is deterministic.
    """

    def __init__(self, generator: nn.Module, device: torch.device, dropout_seed: Optional[int] = None):
        self.device = device
        self.generator = generator.to(device).eval()
        self.dropout_seed = dropout_seed
        self.tiles_run = 0
        if device.type == "cuda":
            self.generator = self.generator.to(memory_format=torch.channels_last)
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            self.amp_dtype = None

    def run(self, batch: Batch) -> np.ndarray:
        """Generator output for ``batch`` as (n, 3, T, T) float32 in [-1, 1]."""
        stacked = torch.from_numpy(np.stack(batch.pixels))
        if self.device.type == "cuda":
            stacked = stacked.pin_memory().to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        seeds = [tile_seed(self.dropout_seed, t) for t in batch.tiles] if self.dropout_seed is not None else None
        with torch.inference_mode(), torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.bfloat16, enabled=self.amp_dtype is not None
        ):
            out = self.generator(stacked, dropout_seeds=seeds) if seeds is not None else self.generator(stacked)
        self.tiles_run += len(batch)
        return out.float().cpu().numpy()
