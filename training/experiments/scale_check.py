"""How much the scale of the input matters to a model trained on native-resolution crops.

Evaluates one model on the same val pairs two ways, both compared at 256 x 256:
  native : the 600 px photo is translated at its own resolution (tiled, blended), then resized;
  pix2pix: the photo is first resized to 256 px (the paper's ~0.43-0.48 scale), then translated.

    python -m training.experiments.scale_check --model M --data ../shared/data/maps/val --limit 100
"""
from __future__ import annotations

import argparse
import json

import torch

from geotrans.model.weights import load_generator
from geotrans.run.pipeline import translate_array
from geotrans.run.runner import BatchRunner
from geotrans.training.data import list_pairs, read_aligned
from training.evaluate import resize_bilinear
from training.metrics import image_metrics, mean_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args()
    generator, info = load_generator(args.model)
    runner = BatchRunner(generator, torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    rows = {"native": [], "pix2pix": []}
    for path in list_pairs(args.data)[: args.limit]:
        source, target = read_aligned(path)
        real = resize_bilinear(target)
        rows["native"].append(image_metrics(resize_bilinear(translate_array(source, runner)), real))
        small = resize_bilinear(source).transpose(2, 0, 1).copy()
        rows["pix2pix"].append(image_metrics(translate_array(small, runner).transpose(1, 2, 0), real))
    result = {name: mean_metrics(r) for name, r in rows.items()}
    for name, metrics in result.items():
        print(f"{name:8s} " + "  ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    print(json.dumps({"model": info.name, "pairs": len(rows["native"]), **result}))


if __name__ == "__main__":
    main()
