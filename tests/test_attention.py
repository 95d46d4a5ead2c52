"""Squeeze-and-excitation attention as an encoder option (tutorial_lib.models.SqueezeExcite,
ConvEncoder(attention=...), and SCAN's CNN through scan_encoder / build_scan_model): shapes, the
effect on the output, gradients, parameter counts, and None leaving the networks exactly as before."""

from __future__ import annotations

import pytest
import torch

from tutorial_lib.cluster.scan import build_scan_model
from tutorial_lib.cluster.scan_losses import scan_encoder
from tutorial_lib.models import (
    ClusteringHead,
    ConvEncoder,
    EncoderWithHead,
    SqueezeExcite,
    build_encoder,
    count_parameters,
)


def _seeded(factory, seed: int = 0):
    torch.manual_seed(seed)
    return factory()


def test_squeeze_excite_rescales_each_channel_by_a_weight_in_0_1():
    se = _seeded(lambda: SqueezeExcite(8, reduction=4))
    x = torch.rand(3, 8, 5, 7) + 0.1  # positive maps: the ratio below is each channel's weight
    y = se(x)
    assert y.shape == x.shape
    ratio = y / x
    # One weight per (image, channel), the same at every pixel, strictly between 0 and 1.
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-6)
    assert bool(((ratio > 0) & (ratio < 1)).all())
    # The weights depend on the image: attention, not a fixed scaling.
    assert not torch.allclose(ratio[0, :, 0, 0], ratio[1, :, 0, 0])


def test_squeeze_excite_parameters_and_bad_input():
    # Linear(c, c/r) + Linear(c/r, c) with their biases.
    assert count_parameters(SqueezeExcite(32, reduction=4)) == 32 * 8 + 8 + 8 * 32 + 32
    assert count_parameters(SqueezeExcite(2, reduction=4)) == 2 * 1 + 1 + 1 * 2 + 2  # at least 1 hidden unit
    with pytest.raises(ValueError, match=r"takes \(N, 8, H, W\)"):
        SqueezeExcite(8)(torch.zeros(2, 4, 3, 3))
    with pytest.raises(ValueError, match="positive"):
        SqueezeExcite(8, reduction=0)


@pytest.mark.parametrize("size", [8, 13, 28])
def test_conv_encoder_with_attention_keeps_the_shapes_and_changes_the_output(size):
    x = torch.rand(4, 1, size, size)
    plain = _seeded(lambda: ConvEncoder(1, depth=3, width=8)).eval()
    se = _seeded(lambda: ConvEncoder(1, depth=3, width=8, attention="se")).eval()
    assert se.out_dim == plain.out_dim == 32 and se.attention == "se" and plain.attention is None
    out_plain, out_se = plain(x), se(x)
    assert out_se.shape == out_plain.shape == (4, 32)
    assert se.feature_maps(x).shape == plain.feature_maps(x).shape
    assert not torch.allclose(out_se, out_plain, atol=1e-4)
    assert sum(isinstance(m, SqueezeExcite) for m in se.modules()) == 3  # one per stage


def test_conv_encoder_attention_adds_exactly_the_squeeze_excite_weights():
    plain = count_parameters(ConvEncoder(1, depth=3, width=8))
    se = count_parameters(ConvEncoder(1, depth=3, width=8, attention="se"))
    expected = sum(count_parameters(SqueezeExcite(c)) for c in (8, 16, 32))
    assert se - plain == expected
    assert expected / plain < 0.1  # a small addition to the CNN
    projected = ConvEncoder(1, depth=2, width=8, out_dim=12, attention="se")
    assert projected(torch.rand(2, 1, 8, 8)).shape == (2, 12)


def test_gradient_reaches_the_attention_and_the_first_convolution():
    enc = _seeded(lambda: ConvEncoder(1, depth=2, width=8, attention="se"))
    enc(torch.rand(6, 1, 8, 8)).square().sum().backward()
    gates = [m for m in enc.modules() if isinstance(m, SqueezeExcite)]
    for gate in gates:
        assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in gate.parameters())
    first = enc.features[0]
    assert float(first.weight.grad.abs().sum()) > 0


def test_unknown_attention_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="'se'"):
        ConvEncoder(1, attention="transformer")
    with pytest.raises(ValueError, match="unknown attention"):
        scan_encoder((1, 1, 8, 8), attention="SE")
    assert build_encoder("cnn", 1, depth=1, width=4, attention="se")(torch.rand(2, 1, 8, 8)).shape == (2, 4)


@pytest.mark.parametrize("shape", [(5, 1, 8, 8), (5, 1, 16, 16), (5, 3, 28, 28)])
def test_scan_model_with_attention(shape):
    x = torch.rand(*shape)
    plain = _seeded(lambda: build_scan_model(shape, 4, width=8))
    se = _seeded(lambda: build_scan_model(shape, 4, width=8, attention="se"))
    n_gates = sum(isinstance(m, SqueezeExcite) for m in se.modules())
    assert n_gates == (2 if shape[-1] <= 12 else 3)  # the small CNN's 2 stages, or 3 stride-2 layers
    assert count_parameters(se) > count_parameters(plain)
    logits = se(x)
    assert logits.shape == (5, 4) and bool(torch.isfinite(logits).all())
    logits.logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in se.parameters())
    plain.eval(), se.eval()
    assert not torch.allclose(plain(x), se(x), atol=1e-4)


def test_no_attention_builds_exactly_the_network_of_before():
    # attention=None must draw the same random numbers and hold the same weights as the plain CNN
    # SCAN built before the option existed (ConvEncoder of 2 stages + a linear head, for 8x8 images).
    shape = (2, 1, 8, 8)
    default = _seeded(lambda: build_scan_model(shape, 3, width=8, attention=None))
    reference = _seeded(lambda: EncoderWithHead(ConvEncoder(1, depth=2, width=8), ClusteringHead(16, 3)))
    a, b = default.state_dict(), reference.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not any(isinstance(m, SqueezeExcite) for m in default.modules())
