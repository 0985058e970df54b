"""Vegetation in its water's colour: an augmentation no shipped model uses (v5's recipe left it off), kept for
the research command line (``training.research``).

Dakota's crops are the colour of its green lakes (mean R, G, B 60, 86, 65 against 65, 92, 71 at 5 m); what
tells them apart is texture (twice the lakes' fine detail). A photo whose vegetation wears its water's colour
teaches that colour alone does not make water.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from geotrans.training.data import Augment, Changes, draw_factor, drawn_water, faded, green_of

MIN_SHARE = 0.02  # a photo needs this share of known water and of known vegetation to be recoloured


@dataclass(frozen=True)
class WaterColouredAugment(Augment):
    """``Augment`` plus ``water_coloured``: the probability that the photo's known vegetation takes the mean
    colour of its own water (``water_coloured_land``), keeping a share of its texture drawn in
    ``water_texture``."""

    water_coloured: float = 0.0
    water_texture: tuple[float, float] = (0.3, 1.0)  # the share of its texture recoloured vegetation keeps

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.water_coloured <= 1:
            raise ValueError("water_coloured must be a probability")
        if not (len(self.water_texture) == 2 and 0 <= self.water_texture[0] <= self.water_texture[1] <= 1):
            raise ValueError("water_texture must be two shares, low to high, in [0, 1]")

    def describe(self) -> str:
        if not self.water_coloured:
            return super().describe()
        low, high = self.water_texture
        return f"{super().describe()}, vegetation in its water's colour p={self.water_coloured:g} " \
               f"(texture x{low:g}-{high:g})"

    def draw(self, gen: torch.Generator) -> "WaterColouredChanges":
        """``Augment``'s changes, then (its last draw, so older recipes keep their samples) the texture."""
        changes = super().draw(gen)
        texture = draw_factor(self.water_coloured, tuple(self.water_texture), gen)
        return WaterColouredChanges(**changes.__dict__, recoloured_texture=texture)


@dataclass(frozen=True)
class WaterColouredChanges(Changes):
    recoloured_texture: Optional[float] = None  # vegetation in its water's colour, keeping this share of its texture

    def land_changed(self, photo: torch.Tensor, target: torch.Tensor, known: Optional[torch.Tensor]) -> torch.Tensor:
        """Dark land, then vegetation in its water's colour."""
        photo = super().land_changed(photo, target, known)
        if self.recoloured_texture:
            photo = water_coloured_land(photo, target, self.recoloured_texture, self.water_rgb, known)
        return photo


def water_coloured_land(photo: torch.Tensor, target: torch.Tensor, texture: float, water_rgb: tuple[int, int, int],
                        known: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Photo (3, H, W) in [0, 255] whose vegetation takes the mean colour of its water: the ``known`` pixels
    ((1, H, W) of 0 and 1; all when None) that the map ``target`` draws within the palette's snapping distance of
    ``water_rgb`` are its water, the other known green ones (``green_of``) its vegetation, which keeps
    ``texture`` times its departures from its own mean and fades in over ``DARK_EDGE_PX`` at its edges. A photo
    with under ``MIN_SHARE`` of either is returned as it is."""
    water = drawn_water(target, water_rgb)
    if known is not None:
        water = water * known
    vegetation = (1 - water) * green_of(photo) * (1 if known is None else known)
    if water.mean() < MIN_SHARE or vegetation.mean() < MIN_SHARE:
        return photo
    water_mean, vegetation_mean = (((photo * mask).sum((1, 2)) / mask.sum()).view(3, 1, 1)
                                   for mask in (water, vegetation))
    recoloured = (photo - vegetation_mean) * texture + water_mean
    return (photo + faded(vegetation) * (recoloured - photo)).clamp(0, 255)


