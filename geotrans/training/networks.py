"""The 70x70 PatchGAN discriminator, conditioned on the source image."""
from __future__ import annotations

from torch import nn

from geotrans.model.generator import init_weights


class PatchDiscriminator(nn.Module):
    """C64-C128-C256-C512 then a 1-channel map: 4x4 convs, stride 2 except the last two,
    LeakyReLU 0.2, no norm on the first layer. Input: source and target concatenated."""

    def __init__(self, in_channels: int = 6, ndf: int = 64, norm: str = "instance"):
        super().__init__()
        use_bias = norm != "batch"

        def norm_layer(ch: int) -> nn.Module:
            if norm == "instance":
                return nn.InstanceNorm2d(ch)
            return nn.BatchNorm2d(ch) if norm == "batch" else nn.Identity()

        self.model = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf, ndf * 2, 4, stride=2, padding=1, bias=use_bias), norm_layer(ndf * 2), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 2, ndf * 4, 4, stride=2, padding=1, bias=use_bias), norm_layer(ndf * 4), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 4, ndf * 8, 4, stride=1, padding=1, bias=use_bias), norm_layer(ndf * 8), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 8, 1, 4, stride=1, padding=1),
        )

    def forward(self, pair, features: bool = False):
        """The patch logits; with ``features``, also the activation after each LeakyReLU (pix2pixHD's
        feature-matching loss compares these between real and generated pairs)."""
        if not features:
            return self.model(pair)
        activations = []
        x = pair
        for layer in self.model:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                activations.append(x)
        return x, activations


def build_discriminator(ndf: int = 64, norm: str = "instance") -> PatchDiscriminator:
    net = PatchDiscriminator(ndf=ndf, norm=norm)
    init_weights(net)
    return net


def receptive_field(net: nn.Module) -> int:
    """Receptive field in input pixels of one output unit, from the conv stack."""
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    field = 1
    for conv in reversed(convs):
        field = (field - 1) * conv.stride[0] + conv.kernel_size[0]
    return field
