"""Contrastive augmentation (SimCLR views): strengths, presets, random parameter draws, and the
deterministic kernels that apply them to a whole batch at once.

Taught in notebook 01_preprocessing (section "Augmentation for contrastive learning") and used by
the contrastive and clustering methods of notebooks 02_feature_learning and
03_clustering_classification.

As in ``torchvision.transforms.v2``, which separates ``make_params`` from the kernel, the random
choices are kept apart from the image maths:

* :func:`draw_params` draws every random choice of one view of ``n`` images (crop, flip, rotation,
  zoom, shift, colour jitter, greyscale, blur) from a ``torch.Generator`` into a :class:`ViewParams`;
* :func:`augment_view` (built from :func:`affine_matrices`, :func:`apply_geometry`,
  :func:`apply_color` and :func:`apply_blur`, in :mod:`.augment_kernels`) applies given parameters:
  no randomness, so the same parameters always give the same view, on any device;
* :class:`ContrastiveAugment` ties the two to its own seeded generator; :func:`contrastive_views`
  is the one-call form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torchvision.transforms import v2

from ..base import generator, seeded
from ._common import as_images
from .augment_kernels import (
    affine_matrices,
    apply_blur,
    apply_color,
    apply_geometry,
    augment_view,
    blur_radius,
)

__all__ = ["AugmentConfig", "AUGMENT_PRESETS", "preset_for", "ViewParams", "draw_params", "affine_matrices",
           "apply_geometry", "apply_color", "apply_blur", "augment_view", "ContrastiveAugment",
           "contrastive_views"]


# --- strengths and presets -----------------------------------------------------------------------

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
    else ``grey28``.

    Parameters
    ----------
    images : Tensor or ndarray, shape (N, C, H, W), float

    Returns
    -------
    str, a key of :data:`AUGMENT_PRESETS`.
    """
    images = as_images(images)
    if images.shape[1] == 3:
        return "rgb32"
    return "digits8" if max(images.shape[-2:]) <= 12 else "grey28"


# --- the random draws ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ViewParams:
    """Every random choice of one view of a batch of N images (float64 tensors on the CPU).

    Coordinates are ``affine_grid``'s normalised ones: the image spans [-1, 1] on each axis.

    Attributes
    ----------
    crop_size : Tensor, shape (N, 2)
        Crop width and height as fractions of the image side, in (0, 1].
    crop_center : Tensor, shape (N, 2)
        Crop centre (x, y), normalised coordinates.
    flip : Tensor, shape (N,)
        -1 for a horizontal mirror, 1 for none.
    angle : Tensor, shape (N,)
        Rotation in radians.
    zoom : Tensor, shape (N,)
        Scale factor of the small affine (> 1 zooms in).
    shift : Tensor, shape (N, 2)
        Translation (x, y), normalised coordinates.
    brightness, contrast, saturation : Tensor, shape (N,)
        Multiplicative factors (1 where the jitter is off).
    hue : Tensor, shape (N,)
        Hue rotation in turns, in [-0.5, 0.5] (0 where the jitter is off).
    grayscale : Tensor, shape (N,), bool
        Views turned grey (RGB only).
    blur : Tensor, shape (N,), bool
        Views blurred.
    blur_sigma : Tensor, shape (N,)
        Blur standard deviation in pixels (drawn for every view, used where ``blur``).
    """

    crop_size: torch.Tensor
    crop_center: torch.Tensor
    flip: torch.Tensor
    angle: torch.Tensor
    zoom: torch.Tensor
    shift: torch.Tensor
    brightness: torch.Tensor
    contrast: torch.Tensor
    saturation: torch.Tensor
    hue: torch.Tensor
    grayscale: torch.Tensor
    blur: torch.Tensor
    blur_sigma: torch.Tensor

    def __len__(self) -> int:
        return int(self.flip.shape[0])


def _uniform(gen: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)


def _bernoulli(gen: torch.Generator, n: int, p: float) -> torch.Tensor:
    return torch.rand(n, generator=gen, dtype=torch.float64) < p


def draw_params(n: int, cfg: AugmentConfig, gen: torch.Generator) -> ViewParams:
    """Draw the random choices of one view of ``n`` images from ``gen`` (the only random step).

    The draws come in a fixed order (geometry, colour, blur) and every one is made for every image,
    also where a step turns out to be off, so the stream of ``gen`` advances by the same amount
    whatever is drawn and a seed always gives the same sequence of views.

    Parameters
    ----------
    n : int
        Number of images.
    cfg : AugmentConfig
        Strengths and probabilities.
    gen : torch.Generator
        A CPU generator (e.g. :func:`tutorial_lib.base.generator`); advanced by the draws.

    Returns
    -------
    ViewParams, each field of length ``n``.
    """
    area = _uniform(gen, n, *cfg.crop_scale)
    ratio = _uniform(gen, n, math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1])).exp()
    cw = (area * ratio).sqrt().clamp(max=1.0)
    ch = (area / ratio).sqrt().clamp(max=1.0)
    cx = (1 - cw) * _uniform(gen, n, -1, 1)
    cy = (1 - ch) * _uniform(gen, n, -1, 1)
    flip = torch.where(_bernoulli(gen, n, 0.5 if cfg.flip else 0.0), -1.0, 1.0).to(torch.float64)
    angle = torch.deg2rad(_uniform(gen, n, -cfg.degrees, cfg.degrees))
    zoom = _uniform(gen, n, *cfg.affine_scale)
    tx = _uniform(gen, n, -2 * cfg.translate, 2 * cfg.translate)  # normalised coords span 2
    ty = _uniform(gen, n, -2 * cfg.translate, 2 * cfg.translate)
    b, c, s, h = cfg.jitter
    on = _bernoulli(gen, n, cfg.jitter_p)
    bright = torch.where(on, _uniform(gen, n, max(0.0, 1 - b), 1 + b), 1.0)
    contrast = torch.where(on, _uniform(gen, n, max(0.0, 1 - c), 1 + c), 1.0)
    sat = torch.where(on, _uniform(gen, n, max(0.0, 1 - s), 1 + s), 1.0)
    hue = torch.where(on, _uniform(gen, n, -h, h), 0.0)
    grey = _bernoulli(gen, n, cfg.grayscale_p)
    blur = _bernoulli(gen, n, cfg.blur_p)
    sigma = _uniform(gen, n, *cfg.blur_sigma)
    return ViewParams(crop_size=torch.stack([cw, ch], -1), crop_center=torch.stack([cx, cy], -1), flip=flip,
                      angle=angle, zoom=zoom, shift=torch.stack([tx, ty], -1), brightness=bright,
                      contrast=contrast, saturation=sat, hue=hue, grayscale=grey, blur=blur, blur_sigma=sigma)


# --- the augmentation object ---------------------------------------------------------------------

class ContrastiveAugment:
    """Random views of a batch for contrastive learning (SimCLR), each image drawn independently.

    One call on a batch ``(N, C, H, W)`` returns one augmented view of the same shape: a random
    resized crop, a horizontal flip (if the preset allows), a small rotation/shift/zoom, colour
    jitter (brightness and contrast; saturation and hue on RGB), random greyscale (RGB) and Gaussian
    blur, each with the probabilities of an :class:`AugmentConfig`. Call it twice for two views.

    The default ``backend="batched"`` draws every image's parameters from the object's seeded
    generator (:meth:`make_params`, i.e. :func:`draw_params`) and applies them to the whole batch at
    once (:func:`augment_view`: one ``grid_sample`` for all the geometry, vectorised colour ops,
    one grouped convolution for the blur): about 100 times faster than a per-image loop on small
    images, and the same on CPU or GPU. ``backend="torchvision"`` runs the equivalent
    ``torchvision.transforms.v2`` pipeline (:meth:`torchvision_transform`) image by image, for
    comparison or for use inside a ``Dataset``. Neither changes the caller's global random state.

    Parameters
    ----------
    preset : {"digits8", "grey28", "rgb32"} or AugmentConfig, optional
        Strengths; ``None`` picks one from the first batch's shape (:func:`preset_for`).
    seed : int
        The same seed gives the same sequence of views (the second call differs from the first).
    backend : {"batched", "torchvision"}
    **overrides
        Any :class:`AugmentConfig` field, e.g. ``flip=False`` or ``blur_p=0``.

    Attributes
    ----------
    generator : torch.Generator
        The CPU generator every call draws from; training loops may re-seed it
        (``aug.generator.manual_seed(...)``) to make views follow their own seeded stream.

    Examples
    --------
    >>> aug = ContrastiveAugment("digits8", seed=0)
    >>> v1, v2 = aug(images), aug(images)       # or: v1, v2 = aug.views(images, 2)
    >>> params = aug.make_params(images)        # the draws alone ...
    >>> v3 = augment_view(images, params, aug.config_for(images))   # ... and the kernel
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
        self.generator = generator(seed)

    def reset(self) -> ContrastiveAugment:
        """Restart the random sequence from ``seed``."""
        self.generator = generator(self.seed)
        return self

    def config_for(self, images: torch.Tensor) -> AugmentConfig:
        """The :class:`AugmentConfig` used for ``images`` (the preset plus overrides)."""
        cfg = self.preset if isinstance(self.preset, AugmentConfig) else AUGMENT_PRESETS[
            self.preset or preset_for(images)]
        return replace(cfg, **self.overrides) if self.overrides else cfg

    def make_params(self, images: torch.Tensor) -> ViewParams:
        """Draw the parameters of one view of ``images`` (N, C, H, W) from :attr:`generator`."""
        images = as_images(images)
        return draw_params(images.shape[0], self.config_for(images), self.generator)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """One random view of every image: ``(N, C, H, W)`` float in [0, 1] in, same shape out."""
        images = as_images(images)
        cfg = self.config_for(images)
        if self.backend == "torchvision":
            return self._torchvision_views(images, cfg)
        return augment_view(images, draw_params(images.shape[0], cfg, self.generator), cfg)

    def views(self, images: torch.Tensor, n_views: int = 2) -> list[torch.Tensor]:
        """``n_views`` independent views, a list of tensors shaped like ``images``."""
        return [self(images) for _ in range(n_views)]

    def torchvision_transform(self, images_or_shape) -> v2.Compose:
        """The per-image ``torchvision.transforms.v2`` pipeline with the same strengths.

        Parameters
        ----------
        images_or_shape : Tensor (N, C, H, W) or tuple (C, H, W)
            Sets the output size and which colour steps apply.

        Returns
        -------
        torchvision.transforms.v2.Compose, mapping one (C, H, W) image to one view of the same shape.
        """
        shape = tuple(images_or_shape.shape[1:]) if isinstance(images_or_shape, torch.Tensor) else tuple(
            images_or_shape)
        cfg = self.config_for(torch.zeros((1, *shape)))
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
            radius = blur_radius(cfg.blur_sigma[1], h, w)
            blur = v2.GaussianBlur(2 * radius + 1, sigma=cfg.blur_sigma)
            steps.append(v2.RandomApply([blur], p=cfg.blur_p))
        return v2.Compose(steps)

    def _torchvision_views(self, images: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
        transform = self.torchvision_transform(images)
        sub_seed = int(torch.randint(0, 2**62, (1,), generator=self.generator))
        # torchvision draws from the global generators: seed them for the loop and restore the
        # caller's states afterwards, so the views are reproducible and the caller's stream untouched.
        with seeded(sub_seed, images.device):
            return torch.stack([transform(im) for im in images]).clamp_(0, 1)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.overrides.items())
        return (f"ContrastiveAugment(preset={self.preset!r}, seed={self.seed}, "
                f"backend={self.backend!r}{extra})")


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
