"""The map style: the map classes (``CLASSES``, their codes ``CODES``) and the colour each is drawn in,
from the model card's ``map_classes`` (``MapStyle``, one source of truth: the card). Labels are drawn in it
by ``geotrans.io.labels``; ``geotrans vectorize`` classes map pixels by it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from geotrans.errors import InputError
from geotrans.model.palette import srgb_to_lab

CLASSES = ("background", "street", "major_road", "highway", "water", "green", "building")
CODES = {name: code for code, name in enumerate(CLASSES)}
IGNORE = 255  # the class code of pixels the labels say nothing about
IGNORE_NAME = "ignore"
WATER_RGB = (176, 208, 252)  # the map style's water (the training maps' blue, issue #10)
MAX_DELTA_E = 15.0  # how close a map pixel's colour must be to count as water (the palette's snapping distance)


MAP_CLASSES_TAG = "GEOTRANS_MAP_CLASSES"  # a map's tag holding its model's map_classes (JSON), for vectorize


@dataclass(frozen=True)
class MapStyle:
    """The colour (8-bit sRGB) of each map class: the model card's ``map_classes``."""

    colours: Mapping[str, tuple[int, int, int]]

    @classmethod
    def from_card(cls, card: Mapping) -> "MapStyle":
        table = card.get("map_classes")
        if table and not isinstance(table, Mapping):
            raise InputError(f"model {card.get('name', '?')}: its map_classes are not a table of class colours")
        if not table:
            raise InputError(f"model {card.get('name', '?')}: its card has no map_classes to draw labels with",
                             hint="use a model whose card names the colour of each map class")
        missing = [name for name in CLASSES if name not in table]
        if missing:
            raise InputError(f"model {card.get('name', '?')}: its map_classes lack {', '.join(missing)}")
        colours = {}
        for name in CLASSES:
            colour = table[name]
            if not isinstance(colour, (list, tuple)) or len(colour) != 3 or \
                    not all(isinstance(c, int) and 0 <= c <= 255 for c in colour):
                raise InputError(f"model {card.get('name', '?')}: map class {name} has colour {colour!r}, "
                                 "not three 8-bit values")
            colours[name] = tuple(colour)
        return cls(colours)

    @property
    def table(self) -> np.ndarray:
        """uint8 (len(CLASSES), 3): the colour of each class code."""
        return np.array([self.colours[name] for name in CLASSES], dtype=np.uint8)

    def classify(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 (H, W) class codes of a uint8 (3, H, W) map: each pixel's nearest class colour in CIELAB."""
        lab = srgb_to_lab(np.ascontiguousarray(rgb.transpose(1, 2, 0)))
        centres = srgb_to_lab(self.table)
        codes = np.zeros(lab.shape[:2], np.uint8)
        nearest = np.full(lab.shape[:2], np.inf, np.float32)
        for code, centre in enumerate(centres):  # one class at a time: memory of two planes, not seven
            distance = ((lab - centre) ** 2).sum(-1)
            closer = distance < nearest
            codes[closer], nearest[closer] = code, distance[closer]
        return codes

    def paint(self, classes: np.ndarray) -> np.ndarray:
        """uint8 (3, H, W) map pixels of a class raster; ignored pixels are drawn as background."""
        codes = np.where(classes == IGNORE, CODES["background"], classes)
        if codes.max(initial=0) >= len(CLASSES):
            raise ValueError(f"class codes run 0-{len(CLASSES) - 1} and {IGNORE}; found {int(codes.max())}")
        return np.ascontiguousarray(self.table[codes].transpose(2, 0, 1))


