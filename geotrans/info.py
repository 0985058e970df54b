"""What `geotrans run` would do with a scene: a RunPlan, formatted, without running the model on it.

The time estimate comes from short measurements on this machine: a generator of
the model's width (random weights: the cost does not depend on them) runs a few
batches of tiles, a few of the plan's own windows are read (decoding, resampling
and filling nodata cost as much as the generator on some scenes), and a small
map file is written and finished. On a CPU the stages share the cores, so their
costs add.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from affine import Affine

from geotrans.model import UnetGenerator
from geotrans.output import GeoTiffSink
from geotrans.plan import RunPlan
from geotrans.precision import CPU_INFERENCE_BF16, resolve_precision
from geotrans.runner import resolve_device
from geotrans.scene import SceneReader

WARMUP_BATCHES = 5  # timed; the fastest counts
READ_SAMPLES = 6  # windows of the plan read to time reading


@dataclass(frozen=True)
class Rates:
    """What a run costs on this machine: the generator's rate, the seconds to read a window, and the seconds
    every run spends before its first tile and on its file (creating, finishing with overviews, verifying)."""

    tiles_per_second: float
    read_seconds: float = 0.0
    start_seconds: float = 0.0  # the generator's first use and the map file's fixed costs

    @property
    def seconds_per_tile(self) -> float:
        return 1 / self.tiles_per_second + self.read_seconds


def measure_generator(ngf: int, device: str = "auto", batch_size: int = 8, tile_size: int = 256,
                      precision: str = "auto") -> tuple[float, float]:
    """(tiles per second, first-use seconds) of a width-``ngf`` generator on this machine, in ``precision`` as
    a run resolves it: the fastest of a few timed batches, and what the first batch took beyond that (a run
    pays it too: kernels are chosen and memory is first touched)."""
    torch_device = resolve_device(device)
    net = UnetGenerator(ngf=ngf).to(torch_device).eval()
    tiles = torch.zeros(batch_size, 3, tile_size, tile_size, device=torch_device)
    autocast = resolve_precision(precision, torch_device, cpu_bf16=CPU_INFERENCE_BF16).autocast()
    seconds = []
    with torch.inference_mode(), autocast:
        for _ in range(1 + WARMUP_BATCHES):
            started = time.perf_counter()
            net(tiles)
            if torch_device.type == "cuda":
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - started)
    steady = min(seconds[1:])  # first uses and other processes only slow batches down
    return batch_size / steady, seconds[0] - steady


def measure_tiles_per_second(ngf: int, device: str = "auto", batch_size: int = 8, precision: str = "auto") -> float:
    """Tiles per second of a width-``ngf`` generator on this machine (``measure_generator``)."""
    return measure_generator(ngf, device, batch_size, precision=precision)[0]


def measure_read_seconds(plan: RunPlan, samples: int = READ_SAMPLES) -> float:
    """Seconds to read one of the plan's windows, timed on up to ``samples`` of them spread over the scene."""
    touching = [tile for tile in plan.tiles if plan.scene.touches(tile)]
    if not touching:
        return 0.0
    chosen = touching[::max(1, len(touching) // samples)][:samples]
    with SceneReader(plan.scene, plan.tiles.tile) as reader:
        started = time.perf_counter()
        for tile in chosen:
            reader.read(tile)
        return (time.perf_counter() - started) / len(chosen)


def measure_file_seconds(size: int = 512) -> float:
    """Seconds to create, fill, finish and verify a ``size`` x ``size`` map in a temporary folder."""
    grid = {"crs": "EPSG:3857", "transform": Affine(1.0, 0, 0, 0, -1.0, size), "width": size, "height": size}
    pixels = np.broadcast_to(np.arange(size, dtype=np.uint8), (3, size, size)).copy()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        sink = GeoTiffSink(Path(folder) / "probe.tif", grid, write_mask=True)
        sink.write_pixels(0, pixels, np.ones((size, size), bool))
        sink.commit()
        return time.perf_counter() - started


def measure_rates(plan: RunPlan, ngf: int, device: str = "auto") -> Rates:
    """The generator's rate at width ``ngf`` in the plan's precision, the plan's read cost and a map file's
    cost, all measured now."""
    tiles_per_second, first_use = measure_generator(ngf, device, plan.options.batch_size,
                                                    precision=plan.options.precision)
    return Rates(tiles_per_second, measure_read_seconds(plan), first_use + measure_file_seconds())


def estimate_seconds(plan: RunPlan, rates: Optional[Rates]) -> Optional[float]:
    """The plan's windows at ``rates``; None without rates."""
    return None if rates is None else rates.start_seconds + plan.tiles_to_run * rates.seconds_per_tile


def describe(plan: RunPlan, rates: Optional[Rates] = None) -> list[str]:
    """The plan as the lines `geotrans info` prints."""
    scene, profile = plan.scene, plan.scene.profile
    crs = profile["crs"].to_string() if profile["crs"] else "no CRS"
    seconds = estimate_seconds(plan, rates)
    estimate = (f"~{seconds:.0f} s: the generator at {rates.tiles_per_second:.1f} tiles/s and "
                f"{rates.read_seconds * 1000:.0f} ms to read a window, measured on this machine "
                f"({os.cpu_count()} CPU cores or its GPU) with the model's width"
                if seconds is not None else "unknown (no model)")
    processing_pixels = scene.grid.width * scene.grid.height
    lines = [
        f"scene        {plan.src}",
        f"size         {profile['width']} x {profile['height']} px, {profile['dtype']}, {crs}",
        f"resolution   {scene.grid.describe()}",
        f"bands        {scene.band_plan.describe()}",
        f"valid        {scene.footprint.area / processing_pixels:.1%} of the processing grid",
        f"windows      {plan.tiles_to_run} to run, {len(plan.tiles) - plan.tiles_to_run} to skip "
        f"(of {len(plan.tiles)})",
        f"estimate     {estimate}",
    ]
    if plan.model_info is None:
        lines.append("model        none installed; ground resolution not compared")
    return lines
