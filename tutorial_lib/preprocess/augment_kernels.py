"""The deterministic kernels of the contrastive augmentation: given a view's parameters, apply them.

Taught in notebook 01_preprocessing (section "Augmentation for contrastive learning"). No randomness
here: :func:`~.augment.draw_params` draws a :class:`~.augment.ViewParams`, and :func:`augment_view`
(built from :func:`affine_matrices`, :func:`apply_geometry`, :func:`apply_color` and
:func:`apply_blur`) applies it to a whole batch at once, the same on any device. As in
``torchvision.transforms.v2``, whose ``make_params`` is kept apart from its kernels.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

if TYPE_CHECKING:  # only for the annotations: augment imports this module
    from .augment import AugmentConfig, ViewParams

__all__ = ["affine_matrices", "apply_geometry", "apply_color", "apply_blur", "augment_view", "blur_radius"]


# --- the deterministic kernels -------------------------------------------------------------------

def affine_matrices(params: ViewParams) -> torch.Tensor:
    """Per-image 2x3 matrices mapping output to input coordinates (``affine_grid``'s convention).

    Parameters
    ----------
    params : ViewParams of N views

    Returns
    -------
    Tensor, shape (N, 2, 3), float64
    """
    cw, ch = params.crop_size.unbind(-1)
    cx, cy = params.crop_center.unbind(-1)
    tx, ty = params.shift.unbind(-1)
    flip = params.flip
    cos, sin = params.angle.cos() / params.zoom, params.angle.sin() / params.zoom
    # input = crop(rotate_zoom(flip(output)) - shift), with crop(p) = (cw, ch) * p + (cx, cy)
    a = torch.stack([torch.stack([cos * flip, -sin], -1), torch.stack([sin * flip, cos], -1)], -2)
    a = torch.stack([cw, ch], -1).unsqueeze(-1) * a
    t = torch.stack([cx - cw * tx, cy - ch * ty], -1)
    return torch.cat([a, t.unsqueeze(-1)], dim=-1)


def apply_geometry(images: torch.Tensor, params: ViewParams, padding: str = "zeros") -> torch.Tensor:
    """Crop, flip, rotate, zoom and shift every image in one ``grid_sample`` (bilinear).

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float
    params : ViewParams of N views
    padding : {"zeros", "border", "reflection"}
        What is brought in from outside the image.

    Returns
    -------
    Tensor, shape (N, C, H, W), on the input's device and dtype (not clipped).
    """
    theta = affine_matrices(params).to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=padding, align_corners=False)


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


def apply_color(images: torch.Tensor, params: ViewParams, rotate_hue: bool = True) -> torch.Tensor:
    """Brightness and contrast; on RGB also saturation, hue and greyscale, per image.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    params : ViewParams of N views
    rotate_hue : bool
        Apply the hue rotation (RGB only); off when the configuration has no hue jitter, which
        skips a colour-space round trip that would otherwise change values by rounding.

    Returns
    -------
    Tensor, shape (N, C, H, W), float in [0, 1], on the input's device and dtype.
    """
    def col(v: torch.Tensor) -> torch.Tensor:
        return v.to(images.device, images.dtype).view(-1, 1, 1, 1)

    x = (images * col(params.brightness)).clamp(0, 1)
    mean = (TF.rgb_to_grayscale(x) if x.shape[1] == 3 else x).mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * col(params.contrast) + mean).clamp(0, 1)
    if x.shape[1] == 3:
        grey = TF.rgb_to_grayscale(x)
        x = ((x - grey) * col(params.saturation) + grey).clamp(0, 1)
        if rotate_hue:
            x = _rotate_hue(x, params.hue.to(x.device, x.dtype))
        grey = TF.rgb_to_grayscale(x).expand_as(x)
        x = torch.where(col(params.grayscale).bool(), grey, x)
    return x


def blur_radius(max_sigma: float, height: int, width: int) -> int:
    """The Gaussian kernel's radius in pixels for sigmas up to ``max_sigma``: 2 sigma, at least 1, and
    small enough for the kernel to fit the image (the batched and the torchvision blur share it)."""
    return max(1, min(int(math.ceil(2 * max_sigma)), (min(height, width) - 1) // 2))


def apply_blur(images: torch.Tensor, params: ViewParams, max_sigma: float) -> torch.Tensor:
    """Gaussian blur of the views marked in ``params.blur``, as one grouped separable convolution.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float
    params : ViewParams of N views
    max_sigma : float
        The largest sigma the configuration can draw, in pixels: it sets the kernel radius (the same
        for the whole batch, at most half the image side).

    Returns
    -------
    Tensor, shape (N, C, H, W), on the input's device and dtype; views not blurred are unchanged.
    """
    n, c, hh, ww = images.shape
    on, sigma = params.blur, params.blur_sigma
    if not bool(on.any()):
        return images
    radius = blur_radius(max_sigma, hh, ww)
    u = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (u[None] / sigma[:, None]) ** 2)
    k = k / k.sum(dim=1, keepdim=True)
    delta = (u == 0).to(torch.float64).expand_as(k)  # the identity kernel for the views left sharp
    k = torch.where(on[:, None], k, delta).repeat_interleave(c, dim=0).to(images.device, images.dtype)
    y = F.pad(images.reshape(1, n * c, hh, ww), (radius,) * 4, mode="replicate")
    y = F.conv2d(y, k.view(n * c, 1, -1, 1), groups=n * c)
    y = F.conv2d(y, k.view(n * c, 1, 1, -1), groups=n * c)
    return y.reshape(n, c, hh, ww)


def augment_view(images: torch.Tensor, params: ViewParams, cfg: AugmentConfig) -> torch.Tensor:
    """One view of every image from given parameters: geometry, colour, blur (deterministic).

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1], any device
    params : ViewParams of N views (:func:`draw_params`)
    cfg : AugmentConfig
        The fixed settings the parameters were drawn with (padding, hue on or off, blur radius).

    Returns
    -------
    Tensor, shape (N, C, H, W), float in [0, 1], on the input's device and dtype.
    """
    if len(params) != images.shape[0]:
        raise ValueError(f"params describe {len(params)} views but images holds {images.shape[0]}")
    x = apply_geometry(images, params, cfg.padding)
    x = apply_color(x.clamp(0, 1), params, rotate_hue=cfg.jitter[3] > 0)
    return apply_blur(x, params, cfg.blur_sigma[1]).clamp(0, 1)
