"""What each of the map style's classes draws, in a user's words: the legend the README, the docs, the
map's tags and the vectors share. The colours come from the model's card (``map_classes``)."""
from __future__ import annotations

LEGEND = {
    "background": "land: fields, bare ground, yards, car parks, anything not drawn otherwise",
    "street": "streets and minor roads (also, wrongly, some field edges and tracks)",
    "major_road": "major roads (New York's arterials)",
    "highway": "highways",
    "water": "water: sea, lakes, rivers, ponds (also, wrongly, some dark fields)",
    "green": "parks, lawns, planted land; woods only in part",
    "building": "buildings: a grey 14 levels darker than land, rarely drawn; vectorize's layer shows it",
}


def legend_text(map_classes: dict) -> str:
    """The legend in one line: each class with its colour as #RRGGBB (an RGB map holds no category names)."""
    return "; ".join(f"{name.replace('_', ' ')} #{r:02X}{g:02X}{b:02X}" for name, (r, g, b) in map_classes.items())
