"""Normalisation: per-image standardisation, min-max rescaling, and two fitted steps, the dataset
:class:`Standardizer` and :class:`ZCAWhitening`.

Taught in notebook 01_preprocessing (section "Normalisation and whitening"). The functions take
``images``: Tensor or array, shape (N, C, H, W), float, and return a tensor of the same shape, device
and dtype. Standardised and whitened images leave [0, 1] on purpose; :func:`to_unit_range` brings
them back for display. The fitted steps follow :class:`tutorial_lib.base.Estimator`: parameters in
``__init__``, statistics learnt by ``fit`` and stored with a trailing ``_``, then ``transform``
applies them to other sets. Neither uses random numbers.
"""

from __future__ import annotations

import numpy as np
import torch

from ..base import Estimator, InputError, reject_labels
from ._common import as_images

__all__ = ["standardize_per_image", "to_unit_range", "Standardizer", "ZCAWhitening"]


def standardize_per_image(images: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Give each image zero mean and unit standard deviation over all its pixels and channels.

    :math:`x' = (x - \\mu_x) / \\sigma_x`. The result is no longer in [0, 1]; use :func:`to_unit_range`
    to display it.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float
    eps : float
        Images whose std is below ``eps`` (constant up to rounding) become all zeros.

    Returns
    -------
    Tensor, shape (N, C, H, W), float, each image with mean 0 and std 1 (or 0 if constant).
    """
    images = as_images(images)
    flat = images.reshape(images.shape[0], -1)
    mean = flat.mean(dim=1, keepdim=True)
    std = flat.std(dim=1, unbiased=False, keepdim=True)
    flat_image = std < eps
    z = (flat - mean) / torch.where(flat_image, 1.0, std)
    return torch.where(flat_image, 0.0, z).reshape(images.shape)


def to_unit_range(images: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Min-max rescale each image to [0, 1] (for showing standardised or whitened images).

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float, any range
    eps : float
        Smallest range divided by, so constant images do not divide by zero.

    Returns
    -------
    Tensor, shape (N, C, H, W), float in [0, 1]; constant images become 0.
    """
    images = as_images(images)
    flat = images.reshape(images.shape[0], -1)
    lo = flat.min(dim=1, keepdim=True).values
    hi = flat.max(dim=1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(eps)).reshape(images.shape)


class _FittedStep(Estimator):
    """A fitted preprocessing step: ``fit`` on one set, ``transform`` any set, or call it directly."""

    def fit_transform(self, images: torch.Tensor) -> torch.Tensor:
        """``fit(images)`` then ``transform(images)``: Tensor (N, C, H, W) in, the same shape out."""
        return self.fit(images).transform(images)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.transform(images)


class Standardizer(_FittedStep):
    """Per-dataset standardisation: subtract the training set's mean and divide by its std.

    :math:`x' = (x - \\mu) / (\\sigma + \\epsilon)` with :math:`\\mu, \\sigma` learnt by :meth:`fit` and
    reused on other sets, computed over the axes that ``per`` leaves free:

    * ``"channel"`` (default): one pair per channel, over all images and pixels (the usual
      ``Normalize(mean, std)`` of a CNN input);
    * ``"pixel"``: one pair per channel and pixel position, over the images (scikit-learn's
      ``StandardScaler`` on flattened images);
    * ``"global"``: one pair for everything.

    Parameters
    ----------
    per : {"channel", "pixel", "global"}
    eps : float
        Added to the std so constant positions (e.g. the always-black corners of digits) stay finite.

    Attributes
    ----------
    mean_, std_ : Tensor, float64 on the CPU, shape (C, 1, 1), (C, H, W) or (1, 1, 1)
        Broadcastable against one image (C, H, W).
    shape_ : tuple (C, H, W)
        Shape of the images it was fitted on.
    """

    _AXES = {"channel": (0, 2, 3), "pixel": (0,), "global": (0, 1, 2, 3)}

    def __init__(self, per: str = "channel", eps: float = 1e-6):
        self.per = per
        self.eps = eps

    def fit(self, images: torch.Tensor, y=None) -> Standardizer:
        """Learn ``mean_`` and ``std_`` from ``images : Tensor, shape (N, C, H, W)``; returns self."""
        reject_labels(self, y)
        if self.per not in self._AXES:
            raise ValueError(f"per must be one of {sorted(self._AXES)}; got {self.per!r}")
        images = as_images(images)
        x = images.detach().to("cpu", torch.float64)
        dims = self._AXES[self.per]
        self.mean_ = x.mean(dim=dims, keepdim=True)[0]
        self.std_ = x.std(dim=dims, unbiased=False, keepdim=True)[0]
        self.shape_ = tuple(images.shape[1:])
        return self

    def _stats(self, images) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``images`` checked, with the fitted mean and std on their device and dtype."""
        self._check_fitted("mean_")
        images = as_images(images)
        try:
            torch.broadcast_shapes(self.mean_.shape, images.shape[1:])
        except RuntimeError:
            raise InputError(f"fitted on images of shape {self.shape_} (per={self.per!r}), "
                             f"got {tuple(images.shape[1:])}") from None
        if self.per != "global" and images.shape[1] != self.shape_[0]:
            raise InputError(f"fitted on {self.shape_[0]} channels, got {images.shape[1]}")
        return images, self.mean_.to(images.device, images.dtype), self.std_.to(images.device, images.dtype)

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        """Standardise ``images : Tensor, shape (N, C, H, W)`` with the fitted statistics (not in [0, 1])."""
        images, mean, std = self._stats(images)
        return (images - mean) / (std + self.eps)

    def inverse_transform(self, images: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`transform`: Tensor (N, C, H, W) standardised in, original intensities out."""
        images, mean, std = self._stats(images)
        return images * (std + self.eps) + mean


class ZCAWhitening(_FittedStep):
    """ZCA ("zero-phase") whitening of whole images, fitted on one set and applied to others.

    With the training covariance :math:`\\Sigma = U \\Lambda U^\\top` of the flattened images,
    :math:`x' = U (\\Lambda + \\epsilon I)^{-1/2} U^\\top (x - \\mu)`. The output's covariance is close to
    the identity (pixels decorrelated, edges emphasised) while staying as close as possible to the
    input, so whitened images still look like images. ``epsilon`` caps the gain on low-variance
    directions (noise): larger is gentler.

    Parameters
    ----------
    epsilon : float, > 0
        Added to the eigenvalues, in intensity-variance units (pixels in [0, 1] have variance
        around 0.01 to 0.1, so 1e-3 whitens strongly and 0.1 mildly).
    max_features : int
        Refuse images with more than this many values C*H*W (the D x D matrix grows fast);
        resize or crop patches first.

    Attributes
    ----------
    mean_ : Tensor, shape (D,), float64, on the fitted images' device
    whitening_ : Tensor, shape (D, D), float64
        The symmetric ZCA matrix; ``coloring_`` is its inverse.
    eigenvalues_ : Tensor, shape (D,), descending, in intensity-variance units
    shape_ : tuple (C, H, W)
    """

    def __init__(self, epsilon: float = 1e-2, max_features: int = 4096):
        self.epsilon = epsilon
        self.max_features = max_features

    def fit(self, images: torch.Tensor, y=None) -> ZCAWhitening:
        """Learn the mean and whitening matrix from ``images : Tensor, shape (N, C, H, W)``; returns self."""
        reject_labels(self, y)
        if self.epsilon <= 0:
            raise ValueError(f"epsilon must be > 0; got {self.epsilon}")
        images = as_images(images)
        d = int(np.prod(images.shape[1:]))
        if d > self.max_features:
            raise InputError(f"ZCA on {tuple(images.shape[1:])} images needs a {d}x{d} matrix (max_features="
                             f"{self.max_features}); resize the images or whiten patches instead.")
        if images.shape[0] < 2:
            raise InputError("ZCA needs at least 2 images to estimate a covariance")
        x = images.detach().reshape(images.shape[0], -1).to(torch.float64)
        mean = x.mean(dim=0)
        xc = x - mean
        cov = xc.T @ xc / (x.shape[0] - 1)
        evals, evecs = torch.linalg.eigh(cov)
        # eigh sorts ascending; descending order reads like PCA, and rounding can give tiny negatives.
        evals, evecs = evals.flip(0).clamp_min(0), evecs.flip(1)
        scale = (evals + self.epsilon).rsqrt()
        self.mean_ = mean
        self.whitening_ = (evecs * scale) @ evecs.T
        self.coloring_ = (evecs / scale) @ evecs.T
        self.eigenvalues_ = evals
        self.shape_ = tuple(images.shape[1:])
        return self

    def _flat(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` (N, C, H, W) as (N, D), after checking they have the fitted shape."""
        self._check_fitted("whitening_")
        images = as_images(images)
        if tuple(images.shape[1:]) != self.shape_:
            raise InputError(f"fitted on images of shape {self.shape_}, got {tuple(images.shape[1:])}")
        return images.reshape(images.shape[0], -1)

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        """Whiten ``images : Tensor, shape (N, C, H, W)``; returns the same shape (not in [0, 1])."""
        x = self._flat(images)
        w = self.whitening_.to(x.device, x.dtype)
        return ((x - self.mean_.to(x.device, x.dtype)) @ w).reshape(x.shape[0], *self.shape_)

    def inverse_transform(self, images: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`transform` (exact up to rounding): Tensor (N, C, H, W) in, the same shape out."""
        x = self._flat(images)
        c = self.coloring_.to(x.device, x.dtype)
        return (x @ c + self.mean_.to(x.device, x.dtype)).reshape(x.shape[0], *self.shape_)
