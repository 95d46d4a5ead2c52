"""Contrast: global histogram equalisation, CLAHE and gamma correction.

Taught in notebook 01_preprocessing (section "Contrast"). Every function takes ``images``: Tensor or
array, shape (N, C, H, W), float in [0, 1], and returns a tensor of the same shape, device and dtype
in [0, 1]. Histogram equalisation and gamma are batched torch; CLAHE goes through scikit-image one
image at a time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ._common import as_images, per_image_numpy

__all__ = ["equalize_hist", "clahe", "gamma_correct", "CONTRAST"]

def _is_flat(img: np.ndarray) -> bool:
    return float(img.max() - img.min()) < 1e-12


def _equalize_planes(v: torch.Tensor, nbins: int) -> torch.Tensor:
    """Histogram-equalise each row of ``v`` (M, P) as scikit-image does: ``nbins`` bins spanning the
    row's min to max, output interpolated from the CDF at the bin centres; flat rows are kept."""
    m, n = v.shape
    lo = v.min(dim=1, keepdim=True).values
    hi = v.max(dim=1, keepdim=True).values
    flat = (hi - lo) <= 1e-12
    pos = (v - lo) / (hi - lo).clamp_min(1e-12) * nbins  # in [0, nbins]
    idx = pos.long().clamp_(0, nbins - 1)
    hist = torch.zeros(m, nbins, dtype=v.dtype, device=v.device).scatter_add_(1, idx, torch.ones_like(v))
    cdf = hist.cumsum(dim=1) / n
    p = (pos - 0.5).clamp(0, nbins - 1)  # position in bin-centre units, np.interp clamps at the ends
    i0 = p.floor().long().clamp_(max=nbins - 2)
    frac = p - i0
    out = cdf.gather(1, i0) * (1 - frac) + cdf.gather(1, i0 + 1) * frac
    return torch.where(flat, v, out)


def equalize_hist(images: torch.Tensor, nbins: int = 256) -> torch.Tensor:
    """Global histogram equalisation, batched in torch (same mapping as ``skimage.exposure.equalize_hist``).

    Maps each intensity through the image's cumulative histogram, :math:`T(v) = \\mathrm{CDF}(v)`, so the
    output histogram is roughly flat (histogram of ``nbins`` bins between the image's min and max).
    RGB images are equalised on the value channel of HSV, :math:`V = \\max(R, G, B)`, with hue and
    saturation kept; constant images are returned unchanged.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    nbins : int, >= 2

    Returns
    -------
    Tensor, shape (N, C, H, W), float in [0, 1].
    """
    images = as_images(images)
    if nbins < 2:
        raise ValueError(f"nbins must be >= 2; got {nbins}")
    n, c, h, w = images.shape
    if c != 3:
        return _equalize_planes(images.reshape(n * c, h * w), nbins).reshape(n, c, h, w).clamp_(0.0, 1.0)
    value = images.amax(dim=1, keepdim=True)
    new_value = _equalize_planes(value.reshape(n, h * w), nbins).reshape(n, 1, h, w)
    # Same hue and saturation, new value: RGB scales by V'/V (black pixels become grey V').
    scaled = images * (new_value / value.clamp_min(1e-12))
    return torch.where(value > 1e-12, scaled, new_value.expand_as(images)).clamp_(0.0, 1.0)


def clahe(images: torch.Tensor, clip_limit: float = 0.01, kernel_size: int | None = None,
          nbins: int = 256) -> torch.Tensor:
    """Contrast-limited adaptive histogram equalisation (``skimage.exposure.equalize_adapthist``).

    Equalises tiles of ``kernel_size`` pixels, clipping each tile's histogram at ``clip_limit`` (as a
    fraction of the tile's pixels, the excess spread over all bins) so noise in flat tiles is not
    blown up, then interpolates between tiles. RGB is processed on HSV value, as scikit-image does.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    clip_limit : float in (0, 1]
        Higher gives more contrast.
    kernel_size : int, optional
        Tile side in pixels; default 1/8 of the image side (at least 2 pixels here, so tiny
        images such as 8x8 digits get 2x2 tiles rather than single pixels).
    nbins : int

    Returns
    -------
    Tensor, shape (N, C, H, W), float in [0, 1].
    """
    from skimage import exposure

    images = as_images(images)
    if not 0 < clip_limit <= 1:
        raise ValueError(f"clip_limit must be in (0, 1]; got {clip_limit}")
    h, w = images.shape[-2:]
    ks = kernel_size if kernel_size is not None else (max(2, h // 8), max(2, w // 8))

    def one(img, channel_axis):
        if _is_flat(img):
            return img
        # scikit-image spots RGB from the trailing axis of 3 and works on HSV value itself.
        return exposure.equalize_adapthist(np.clip(img, 0, 1), kernel_size=ks, clip_limit=clip_limit,
                                           nbins=nbins)

    return per_image_numpy(images, one).clamp_(0.0, 1.0)


def gamma_correct(images: torch.Tensor, gamma: float = 1.0, gain: float = 1.0) -> torch.Tensor:
    """Power-law intensity map :math:`v \\mapsto \\mathrm{gain} \\cdot v^\\gamma`, clipped to [0, 1].

    ``gamma < 1`` brightens dark regions, ``gamma > 1`` darkens bright ones. Pure torch.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    gamma : float, > 0
    gain : float, > 0

    Returns
    -------
    Tensor, shape (N, C, H, W), float in [0, 1].
    """
    images = as_images(images)
    if gamma <= 0 or gain <= 0:
        raise ValueError(f"gamma and gain must be > 0; got gamma={gamma}, gain={gain}")
    return (gain * images.clamp(0.0, 1.0) ** gamma).clamp_(0.0, 1.0)


CONTRAST: dict[str, Callable] = {"equalize_hist": equalize_hist, "clahe": clahe, "gamma": gamma_correct}
