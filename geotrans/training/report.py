"""What a run shows of itself after every epoch: the sample grid and the loss curves."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from geotrans.model.generator import UnetGenerator
from geotrans.run.pipeline import translate_array
from geotrans.run.runner import BatchRunner
from geotrans.training.data import list_pairs, read_aligned

EXTRAS = ("PIL", "matplotlib")  # the training extra ('.[train]'): sample grids and loss curves


def check_extras() -> None:
    """Import what a run will need at its end (sample grids, loss curves) before it starts: a missing extra is
    an ImportError at once, not after the whole training budget."""
    import importlib

    for name in EXTRAS:
        importlib.import_module(name)


def sample_pairs(folder: Path, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first ``count`` (photo, map) pairs of ``folder``, the same each epoch; none when it is missing."""
    paths = list_pairs(folder)[:count] if folder.is_dir() else []
    return [read_aligned(p) for p in paths]


def write_sample_grid(generator: UnetGenerator, pairs, path: Path, device: torch.device) -> None:
    """Rows of photo | generated | real map, generated through geotrans's tiling and blending."""
    if not pairs:
        return
    from PIL import Image

    runner = BatchRunner(generator, device)
    rows = []
    for source, target in pairs:
        generated = translate_array(source, runner)
        rows.append(np.concatenate([source, generated, target], axis=2))
    generator.train()
    grid = np.concatenate(rows, axis=1).transpose(1, 2, 0)
    Image.fromarray(grid).save(path)


def write_loss_curve(csv_path: Path, png_path: Path) -> None:
    """Loss curves (smoothed) against step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    steps = np.array([int(r["step"]) for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    window = max(1, len(rows) // 100)
    kernel = np.ones(window) / window
    for ax, keys in zip(axes, (["g_l1"], ["g_gan", "d_real", "d_fake"])):
        for key in keys:
            values = np.convolve([float(r[key]) for r in rows], kernel, mode="valid")
            ax.plot(steps[window - 1 :], values, label=key)
        ax.set_xlabel("step")
        ax.legend()
    axes[0].set_title("generator L1 (0..2 scale)")
    axes[1].set_title("adversarial losses")
    fig.tight_layout()
    fig.savefig(png_path, dpi=80)
    plt.close(fig)
