"""Noise models: white Gaussian, salt-and-pepper and Poisson (shot) noise, on batched image tensors.

Taught in notebook 01_preprocessing (section "Noise"). Every function takes ``images``: Tensor or
array, shape (N, C, H, W), float in [0, 1], and returns a tensor of the same shape, device and
dtype, clipped to [0, 1]. The random numbers come from a CPU generator seeded with ``seed``
(:func:`tutorial_lib.base.generator`), so the same seed gives the same noise on every device and
the global random state is never touched.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..base import generator
from ._common import as_images

__all__ = ["add_gaussian_noise", "add_salt_pepper_noise", "add_poisson_noise", "add_noise", "NOISE_MODELS"]


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
    images = as_images(images)
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0; got {sigma}")
    noise = torch.randn(images.shape, generator=generator(seed))
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
    images = as_images(images)
    if not 0 <= amount <= 1 or not 0 <= salt_vs_pepper <= 1:
        raise ValueError(f"amount and salt_vs_pepper must be in [0, 1]; got {amount}, {salt_vs_pepper}")
    gen = generator(seed)
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
    images = as_images(images)
    if peak <= 0:
        raise ValueError(f"peak must be > 0; got {peak}")
    rates = images.detach().to("cpu", torch.float64).clamp(0.0, 1.0) * peak
    counts = torch.poisson(rates, generator=generator(seed))
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
    images = as_images(images)
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
