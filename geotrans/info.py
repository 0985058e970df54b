"""What `geotrans run` would do with a scene: a RunPlan, formatted, without running the model."""
from __future__ import annotations

import os
from typing import Optional

from geotrans.plan import RunPlan

# Measured by bench/pipeline.py: 10.3 tiles/s for ngf 64 on 2 CPU cores. Compute grows with ngf squared.
CPU_TILES_PER_CORE_NGF64 = 5.1


def estimate_cpu_seconds(plan: RunPlan) -> Optional[float]:
    """A rough time for the plan's windows on this machine's CPU cores; None without a model."""
    if plan.model_info is None:
        return None
    rate = CPU_TILES_PER_CORE_NGF64 * (os.cpu_count() or 1) * (64 / plan.model_info.ngf) ** 2
    return plan.tiles_to_run / rate


def describe(plan: RunPlan) -> list[str]:
    """The plan as the lines `geotrans info` prints."""
    scene, profile = plan.scene, plan.scene.profile
    crs = profile["crs"].to_string() if profile["crs"] else "no CRS"
    seconds = estimate_cpu_seconds(plan)
    estimate = (f"~{seconds:.0f} s on this machine's {os.cpu_count()} CPU cores (rough; a GPU is far faster)"
                if seconds is not None else "unknown (no model width)")
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
