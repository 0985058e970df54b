"""The U-Net generator against the pix2pix paper and the junyanz reference."""
import pytest
import torch

from geotrans.model.generator import UnetGenerator, build_generator, count_parameters, encoder_channels


def test_parameter_count_matches_reference_at_ngf64():
    # junyanz UnetGenerator(3, 3, 8, ngf=64) reports 54.414 M; ours, with instance norm, 54.410 M.
    assert round(count_parameters(UnetGenerator(ngf=64)) / 1e6, 1) == 54.4
    assert round(count_parameters(UnetGenerator(ngf=64, norm="batch")) / 1e6, 1) == 54.4


def test_layer_shapes_follow_the_paper():
    net = UnetGenerator(ngf=64).eval()
    assert encoder_channels(64) == [64, 128, 256, 512, 512, 512, 512, 512]
    shapes = {}
    hooks = []
    for i, block in enumerate(net.encoder):
        hooks.append(block.register_forward_hook(lambda m, inp, out, i=i: shapes.__setitem__(f"enc{i}", out.shape)))
    for j, block in enumerate(net.decoder):
        hooks.append(block.register_forward_hook(lambda m, inp, out, j=j: shapes.__setitem__(f"dec{j}", (inp[0].shape, out.shape))))
    with torch.inference_mode():
        out = net(torch.zeros(1, 3, 256, 256))
    assert out.shape == (1, 3, 256, 256)
    # Encoder: C64-C128-C256-C512-C512-C512-C512-C512, halving the size down to 1x1.
    for i, (ch, size) in enumerate(zip([64, 128, 256, 512, 512, 512, 512, 512], [128, 64, 32, 16, 8, 4, 2, 1])):
        assert tuple(shapes[f"enc{i}"]) == (1, ch, size, size)
    # Decoder inputs after concatenation: CD512-CD1024-CD1024-C1024-C1024-C512-C256, then C128 into the head.
    assert [shapes[f"dec{j}"][0][1] for j in range(7)] == [512, 1024, 1024, 1024, 1024, 512, 256]
    assert net.head[1].in_channels == 128 and net.head[1].out_channels == 3
    assert isinstance(net.head[2], torch.nn.Tanh)
    # No norm on the first layer nor at the 1x1 bottleneck.
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in net.encoder[0])
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in net.encoder[7])
    assert all(isinstance(block[2], torch.nn.InstanceNorm2d) for block in net.encoder[1:7])


def test_width_multiplier_makes_narrower_variants():
    assert count_parameters(UnetGenerator(ngf=32)) < count_parameters(UnetGenerator(ngf=64)) / 3.5


def test_output_is_independent_of_batch_companions():
    torch.manual_seed(1)
    net = build_generator(ngf=8).eval()
    tiles = torch.rand(5, 3, 256, 256) * 2 - 1
    with torch.inference_mode():
        alone = net(tiles[2:3])
        together = net(tiles)[2:3]
        with_others = net(torch.cat([tiles[2:3], torch.full((3, 3, 256, 256), 0.9)]))[0:1]
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)
    torch.testing.assert_close(with_others, alone, rtol=0, atol=1e-5)


def test_batch_norm_variant_would_mix_tiles_in_training():
    # The property above is not vacuous: a batch-norm net in train mode does depend on companions.
    torch.manual_seed(1)
    net = build_generator(ngf=8, norm="batch").train()
    torch.nn.Module.eval(net.dropout)
    tiles = torch.rand(4, 3, 256, 256)
    assert not torch.allclose(net(tiles)[:1], net(torch.cat([tiles[:1], -tiles[1:]]))[:1], atol=1e-4)


def test_inference_is_deterministic_without_dropout_seeds():
    torch.manual_seed(2)
    net = build_generator(ngf=8).eval()
    x = torch.rand(2, 3, 256, 256)
    with torch.inference_mode():
        torch.testing.assert_close(net(x), net(x), rtol=0, atol=0)


def test_seeded_dropout_repeats_and_differs_by_seed():
    torch.manual_seed(3)
    net = build_generator(ngf=8).eval()
    x = torch.rand(2, 3, 256, 256)
    with torch.inference_mode():
        a = net(x, dropout_seeds=[7, 8])
        b = net(x, dropout_seeds=[7, 8])
        plain = net(x)
        c = net(x, dropout_seeds=[9, 8])
        single = net(x[1:], dropout_seeds=[8])
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, plain)
    assert not torch.allclose(a[0], c[0])
    torch.testing.assert_close(a[1:], single, rtol=0, atol=1e-5)  # per-sample noise, batch-independent


def test_rejects_sizes_the_unet_cannot_take():
    with pytest.raises(ValueError, match="multiples of 256"):
        UnetGenerator(ngf=8)(torch.zeros(1, 3, 200, 256))
