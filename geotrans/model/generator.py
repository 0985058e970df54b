"""The pix2pix U-Net generator, shared by inference (geotrans) and training (training/).

Architecture (Isola et al. 2017, appendix 6.1.1), as in the junyanz reference
``UnetGenerator(num_downs=8)``:

* encoder C64-C128-C256-C512-C512-C512-C512-C512: 4x4 convolutions, stride 2,
  LeakyReLU 0.2; no norm on the first layer, none at the 1x1 bottleneck;
* decoder CD512-CD1024-CD1024-C1024-C1024-C512-C256-C128 (channel counts after
  concatenating the mirrored encoder output): 4x4 transposed convolutions,
  stride 2, ReLU, 50% dropout in the first three blocks;
* a final transposed convolution to 3 channels and tanh.

Normalization is per sample (instance norm, the paper's "batch norm at batch
size 1"), so a tile's output never depends on which tiles share its batch.
"""
from __future__ import annotations

from typing import Optional, Sequence, TypeVar

import numpy as np
import torch
from torch import nn

NORMS = ("instance", "batch", "none")
NUM_DOWNS = 8  # 256 px input -> 1x1 bottleneck
DROPOUT_BLOCKS = 3
DROPOUT_P = 0.5


Values = TypeVar("Values", np.ndarray, torch.Tensor)


def to_model_range(values: Values) -> Values:
    """0..255 pixel values (numpy or torch) to the generator's input range [-1, 1], as float32."""
    values = values.astype(np.float32, copy=False) if isinstance(values, np.ndarray) else values.float()
    return values / 127.5 - 1.0


def from_model_range(values: np.ndarray) -> np.ndarray:
    """The generator's output range [-1, 1] to 0..255 uint8 pixels (rounded, clipped)."""
    scaled = values + 1.0  # the one temporary; the steps below work in place
    scaled *= 127.5
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, 255, out=scaled)
    return scaled.astype(np.uint8)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")


def encoder_channels(ngf: int) -> list[int]:
    """Output channels of the eight encoder blocks: C64-C128-C256-C512x5 at ngf=64."""
    return [ngf * min(2**i, 8) for i in range(NUM_DOWNS)]


class UnetGenerator(nn.Module):
    """pix2pix U-Net generator mapping a 3-band image in [-1, 1] to a 3-band image in [-1, 1].

    Args:
        ngf: width multiplier; 64 is the paper's generator.
        norm: "instance" (default, per sample), "batch" or "none".
        in_channels, out_channels: image bands in and out.

    Dropout is active in ``train()`` mode, as in training. In ``eval()`` mode it
    is off unless ``forward`` is given per-sample ``dropout_seeds``: then each
    sample gets its own reproducible dropout masks (the paper's test-time noise),
    independent of batch composition.
    """

    def __init__(self, ngf: int = 64, norm: str = "instance", in_channels: int = 3, out_channels: int = 3):
        super().__init__()
        if ngf < 1:
            raise ValueError("ngf must be positive")
        self.ngf, self.norm, self.in_channels, self.out_channels = ngf, norm, in_channels, out_channels
        use_bias = norm != "batch"  # a following batch norm makes the conv bias redundant
        enc = encoder_channels(ngf)

        self.encoder = nn.ModuleList()
        for i, out_ch in enumerate(enc):
            in_ch = in_channels if i == 0 else enc[i - 1]
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1, bias=use_bias))
            if 0 < i < NUM_DOWNS - 1:  # no norm on the first layer nor at the 1x1 bottleneck
                layers.append(_norm(norm, out_ch))
            self.encoder.append(nn.Sequential(*layers))

        # Decoder block j mirrors encoder block NUM_DOWNS-1-j. Its input is the previous
        # decoder output concatenated with the mirrored encoder output (except the first).
        self.decoder = nn.ModuleList()
        for j in range(NUM_DOWNS - 1):
            mirror = NUM_DOWNS - 1 - j
            in_ch = enc[mirror] if j == 0 else enc[mirror] * 2
            out_ch = enc[mirror - 1]
            self.decoder.append(
                nn.Sequential(
                    nn.ReLU(),
                    nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=use_bias),
                    _norm(norm, out_ch),
                )
            )
        self.dropout = nn.Dropout(DROPOUT_P)
        self.head = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(enc[0] * 2, out_channels, 4, stride=2, padding=1),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor, dropout_seeds: Optional[Sequence[int]] = None) -> torch.Tensor:
        if x.shape[-1] % 2**NUM_DOWNS or x.shape[-2] % 2**NUM_DOWNS:
            raise ValueError(f"input height and width must be multiples of {2**NUM_DOWNS}, got {tuple(x.shape[-2:])}")
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        for j, block in enumerate(self.decoder):
            if j > 0:
                x = torch.cat([x, skips[NUM_DOWNS - 1 - j]], dim=1)
            x = block(x)
            if j < DROPOUT_BLOCKS:
                x = self._apply_dropout(x, j, dropout_seeds)
        return self.head(torch.cat([x, skips[0]], dim=1))

    def _apply_dropout(self, x: torch.Tensor, block: int, seeds: Optional[Sequence[int]]) -> torch.Tensor:
        if self.training:
            return self.dropout(x)
        if seeds is None:
            return x
        if len(seeds) != x.shape[0]:
            raise ValueError("need one dropout seed per sample")
        masks = []
        for seed in seeds:
            gen = torch.Generator(device="cpu").manual_seed(int(seed) * 16 + block & (2**63 - 1))  # torch's range
            masks.append(torch.rand(x.shape[1:], generator=gen) >= DROPOUT_P)
        keep = torch.stack(masks).to(device=x.device, dtype=x.dtype)
        return x * keep / (1 - DROPOUT_P)


def build_generator(ngf: int = 64, norm: str = "instance") -> UnetGenerator:
    """A U-Net generator with the pix2pix initialisation: weights ~ N(0, 0.02)."""
    net = UnetGenerator(ngf=ngf, norm=norm)
    init_weights(net)
    return net


def init_weights(net: nn.Module, gain: float = 0.02) -> None:
    """pix2pix "normal" init: conv weights N(0, gain), biases 0, batch-norm weights N(1, gain)."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
