"""A photo's colours (each band's mean and spread), the colours a model learnt from, and whether a scene's lie
among them.

A model card's ``input_colours`` holds the mean and covariance, over the model's training photos, of each
photo's mean and spread of red, green and blue (``Colours``; a scene's are measured by ``geotrans.io.colours``),
and a limit on the Mahalanobis
distance from that mean. A scene further away than the limit looks unlike anything the model learnt: a false
colour composite (near infrared as red), a coarse satellite scene, snow, night, haze. Its map is then said to
be doubtful before it is drawn. The limit is chosen by measurement (``geotrans.training.colours``): above every
val photo's distance and 99.9% of the training photos', so the warning never fires on photos of the kinds the
model draws.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

FEATURES = ("mean red", "mean green", "mean blue", "red spread", "green spread", "blue spread")
RIDGE = 1.0  # levels squared added to each variance: a few photos (or identical ones) still give a usable
# covariance, and a real mix's (variances of hundreds) barely moves


@dataclass(frozen=True)
class Colours:
    """Mean and standard deviation of red, green and blue (0-255), over valid pixels."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def vector(self) -> np.ndarray:
        return np.array([*self.mean, *self.std], dtype=np.float64)

    def describe(self) -> str:
        return ("mean R, G, B " + ", ".join(f"{v:.0f}" for v in self.mean) + "; spread "
                + ", ".join(f"{v:.0f}" for v in self.std))


def photo_colours(rgb: np.ndarray, valid: Optional[np.ndarray] = None) -> Optional[Colours]:
    """The colours of ``rgb`` ((3, H, W), 0-255) where ``valid`` ((H, W) bool; all when None); None when no
    pixel is valid."""
    values = rgb.reshape(3, -1).astype(np.float64)
    if valid is not None:
        values = values[:, valid.ravel()]
    if values.shape[1] == 0:
        return None
    return Colours(tuple(float(v) for v in values.mean(axis=1)), tuple(float(v) for v in values.std(axis=1)))


@dataclass(frozen=True)
class LearntColours:
    """The training photos' colours: the ``mean`` (6) and ``covariance`` (6 x 6) of their ``Colours`` vectors,
    and the ``limit`` of the distance beyond which a scene is unlike them."""

    mean: np.ndarray
    covariance: np.ndarray
    limit: float

    @classmethod
    def of(cls, vectors: Sequence[Sequence[float]], limit: float) -> "LearntColours":
        """From the ``Colours.vector()`` of each training photo."""
        data = np.asarray(vectors, dtype=np.float64).reshape(-1, len(FEATURES))
        spread = np.cov(data.T) if len(data) > 1 else np.zeros((len(FEATURES),) * 2)
        return cls(data.mean(axis=0), spread + RIDGE * np.eye(len(FEATURES)), float(limit))

    @classmethod
    def from_card(cls, card: Mapping) -> Optional["LearntColours"]:
        """The card's ``input_colours``; None for a card without them (or with a table that is not one)."""
        table = card.get("input_colours")
        try:
            mean, covariance = np.asarray(table["mean"], float), np.asarray(table["covariance"], float)
            size = len(FEATURES)
            if mean.shape != (size,) or covariance.shape != (size, size) or not np.isfinite(covariance).all():
                return None
            return cls(mean, covariance, float(table["limit"]))
        except (TypeError, KeyError, ValueError):
            return None

    def card(self, method: str, measured: Optional[dict] = None) -> dict:
        """The card's ``input_colours`` table."""
        return {"features": list(FEATURES), "mean": [round(float(v), 4) for v in self.mean],
                "covariance": [[round(float(v), 4) for v in row] for row in self.covariance],
                "limit": self.limit, "method": method, **({"measured": measured} if measured else {})}

    def distance(self, colours: Colours) -> float:
        """The Mahalanobis distance of ``colours`` from the training photos'."""
        offset = colours.vector() - self.mean
        return float(np.sqrt(max(0.0, offset @ np.linalg.solve(self.covariance, offset))))

    def unlike(self, colours: Colours) -> Optional[str]:
        """What to expect of a map of a scene of ``colours`` when they lie beyond the limit; None when not."""
        distance = self.distance(colours)
        if distance <= self.limit:
            return None
        scale = np.sqrt(np.diag(self.covariance))
        furthest = int(np.argmax(np.abs(colours.vector() - self.mean) / scale))
        side = "higher" if colours.vector()[furthest] > self.mean[furthest] else "lower"
        return (f"colours unlike the photos the model learnt from ({colours.describe()}; {FEATURES[furthest]} "
                f"far {side} than theirs; distance {distance:.0f}, where its val photos stay within "
                f"{self.limit:g}): expect classes drawn wrongly; if the bands are not red, green, blue, say which "
                "are with --bands")
