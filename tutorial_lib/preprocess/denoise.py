"""Denoising: Gaussian and median filters, a noise estimate, non-local means and total variation.

Taught in notebook 01_preprocessing (section "Denoising"). Every filter takes ``images``: Tensor or
array, shape (N, C, H, W), float in [0, 1], and returns a tensor of the same shape, device and dtype
in [0, 1]. The Gaussian and median filters and the noise estimate are written in torch (batched,
any device); non-local means and total variation go through scikit-image one image at a time.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..base import InputError
from ._common import as_images, per_image_numpy

__all__ = ["gaussian_filter", "median_filter", "estimate_noise_sigma", "nl_means_denoise", "tv_denoise",
           "denoise", "DENOISERS"]

def _gaussian_kernel1d(sigma: float, radius: int, dtype, device) -> torch.Tensor:
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).to(device, dtype)


def _separable_conv(images: torch.Tensor, kx: torch.Tensor, ky: torch.Tensor) -> torch.Tensor:
    """Convolve every channel with ``ky`` along H then ``kx`` along W; edges repeat the border pixel."""
    n, c, h, w = images.shape
    x = images.reshape(n * c, 1, h, w)
    ry, rx = ky.numel() // 2, kx.numel() // 2
    x = F.conv2d(F.pad(x, (0, 0, ry, ry), mode="replicate"), ky.view(1, 1, -1, 1))
    x = F.conv2d(F.pad(x, (rx, rx, 0, 0), mode="replicate"), kx.view(1, 1, 1, -1))
    return x.reshape(n, c, h, w)


def gaussian_filter(images: torch.Tensor, sigma: float = 1.0, truncate: float = 4.0) -> torch.Tensor:
    """Convolve each channel with a normalised 2-D Gaussian kernel (pure torch, any device).

    The kernel :math:`G_\\sigma(u, v) \\propto e^{-(u^2 + v^2) / 2\\sigma^2}` is separable, so it runs as
    two 1-D convolutions with radius ``ceil(truncate * sigma)``. Borders repeat the edge pixel
    (scipy's ``mode="nearest"``, as in ``skimage.filters.gaussian``).

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    sigma : float, >= 0
        Standard deviation in pixels; 0 returns a copy.
    truncate : float
        Kernel radius in units of sigma.

    Returns
    -------
    Tensor, shape (N, C, H, W), float in [0, 1].
    """
    images = as_images(images)
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0; got {sigma}")
    if sigma == 0:
        return images.clone()
    radius = max(1, int(math.ceil(truncate * sigma)))
    k = _gaussian_kernel1d(sigma, radius, images.dtype, images.device)
    return _separable_conv(images, k, k)


def median_filter(images: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Replace each value by the median of its ``size`` x ``size`` neighbourhood (pure torch).

    The median ignores outliers, which makes it the filter of choice for salt-and-pepper noise.
    Borders repeat the edge pixel (scipy's ``mode="nearest"``).

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    size : int, odd, >= 1

    Returns
    -------
    Tensor, shape (N, C, H, W), float in [0, 1].
    """
    images = as_images(images)
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be an odd integer >= 1; got {size}")
    if size == 1:
        return images.clone()
    n, c, h, w = images.shape
    r = size // 2
    x = F.pad(images.reshape(n * c, 1, h, w), (r, r, r, r), mode="replicate")
    patches = x.unfold(2, size, 1).unfold(3, size, 1)  # (NC, 1, H, W, size, size)
    return patches.reshape(n * c, 1, h, w, size * size).median(dim=-1).values.reshape(n, c, h, w)


def estimate_noise_sigma(images: torch.Tensor) -> torch.Tensor:
    """Estimate each image's Gaussian noise standard deviation (Immerkaer's method, pure torch).

    Convolves with the Laplacian difference mask
    :math:`M = \\begin{smallmatrix}1&-2&1\\\\-2&4&-2\\\\1&-2&1\\end{smallmatrix}`, which cancels smooth
    structure, and returns :math:`\\sqrt{\\pi/2}\\,\\overline{|I * M|} / 6`, averaged over channels.
    Edges inflate it a little on clean images.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1], with H, W >= 3

    Returns
    -------
    Tensor, shape (N,), float, on the input's device.
    """
    images = as_images(images)
    n, c, h, w = images.shape
    if h < 3 or w < 3:
        raise InputError(f"noise estimation needs images of at least 3x3 pixels; got {h}x{w}")
    mask = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]],
                        dtype=images.dtype, device=images.device)
    resp = F.conv2d(images.reshape(n * c, 1, h, w), mask.view(1, 1, 3, 3)).abs()
    return (math.sqrt(math.pi / 2) / 6 * resp.mean(dim=(1, 2, 3))).reshape(n, c).mean(dim=1)


def nl_means_denoise(images: torch.Tensor, h: float | None = None, sigma: float | None = None,
                     patch_size: int = 5, patch_distance: int = 6) -> torch.Tensor:
    """Non-local means (``skimage.restoration.denoise_nl_means``), one image at a time.

    Each pixel becomes a weighted mean of pixels whose surrounding patches look alike, with weights
    :math:`e^{-\\max(d^2 - 2\\sigma^2, 0) / h^2}` for patch distance :math:`d`.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    h : float, optional
        Filter strength; default ``0.8 * sigma`` (scikit-image's recommendation).
    sigma : float, optional
        Noise standard deviation; estimated per image (:func:`estimate_noise_sigma`) when not given.
    patch_size, patch_distance : int
        Patch side and search radius in pixels.

    Returns
    -------
    Tensor, shape (N, C, H, W), float in [0, 1].
    """
    from skimage.restoration import denoise_nl_means

    images = as_images(images)
    # skimage's estimate_sigma needs PyWavelets; the Laplacian estimate needs nothing more.
    if sigma is None:
        est = estimate_noise_sigma(images)
        # per_image_numpy calls `one` once per RGB image, else once per channel plane.
        sigmas = iter((est if images.shape[1] == 3 else est.repeat_interleave(images.shape[1])).tolist())
    else:
        sigmas = itertools.repeat(float(sigma))

    def one(img, channel_axis):
        s = next(sigmas)
        strength = 0.8 * s if h is None else h
        if strength <= 0:
            return img
        return denoise_nl_means(img, h=strength, sigma=s, patch_size=patch_size,
                                patch_distance=patch_distance, fast_mode=True, channel_axis=channel_axis)

    return per_image_numpy(images, one).clamp_(0.0, 1.0)


def tv_denoise(images: torch.Tensor, weight: float = 0.1) -> torch.Tensor:
    """Total-variation denoising (``skimage.restoration.denoise_tv_chambolle``), one image at a time.

    Solves :math:`\\min_u \\tfrac12\\|u - f\\|^2 + \\lambda\\,\\mathrm{TV}(u)`: flat regions get flatter while
    edges stay sharp. A larger ``weight`` removes more noise and more detail.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    weight : float, > 0

    Returns
    -------
    Tensor, shape (N, C, H, W), float in [0, 1].
    """
    from skimage.restoration import denoise_tv_chambolle

    images = as_images(images)
    if weight <= 0:
        raise ValueError(f"weight must be > 0; got {weight}")
    return per_image_numpy(
        images, lambda img, ca: denoise_tv_chambolle(img, weight=weight, channel_axis=ca)).clamp_(0.0, 1.0)


DENOISERS: dict[str, Callable] = {
    "gaussian": gaussian_filter,
    "median": median_filter,
    "nl_means": nl_means_denoise,
    "tv": tv_denoise,
}


def denoise(images: torch.Tensor, method: str = "gaussian", **params) -> torch.Tensor:
    """Denoise with one of :data:`DENOISERS` (``"gaussian"``, ``"median"``, ``"nl_means"``, ``"tv"``).

    ``params`` go to the filter (``sigma=``, ``size=``, ``h=``, ``weight=``); see each function.
    Returns a tensor of the input's shape, device and dtype, in [0, 1].
    """
    if method not in DENOISERS:
        raise ValueError(f"unknown denoiser {method!r}; choose one of {sorted(DENOISERS)}")
    return DENOISERS[method](images, **params)

