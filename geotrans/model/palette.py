"""Palette snapping: output pixels close to one of the map style's colours become exactly that colour.

The palette is learnt from the training maps (k-means in CIELAB, ``learn_palette``)
and stored in the model card with the snapping distance (``palette`` and
``palette_max_delta_e``). ``snap`` is a per-pixel function of the final 8-bit
pixels, applied in the map's sink after blending (and after warping back), so it
commutes with tiling, strips and bands. A pixel farther than the distance from
every palette colour is left as it is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from geotrans.errors import ModelError

# sRGB (D65) -> CIE XYZ, and the D65 white point: the standard constants.
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]], dtype=np.float64)
_WHITE = np.array([0.95047, 1.0, 1.08883])
_XYZ_OVER_WHITE = (_RGB_TO_XYZ / _WHITE[:, None]).T.astype(np.float32)  # [c, i]: linear channel c -> X/Xn, Y/Yn, Z/Zn
_LINEAR = np.where(np.arange(256) / 255 <= 0.04045, np.arange(256) / 255 / 12.92,
                   ((np.arange(256) / 255 + 0.055) / 1.055) ** 2.4).astype(np.float32)  # sRGB decoding per value
PALETTES = ("auto", "off")


@dataclass(frozen=True)
class Palette:
    """The map style's colours (k, 3) as 8-bit sRGB, and how close (CIE76 delta E) a pixel must be to snap."""

    colours: tuple[tuple[int, int, int], ...]
    max_delta_e: float

    @classmethod
    def from_card(cls, card: dict) -> Optional["Palette"]:
        """The palette stated in a model card, or None (models without one keep working)."""
        if not card.get("palette"):
            return None
        try:
            colours = tuple(tuple(int(c) for c in colour) for colour in card["palette"])
            distance = float(card["palette_max_delta_e"])
        except (KeyError, TypeError, ValueError):
            raise ModelError("the model card's palette is not a list of R, G, B colours with a "
                             "palette_max_delta_e", hint="--palette off runs it without") from None
        if not all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in colours) or not 0 < distance < 1000:
            raise ModelError("the model card's palette holds colours that are not three 8-bit values, or a "
                             f"snapping distance of {distance:g}", hint="--palette off runs it without")
        return cls(colours, distance)

    def to_card(self) -> dict:
        return {"palette": [list(c) for c in self.colours], "palette_max_delta_e": self.max_delta_e}

    @property
    def lab(self) -> np.ndarray:
        return srgb_to_lab(np.array(self.colours, dtype=np.uint8))


def _lab_planes(rgb: np.ndarray) -> np.ndarray:
    """8-bit sRGB planes (3, ...) to CIELAB planes (3, ...), float32; per plane, so it runs at memory speed."""
    linear = _LINEAR[rgb]
    f = [sum(_XYZ_OVER_WHITE[c, i] * linear[c] for c in range(3)) for i in range(3)]
    f = [np.where(v > (6 / 29) ** 3, np.cbrt(v), v * np.float32(1 / (3 * (6 / 29) ** 2)) + np.float32(4 / 29))
         for v in f]
    return np.stack([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """8-bit sRGB values (..., 3) to CIELAB (..., 3), float32."""
    return np.moveaxis(_lab_planes(np.moveaxis(rgb, -1, 0)), 0, -1)


def near_colour(rgb: np.ndarray, colour: tuple[int, int, int], max_delta_e: float) -> np.ndarray:
    """Boolean (H, W): the pixels of uint8 (3, H, W) within ``max_delta_e`` (CIE76) of the 8-bit ``colour``."""
    lab = _lab_planes(rgb)
    target = srgb_to_lab(np.array([colour], dtype=np.uint8))[0]
    return sum((lab[i] - target[i]) ** 2 for i in range(3)) <= np.float32(max_delta_e) ** 2


def snap(pixels: np.ndarray, palette: Palette) -> np.ndarray:
    """uint8 (3, h, w) pixels with each one within ``palette.max_delta_e`` of a palette colour replaced by
    the nearest such colour; the others unchanged. Returns a new array."""
    codes = snap_codes(pixels, palette)
    colours = np.array(palette.colours, dtype=np.uint8).T  # (3, k)
    return np.where(codes > 0, colours[:, codes.astype(np.intp) - 1], pixels)


def snap_codes(pixels: np.ndarray, palette: Palette) -> np.ndarray:
    """uint8 (h, w): for each pixel of (3, h, w), 1 + the index of the palette colour it snaps to, or 0."""
    lab = _lab_planes(pixels)
    # |x - c|^2 = |x|^2 + (|c|^2 - 2 x.c): the nearest centre needs only the bracket, per centre
    partial = np.stack([np.float32(c @ c) - 2 * (c[0] * lab[0] + c[1] * lab[1] + c[2] * lab[2])
                        for c in palette.lab])  # (k, h, w)
    nearest = partial.argmin(axis=0)
    d2 = np.take_along_axis(partial, nearest[None], axis=0)[0] + (lab * lab).sum(axis=0)
    close = d2 <= np.float32(palette.max_delta_e) ** 2
    return np.where(close, nearest + 1, 0).astype(np.uint8)


class Snapper:
    """``snap`` through a table of every 8-bit colour's code (``snap_codes``), filled lazily with exactly the
    colours that appear: the same result, a lookup per pixel instead of a CIELAB conversion. One per map
    (16 MiB), not shared."""

    UNKNOWN = 255  # a code not computed yet
    PENDING = 254  # a colour met in this call, its code about to be computed (palettes have fewer colours)
    SCAN_FROM = 1 << 16  # new colours from which one scan of the table beats sorting them (np.unique)
    FILL_AT_ONCE = 1 << 18  # colours per snap_codes call: bounded memory

    def __init__(self, palette: Palette):
        if len(palette.colours) >= self.PENDING:
            raise ValueError(f"a palette of {len(palette.colours)} colours is too many to snap to")
        self.palette = palette
        self._codes = np.full(1 << 24, self.UNKNOWN, dtype=np.uint8)  # 0: leave the colour; j + 1: colour j
        self._table = np.zeros((3, len(palette.colours) + 1), dtype=np.uint8)  # code -> colour (0 unused)
        self._table[:, 1:] = np.array(palette.colours, dtype=np.uint8).T

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        keys = pixels[0].astype(np.uint32)
        keys <<= 8
        keys |= pixels[1]
        keys <<= 8
        keys |= pixels[2]
        codes = self._codes[keys]
        unknown = codes == self.UNKNOWN
        if unknown.any():
            self._fill(keys[unknown])
            codes = self._codes[keys]
        out = np.empty_like(pixels)
        moved = codes > 0
        for channel in range(3):
            np.copyto(out[channel], pixels[channel])
            np.copyto(out[channel], self._table[channel].take(codes), where=moved)
        return out

    def _fill(self, keys: np.ndarray) -> None:
        """Codes of the distinct colours among ``keys`` (all unknown), each computed once by ``snap_codes``.
        Many keys are marked in the table and found again by one scan of it, cheaper than sorting them."""
        if keys.size < self.SCAN_FROM:
            fresh = np.unique(keys)
        else:
            self._codes[keys] = self.PENDING
            fresh = np.flatnonzero(self._codes == self.PENDING).astype(np.uint32)
        for start in range(0, fresh.size, self.FILL_AT_ONCE):
            part = fresh[start:start + self.FILL_AT_ONCE]
            rgb = np.stack([part >> 16, (part >> 8) & 255, part & 255]).astype(np.uint8)  # (3, n)
            self._codes[part] = snap_codes(rgb[:, None, :], self.palette)[0]


def learn_palette(pixels: np.ndarray, k: int, seed: int = 0, iterations: int = 30) -> np.ndarray:
    """k colours (k, 3) uint8 of ``pixels`` (n, 3) uint8: k-means in CIELAB (k-means++ start), the centres
    converted back to the nearest 8-bit sRGB colour present among the pixels."""
    rng = np.random.default_rng(seed)
    lab = srgb_to_lab(pixels).astype(np.float64)
    centres = [lab[rng.integers(len(lab))]]
    for _ in range(1, k):  # k-means++: far points are likelier starts
        d2 = np.min([np.sum((lab - c) ** 2, axis=1) for c in centres], axis=0)
        centres.append(lab[rng.choice(len(lab), p=d2 / d2.sum())])
    centres = np.array(centres)
    for _ in range(iterations):
        labels = np.argmin(((lab[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
        moved = np.array([lab[labels == j].mean(axis=0) if np.any(labels == j) else centres[j] for j in range(k)])
        if np.allclose(moved, centres, atol=1e-3):
            break
        centres = moved
    # Each centre as the pixel colour closest to it, so the palette holds colours the maps really use.
    nearest = np.argmin(((lab[:, None, :] - centres[None]) ** 2).sum(-1), axis=0)
    return pixels[nearest]
