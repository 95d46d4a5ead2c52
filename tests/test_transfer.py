"""Deeper models and transfer (notebook 06): resizing, the transfer experiment, the ResNet-18 in SCAN,
and ResNet-18 weights from a local file or torchvision (offline here)."""

import math
import urllib.error

import pytest
import torch
import torchvision

from tutorial_lib import data
from tutorial_lib.base import InputError
from tutorial_lib.cluster.scan import build_scan_model
from tutorial_lib.models import build_encoder, resnet18_small
from tutorial_lib.scaling import TRANSFER_ENCODERS, resize_images, transfer_experiment

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def test_resize_images_shapes_range_and_pad(digits):
    x = digits.images[:20]
    up = resize_images(x, 28)
    assert up.shape == (20, 1, 28, 28) and up.dtype == torch.float32
    # Bilinear weights are positive: no value leaves the input's range.
    assert up.min() >= x.min() - 1e-6 and up.max() <= x.max() + 1e-6 and up.max() > 0.5
    assert resize_images(x.numpy(), (20, 13)).shape == (20, 1, 20, 13)
    padded = resize_images(x, 28, pad=4)
    assert padded.shape == (20, 1, 28, 28)
    assert padded[..., :4, :].abs().max() == 0 and padded[..., -4:].abs().max() == 0
    assert torch.allclose(padded[..., 4:24, 4:24], resize_images(x, 20))
    # Shrinking averages every pixel (antialias): noise shrunk 8 times nearly vanishes (0.10 of its
    # standard deviation; plain bilinear, which reads 2x2 of each 8x8 block, keeps 0.53).
    noise = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    assert resize_images(noise, 8).std() < 0.2 * noise.std()
    with pytest.raises(ValueError, match="pad"):
        resize_images(x, 8, pad=4)
    with pytest.raises(InputError):
        resize_images(torch.rand(8, 8), 28)


def test_transfer_experiment_gives_three_finite_rows(digits):
    source = resize_images(digits.images[:96], 16)
    target, labels = resize_images(digits.images[96:176], 16), digits.labels[96:176]
    result = transfer_experiment(source, target, labels, epochs=1, fine_tune_epochs=1, batch_size=32)
    assert tuple(result) == TRANSFER_ENCODERS == ("frozen", "fine-tuned", "scratch")
    for name, row in result.items():
        for key in ("kmeans_acc", "nmi", "knn_acc"):
            assert 0.0 <= row[key] <= 1.0 and math.isfinite(row[key]), (name, key, row[key])
        assert row["seconds"] > 0
    assert result["frozen"]["epochs"] == 0 and result["scratch"]["epochs"] == 1
    assert result["frozen"]["source_seconds"] == result["fine-tuned"]["source_seconds"] > 0
    assert result["scratch"]["source_seconds"] == 0
    with pytest.raises(InputError, match="resize_images"):
        transfer_experiment(source, digits.images[:20], digits.labels[:20], epochs=1, fine_tune_epochs=1)
    with pytest.raises(InputError, match="target_labels"):
        transfer_experiment(source, target, labels[:5], epochs=1, fine_tune_epochs=1)


@pytest.mark.parametrize("size", [28, 8])
def test_build_scan_model_resnet18_forward(size):
    model = build_scan_model((4, 1, size, size), 10, encoder="resnet18").eval()
    assert model.encoder.conv1.kernel_size == (3, 3) and model.encoder.out_dim == 512
    with torch.no_grad():
        out = model(torch.rand(3, 1, size, size))
    assert out.shape == (3, 10) and torch.isfinite(out).all()


def test_build_scan_model_rejects_bad_encoders():
    with pytest.raises(ValueError, match="unknown encoder"):
        build_scan_model((4, 1, 8, 8), 10, encoder="vgg")
    with pytest.raises(ValueError, match="CNN only"):
        build_scan_model((4, 1, 8, 8), 10, encoder="resnet18", attention="se")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_resnet18_loads_a_local_weights_file(tmp_path, suffix):
    torch.manual_seed(0)
    state = torchvision.models.resnet18().state_dict()
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, path)
    grey = resnet18_small(1, weights=str(path))
    for key in ("layer1.0.conv1.weight", "layer4.1.bn2.running_var", "bn1.weight"):
        assert torch.equal(grey.state_dict()[key], state[key]), key
    # The 7x7 RGB stem, shrunk to 3x3 and averaged over RGB, keeps each filter's sum.
    assert grey.conv1.weight.shape == (64, 1, 3, 3)
    assert torch.allclose(grey.conv1.weight.sum((1, 2, 3)), state["conv1.weight"].sum((1, 2, 3)), atol=1e-4)
    rgb = build_encoder("resnet18", 3, weights=path, out_dim=16)
    assert rgb.conv1.weight.shape == (64, 3, 3, 3) and torch.equal(rgb.layer2[0].conv2.weight,
                                                                   state["layer2.0.conv2.weight"])
    assert rgb.eval()(torch.rand(2, 3, 28, 28)).shape == (2, 16)
    # A small-stem state dict saved from resnet18_small loads as it is.
    small = tmp_path / "small.pth"
    torch.save(grey.state_dict(), small)
    assert torch.equal(resnet18_small(1, weights=small).conv1.weight, grey.conv1.weight)


def test_resnet18_bad_weights_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="DEFAULT"):
        resnet18_small(weights=tmp_path / "missing.pth")
    torch.save({"a": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="no ResNet-18 state dict"):
        resnet18_small(weights=tmp_path / "other.pth")


def test_resnet18_imagenet_weights_offline_message(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache: a download is needed

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(RuntimeError) as err:
        resnet18_small(1, weights="DEFAULT")
    message = str(err.value)
    assert "no route to host" in message  # what failed
    assert str(tmp_path / "hub" / "checkpoints") in message  # where to put the file
    assert "weights='/path/to/resnet18-f37072fd.pth'" in message  # how to pass its path
