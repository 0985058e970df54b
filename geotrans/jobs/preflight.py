"""What a job can refuse before the model loads, beyond its paths: the map's creation options (refused,
not ignored with a warning) and, with vectors, the model card's class colours."""
from __future__ import annotations

from typing import Optional

from geotrans.io.sink import Encoding, check_encoding
from geotrans.model.style import MapStyle
from geotrans.model.weights import read_model_info
from geotrans.run.options import RunOptions


def check_before_model(options: RunOptions, model_path: Optional[str] = None, vectors: bool = False) -> None:
    """Refuse now what the run would refuse only after the model has loaded (or a map has been made)."""
    if options.creation_options:
        check_encoding(Encoding(options.compress, tuple(options.creation_options)), options.cog)
    if vectors:  # the map's classes come from the model's card: a bad table is said before any map is made
        card = read_model_info(model_path).card
        if card.get("map_classes") is not None:
            MapStyle.from_card(card)
