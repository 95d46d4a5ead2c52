"""Preprocessing on batched image tensors: noise models, denoising, contrast, normalisation,
contrastive augmentation, a composable pipeline and quality figures (PSNR, SSIM).

Every function takes ``images : Tensor, shape (N, C, H, W), float in [0, 1]`` and returns a tensor of
the same shape on the input's device and dtype (normalisation steps leave [0, 1] on purpose: see
their docstrings). Filters that are plain convolutions or order statistics (Gaussian, median, gamma)
(and histogram equalisation) are written in torch, so they run batched on a GPU; those where
scikit-image already does the job well (non-local means, total variation, CLAHE, PSNR, SSIM) go
through NumPy one image at a time and come back. Random steps take a ``seed``: the same seed gives
the same numbers on any device, because the random numbers are drawn on the CPU.

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

import functools
import itertools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

__all__ = [
    "add_gaussian_noise", "add_salt_pepper_noise", "add_poisson_noise", "add_noise", "NOISE_MODELS",
    "gaussian_filter", "median_filter", "estimate_noise_sigma", "nl_means_denoise", "tv_denoise", "denoise",
    "DENOISERS",
    "equalize_hist", "clahe", "gamma_correct", "CONTRAST",
    "standardize_per_image", "Standardizer", "ZCAWhitening", "to_unit_range",
    "psnr", "ssim",
    "AugmentConfig", "AUGMENT_PRESETS", "ContrastiveAugment", "contrastive_views", "preset_for",
    "Pipeline", "STEPS", "compare_on_kmeans", "format_comparison",
]


# --- checks and the NumPy bridge -----------------------------------------------------------------

def _check_images(images, name: str = "images") -> torch.Tensor:
    """Raise a clear error unless ``images`` is a float tensor of shape (N, C, H, W)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, C, H, W); got {type(images).__name__}. "
                        "Convert with torch.as_tensor(array).")
    if images.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W); got shape {tuple(images.shape)}. "
                         "Add a batch dimension with images[None] or a channel one with images[:, None].")
    if not images.is_floating_point():
        raise TypeError(f"{name} must be float in [0, 1]; got dtype {images.dtype}. "
                        "Convert 8-bit images with images.float() / 255.")
    return images


def _seed_generator(seed: int) -> torch.Generator:
    # Drawing on the CPU makes the same seed give the same noise on every device.
    return torch.Generator().manual_seed(int(seed))


def _per_image_numpy(images: torch.Tensor, fn: Callable) -> torch.Tensor:
    """Apply ``fn(img, channel_axis)`` to each image as NumPy float64 and stack the results back.

    ``img`` is (H, W) for one channel with ``channel_axis=None``, (H, W, 3) for RGB with
    ``channel_axis=-1``; other channel counts are processed one plane at a time.
    """
    arr = images.detach().to("cpu", torch.float64).numpy()
    out = np.empty_like(arr)
    for i, im in enumerate(arr):
        if im.shape[0] == 3:
            out[i] = np.moveaxis(fn(np.moveaxis(im, 0, -1), -1), -1, 0)
        else:
            for c in range(im.shape[0]):
                out[i, c] = fn(im[c], None)
    return torch.from_numpy(out).to(images.device, images.dtype)


# --- noise models --------------------------------------------------------------------------------

def add_gaussian_noise(images: torch.Tensor, sigma: float = 0.1, seed: int = 0) -> torch.Tensor:
    """Add white Gaussian noise of standard deviation ``sigma`` and clip to [0, 1].

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    sigma : float, >= 0
        Noise standard deviation, in intensity units (0.1 is a tenth of the full range).
    seed : int
        Same seed, same noise (on any device).

    Returns
    -------
    Tensor, shape (N, C, H, W), float in [0, 1], on the input's device and dtype.
    """
    _check_images(images)
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0; got {sigma}")
    noise = torch.randn(images.shape, generator=_seed_generator(seed))
    return (images + sigma * noise.to(images.device, images.dtype)).clamp_(0.0, 1.0)


def add_salt_pepper_noise(images: torch.Tensor, amount: float = 0.05, salt_vs_pepper: float = 0.5,
                          seed: int = 0) -> torch.Tensor:
    """Set a fraction ``amount`` of the values to 1 (salt) or 0 (pepper).

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    amount : float in [0, 1]
        Fraction of values replaced (each channel of each pixel is drawn independently).
    salt_vs_pepper : float in [0, 1]
        Share of the replaced values that become salt (1).
    seed : int

    Returns
    -------
    Tensor, shape (N, C, H, W), float in [0, 1].
    """
    _check_images(images)
    if not 0 <= amount <= 1 or not 0 <= salt_vs_pepper <= 1:
        raise ValueError(f"amount and salt_vs_pepper must be in [0, 1]; got {amount}, {salt_vs_pepper}")
    gen = _seed_generator(seed)
    hit = torch.rand(images.shape, generator=gen) < amount
    salt = torch.rand(images.shape, generator=gen) < salt_vs_pepper
    hit, salt = hit.to(images.device), salt.to(images.device, images.dtype)
    return torch.where(hit, salt, images)


def add_poisson_noise(images: torch.Tensor, peak: float = 30.0, seed: int = 0) -> torch.Tensor:
    """Shot noise: count photons with mean ``images * peak`` and divide by ``peak``.

    A pixel of intensity :math:`x` gets standard deviation :math:`\\sqrt{x / \\text{peak}}`, so
    bright regions are noisier in absolute terms and a smaller ``peak`` (fewer photons) is noisier.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    peak : float, > 0
        Expected photon count at intensity 1.
    seed : int

    Returns
    -------
    Tensor, shape (N, C, H, W), float in [0, 1].
    """
    _check_images(images)
    if peak <= 0:
        raise ValueError(f"peak must be > 0; got {peak}")
    rates = images.detach().to("cpu", torch.float64).clamp(0.0, 1.0) * peak
    counts = torch.poisson(rates, generator=_seed_generator(seed))
    return (counts / peak).clamp_(0.0, 1.0).to(images.device, images.dtype)


def add_noise(images: torch.Tensor, kind: str = "gaussian", level: float = 0.1,
              seed: int = 0) -> torch.Tensor:
    """Add noise of one kind at a ``level`` on a comparable scale.

    ``level`` is the Gaussian ``sigma``, the salt-and-pepper ``amount``, or for Poisson noise the
    standard deviation at intensity 1 (``peak = 1 / level**2``). ``level=0`` returns a copy.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    kind : {"gaussian", "salt_pepper", "poisson"}
    level : float, >= 0
    seed : int

    Returns
    -------
    Tensor, shape (N, C, H, W), float in [0, 1].
    """
    if kind not in NOISE_MODELS:
        raise ValueError(f"unknown noise kind {kind!r}; choose one of {sorted(NOISE_MODELS)}")
    _check_images(images)
    if level < 0:
        raise ValueError(f"level must be >= 0; got {level}")
    if level == 0:
        return images.clone()
    if kind == "gaussian":
        return add_gaussian_noise(images, sigma=level, seed=seed)
    if kind == "salt_pepper":
        return add_salt_pepper_noise(images, amount=min(level, 1.0), seed=seed)
    return add_poisson_noise(images, peak=1.0 / level**2, seed=seed)


NOISE_MODELS: dict[str, Callable] = {
    "gaussian": add_gaussian_noise,
    "salt_pepper": add_salt_pepper_noise,
    "poisson": add_poisson_noise,
}


# --- denoising -----------------------------------------------------------------------------------

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
    _check_images(images)
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
    _check_images(images)
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
    _check_images(images)
    n, c, h, w = images.shape
    if h < 3 or w < 3:
        raise ValueError(f"noise estimation needs images of at least 3x3 pixels; got {h}x{w}")
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

    _check_images(images)
    # skimage's estimate_sigma needs PyWavelets; the Laplacian estimate needs nothing more.
    if sigma is None:
        est = estimate_noise_sigma(images)
        # _per_image_numpy calls `one` once per RGB image, else once per channel plane.
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

    return _per_image_numpy(images, one).clamp_(0.0, 1.0)


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

    _check_images(images)
    if weight <= 0:
        raise ValueError(f"weight must be > 0; got {weight}")
    return _per_image_numpy(
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


# --- contrast ------------------------------------------------------------------------------------

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
    _check_images(images)
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

    _check_images(images)
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

    return _per_image_numpy(images, one).clamp_(0.0, 1.0)


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
    _check_images(images)
    if gamma <= 0 or gain <= 0:
        raise ValueError(f"gamma and gain must be > 0; got gamma={gamma}, gain={gain}")
    return (gain * images.clamp(0.0, 1.0) ** gamma).clamp_(0.0, 1.0)


CONTRAST: dict[str, Callable] = {"equalize_hist": equalize_hist, "clahe": clahe, "gamma": gamma_correct}


# --- normalisation -------------------------------------------------------------------------------

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
    _check_images(images)
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

    Returns
    -------
    Tensor, shape (N, C, H, W), float in [0, 1]; constant images become 0.
    """
    _check_images(images)
    flat = images.reshape(images.shape[0], -1)
    lo = flat.min(dim=1, keepdim=True).values
    hi = flat.max(dim=1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(eps)).reshape(images.shape)


class _FittedStep:
    """Shared helpers for the estimators below (``fit`` / ``transform`` / ``fit_transform``)."""

    _fitted_attr = "mean_"

    def fit_transform(self, images: torch.Tensor) -> torch.Tensor:
        return self.fit(images).transform(images)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.transform(images)

    def _check_fitted(self):
        if not hasattr(self, self._fitted_attr):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call .fit(train_images) first "
                               "(or Pipeline.fit when it is a pipeline step).")


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
    """

    _AXES = {"channel": (0, 2, 3), "pixel": (0,), "global": (0, 1, 2, 3)}

    def __init__(self, per: str = "channel", eps: float = 1e-6):
        if per not in self._AXES:
            raise ValueError(f"per must be one of {sorted(self._AXES)}; got {per!r}")
        self.per = per
        self.eps = eps

    def fit(self, images: torch.Tensor) -> Standardizer:
        """Learn ``mean_`` and ``std_`` from ``images : Tensor, shape (N, C, H, W)``; returns self."""
        _check_images(images)
        x = images.detach().to("cpu", torch.float64)
        dims = self._AXES[self.per]
        self.mean_ = x.mean(dim=dims, keepdim=True)[0]
        self.std_ = x.std(dim=dims, unbiased=False, keepdim=True)[0]
        self.shape_ = tuple(images.shape[1:])
        return self

    def _stats(self, images):
        self._check_fitted()
        _check_images(images)
        try:
            torch.broadcast_shapes(self.mean_.shape, images.shape[1:])
        except RuntimeError:
            raise ValueError(f"fitted on images of shape {self.shape_} (per={self.per!r}), "
                             f"got {tuple(images.shape[1:])}") from None
        if self.per != "global" and images.shape[1] != self.shape_[0]:
            raise ValueError(f"fitted on {self.shape_[0]} channels, got {images.shape[1]}")
        return self.mean_.to(images.device, images.dtype), self.std_.to(images.device, images.dtype)

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        """Standardise ``images : Tensor, shape (N, C, H, W)`` with the fitted statistics (not in [0, 1])."""
        mean, std = self._stats(images)
        return (images - mean) / (std + self.eps)

    def inverse_transform(self, images: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`transform`."""
        mean, std = self._stats(images)
        return images * (std + self.eps) + mean

    def __repr__(self) -> str:
        return f"Standardizer(per={self.per!r}, eps={self.eps})"


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
    mean_ : Tensor, shape (D,)
    whitening_ : Tensor, shape (D, D)
        The symmetric ZCA matrix; ``coloring_`` is its inverse.
    eigenvalues_ : Tensor, shape (D,), descending
    shape_ : tuple (C, H, W)
    """

    def __init__(self, epsilon: float = 1e-2, max_features: int = 4096):
        if epsilon <= 0:
            raise ValueError(f"epsilon must be > 0; got {epsilon}")
        self.epsilon = epsilon
        self.max_features = max_features

    def fit(self, images: torch.Tensor) -> ZCAWhitening:
        """Learn the mean and whitening matrix from ``images : Tensor, shape (N, C, H, W)``; returns self."""
        _check_images(images)
        d = int(np.prod(images.shape[1:]))
        if d > self.max_features:
            raise ValueError(f"ZCA on {tuple(images.shape[1:])} images needs a {d}x{d} matrix (max_features="
                             f"{self.max_features}); resize the images or whiten patches instead.")
        if images.shape[0] < 2:
            raise ValueError("ZCA needs at least 2 images to estimate a covariance")
        x = images.detach().reshape(images.shape[0], -1).to(torch.float64)
        mean = x.mean(dim=0)
        xc = x - mean
        cov = xc.T @ xc / (x.shape[0] - 1)
        evals, evecs = torch.linalg.eigh(cov)
        evals, evecs = evals.flip(0).clamp_min(0), evecs.flip(1)
        scale = (evals + self.epsilon).rsqrt()
        self.mean_ = mean
        self.whitening_ = (evecs * scale) @ evecs.T
        self.coloring_ = (evecs / scale) @ evecs.T
        self.eigenvalues_ = evals
        self.shape_ = tuple(images.shape[1:])
        return self

    def _flat(self, images):
        self._check_fitted()
        _check_images(images)
        if tuple(images.shape[1:]) != self.shape_:
            raise ValueError(f"fitted on images of shape {self.shape_}, got {tuple(images.shape[1:])}")
        return images.reshape(images.shape[0], -1)

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        """Whiten ``images : Tensor, shape (N, C, H, W)``; returns the same shape (not in [0, 1])."""
        x = self._flat(images)
        w = self.whitening_.to(images.device, images.dtype)
        return ((x - self.mean_.to(images.device, images.dtype)) @ w).reshape(images.shape)

    def inverse_transform(self, images: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`transform` (exact up to rounding)."""
        x = self._flat(images)
        c = self.coloring_.to(images.device, images.dtype)
        return (x @ c + self.mean_.to(images.device, images.dtype)).reshape(images.shape)

    def __repr__(self) -> str:
        return f"ZCAWhitening(epsilon={self.epsilon})"


# --- quality figures -----------------------------------------------------------------------------

def _pairs(reference: torch.Tensor, images: torch.Tensor):
    _check_images(reference, "reference")
    _check_images(images)
    if reference.shape[0] == 1 and images.shape[0] > 1:
        reference = reference.expand(images.shape[0], *reference.shape[1:])
    if reference.shape != images.shape:
        raise ValueError(f"reference {tuple(reference.shape)} and images {tuple(images.shape)} "
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
        raise ValueError(f"SSIM needs images of at least 3x3 pixels; got {ref.shape[-2:]}")
    channel_axis = 0 if ref.shape[1] > 1 else None
    out = np.empty(len(img))
    for i, (r, x) in enumerate(zip(ref, img, strict=True)):
        if channel_axis is None:
            r, x = r[0], x[0]
        out[i] = structural_similarity(r, x, data_range=data_range, win_size=win, channel_axis=channel_axis)
    return out


# --- contrastive augmentation --------------------------------------------------------------------

@dataclass(frozen=True)
class AugmentConfig:
    """Strengths of the contrastive augmentations (each applied per image with its own random draw).

    Attributes
    ----------
    crop_scale : (float, float)
        Area fraction range of the random resized crop.
    crop_ratio : (float, float)
        Aspect ratio range of the crop.
    flip : bool
        Random horizontal flip with probability 1/2 (off for digits: a flipped 2 is not a 2).
    degrees : float
        Random rotation in [-degrees, degrees].
    translate : float
        Random shift up to this fraction of the side.
    affine_scale : (float, float)
        Random zoom range of the small affine.
    jitter : (float, float, float, float)
        Colour jitter strengths (brightness, contrast, saturation, hue), as in torchvision's
        ``ColorJitter``; saturation and hue only act on RGB.
    jitter_p : float
        Probability of colour jitter.
    grayscale_p : float
        Probability of turning an RGB view grey.
    blur_p : float
        Probability of Gaussian blur.
    blur_sigma : (float, float)
        Blur sigma range, in pixels.
    padding : {"zeros", "border", "reflection"}
        What the affine brings in from outside the image (zeros: black background, right for digits).
    """

    crop_scale: tuple[float, float] = (0.5, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = False
    degrees: float = 0.0
    translate: float = 0.0
    affine_scale: tuple[float, float] = (1.0, 1.0)
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)
    jitter_p: float = 0.8
    grayscale_p: float = 0.0
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 1.0)
    padding: str = "zeros"


AUGMENT_PRESETS: dict[str, AugmentConfig] = {
    # 8x8 digits: few pixels, so gentle crops; a small affine instead of flips.
    "digits8": AugmentConfig(crop_scale=(0.6, 1.0), crop_ratio=(0.8, 1.25), degrees=10.0, translate=0.1,
                             affine_scale=(0.9, 1.1), jitter=(0.3, 0.3, 0.0, 0.0), blur_p=0.3,
                             blur_sigma=(0.1, 0.7), padding="zeros"),
    # 28x28 grey (MNIST, Fashion-MNIST): stronger crops and affine, no flips.
    "grey28": AugmentConfig(crop_scale=(0.5, 1.0), degrees=15.0, translate=0.1, affine_scale=(0.9, 1.1),
                            jitter=(0.4, 0.4, 0.0, 0.0), blur_p=0.5, blur_sigma=(0.1, 1.2), padding="zeros"),
    # 32x32 RGB (CIFAR-10 style): SimCLR's CIFAR recipe with a light blur.
    "rgb32": AugmentConfig(crop_scale=(0.2, 1.0), flip=True, jitter=(0.4, 0.4, 0.4, 0.1), jitter_p=0.8,
                           grayscale_p=0.2, blur_p=0.5, blur_sigma=(0.1, 1.0), padding="reflection"),
}


def preset_for(images: torch.Tensor) -> str:
    """The preset that suits ``images``'s shape: ``rgb32`` for 3 channels, ``digits8`` up to 12 pixels,
    else ``grey28``."""
    _check_images(images)
    if images.shape[1] == 3:
        return "rgb32"
    return "digits8" if max(images.shape[-2:]) <= 12 else "grey28"


def _uniform(gen: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)


def _bernoulli(gen: torch.Generator, n: int, p: float) -> torch.Tensor:
    return torch.rand(n, generator=gen, dtype=torch.float64) < p


class ContrastiveAugment:
    """Random views of a batch for contrastive learning (SimCLR), each image drawn independently.

    One call on a batch ``(N, C, H, W)`` returns one augmented view of the same shape: a random
    resized crop, a horizontal flip (if the preset allows), a small rotation/shift/zoom, colour
    jitter (brightness and contrast; saturation and hue on RGB), random greyscale (RGB) and Gaussian
    blur, each with the probabilities of an :class:`AugmentConfig`. Call it twice for two views.

    The default ``backend="batched"`` draws every image's parameters from a seeded generator and
    applies them to the whole batch at once (one ``grid_sample`` for all the geometry, vectorised
    colour ops, one grouped convolution for the blur): about 100 times faster than a per-image
    loop on small images, and the same on CPU or GPU. ``backend="torchvision"`` runs the equivalent
    ``torchvision.transforms.v2`` pipeline (:meth:`torchvision_transform`) image by image, for
    comparison or for use inside a ``Dataset``.

    Parameters
    ----------
    preset : {"digits8", "grey28", "rgb32"} or AugmentConfig, optional
        Strengths; ``None`` picks one from the first batch's shape (:func:`preset_for`).
    seed : int
        The same seed gives the same sequence of views (the second call differs from the first).
    backend : {"batched", "torchvision"}
    **overrides
        Any :class:`AugmentConfig` field, e.g. ``flip=False`` or ``blur_p=0``.

    Examples
    --------
    >>> aug = ContrastiveAugment("digits8", seed=0)
    >>> v1, v2 = aug(images), aug(images)       # or: v1, v2 = aug.views(images, 2)
    """

    def __init__(self, preset: str | AugmentConfig | None = None, seed: int = 0, backend: str = "batched",
                 **overrides):
        if isinstance(preset, str) and preset not in AUGMENT_PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(AUGMENT_PRESETS)}")
        if backend not in ("batched", "torchvision"):
            raise ValueError(f"backend must be 'batched' or 'torchvision'; got {backend!r}")
        self.preset = preset
        self.seed = seed
        self.backend = backend
        self.overrides = overrides
        self.generator = _seed_generator(seed)

    def reset(self) -> ContrastiveAugment:
        """Restart the random sequence from ``seed``."""
        self.generator = _seed_generator(self.seed)
        return self

    def config_for(self, images: torch.Tensor) -> AugmentConfig:
        """The :class:`AugmentConfig` used for ``images`` (the preset plus overrides)."""
        cfg = self.preset if isinstance(self.preset, AugmentConfig) else AUGMENT_PRESETS[
            self.preset or preset_for(images)]
        return replace(cfg, **self.overrides) if self.overrides else cfg

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """One random view of every image: ``(N, C, H, W)`` float in [0, 1] in, same shape out."""
        _check_images(images)
        cfg = self.config_for(images)
        if self.backend == "torchvision":
            return self._torchvision_views(images, cfg)
        return self._batched_views(images, cfg)

    def views(self, images: torch.Tensor, n_views: int = 2) -> list[torch.Tensor]:
        """``n_views`` independent views, a list of tensors shaped like ``images``."""
        return [self(images) for _ in range(n_views)]

    # The batched path ----------------------------------------------------------------------------
    def _affine_matrices(self, n: int, cfg: AugmentConfig) -> torch.Tensor:
        """Per-image 2x3 matrices mapping output to input coordinates (``affine_grid``'s convention)."""
        g = self.generator
        area = _uniform(g, n, *cfg.crop_scale)
        log_ratio = _uniform(g, n, math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1]))
        ratio = log_ratio.exp()
        cw = (area * ratio).sqrt().clamp(max=1.0)
        ch = (area / ratio).sqrt().clamp(max=1.0)
        cx = (1 - cw) * _uniform(g, n, -1, 1)
        cy = (1 - ch) * _uniform(g, n, -1, 1)
        flip = torch.where(_bernoulli(g, n, 0.5 if cfg.flip else 0.0), -1.0, 1.0).to(torch.float64)
        angle = torch.deg2rad(_uniform(g, n, -cfg.degrees, cfg.degrees))
        zoom = _uniform(g, n, *cfg.affine_scale)
        tx = _uniform(g, n, -2 * cfg.translate, 2 * cfg.translate)  # normalised coords span 2
        ty = _uniform(g, n, -2 * cfg.translate, 2 * cfg.translate)
        cos, sin = angle.cos() / zoom, angle.sin() / zoom
        # input = crop(rotate_zoom(flip(output)) - shift), with crop(p) = (cw, ch) * p + (cx, cy)
        a = torch.stack([torch.stack([cos * flip, -sin], -1), torch.stack([sin * flip, cos], -1)], -2)
        a = torch.stack([cw, ch], -1).unsqueeze(-1) * a
        t = torch.stack([cx - cw * tx, cy - ch * ty], -1)
        return torch.cat([a, t.unsqueeze(-1)], dim=-1)

    def _color(self, x: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
        g, n = self.generator, x.shape[0]
        b, c, s, h = cfg.jitter
        on = _bernoulli(g, n, cfg.jitter_p)
        bright = torch.where(on, _uniform(g, n, max(0.0, 1 - b), 1 + b), 1.0)
        contrast = torch.where(on, _uniform(g, n, max(0.0, 1 - c), 1 + c), 1.0)
        sat = torch.where(on, _uniform(g, n, max(0.0, 1 - s), 1 + s), 1.0)
        hue = torch.where(on, _uniform(g, n, -h, h), 0.0)
        gray_on = _bernoulli(g, n, cfg.grayscale_p)

        def col(v):
            return v.to(x.device, x.dtype).view(-1, 1, 1, 1)

        x = (x * col(bright)).clamp(0, 1)
        mean = (TF.rgb_to_grayscale(x) if x.shape[1] == 3 else x).mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * col(contrast) + mean).clamp(0, 1)
        if x.shape[1] == 3:
            grey = TF.rgb_to_grayscale(x)
            x = ((x - grey) * col(sat) + grey).clamp(0, 1)
            if h > 0:
                x = _rotate_hue(x, hue.to(x.device, x.dtype))
            grey = TF.rgb_to_grayscale(x).expand_as(x)
            x = torch.where(col(gray_on).bool(), grey, x)
        return x

    def _blur(self, x: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
        g, (n, c, hh, ww) = self.generator, x.shape
        on = _bernoulli(g, n, cfg.blur_p)
        sigma = _uniform(g, n, *cfg.blur_sigma)
        if cfg.blur_p <= 0 or not bool(on.any()):
            return x
        radius = max(1, min(int(math.ceil(2 * cfg.blur_sigma[1])), (min(hh, ww) - 1) // 2))
        u = torch.arange(-radius, radius + 1, dtype=torch.float64)
        k = torch.exp(-0.5 * (u[None] / sigma[:, None]) ** 2)
        k = k / k.sum(dim=1, keepdim=True)
        delta = (u == 0).to(torch.float64).expand_as(k)
        k = torch.where(on[:, None], k, delta).repeat_interleave(c, dim=0).to(x.device, x.dtype)
        y = F.pad(x.reshape(1, n * c, hh, ww), (radius,) * 4, mode="replicate")
        y = F.conv2d(y, k.view(n * c, 1, -1, 1), groups=n * c)
        y = F.conv2d(y, k.view(n * c, 1, 1, -1), groups=n * c)
        return y.reshape(n, c, hh, ww)

    def _batched_views(self, images: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
        theta = self._affine_matrices(images.shape[0], cfg).to(images.device, images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        x = F.grid_sample(images, grid, mode="bilinear", padding_mode=cfg.padding, align_corners=False)
        x = self._color(x.clamp(0, 1), cfg)
        return self._blur(x, cfg).clamp(0, 1)

    # The torchvision path ------------------------------------------------------------------------
    def torchvision_transform(self, images_or_shape) -> v2.Compose:
        """The per-image ``torchvision.transforms.v2`` pipeline with the same strengths.

        Parameters
        ----------
        images_or_shape : Tensor (N, C, H, W) or tuple (C, H, W)
            Sets the output size and which colour steps apply.
        """
        shape = tuple(images_or_shape.shape[1:]) if isinstance(images_or_shape, torch.Tensor) else tuple(
            images_or_shape)
        probe = torch.zeros((1, *shape))
        cfg = self.config_for(probe)
        c, h, w = shape
        b, con, s, hue = cfg.jitter
        steps: list = [v2.RandomResizedCrop((h, w), scale=cfg.crop_scale, ratio=cfg.crop_ratio,
                                            antialias=True)]
        if cfg.flip:
            steps.append(v2.RandomHorizontalFlip())
        if cfg.degrees or cfg.translate or cfg.affine_scale != (1.0, 1.0):
            steps.append(v2.RandomAffine(cfg.degrees, translate=(cfg.translate, cfg.translate),
                                         scale=cfg.affine_scale))
        jitter = v2.ColorJitter(b, con, s if c == 3 else 0, hue if c == 3 else 0)
        steps.append(v2.RandomApply([jitter], p=cfg.jitter_p))
        if c == 3 and cfg.grayscale_p > 0:
            steps.append(v2.RandomGrayscale(cfg.grayscale_p))
        if cfg.blur_p > 0:
            radius = max(1, min(int(math.ceil(2 * cfg.blur_sigma[1])), (min(h, w) - 1) // 2))
            blur = v2.GaussianBlur(2 * radius + 1, sigma=cfg.blur_sigma)
            steps.append(v2.RandomApply([blur], p=cfg.blur_p))
        return v2.Compose(steps)

    def _torchvision_views(self, images: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
        transform = self.torchvision_transform(images)
        sub_seed = int(torch.randint(0, 2**62, (1,), generator=self.generator))
        # torchvision draws from the global RNG: fork it so the caller's stream is untouched.
        devices = [images.device] if images.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(sub_seed)
            return torch.stack([transform(im) for im in images]).clamp_(0, 1)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.overrides.items())
        return (f"ContrastiveAugment(preset={self.preset!r}, seed={self.seed}, "
                f"backend={self.backend!r}{extra})")


def _rotate_hue(x: torch.Tensor, hue: torch.Tensor) -> torch.Tensor:
    """Rotate hue by ``hue`` turns (in [-0.5, 0.5]) per image, as a rotation of the YIQ chroma plane."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                          dtype=x.dtype, device=x.device)
    from_yiq = torch.linalg.inv(to_yiq)
    ang = 2 * math.pi * hue
    cos, sin = ang.cos(), ang.sin()
    one, zero = torch.ones_like(cos), torch.zeros_like(cos)
    rot = torch.stack([torch.stack([one, zero, zero], -1), torch.stack([zero, cos, -sin], -1),
                       torch.stack([zero, sin, cos], -1)], -2)  # (N, 3, 3)
    m = from_yiq @ rot @ to_yiq
    return torch.einsum("nij,njhw->nihw", m, x).clamp(0, 1)


def contrastive_views(images: torch.Tensor, n_views: int = 2, preset: str | AugmentConfig | None = None,
                      seed: int = 0, **overrides) -> list[torch.Tensor]:
    """``n_views`` random views of every image, for SimCLR-style training (batched, fast).

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1], any device
    n_views : int
    preset : {"digits8", "grey28", "rgb32"} or AugmentConfig, optional
        Default: chosen from the shape (:func:`preset_for`).
    seed : int
        Same seed, same views. Vary it per epoch (e.g. ``seed=epoch``) or keep one
        :class:`ContrastiveAugment` object, whose calls continue one random stream.
    **overrides
        :class:`AugmentConfig` fields.

    Returns
    -------
    list of ``n_views`` tensors, each shape (N, C, H, W), float in [0, 1], on the input's device.
    """
    return ContrastiveAugment(preset, seed=seed, **overrides).views(images, n_views)


# --- composable pipeline -------------------------------------------------------------------------

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


def _is_estimator(step) -> bool:
    return hasattr(step, "fit") and hasattr(step, "transform")


def _make_step(spec) -> tuple[str, Callable]:
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


# --- effect on a k-means baseline ----------------------------------------------------------------

@contextmanager
def _thread_limit(threads: int | None):
    """Run the block with ``threads`` torch threads (None: unchanged), then restore the setting."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def compare_on_kmeans(images: torch.Tensor, labels, preprocessing: dict[str, Callable | None],
                      n_clusters: int | None = None, n_runs: int = 5, n_init: int = 1, seed: int = 0,
                      progress: bool = False, threads: int | None = 1) -> list[dict]:
    """Cluster ``images`` with k-means after each preprocessing choice and score against ``labels``.

    Each entry of ``preprocessing`` is applied to the whole set (estimators such as ZCA are fitted
    on it first: k-means is unsupervised, so fitting on the images it clusters is fair), the
    result is flattened to one feature vector per image, and scikit-learn's ``KMeans`` with
    ``n_clusters`` (default: the number of classes) is run ``n_runs`` times (seeds ``seed``,
    ``seed + 1``, ...) and scored with Hungarian-matched accuracy, NMI and ARI from
    :mod:`tutorial_lib.metrics`. k-means lands in different local optima from run to run (a few
    points of accuracy apart), so the mean and standard deviation over runs are reported: a
    difference smaller than about two standard deviations is not a real effect.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    labels : array-like or Tensor, shape (N,), int
    preprocessing : dict name -> Pipeline, estimator, callable or None
        ``None`` means the raw pixels.
    n_clusters : int, optional
    n_runs : int, >= 1
        Independent k-means runs to average over.
    n_init : int
        Restarts inside each run (keeps the lowest inertia).
    seed : int
        Seed of the first run (and nothing else: seeded noise steps carry their own seed).
    progress : bool
        Show a tqdm bar over the choices.
    threads : int or None
        Threads for the preprocessing (torch) and k-means (OpenMP, BLAS) while this runs, restored
        afterwards. One by default: on a few thousand small vectors more threads gain little, and on
        a busy machine they spin-wait (a 784 x 784 eigendecomposition for ZCA went from 0.3 s to 20 s
        with 2 threads on 2 shared cores). None keeps the libraries' own settings.

    Returns
    -------
    list of dict, one per choice in order, with keys ``preprocessing`` (str); ``acc``, ``nmi``,
    ``ari`` (means over runs, in [0, 1], ARI in [-1, 1]) with ``acc_std``, ``nmi_std``, ``ari_std``;
    and ``seconds`` (preprocessing plus all runs).
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    from .metrics import clustering_scores

    _check_images(images)
    y = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if y.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},); got {y.shape}")
    if n_runs < 1:
        raise ValueError(f"n_runs must be >= 1; got {n_runs}")
    k = int(n_clusters or len(np.unique(y)))
    rows = []
    for name, step in tqdm(list(preprocessing.items()), disable=not progress, desc="k-means"):
        start = time.perf_counter()
        with _thread_limit(threads), threadpool_limits(limits=threads):
            if step is None:
                x = images
            elif _is_estimator(step):
                x = step.fit_transform(images) if hasattr(step, "fit_transform") else (
                    step.fit(images).transform(images))
            else:
                x = step(images)
            feats = x.detach().reshape(x.shape[0], -1).to("cpu", torch.float32).numpy()
            runs = [clustering_scores(y, KMeans(k, n_init=n_init, random_state=seed + r).fit_predict(feats))
                    for r in range(n_runs)]
        row = {"preprocessing": name}
        for key in ("acc", "nmi", "ari"):
            vals = np.array([run[key] for run in runs])
            row[key], row[key + "_std"] = float(vals.mean()), float(vals.std())
        rows.append({**row, "seconds": time.perf_counter() - start})
    return rows


def format_comparison(rows: Iterable[dict], title: str | None = None) -> str:
    """A fixed-width text table of :func:`compare_on_kmeans` rows: mean +- std in %, and seconds."""
    rows = list(rows)
    width = max([len("preprocessing")] + [len(r["preprocessing"]) for r in rows])
    lines = [title] if title else []
    lines.append(f"{'preprocessing':<{width}}  {'acc %':>11}  {'NMI %':>11}  {'ARI %':>11}  {'time s':>6}")
    for r in rows:
        cells = "  ".join(f"{100 * r[k]:5.1f} ± {100 * r.get(k + '_std', 0.0):3.1f}"
                          for k in ("acc", "nmi", "ari"))
        lines.append(f"{r['preprocessing']:<{width}}  {cells}  {r['seconds']:6.2f}")
    return "\n".join(lines)
