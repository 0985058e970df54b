"""Draw docs/legend.png: the map style's colours and what each draws, from the shipped model's card.

usage: python docs/legend.py   (needs the training extra for matplotlib: pip install '.[train]')
"""
from __future__ import annotations

from pathlib import Path

from geotrans.model.legend import LEGEND
from geotrans.model.weights import read_model_info


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    info = read_model_info()
    classes = info.card["map_classes"]
    fig, ax = plt.subplots(figsize=(7.2, 0.42 * len(classes) + 0.5), dpi=110)
    ax.set_axis_off()
    for i, (name, rgb) in enumerate(classes.items()):
        y = len(classes) - i
        ax.add_patch(plt.Rectangle((0, y - 0.4), 0.9, 0.8, color=[c / 255 for c in rgb], ec="#555555", lw=0.6))
        ax.text(1.1, y, f"{name.replace('_', ' ')}  #{rgb[0]:02X}{rgb[1]:02X}{rgb[2]:02X}", va="center",
                fontsize=10, weight="bold")
        ax.text(5.6, y, LEGEND[name], va="center", fontsize=9)
    ax.set_xlim(0, 14)
    ax.set_ylim(0.4, len(classes) + 0.6)
    ax.set_title(f"Map colours of {info.name}", fontsize=10, loc="left")
    out = Path(__file__).resolve().parent / "legend.png"
    fig.savefig(out, bbox_inches="tight")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
