"""What `geotrans run` would do with a scene, worked out without running the model."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from geotrans.pipeline import RunOptions
from geotrans.scene import inspect_scene
from geotrans.tiler import TileGrid
from geotrans.weights import ModelInfo

# Measured by bench/pipeline.py: 10.3 tiles/s for ngf 64 on 2 CPU cores. Compute grows with ngf squared.
CPU_TILES_PER_CORE_NGF64 = 5.1


@dataclass(frozen=True)
class ScenePlan:
    path: str
    width: int
    height: int
    dtype: str
    crs: str
    scene_gsd_m: Optional[float]
    model_gsd_m: Optional[float]
    processing: str
    bands: str
    valid_fraction: float
    windows_total: int
    windows_to_run: int
    estimated_cpu_seconds: Optional[float]

    def lines(self) -> list[str]:
        est = (f"~{self.estimated_cpu_seconds:.0f} s on this machine's {os.cpu_count()} CPU cores (rough; a GPU is "
               "far faster)" if self.estimated_cpu_seconds is not None else "unknown (no model width)")
        return [
            f"scene        {self.path}",
            f"size         {self.width} x {self.height} px, {self.dtype}, {self.crs}",
            f"resolution   {self.processing}",
            f"bands        {self.bands}",
            f"valid        {self.valid_fraction:.1%} of the processing grid",
            f"windows      {self.windows_to_run} to run, {self.windows_total - self.windows_to_run} to skip "
            f"(of {self.windows_total})",
            f"estimate     {est}",
        ]


def plan_scene(path: str, options: RunOptions, model_info: Optional[ModelInfo]) -> ScenePlan:
    model_gsd = model_info.card.get("native_resolution_m") if model_info else None
    scene = inspect_scene(path, options.bands, model_gsd, options.gsd, options.allow_ungeoreferenced, options.aoi)
    grid = TileGrid(scene.height, scene.width, options.tile_size, options.overlap)
    to_run = sum(scene.touches(tile) for tile in grid)
    profile = scene.profile
    dtype, width, height = profile["dtype"], profile["width"], profile["height"]
    crs = profile["crs"].to_string() if profile["crs"] else "no CRS"
    seconds = None
    if model_info is not None:
        seconds = to_run / (CPU_TILES_PER_CORE_NGF64 * (os.cpu_count() or 1) * (64 / model_info.ngf) ** 2)
    return ScenePlan(path, width, height, dtype, crs, scene.grid.scene_gsd_m, model_gsd, scene.grid.describe(),
                     scene.plan.describe(), scene.footprint.area / (scene.width * scene.height), len(grid), to_run,
                     seconds)
