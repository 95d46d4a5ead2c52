"""The estimator base, the image checks, seeded randomness and the batched forward (tutorial_lib.base)."""

import random

import numpy as np
import pytest
import torch
from torch import nn

from tutorial_lib.base import (
    Estimator,
    InputError,
    NotFittedError,
    as_label_array,
    batched_forward,
    check_image_list,
    check_images,
    seeded,
)


class Threshold(Estimator):
    """A toy estimator: label 1 above the fitted mean plus ``shift``."""

    def __init__(self, shift: float = 0.0, name: str = "t", weights=None, seed: int = 0):
        self.shift = shift
        self.name = name
        self.weights = weights
        self.seed = seed

    def fit(self, X, y=None):
        x = np.asarray(X, dtype=float)
        self.mean_ = float(x.mean())
        self.labels_ = self.predict(x)
        return self

    def predict(self, X):
        self._check_fitted("mean_")
        return as_label_array(np.asarray(X, dtype=float) > self.mean_ + self.shift)


def test_get_params_lists_every_constructor_argument():
    est = Threshold(shift=2.0, name="x")
    assert est.get_params() == {"shift": 2.0, "name": "x", "weights": None, "seed": 0}


def test_repr_shows_only_changed_parameters():
    assert repr(Threshold()) == "Threshold()"
    assert repr(Threshold(shift=1.5, seed=3)) == "Threshold(shift=1.5, seed=3)"


def test_repr_copes_with_array_parameters():
    text = repr(Threshold(weights=np.arange(3)))
    assert text.startswith("Threshold(weights=array(")


def test_set_params_changes_and_refuses_unknown_names():
    est = Threshold().set_params(shift=4.0)
    assert est.shift == 4.0
    with pytest.raises(ValueError, match="no parameter 'colour'"):
        est.set_params(colour="red")


def test_not_fitted_error_names_the_class():
    with pytest.raises(NotFittedError, match="Threshold is not fitted yet"):
        Threshold().predict([1.0, 2.0])
    assert issubclass(NotFittedError, RuntimeError)


def test_fit_predict_returns_the_fitted_labels():
    labels = Threshold().fit_predict([0.0, 1.0, 5.0])
    assert labels.dtype == np.int64
    assert labels.tolist() == [0, 0, 1]


def test_check_images_accepts_arrays_and_tensors():
    arr = np.random.default_rng(0).random((2, 1, 5, 5)).astype(np.float64)
    out = check_images(arr)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (2, 1, 5, 5)


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(3, 5, 5), "shape \\(N, C, H, W\\)"),
    (torch.zeros(2, 1, 5, 5, dtype=torch.uint8), "/ 255"),
    ([1, 2, 3], "tensor or array"),
    (torch.full((1, 1, 2, 2), float("nan")), "NaN"),
])
def test_check_images_refuses_bad_input(bad, match):
    with pytest.raises(InputError, match=match):
        check_images(bad)


def test_check_images_range_and_count():
    with pytest.raises(InputError, match="divide 8-bit images by 255"):
        check_images(torch.full((2, 1, 3, 3), 255.0), value_range=(-0.5, 1.5))
    with pytest.raises(InputError, match="at least 2"):
        check_images(torch.zeros(1, 1, 3, 3), min_count=2)


def test_check_image_list_names_the_bad_image():
    good = torch.zeros(3, 4, 4)
    out = check_image_list([good, np.ones((1, 6, 2), dtype=np.float32)])
    assert [tuple(t.shape) for t in out] == [(3, 4, 4), (1, 6, 2)]
    with pytest.raises(InputError, match=r"images\[1\]"):
        check_image_list([good, torch.zeros(4, 4)])


def _states():
    return random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state().clone()


def test_seeded_restores_the_callers_state_and_repeats():
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    before = _states()
    with seeded(5):
        a = (random.random(), np.random.rand(), torch.rand(1).item())
    with seeded(5):
        b = (random.random(), np.random.rand(), torch.rand(1).item())
    after = _states()
    assert a == b
    assert before[0] == after[0]
    assert np.array_equal(before[1], after[1])
    assert torch.equal(before[2], after[2])


def test_seeded_restores_even_after_an_error():
    before = torch.get_rng_state().clone()
    with pytest.raises(KeyError), seeded(1):
        torch.rand(10)
        raise KeyError("boom")
    assert torch.equal(before, torch.get_rng_state())


def test_batched_forward_matches_one_pass_and_restores_mode():
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3), nn.Dropout(0.5))
    net.train()
    x = torch.rand(10, 1, 4, 4)
    out = batched_forward(net, x, "cpu", batch_size=3)
    net.eval()
    with torch.no_grad():
        expected = net(x)
    assert torch.allclose(out, expected)
    net.train()
    batched_forward(net, x, "cpu")
    assert net.training
