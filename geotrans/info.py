"""What `geotrans run` would do with a scene: a RunPlan, formatted, without running the model on it.

The time estimate comes from two short measurements on this machine: a generator
of the model's width (random weights: the cost does not depend on them) runs a
few batches of tiles, and a few of the plan's own windows are read (decoding,
resampling and filling nodata cost as much as the generator on some scenes).
On a CPU both stages share the cores, so their costs add.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Optional

import torch

from geotrans.model import UnetGenerator
from geotrans.plan import RunPlan
from geotrans.precision import CPU_INFERENCE_BF16, resolve_precision
from geotrans.runner import resolve_device
from geotrans.scene import SceneReader

WARMUP_BATCHES = 5  # timed; the fastest counts
READ_SAMPLES = 6  # windows of the plan read to time reading


@dataclass(frozen=True)
class Rates:
    """What one window costs on this machine: the generator's rate and the seconds to read a window."""

    tiles_per_second: float
    read_seconds: float = 0.0

    @property
    def seconds_per_tile(self) -> float:
        return 1 / self.tiles_per_second + self.read_seconds


def measure_tiles_per_second(ngf: int, device: str = "auto", batch_size: int = 4, tile_size: int = 256,
                             precision: str = "auto") -> float:
    """Tiles per second of a width-``ngf`` generator on this machine, in ``precision`` as a run resolves it:
    the fastest of a few timed batches, after one untimed one."""
    torch_device = resolve_device(device)
    net = UnetGenerator(ngf=ngf).to(torch_device).eval()
    tiles = torch.zeros(batch_size, 3, tile_size, tile_size, device=torch_device)
    autocast = resolve_precision(precision, torch_device, cpu_bf16=CPU_INFERENCE_BF16).autocast()
    seconds = []
    with torch.inference_mode(), autocast:
        net(tiles)
        for _ in range(WARMUP_BATCHES):
            started = time.perf_counter()
            net(tiles)
            if torch_device.type == "cuda":
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - started)
    return batch_size / min(seconds)  # the steady state: first uses and other processes only slow batches down


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


def measure_rates(plan: RunPlan, ngf: int, device: str = "auto") -> Rates:
    """The generator's rate at width ``ngf`` in the plan's precision, and the plan's read cost, both measured now."""
    return Rates(measure_tiles_per_second(ngf, device, precision=plan.options.precision), measure_read_seconds(plan))


def estimate_seconds(plan: RunPlan, rates: Optional[Rates]) -> Optional[float]:
    """The plan's windows at ``rates``; None without rates."""
    return None if rates is None else plan.tiles_to_run * rates.seconds_per_tile


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
