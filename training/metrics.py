"""Per-image map metrics on 0..255 images of shape (H, W, 3), as in published aerial->map work."""
from __future__ import annotations

import math

import numpy as np
from skimage.metrics import structural_similarity

METRICS = ("rmse", "rmse_gcgan", "acc5", "acc10", "psnr", "ssim")


def image_metrics(generated: np.ndarray, real: np.ndarray) -> dict:
    """RMSE per element; GcGAN RMSE (squared differences summed over channels, so sqrt(3) x RMSE
    for equal channel errors); pixel accuracy where the largest channel difference is below 5 and
    10; PSNR; SSIM (scikit-image, over RGB, data range 255)."""
    if generated.shape != real.shape or generated.ndim != 3 or generated.shape[2] != 3:
        raise ValueError(f"need two (H, W, 3) images of one shape, got {generated.shape} and {real.shape}")
    diff = generated.astype(np.float64) - real.astype(np.float64)
    mse = float(np.mean(diff**2))
    rmse = math.sqrt(mse)
    largest = np.abs(diff).max(axis=2)
    return {
        "rmse": rmse,
        "rmse_gcgan": math.sqrt(float(np.mean(np.sum(diff**2, axis=2)))),
        "acc5": float(np.mean(largest < 5)) * 100,
        "acc10": float(np.mean(largest < 10)) * 100,
        "psnr": float("inf") if mse == 0 else 20 * math.log10(255 / rmse),
        "ssim": float(structural_similarity(generated, real, channel_axis=2, data_range=255)),
    }


def mean_metrics(rows: list[dict]) -> dict:
    return {k: float(np.mean([r[k] for r in rows])) for k in METRICS}
