"""Generator loss terms beyond pix2pix's adversarial + lambda * L1.

Both take float tensors and return a scalar; callers apply their weights.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def feature_matching(fake: Sequence[torch.Tensor], real: Sequence[torch.Tensor]) -> torch.Tensor:
    """pix2pixHD's feature-matching loss: mean over discriminator layers of the L1 distance between
    the activations of the generated pair and of the real pair (the real side carries no gradient)."""
    if len(fake) != len(real) or not fake:
        raise ValueError("need the same, non-zero number of feature maps")
    return sum(F.l1_loss(f.float(), r.detach().float()) for f, r in zip(fake, real)) / len(fake)


def image_gradients(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical forward differences of (N, C, H, W) images."""
    return images[..., :, 1:] - images[..., :, :-1], images[..., 1:, :] - images[..., :-1, :]


def gradient_l1(generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """SMAPGAN's gradient term: L1 distance between the image gradients of the generated and the real
    map, averaged over both directions. It rewards edges in the right place: straight, sharp roads."""
    gx, gy = image_gradients(generated.float())
    rx, ry = image_gradients(real.float())
    return 0.5 * (F.l1_loss(gx, rx) + F.l1_loss(gy, ry))


def class_weights(colours: torch.Tensor, weighed: Sequence[tuple[torch.Tensor, float]]) -> torch.Tensor:
    """(K,) weights for ``class_cross_entropy``: for each (colour (3,), weight) of ``weighed``, that weight for
    the one of ``colours`` (K, 3) nearest it; 1 for the rest."""
    weights = torch.ones(len(colours), device=colours.device)
    for colour, weight in weighed:
        weights[((colours - colour) ** 2).sum(1).argmin()] = weight
    return weights


def nearest_classes(maps: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """(N, H, W) index of the one of ``colours`` (K, 3) nearest each pixel of ``maps`` (N, 3, H, W), both in one
    range: the class the class decision reads a map pixel as."""
    return ((maps.float().unsqueeze(1) - colours.view(1, -1, 3, 1, 1)) ** 2).sum(2).argmin(1)


def class_cross_entropy(generated: torch.Tensor, target: torch.Tensor, colours: torch.Tensor,
                        labelled: torch.Tensor | None, temperature: float,
                        weights: torch.Tensor | None = None) -> torch.Tensor:
    """A class decision beside L1: each pixel's map classes scored by how near the generated colour lies to each
    class colour (``colours`` (K, 3), model range; logits -squared distance / ``temperature``), cross-entropy
    against the class whose colour is nearest the target's, averaged over the ``labelled`` pixels (N, 1, H, W
    of 0 and 1; all when None). ``weights`` (K,) weighs each pixel by its target's class (a class the maps
    must not lose counts more); the mean stays over the pixels. L1 pulls a pixel unsure between water and
    green to a colour between them; this term pulls it to one of them."""
    palette = colours.view(1, -1, 3, 1, 1)
    logits = -((generated.float().unsqueeze(1) - palette) ** 2).sum(2) / temperature  # (N, K, H, W)
    truth = nearest_classes(target, colours)  # (N, H, W)
    loss = F.cross_entropy(logits, truth, reduction="none")
    if weights is not None:
        loss = loss * weights[truth]
    if labelled is None:
        return loss.mean()
    weight = labelled[:, 0].float()
    return (loss * weight).sum() / weight.sum().clamp(min=1)
