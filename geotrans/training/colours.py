"""The colours a mix teaches: each training photo's mean and spread of R, G, B, and the distance limit that
every val photo and all but one in a thousand training photos stay within (``geotrans.model.colours``), for the
card of a model trained on the mix."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from geotrans.model.colours import LearntColours, photo_colours
from geotrans.training.data import list_pairs, read_aligned
from geotrans.training.sources import Mix, labelled_images, load_sources

METHOD = ("Mahalanobis distance of a scene's (mean, spread) of R, G, B from the training photos' (one vector a "
          "photo, pixels at the photo's own resolution; a scene sampled by 64 windows of 128 px); the limit is "
          "the larger of the furthest val photo's distance and the training photos' 99.9th percentile, rounded up")
TRAINING_PERCENTILE = 99.9


def val_photos(mix: Mix, new_york_val: Optional[str] = None) -> dict:
    """Source name -> its val photos (uint8 (3, H, W)): each labelled source's val part, and New York's val
    pairs from ``new_york_val`` where given."""
    photos = {}
    for spec in mix.sources:
        if spec["kind"] == "masks" and spec.get("val"):
            photos[spec["name"]] = [item.photo for item in labelled_images(mix, spec, "val")]
    if new_york_val:
        photos["new-york-maps"] = [read_aligned(path)[0] for path in list_pairs(new_york_val)]
    return photos


def learnt_colours(mix: Mix, new_york_val: Optional[str] = None) -> tuple[LearntColours, dict]:
    """The colours of the mix's training photos, limited as ``METHOD`` says; and what the limit came from, per
    val source its furthest photo (the card's ``measured``)."""
    colours = [photo_colours(example.photo) for source in load_sources(mix) for example in source.examples]
    fitted = LearntColours.of([c.vector() for c in colours], limit=math.inf)
    training = float(np.percentile([fitted.distance(c) for c in colours], TRAINING_PERCENTILE))
    furthest = {name: round(max(fitted.distance(photo_colours(p)) for p in photos), 2)
                for name, photos in val_photos(mix, new_york_val).items() if photos}
    limit = float(math.ceil(max([training, *furthest.values()])))
    return LearntColours(fitted.mean, fitted.covariance, limit), {
        "training_photos": len(colours), "training_percentile_99.9": round(training, 2), "val_furthest": furthest}
