"""A quick-look PNG: input | output side by side, small enough to glance at."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning

from geotrans.io.files import atomic_path, output_lock
from geotrans.io.targets import Target, check_target
from geotrans.run.plan import RunPlan

GAP = 8


def write_preview(plan: RunPlan, output: str | os.PathLike, png: str | os.PathLike, max_side: int = 512,
                  overwrite: bool = False) -> Path:
    """Write ``png``: the plan's scene (bands and stretch as the model saw them) beside its map at
    ``output``, decimated from overviews to at most ``max_side`` px per panel; invalid pixels are white. One
    writer at a time (the map's lock), and the write rule checked again under it: another run may have written
    ``png`` since the run began."""
    scene = plan.scene
    width, height = scene.profile["width"], scene.profile["height"]  # the scene's own grid
    scale = min(1.0, max_side / max(width, height))
    shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    with rasterio.open(scene.path) as src:
        photo = scene.band_plan.to_uint8_range(src.read(scene.bands, out_shape=(3, *shape),
                                                        resampling=Resampling.average))
        photo_valid = src.dataset_mask(out_shape=shape) > 0
    with rasterio.open(output) as out:
        drawn = out.read(out_shape=(3, *shape), resampling=Resampling.average).astype(np.float32)
        drawn_valid = out.dataset_mask(out_shape=shape) > 0
    panels = []
    for pixels, valid in ((photo, photo_valid), (drawn, drawn_valid)):
        panel = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
        panel[:, ~valid] = 255
        panels.append(panel)
    gap = np.full((3, shape[0], GAP), 255, np.uint8)
    image = np.concatenate([panels[0], gap, panels[1]], axis=2)
    with output_lock(png):
        check_target(Target(png, "preview"), files=[], overwrite=overwrite)  # inputs were checked at the start
        _write_locked(png, image)
    return Path(png)


def _write_locked(png, image: np.ndarray) -> None:
    with atomic_path(png) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a PNG quick look has no georeferencing
        _write_png(tmp, image)


def _write_png(path: Path, image: np.ndarray) -> None:
    with rasterio.open(path, "w", driver="PNG", width=image.shape[2], height=image.shape[1], count=3,
                       dtype="uint8") as dst:
        dst.write(image)
