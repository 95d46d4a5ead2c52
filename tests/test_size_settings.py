"""The settings SCAN derives from the images themselves (issue: clustering that generalises): the
encoder, the augmentation and the training budgets on 8x8, 28x28 and 32x32 inputs (notebook 03)."""

import math

import pytest
import torch
from torch import nn

from tutorial_lib.cluster.merge import auto_factor, overcluster_factors
from tutorial_lib.cluster.scan import stage_epochs
from tutorial_lib.cluster.scan_losses import scan_augment, scan_encoder
from tutorial_lib.models import ConvEncoder


def _stride2_convs(net: nn.Module) -> int:
    return sum(1 for m in net.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2))


@pytest.mark.parametrize("shape,preset,small,downsamples", [
    ((4, 1, 8, 8), "digits8", True, 0),       # scikit-learn digits: full resolution, no stride
    ((4, 1, 28, 28), "grey28", False, 3),     # MNIST: three stride-2 layers, 28 -> 4
    ((4, 1, 32, 32), "grey28", False, 3),     # COIL-20 as stored: the same encoder, 32 -> 4
    ((4, 3, 32, 32), "rgb32", False, 3),      # CIFAR-like colour
    ((2, 3, 64, 64), "rgb32", False, 4),      # larger: one stage more, so the last map stays small
])
def test_encoder_and_views_follow_the_image_shape(shape, preset, small, downsamples):
    x = torch.rand(shape)
    torch.manual_seed(0)
    net = scan_encoder(shape, width=8).eval()
    assert isinstance(net, ConvEncoder) is small
    assert _stride2_convs(net) == downsamples
    with torch.no_grad():
        feats = net(x)
    assert feats.ndim == 2 and feats.shape[0] == shape[0] and torch.isfinite(feats).all()
    aug = scan_augment(x, seed=0)
    cfg = aug.config_for(x)
    assert aug.preset == preset
    assert cfg.flip is (shape[1] == 3)  # a flipped digit can be another digit: flips only on colour photos
    assert cfg.crop_scale == (1.0, 1.0) and cfg.blur_p == 0.0  # SCAN's views: geometry and jitter only
    view = aug(x)
    assert view.shape == x.shape and not torch.equal(view, x)


def test_budgets_are_steps_so_epochs_follow_the_set_size():
    # the same 600 steps of 256 images (the last batch of an epoch may be short): fewer epochs on a
    # larger set, capped on a tiny one
    assert stage_epochs(1797, 256, 600) == round(600 / math.ceil(1797 / 256)) == 75
    assert stage_epochs(10000, 256, 600) == round(600 / math.ceil(10000 / 256)) == 15
    assert stage_epochs(1440, 256, 600) > stage_epochs(10000, 256, 600)
    assert stage_epochs(40, 256, 600) == 200


@pytest.mark.parametrize("k,n,factors", [(10, 1797, (1, 5)), (10, 10000, (1, 5)), (20, 1440, (1, 3)),
                                         (10, 300, (1,))])
def test_overclustering_follows_images_per_class(k, n, factors):
    assert overcluster_factors("auto", k, n) == factors
    assert auto_factor(k, n) == max(factors)
