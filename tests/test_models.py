"""Shapes, dtypes and bad arguments of the networks."""

import pytest
import torch

from tutorial_lib.models import (
    AutoencoderEncoder,
    ClusteringHead,
    ConvAutoencoder,
    ConvEncoder,
    EncoderWithHead,
    ProjectionHead,
    build_encoder,
    count_parameters,
    make_activation,
    resnet18_small,
)

torch.set_num_threads(1)


@pytest.mark.parametrize("channels,size", [(1, 8), (1, 28), (3, 32)])
@pytest.mark.parametrize("depth", [1, 3, 4])
def test_conv_encoder_shapes(channels, size, depth):
    enc = ConvEncoder(channels, depth=depth, width=8, activation="gelu")
    out = enc(torch.rand(5, channels, size, size))
    assert out.shape == (5, 8 * 2 ** (depth - 1)) == (5, enc.out_dim)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    projected = ConvEncoder(channels, depth=depth, width=8, out_dim=12)
    assert projected(torch.rand(2, channels, size, size)).shape == (2, 12)


def test_deeper_encoders_have_more_parameters_and_activation_choice_matters():
    sizes = [count_parameters(ConvEncoder(1, depth=d, width=8)) for d in (1, 2, 3)]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3
    torch.manual_seed(0)
    a = ConvEncoder(1, depth=2, width=8, activation="relu").eval()
    torch.manual_seed(0)
    b = ConvEncoder(1, depth=2, width=8, activation="tanh").eval()
    x = torch.randn(3, 1, 8, 8)
    assert not torch.allclose(a(x), b(x))
    with pytest.raises(ValueError, match="activation"):
        make_activation("swishy")
    with pytest.raises(ValueError, match="depth"):
        ConvEncoder(1, depth=0)


def test_resnet18_small_keeps_small_images_spatial():
    net = resnet18_small(in_channels=1)
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, torch.nn.Identity)
    net.eval()
    out = net(torch.rand(2, 1, 28, 28))
    assert out.shape == (2, 512) == (2, net.out_dim)
    assert resnet18_small(3, out_dim=16).eval()(torch.rand(2, 3, 32, 32)).shape == (2, 16)
    assert build_encoder("resnet18", 3).out_dim == 512
    with pytest.raises(ValueError, match="unknown encoder"):
        build_encoder("vgg")


def test_resnet18_pretrained_offline_gives_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty cache: a download is needed

    def no_network(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(RuntimeError, match="(?s)weights=None.*checkpoints"):
        resnet18_small(weights="DEFAULT")


@pytest.mark.parametrize("channels,size", [(1, 8), (1, 28), (3, 32), (1, 30), (3, (20, 13))])
def test_autoencoder_reconstructs_the_input_shape(channels, size):
    ae = ConvAutoencoder(channels, image_size=size, latent_dim=10, width=8)
    h, w = (size, size) if isinstance(size, int) else size
    x = torch.rand(3, channels, h, w)
    recon = ae(x)
    assert recon.shape == x.shape and recon.dtype == torch.float32
    assert recon.min() >= 0 and recon.max() <= 1
    assert ae.encode(x).shape == (3, 10)
    assert ae.decode(torch.randn(2, 10)).shape == (2, channels, h, w)
    assert AutoencoderEncoder(ae)(x).shape == (3, 10)
    with pytest.raises(ValueError, match="takes"):
        ae.encode(torch.rand(1, channels, h + 2, w))


def test_heads():
    z = torch.randn(6, 32)
    assert ProjectionHead(32, 64, 16)(z).shape == (6, 16)
    assert ProjectionHead(32, out_dim=8, layers=1)(z).shape == (6, 8)
    head = ClusteringHead(32, 10)
    assert head(z).shape == (6, 10)
    assert torch.allclose(head.probs(z).sum(1), torch.ones(6))
    multi = ClusteringHead(32, [10, 50])
    out = multi.probs(z)
    assert [o.shape for o in out] == [(6, 10), (6, 50)]
    assert len(ClusteringHead(32, 5, n_heads=3)(z)) == 3
    with pytest.raises(ValueError, match="at least 2"):
        ClusteringHead(32, 1)


def test_encoder_with_head_runs_both_and_features_alone():
    enc = ConvEncoder(1, depth=2, width=8)
    model = EncoderWithHead(enc, ProjectionHead(enc.out_dim, 32, 8))
    x = torch.rand(4, 1, 8, 8)
    assert model(x).shape == (4, 8) and model.features(x).shape == (4, enc.out_dim)
