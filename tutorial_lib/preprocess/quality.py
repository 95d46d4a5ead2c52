"""Quality figures: peak signal-to-noise ratio (PSNR) and structural similarity (SSIM) per image.

Taught in notebook 01_preprocessing (how much a denoiser recovers). Both compare ``images`` with a
clean ``reference`` (Tensor or array, shape (N, C, H, W) or (1, C, H, W), float in [0, 1]) through
scikit-image, one image at a time, and return one NumPy figure per image.
"""

from __future__ import annotations

import numpy as np
import torch

from ..base import InputError
from ._common import as_images

__all__ = ["psnr", "ssim"]

def _pairs(reference, images) -> tuple[np.ndarray, np.ndarray]:
    """Both batches checked and as float64 NumPy arrays (N, C, H, W); a single reference is repeated."""
    reference = as_images(reference, "reference")
    images = as_images(images)
    if reference.shape[0] == 1 and images.shape[0] > 1:
        reference = reference.expand(images.shape[0], *reference.shape[1:])
    if reference.shape != images.shape:
        raise InputError(f"reference {tuple(reference.shape)} and images {tuple(images.shape)} "
                         "differ in shape")
    ref = reference.detach().to("cpu", torch.float64).numpy()
    img = images.detach().to("cpu", torch.float64).numpy()
    return ref, img


def psnr(reference: torch.Tensor, images: torch.Tensor, data_range: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio per image (``skimage.metrics.peak_signal_noise_ratio``), in dB.

    :math:`\\mathrm{PSNR} = 10 \\log_{10}(R^2 / \\mathrm{MSE})`; +inf for identical images.

    Parameters
    ----------
    reference : Tensor, shape (N, C, H, W) or (1, C, H, W), float in [0, 1]
        The clean images.
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    data_range : float
        R, the span of possible values.

    Returns
    -------
    ndarray, shape (N,), float64.
    """
    from skimage.metrics import peak_signal_noise_ratio

    ref, img = _pairs(reference, images)
    out = np.empty(len(img))
    for i, (r, x) in enumerate(zip(ref, img, strict=True)):
        mse = float(np.mean((r - x) ** 2))
        # skimage divides by zero (and warns) for identical images; the limit is +inf.
        out[i] = np.inf if mse == 0 else peak_signal_noise_ratio(r, x, data_range=data_range)
    return out


def ssim(reference: torch.Tensor, images: torch.Tensor, data_range: float = 1.0) -> np.ndarray:
    """Structural similarity per image (``skimage.metrics.structural_similarity``), in [-1, 1].

    Compares local means, variances and covariance in 7x7 windows (smaller, odd, for images under 7
    pixels); 1 means identical.

    Parameters
    ----------
    reference : Tensor, shape (N, C, H, W) or (1, C, H, W), float in [0, 1]
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    data_range : float

    Returns
    -------
    ndarray, shape (N,), float64.
    """
    from skimage.metrics import structural_similarity

    ref, img = _pairs(reference, images)
    side = min(ref.shape[-2:])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        raise InputError(f"SSIM needs images of at least 3x3 pixels; got {ref.shape[-2:]}")
    channel_axis = 0 if ref.shape[1] > 1 else None
    out = np.empty(len(img))
    for i, (r, x) in enumerate(zip(ref, img, strict=True)):
        if channel_axis is None:
            r, x = r[0], x[0]
        out[i] = structural_similarity(r, x, data_range=data_range, win_size=win, channel_axis=channel_axis)
    return out

