"""Preprocessing on batched image tensors: noise models, denoising, contrast, normalisation,
contrastive augmentation, a composable pipeline and quality figures (PSNR, SSIM).

Taught in notebook 01_preprocessing. One module per kind of step:

* :mod:`.noise`: :func:`add_noise` (Gaussian, salt-and-pepper, Poisson), :data:`NOISE_MODELS`;
* :mod:`.denoise`: Gaussian and median filters, non-local means, total variation, :func:`denoise`,
  :data:`DENOISERS`, :func:`estimate_noise_sigma`;
* :mod:`.contrast`: :func:`equalize_hist`, :func:`clahe`, :func:`gamma_correct`, :data:`CONTRAST`;
* :mod:`.normalise`: :func:`standardize_per_image`, :func:`to_unit_range` and the fitted steps
  :class:`Standardizer` and :class:`ZCAWhitening`;
* :mod:`.quality`: :func:`psnr`, :func:`ssim`;
* :mod:`.augment`: SimCLR views, :class:`ContrastiveAugment`, :func:`contrastive_views`, with the
  random draws (:func:`draw_params`) kept apart from the deterministic kernels (:func:`augment_view`);
* :mod:`.pipeline`: :class:`Pipeline` and its registry of step names :data:`STEPS`.

Every function takes ``images : Tensor (or array), shape (N, C, H, W), float in [0, 1]`` and returns
a tensor of the same shape on the input's device and dtype (normalisation steps leave [0, 1] on
purpose). Bad input raises :class:`tutorial_lib.base.InputError` (a ``ValueError``). Random steps
take a ``seed`` and draw on the CPU from their own generator: the same seed gives the same numbers
on any device, and the caller's global random state is left alone.

The k-means comparison of preprocessing choices is an evaluation and lives in
:mod:`tutorial_lib.evaluation.preprocessing`; ``preprocess.compare_on_kmeans`` and
``preprocess.format_comparison`` still work, with a ``DeprecationWarning``.

Quick reference
---------------
>>> noisy = add_noise(images, "gaussian", 0.2, seed=0)
>>> clean = denoise(noisy, "median", size=3)
>>> psnr(images, clean)                     # one figure per image
>>> pipe = Pipeline([("gaussian", {"sigma": 1.0}), "clahe", ("zca", {"epsilon": 0.1})])
>>> feats = pipe.fit(train).transform(test)  # fitted steps (ZCA, Standardizer) fit through the chain
>>> v1, v2 = contrastive_views(images, n_views=2, seed=0)   # SimCLR views, preset chosen by shape
"""

from __future__ import annotations

import warnings

from .augment import (
    AUGMENT_PRESETS,
    AugmentConfig,
    ContrastiveAugment,
    ViewParams,
    augment_view,
    contrastive_views,
    draw_params,
    preset_for,
)
from .contrast import CONTRAST, clahe, equalize_hist, gamma_correct
from .denoise import (
    DENOISERS,
    denoise,
    estimate_noise_sigma,
    gaussian_filter,
    median_filter,
    nl_means_denoise,
    tv_denoise,
)
from .noise import NOISE_MODELS, add_gaussian_noise, add_noise, add_poisson_noise, add_salt_pepper_noise
from .normalise import Standardizer, ZCAWhitening, standardize_per_image, to_unit_range
from .pipeline import STEPS, Pipeline
from .quality import psnr, ssim

__all__ = [
    "add_gaussian_noise", "add_salt_pepper_noise", "add_poisson_noise", "add_noise", "NOISE_MODELS",
    "gaussian_filter", "median_filter", "estimate_noise_sigma", "nl_means_denoise", "tv_denoise", "denoise",
    "DENOISERS",
    "equalize_hist", "clahe", "gamma_correct", "CONTRAST",
    "standardize_per_image", "Standardizer", "ZCAWhitening", "to_unit_range",
    "psnr", "ssim",
    "AugmentConfig", "AUGMENT_PRESETS", "ContrastiveAugment", "contrastive_views", "preset_for",
    "ViewParams", "draw_params", "augment_view",
    "Pipeline", "STEPS",
]

# Names that moved to the evaluation layer; still reachable here, with a warning.
_MOVED = {"compare_on_kmeans", "format_comparison"}


def __getattr__(name: str):
    """``preprocess.compare_on_kmeans`` / ``format_comparison``: the evaluation layer's, with a warning.

    Imported lazily, inside the call: methods never import the evaluation layer at import time.
    """
    if name in _MOVED:
        warnings.warn(f"tutorial_lib.preprocess.{name} moved to tutorial_lib.evaluation.preprocessing."
                      f"{name}; import it from there", DeprecationWarning, stacklevel=2)
        from ..evaluation import preprocessing

        return getattr(preprocessing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
