"""Widen a trained U-Net generator to a larger ``ngf`` without changing what it draws.

Every layer keeps its trained weights in the first channels. The new output channels of a layer
start at the pix2pix initialisation, and the weights that read them in the next layer start at
zero, so the widened net computes exactly the narrow net's function; training then grows the new
channels from the first step (the zero weights have gradients; Net2WiderNet's idea, with zeros
in place of copied units, as in a zero-initialised residual branch).

The new channels' initialisation has a fixed seed (``WIDEN_SEED``) whatever a run's own seed: every run
widened from one model starts from one net, as runs warm-started from it do, so their weights can be
averaged (``training.experiments.soup``).

The decoder's inputs are the concatenation [decoder output, mirrored encoder output]: each half
keeps its old channels first, so the old weights land on the same features.
"""
from __future__ import annotations

import torch
from torch import nn

from geotrans.model.generator import UnetGenerator, encoder_channels

INIT_STD = 0.02  # pix2pix's normal init, as build_generator's
WIDEN_SEED = 0


def widened(net: UnetGenerator, ngf: int, seed: int = WIDEN_SEED) -> UnetGenerator:
    """A copy of ``net`` at width ``ngf`` (at least ``net.ngf``) drawing what ``net`` draws."""
    if ngf < net.ngf:
        raise ValueError(f"cannot narrow a generator: ngf {net.ngf} -> {ngf}")
    if net.norm == "batch":
        raise ValueError("widening keeps a net's function only with instance or no norm")
    wide = UnetGenerator(ngf=ngf, norm=net.norm, in_channels=net.in_channels, out_channels=net.out_channels)
    gen = torch.Generator().manual_seed(seed)
    old, new = encoder_channels(net.ngf), encoder_channels(ngf)
    with torch.no_grad():
        for i, (src, dst) in enumerate(zip(net.encoder, wide.encoder)):
            in_map = _first(net.in_channels if i == 0 else old[i - 1])
            _copy(_conv(src), _conv(dst), in_map, old[i], gen)
        for j, (src, dst) in enumerate(zip(net.decoder, wide.decoder)):
            mirror = len(old) - 1 - j
            in_map = _first(old[mirror]) if j == 0 else _concat(old[mirror], new[mirror])
            _copy(_conv(src), _conv(dst), in_map, old[mirror - 1], gen)
        _copy(_conv(net.head), _conv(wide.head), _concat(old[0], new[0]), net.out_channels, gen)
    return wide.train(net.training)


def _conv(block: nn.Module) -> nn.Conv2d | nn.ConvTranspose2d:
    return next(m for m in block.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))


def _first(old: int) -> list[int]:
    """Where a layer's old input channels sit among its new ones: first."""
    return list(range(old))


def _concat(old: int, new: int) -> list[int]:
    """Where the old channels of a [decoder, skip] concatenation sit in the widened one."""
    return list(range(old)) + [new + k for k in range(old)]


def _copy(src: nn.Module, dst: nn.Module, in_map: list[int], old_out: int, gen: torch.Generator) -> None:
    """Fill ``dst``: trained weights at (first ``old_out`` outputs, ``in_map`` inputs), new outputs
    initialised, new inputs read with zero weight."""
    dst.weight.copy_(torch.randn(dst.weight.shape, generator=gen) * INIT_STD)
    weight, trained = _out_in(dst), _out_in(src)
    old_inputs = torch.tensor(in_map)
    new_inputs = torch.ones(weight.shape[1], dtype=torch.bool)
    new_inputs[old_inputs] = False
    weight[:, new_inputs] = 0  # the new inputs start unread by every output
    weight[:old_out, old_inputs] = trained
    if dst.bias is not None:
        dst.bias.zero_()
        dst.bias[:old_out] = src.bias


def _out_in(conv: nn.Module) -> torch.Tensor:
    """A conv's weight as (out, in, kh, kw), a view: ConvTranspose2d stores (in, out, kh, kw)."""
    return conv.weight.transpose(0, 1) if isinstance(conv, nn.ConvTranspose2d) else conv.weight
