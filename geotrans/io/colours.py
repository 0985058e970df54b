"""A scene's colours as the model will read them (``geotrans.model.colours.Colours``), over the valid pixels,
in the 0-255 range the model's input has (after the band plan's stretch). A scene is sampled by windows
spread evenly over it, so the read is bounded however large the scene.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from rasterio.windows import Window

from geotrans.io.bands import BandPlan, usable_values
from geotrans.model.colours import Colours, photo_colours

SAMPLES = 8  # windows a side spread over a large scene
WINDOW = 128  # px a side of each window
WHOLE_SIDE = SAMPLES * WINDOW  # a scene no larger than this is read whole


def sample_windows(width: int, height: int) -> list[Window]:
    """The windows a scene's colours are measured on: the whole scene when small, else ``SAMPLES`` a side of
    ``WINDOW`` px, evenly spread."""
    if width <= WHOLE_SIDE and height <= WHOLE_SIDE:
        return [Window(0, 0, width, height)]

    def starts(size: int) -> list[int]:
        side = min(WINDOW, size)
        return sorted({round(i * (size - side) / max(1, SAMPLES - 1)) for i in range(SAMPLES)})

    return [Window(col, row, min(WINDOW, width), min(WINDOW, height))
            for row in starts(height) for col in starts(width)]


def scene_colours(ds, plan: BandPlan) -> Optional[Colours]:
    """The open scene's colours as the model reads them (``plan``'s bands and stretch), over its valid pixels;
    None when the windows hold none."""
    pieces, masks = [], []
    for window in sample_windows(ds.width, ds.height):
        data = ds.read(list(plan.bands), window=window)
        valid = (ds.read_masks(plan.bands[0], window=window) > 0) & usable_values(data)
        pieces.append(np.asarray(plan.to_uint8_range(data), dtype=np.float32).reshape(3, -1))
        masks.append(valid.ravel())
    return photo_colours(np.concatenate(pieces, axis=1)[:, :, None], np.concatenate(masks)[:, None])
