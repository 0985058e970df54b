"""One model from several exported generators of one architecture: the weighted mean of their weights.

  python -m training.experiments.soup --out SOUP.safetensors --name NAME A.safetensors:0.7 B.safetensors:0.3

Weights (default 1 each) are normalised. A part narrower than the widest is widened to its ngf first
(``geotrans.training.widen``, with the seed a widened warm start recorded), so a run widened from a model
soups with that model. The card is the first model's, with ``soup_of`` naming each
model, its sha256 and its weight, and a part's licence where the first has none (a soup of a share-alike
model is under it too). Runs from one warm start share a basin, so the mean is a working model,
its figures mostly between its parts' and some beyond both (docs/training.md).
"""
from __future__ import annotations

import argparse

import torch

from geotrans.model.weights import load_generator
from geotrans.training.widen import widened
from training.export import write_model


def parse(item: str) -> tuple[str, float]:
    """``MODEL`` or ``MODEL:WEIGHT``."""
    path, sep, weight = item.rpartition(":")
    return (path, float(weight)) if sep else (item, 1.0)


def soup(parts: list[tuple[str, float]]):
    """The generator whose every weight is the ``parts``' weighted mean, and the first part's info."""
    loaded = [(load_generator(path), weight) for path, weight in parts]
    (wide, wide_info), _ = max(loaded, key=lambda part: part[0][1].ngf)
    seed = wide_info.card.get("training", {}).get("warm_start", {}).get("widen_seed", 0)
    loaded = [((widened(n, wide.ngf, seed=seed), i), w) for (n, i), w in loaded]
    total = sum(weight for _, weight in parts)
    (net, info), _ = loaded[0]
    states = [(n.state_dict(), w / total) for (n, _), w in loaded]
    mean = {k: sum(s[k].float() * w for s, w in states).to(v.dtype) for k, v in states[0][0].items()}
    net.load_state_dict(mean)
    return net, info, [{"model": i.name, "sha256": i.sha256, "weight": w / total,
                        **({"licence": i.card["licence"]} if i.card.get("licence") else {})} for (_, i), w in loaded]


def soup_card(first: dict, name: str, parts: list[dict]) -> dict:
    """The first part's card, named ``name``, with ``soup_of`` and the licence any part carries."""
    card = {**first, "name": name, "soup_of": parts}
    licences = [part["licence"] for part in parts if part.get("licence")]
    if licences and not card.get("licence"):
        card["licence"] = licences[0]
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("models", nargs="+", metavar="MODEL[:WEIGHT]")
    args = parser.parse_args()
    net, info, parts = soup([parse(m) for m in args.models])
    write_model(net, args.out, args.name, soup_card(info.card, args.name, parts))


if __name__ == "__main__":
    with torch.no_grad():
        main()
