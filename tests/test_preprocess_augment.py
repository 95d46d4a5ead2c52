"""Tests for tutorial_lib.preprocess.augment: the random parameter draws are separate from the
deterministic kernels, the same seed gives the same views, and the caller's RNG is left alone."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from tutorial_lib import preprocess as pp
from tutorial_lib.base import generator
from tutorial_lib.preprocess import augment as A


def _rng_states():
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _assert_same(before, after):
    assert torch.equal(before[0], after[0])
    assert np.array_equal(before[1][1], after[1][1]) and before[1][2:] == after[1][2:]
    assert before[2] == after[2]


def _params_equal(p, q) -> bool:
    return all(torch.equal(getattr(p, f), getattr(q, f)) for f in A.ViewParams.__dataclass_fields__)


@pytest.fixture(scope="module")
def images() -> dict[str, torch.Tensor]:
    from sklearn.datasets import load_digits

    gen = torch.Generator().manual_seed(0)
    return {"digits8": torch.tensor(load_digits().images[:32] / 16.0, dtype=torch.float32)[:, None],
            "grey28": torch.rand(12, 1, 28, 28, generator=gen),
            "rgb32": torch.rand(6, 3, 32, 32, generator=gen)}


@pytest.mark.parametrize("preset", sorted(pp.AUGMENT_PRESETS))
def test_draws_are_deterministic_and_per_image(preset):
    cfg = pp.AUGMENT_PRESETS[preset]
    a = A.draw_params(40, cfg, generator(3))
    b = A.draw_params(40, cfg, generator(3))
    c = A.draw_params(40, cfg, generator(4))
    assert len(a) == 40 and _params_equal(a, b) and not _params_equal(a, c)
    assert a.crop_size.shape == (40, 2) and a.shift.shape == (40, 2) and a.blur.dtype == torch.bool
    # each image has its own draw, within the configured ranges
    assert len(torch.unique(a.angle)) > 1 or cfg.degrees == 0
    area = a.crop_size.prod(-1)
    assert float(area.min()) >= cfg.crop_scale[0] / cfg.crop_ratio[1] - 1e-9 and float(area.max()) <= 1 + 1e-9
    assert bool(((a.blur_sigma >= cfg.blur_sigma[0]) & (a.blur_sigma <= cfg.blur_sigma[1])).all())
    assert set(a.flip.tolist()) <= ({-1.0, 1.0} if cfg.flip else {1.0})


def test_every_draw_is_made_whatever_the_probabilities():
    """The stream advances by the same amount with steps on or off, so later views do not shift."""
    on, off = pp.AUGMENT_PRESETS["rgb32"], pp.AugmentConfig(jitter_p=0.0, blur_p=0.0, grayscale_p=0.0)
    g1, g2 = generator(0), generator(0)
    A.draw_params(16, on, g1)
    A.draw_params(16, off, g2)
    assert torch.equal(g1.get_state(), g2.get_state())


@pytest.mark.parametrize("preset", sorted(pp.AUGMENT_PRESETS))
def test_kernel_is_deterministic_and_makes_the_objects_views(preset, images):
    x = images[preset]
    cfg = pp.AUGMENT_PRESETS[preset]
    params = A.draw_params(len(x), cfg, generator(7))
    before = _rng_states()
    v1, v2 = A.augment_view(x, params, cfg), A.augment_view(x, params, cfg)
    _assert_same(before, _rng_states())  # the kernel draws nothing
    assert torch.equal(v1, v2) and v1.shape == x.shape
    assert float(v1.min()) >= 0 and float(v1.max()) <= 1
    # ContrastiveAugment is exactly draw_params on its generator, then the kernel
    assert torch.equal(pp.ContrastiveAugment(preset, seed=7)(x), v1)
    aug = pp.ContrastiveAugment(preset, seed=7)
    assert _params_equal(aug.make_params(x), params)
    second = A.augment_view(x, A.draw_params(len(x), cfg, generator(7).set_state(aug.generator.get_state())),
                            cfg)
    assert torch.equal(aug(x), second)  # make_params advanced the object's stream like a call


def test_kernel_applies_exactly_the_given_parameters():
    """Hand-made parameters: identity everywhere except a mirror of every other image."""
    n = 6
    x = torch.rand(n, 3, 9, 9, generator=torch.Generator().manual_seed(1))
    ones, zeros = torch.ones(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    flip = torch.tensor([1.0, -1.0] * 3, dtype=torch.float64)
    params = A.ViewParams(crop_size=torch.ones(n, 2, dtype=torch.float64),
                          crop_center=torch.zeros(n, 2, dtype=torch.float64), flip=flip, angle=zeros,
                          zoom=ones,
                          shift=torch.zeros(n, 2, dtype=torch.float64), brightness=ones, contrast=ones,
                          saturation=ones, hue=zeros, grayscale=torch.zeros(n, dtype=torch.bool),
                          blur=torch.zeros(n, dtype=torch.bool), blur_sigma=ones)
    cfg = pp.AugmentConfig(jitter=(0.0, 0.0, 0.0, 0.0))
    v = A.augment_view(x, params, cfg)
    assert torch.allclose(v[0::2], x[0::2], atol=1e-5)
    assert torch.allclose(v[1::2], x[1::2].flip(-1), atol=1e-5)
    grey = A.apply_color(x, A.ViewParams(**{**vars(params), "grayscale": torch.ones(n, dtype=torch.bool)}),
                         rotate_hue=False)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    blurred = A.apply_blur(x, A.ViewParams(**{**vars(params), "blur": torch.ones(n, dtype=torch.bool)}), 1.0)
    assert float(blurred.std()) < float(x.std())
    with pytest.raises(ValueError, match="views"):
        A.augment_view(x[:3], params, cfg)


@pytest.mark.parametrize("backend", ["batched", "torchvision"])
def test_augment_leaves_the_callers_rng_alone(backend, images):
    aug = pp.ContrastiveAugment(seed=0, backend=backend)
    torch.manual_seed(123)
    before = _rng_states()
    first = aug(images["rgb32"])
    pp.contrastive_views(images["digits8"], n_views=2, seed=1)
    _assert_same(before, _rng_states())
    # and the caller's stream does not decide the views
    torch.manual_seed(999)
    assert torch.equal(pp.ContrastiveAugment(seed=0, backend=backend)(images["rgb32"]), first)


def test_reseeding_the_generator_attribute_restarts_the_views(images):
    """Training loops (features.SimCLRStep, cluster SCAN) re-seed ``aug.generator`` every step."""
    x = images["grey28"]
    aug = pp.ContrastiveAugment(seed=0)
    aug.generator.manual_seed(42)
    a = aug(x)
    aug(x)
    aug.generator.manual_seed(42)
    assert torch.equal(aug(x), a)
