"""The hold-out's figures of a map against labels, the semantic benchmark's and ``geotrans tune``'s: IoU of
water, green, street and building, dry land drawn as water, each land class drawn as what, and street F1
within ``TOLERANCE_M``, pooled over images (``Tally``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from scipy.ndimage import distance_transform_edt

from geotrans.model.style import CODES, IGNORE

TOLERANCE_M = 3.0
#                     identity-like geotransform, so not at the origin itself)
STREETS = (CODES["street"], CODES["major_road"], CODES["highway"])
SCORED = ("water", "green", "street", "building")
# Figures of one land class: name -> (the labels' class, the class it is drawn as), a share of the labels'.
LAND_FIGURES = {"green_drawn_green": ("green", "green"), "green_as_water": ("green", "water"),
                "background_as_water": ("background", "water")}


def _kind(codes: np.ndarray, name: str) -> np.ndarray:
    return np.isin(codes, STREETS) if name == "street" else codes == CODES[name]


@dataclass
class Tally:
    """Pixel counts pooled over a source's images."""

    intersection: dict
    union: dict
    truth: dict  # labelled pixels of each class: a class the labels never show has no IoU
    dry: int = 0
    dry_as_water: int = 0
    street_labels: int = 0
    street_labels_found: int = 0
    street_drawn: int = 0
    street_drawn_right: int = 0
    labelled_as: dict = field(default_factory=dict)  # label class -> labelled pixels, for LAND_FIGURES
    drawn_as: dict = field(default_factory=dict)  # (label class, drawn class) -> pixels, for LAND_FIGURES
    tolerance_m: float = TOLERANCE_M  # how near a street must lie to count as found (or as right)

    @classmethod
    def empty(cls, tolerance_m: float = TOLERANCE_M) -> "Tally":
        return cls({n: 0 for n in SCORED}, {n: 0 for n in SCORED}, {n: 0 for n in SCORED}, tolerance_m=tolerance_m)

    def add(self, drawn: np.ndarray, truth: np.ndarray, valid: np.ndarray, pixel_m: float,
            complete_for: tuple[str, ...] = ()) -> None:
        """Count one image: ``drawn`` and ``truth`` class codes (H, W), ``valid`` the map's valid pixels."""
        labelled = valid & (truth != IGNORE)
        for name in SCORED:
            where = valid if name in complete_for else labelled
            d, t = _kind(drawn, name) & where, _kind(truth, name) & where
            self.intersection[name] += int(np.sum(d & t))
            self.union[name] += int(np.sum(d | t))
            self.truth[name] += int(t.sum())
        for label in {label for label, _ in LAND_FIGURES.values()}:
            self.labelled_as[label] = self.labelled_as.get(label, 0) + int(np.sum(labelled & _kind(truth, label)))
        for label, drawn_name in LAND_FIGURES.values():
            hits = int(np.sum(labelled & _kind(truth, label) & _kind(drawn, drawn_name)))
            self.drawn_as[(label, drawn_name)] = self.drawn_as.get((label, drawn_name), 0) + hits
        land = labelled & ~_kind(truth, "water")
        self.dry += int(land.sum())
        self.dry_as_water += int(np.sum(land & _kind(drawn, "water")))
        where = valid if "street" in complete_for else labelled
        drawn_street, true_street = _kind(drawn, "street") & where, _kind(truth, "street") & where
        reach = self.tolerance_m / pixel_m
        near_drawn = distance_transform_edt(~drawn_street) <= reach if drawn_street.any() else np.zeros_like(where)
        near_true = distance_transform_edt(~true_street) <= reach if true_street.any() else np.zeros_like(where)
        self.street_labels += int(true_street.sum())
        self.street_labels_found += int(np.sum(true_street & near_drawn))
        self.street_drawn += int(drawn_street.sum())
        self.street_drawn_right += int(np.sum(drawn_street & near_true))

    def scores(self) -> dict:
        def ratio(a: int, b: int) -> Optional[float]:
            return a / b if b else None

        recall = ratio(self.street_labels_found, self.street_labels)
        precision = ratio(self.street_drawn_right, self.street_drawn)
        if recall is None:  # no street labels: nothing to find
            f1 = None
        else:  # a map without streets finds none of them
            f1 = 2 * recall * precision / (recall + precision) if recall and precision else 0.0
        return {**{f"{n}_iou": ratio(self.intersection[n], self.union[n]) if self.truth[n] else None
                   for n in SCORED},
                "dry_land_as_water": ratio(self.dry_as_water, self.dry),
                **{name: ratio(self.drawn_as.get((label, drawn), 0), self.labelled_as.get(label, 0))
                   for name, (label, drawn) in LAND_FIGURES.items()},
                "street_recall": recall, "street_precision": precision, "street_f1": f1,
                "tolerance_m": self.tolerance_m}
