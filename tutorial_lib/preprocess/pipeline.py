"""A composable preprocessing chain: :class:`Pipeline`, and :data:`STEPS`, the registry of step names.

Taught in notebook 01_preprocessing (section "Pipelines"): ``Pipeline([("gaussian", {"sigma": 1.0}),
"clahe", ("zca", {"epsilon": 0.1})])`` blurs, equalises and whitens; :meth:`Pipeline.fit` fits the
fitted steps (ZCA, Standardizer) on the output of the steps before them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import torch

from .augment import ContrastiveAugment
from .contrast import clahe, equalize_hist, gamma_correct
from .denoise import gaussian_filter, median_filter, nl_means_denoise, tv_denoise
from .noise import add_gaussian_noise, add_noise, add_poisson_noise, add_salt_pepper_noise
from .normalise import Standardizer, ZCAWhitening, standardize_per_image, to_unit_range

__all__ = ["STEPS", "Pipeline"]

# Step names for Pipeline specs: a function is called with the spec's kwargs; a class (a fitted
# step, or the augmentation) is instantiated with them.
STEPS: dict[str, Callable] = {
    "noise": add_noise,
    "gaussian_noise": add_gaussian_noise,
    "salt_pepper_noise": add_salt_pepper_noise,
    "poisson_noise": add_poisson_noise,
    "gaussian": gaussian_filter,
    "median": median_filter,
    "nl_means": nl_means_denoise,
    "tv": tv_denoise,
    "equalize_hist": equalize_hist,
    "clahe": clahe,
    "gamma": gamma_correct,
    "standardize_image": standardize_per_image,
    "unit_range": to_unit_range,
    "standardize": Standardizer,
    "zca": ZCAWhitening,
    "augment": ContrastiveAugment,
}


def _is_estimator(step: object) -> bool:
    """Whether ``step`` is fitted before use (has ``fit`` and ``transform``)."""
    return hasattr(step, "fit") and hasattr(step, "transform")


def _make_step(spec: object) -> tuple[str, Callable]:
    """Turn a step spec (callable, estimator, name, or (name, kwargs)) into (label, callable)."""
    if isinstance(spec, str):
        spec = (spec, {})
    if isinstance(spec, tuple):
        if len(spec) != 2 or not isinstance(spec[0], str) or not isinstance(spec[1], dict):
            raise ValueError(f"a pipeline step given as a tuple must be (name, kwargs dict); got {spec!r}")
        name, kwargs = spec
        if name not in STEPS:
            raise ValueError(f"unknown pipeline step {name!r}; choose one of {sorted(STEPS)} "
                             "or pass a callable")
        target = STEPS[name]
        label = name + ("(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")" if kwargs else "")
        if isinstance(target, type):
            return label, target(**kwargs)
        return label, functools.partial(target, **kwargs)
    if _is_estimator(spec) or callable(spec):
        label = repr(spec) if _is_estimator(spec) or isinstance(spec, ContrastiveAugment) else getattr(
            spec, "__name__", repr(spec))
        return label, spec
    raise TypeError(f"a pipeline step must be a callable, an estimator with fit/transform, a step name or "
                    f"(name, kwargs); got {type(spec).__name__}")


class Pipeline:
    """A chain of preprocessing steps applied in order: ``Pipeline([...])(images)``.

    Steps may be plain callables (``images -> images``), names from :data:`STEPS` (``"clahe"``),
    ``(name, kwargs)`` pairs (``("gaussian", {"sigma": 1.0})``) or estimators with ``fit`` /
    ``transform`` (:class:`ZCAWhitening`, :class:`Standardizer`, another :class:`Pipeline`).
    :meth:`fit` fits each estimator on the output of the steps before it, so a fitted chain can be
    learnt on a training set and then applied to others.

    Parameters
    ----------
    steps : sequence of step specs

    Examples
    --------
    >>> pipe = Pipeline([("gaussian", {"sigma": 0.5}), ("zca", {"epsilon": 0.1})])
    >>> train_w = pipe.fit_transform(train)    # fits ZCA on the blurred training images
    >>> test_w = pipe(test)                     # same blur, same fitted ZCA
    """

    def __init__(self, steps: Sequence = ()):
        self.steps: list[tuple[str, Callable]] = [_make_step(s) for s in steps]

    @property
    def names(self) -> list[str]:
        """One label per step, e.g. ``["gaussian(sigma=0.5)", "ZCAWhitening(epsilon=0.1)"]``."""
        return [name for name, _ in self.steps]

    def fit(self, images: torch.Tensor) -> Pipeline:
        """Fit every estimator step on ``images : Tensor, shape (N, C, H, W)`` as transformed by the
        steps before it; returns self."""
        self.fit_transform(images)
        return self

    def fit_transform(self, images: torch.Tensor) -> torch.Tensor:
        """Fit the chain on ``images`` and return them transformed (same as ``fit(x)`` then ``x``)."""
        x = images
        for _, step in self.steps:
            x = step.fit_transform(x) if hasattr(step, "fit_transform") else (
                step.fit(x).transform(x) if _is_estimator(step) else step(x))
        return x

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        """Apply every step in order; estimators must have been fitted (:meth:`fit`)."""
        x = images
        for _, step in self.steps:
            x = step.transform(x) if _is_estimator(step) else step(x)
        return x

    __call__ = transform

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return f"Pipeline({self.names})"
