"""What `geotrans run` would do with a scene: a RunPlan, formatted, without running the model on it.

The time estimate comes from a short warm-up on this machine: a generator of
the model's width (random weights: the cost does not depend on them) runs a few
batches of tiles, and the plan's windows are divided by the measured rate.
"""
from __future__ import annotations

import os
import time
from typing import Optional

import torch

from geotrans.model import UnetGenerator
from geotrans.plan import RunPlan
from geotrans.runner import resolve_device

WARMUP_BATCHES = 2


def measure_tiles_per_second(ngf: int, device: str = "auto", batch_size: int = 4, tile_size: int = 256) -> float:
    """Tiles per second of a width-``ngf`` generator on this machine (after one untimed batch)."""
    torch_device = resolve_device(device)
    net = UnetGenerator(ngf=ngf).to(torch_device).eval()
    tiles = torch.zeros(batch_size, 3, tile_size, tile_size, device=torch_device)
    with torch.inference_mode():
        net(tiles)
        started = time.perf_counter()
        for _ in range(WARMUP_BATCHES):
            net(tiles)
        if torch_device.type == "cuda":
            torch.cuda.synchronize()
    return WARMUP_BATCHES * batch_size / (time.perf_counter() - started)


def estimate_seconds(plan: RunPlan, tiles_per_second: Optional[float]) -> Optional[float]:
    """The plan's windows at ``tiles_per_second``; None without a rate."""
    return None if not tiles_per_second else plan.tiles_to_run / tiles_per_second


def describe(plan: RunPlan, tiles_per_second: Optional[float] = None) -> list[str]:
    """The plan as the lines `geotrans info` prints."""
    scene, profile = plan.scene, plan.scene.profile
    crs = profile["crs"].to_string() if profile["crs"] else "no CRS"
    seconds = estimate_seconds(plan, tiles_per_second)
    estimate = (f"~{seconds:.0f} s at {tiles_per_second:.1f} tiles/s, measured on this machine "
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
