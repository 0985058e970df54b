"""The training experiments no shipped model uses, kept for the research command line (``training/train.py``)
and out of the installed package: ``ResearchConfig`` (their options, the ``TrainConfig`` pattern) and
``ResearchPix2Pix`` (their loss terms and class weights).

* ``lambda_dry``: a hinge keeping a mix's known dry land (``no_water`` sources) from the water colour;
* ``water_coloured`` and ``water_texture``: vegetation in its water's colour (``water_coloured``);
* ``building_weight``, ``green_weight``, ``street_weight``: a class weighed in the class decision;
* ``class_on``: the class decision on rendered maps only.

A checkpoint or card of an older geotrans holding them loads here as it did; ``TrainConfig.from_stored`` (the
package) ignores them with one line.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from geotrans.training.config import WEIGHT, TrainConfig, option
from geotrans.training.pix2pix import Judged, LossTerm, Pix2Pix
from training.water_coloured import WaterColouredAugment

CLASS_ON = ("all", "rendered")  # which samples the class decision scores
WEIGHED = ("building", "green", "street")  # the classes a research run may weigh in the class decision
DRY_MARGIN = 0.15  # dry land this close to the water colour (mean |difference| per channel) is pushed away:
# about the water side of the midpoint to the nearest other map colour (building, 0.25 away)


@dataclass
class ResearchConfig(TrainConfig):
    """``TrainConfig`` and the experiments' options."""

    water_coloured: float = option(0.0, "recipe", "probability of a photo whose vegetation takes the mean colour "
                                                  "of its own water, keeping part of its texture "
                                                  "(--water-texture), so that colour stops meaning water (0)")
    water_texture: tuple = option((0.3, 1.0), "recipe", "the share of its texture --water-coloured vegetation "
                                                        "keeps, drawn in [LOW, HIGH] (0.3 1)",
                                  metavar=("LOW", "HIGH"))
    lambda_dry: float = option(0.0, "recipe", "weight of the hinge keeping a mix's known dry land (no_water "
                                              "sources) from the water colour (0, off)", WEIGHT)
    building_weight: float = option(1.0, "recipe", "in the class decision, the weight of labelled pixels whose "
                                                   "class is a building; 0 leaves them to L1 (1)", WEIGHT)
    building_rgb: Optional[list] = option(None, "recorded")  # from the mix's style, recorded when the run starts
    green_weight: float = option(1.0, "recipe", "in the class decision, the weight of labelled pixels whose class "
                                                "is green (parks, woods); 0 leaves them to L1 (1)", WEIGHT)
    green_rgb: Optional[list] = option(None, "recorded")
    street_weight: float = option(1.0, "recipe", "in the class decision, the weight of labelled pixels whose "
                                                 "class is a street; 0 leaves them to L1 (1)", WEIGHT)
    street_rgb: Optional[list] = option(None, "recorded")
    class_on: str = option("all", "recipe", "which samples the class decision scores: all, or only those whose "
                                            "map is rendered from class labels, not the New York maps, whose "
                                            "lettering and anti-aliased edges belong to no class (all)",
                           choices=CLASS_ON)

    @property
    def augment(self) -> WaterColouredAugment:
        base = super().augment
        return WaterColouredAugment(**base.__dict__, water_coloured=self.water_coloured,
                                    water_texture=tuple(self.water_texture))

    def colours_needed(self) -> tuple[str, ...]:
        """Water also for the dry-land hinge and water-coloured vegetation; each weighed class for its weight."""
        water = super().colours_needed() or (("water",) if self.lambda_dry or self.water_coloured else ())
        return water + tuple(name for name in WEIGHED if getattr(self, f"{name}_weight") != 1)


class ResearchPix2Pix(Pix2Pix):
    """``Pix2Pix`` with the experiments' terms: the dry-land hinge before the class decision, buildings weighed
    in it, and the class decision on rendered maps only where ``class_on`` says."""

    config: ResearchConfig
    TERMS = ("gan", "l1", "fm", "grad", "dry", "class")

    def generator_terms(self) -> list[LossTerm]:
        terms = super().generator_terms()
        if self.config.lambda_dry:
            if self.water is None:
                raise ValueError("lambda_dry needs the water colour (water_rgb): train on a mix")
            before_class = next((i for i, term in enumerate(terms) if term.name == "class"), len(terms))
            terms.insert(before_class, LossTerm("dry", self.config.lambda_dry, self._dry))
        return terms

    def _dry(self, judged: Judged) -> torch.Tensor:
        if judged.dry is None:  # no mix: no pixel is known to be dry
            return judged.fake.new_zeros(())
        return dry_hinge(judged.fake, judged.dry, self.water, DRY_MARGIN)

    def weighed_classes(self) -> list[tuple[torch.Tensor, float]]:
        weighed = super().weighed_classes()
        for name in WEIGHED:
            weight, rgb = getattr(self.config, f"{name}_weight"), getattr(self.config, f"{name}_rgb")
            if weight == 1:
                continue
            if weight < 0 or self.class_colours is None or rgb is None:
                raise ValueError(f"{name}_weight needs a weight of 0 or more, the class decision (lambda_class) "
                                 f"and the {name} colour ({name}_rgb): train on a mix")
            weighed.append((self._model_colour(rgb), weight))
        return weighed

    def classed(self, judged: Judged) -> Optional[torch.Tensor]:
        """The labelled pixels, of rendered maps only where ``class_on`` says."""
        if self.config.class_on == "all":
            return judged.labelled
        known = torch.ones_like(judged.fake[:, :1]) if judged.labelled is None else judged.labelled
        if judged.rendered is None:
            return torch.zeros_like(known)
        return known * judged.rendered.view(-1, 1, 1, 1)


def dry_hinge(generated: torch.Tensor, dry: torch.Tensor, water: torch.Tensor, margin: float) -> torch.Tensor:
    """Keeps known dry land from being drawn as water: over the ``dry`` pixels (N, 1, H, W of 0 and 1), the mean
    of how far each generated pixel lies inside ``margin`` (mean absolute distance per channel, model range) of
    the ``water`` colour (3,). Zero wherever the map draws anything else, so it teaches only "not water"."""
    distance = (generated.float() - water.view(1, -1, 1, 1)).abs().mean(1, keepdim=True)
    return (F.relu(margin - distance) * dry).sum() / dry.sum().clamp(min=1)
