"""What every segmentation method shares: image checks, label maps, the per-image fit loop.

Taught in notebook 04_pixel_segmentation.

* :func:`as_image` / :func:`as_images`: one ``(C, H, W)`` image (``(H, W)`` is read as grey) or a batch
  (``(N, C, H, W)`` or a list of ``(C, H, W)``) as ``(H, W, C)`` float32 NumPy arrays in [0, 1]; bad input
  raises :class:`tutorial_lib.base.InputError` (a ``ValueError``) saying what to do.
* :func:`relabel_consecutive`: labels renamed ``0..K-1``.
* :func:`pack_maps`: one map for one image, a stack for an array batch, a list for a list.
* :class:`Segmenter`: the estimator base (:class:`tutorial_lib.base.Estimator`); a per-image method
  implements ``_segment(image (H, W, C)) -> labels (H, W)`` and inherits ``fit``, ``fit_predict`` and the
  progress bar over the images of a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from ..base import Estimator, InputError, reject_labels
from ..runtime import progress_bar as tqdm

MIN_SIDE = 4
"""Images smaller than this (height or width, in pixels) are refused with a clear error."""


def to_numpy(x) -> np.ndarray:
    """A tensor (any device) or array-like as a NumPy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def as_image(image) -> np.ndarray:
    """Check one image and return it as an ``(H, W, C)`` float32 NumPy array in [0, 1].

    Parameters
    ----------
    image : Tensor or ndarray, shape (C, H, W) with C in {1, 3, 4}, or (H, W); float in [0, 1]
        A fourth (alpha) channel is dropped; integer images of 8 bits are divided by 255.

    Returns
    -------
    ndarray, shape (H, W, C) with C in {1, 3}, float32 in [0, 1]

    Raises
    ------
    InputError (a ValueError)
        Wrong number of dimensions or channels, fewer than ``MIN_SIDE`` pixels a side, NaN or
        infinite values, values far outside [0, 1].
    """
    arr = to_numpy(image)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise InputError(f"image must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise InputError(f"image must have shape (C, H, W) or (H, W), got shape {arr.shape}; "
                         "for several images pass an (N, C, H, W) batch or a list")
    if arr.shape[0] not in (1, 3, 4):
        raise InputError(f"image must have 1, 3 or 4 channels first (C, H, W), got shape {arr.shape}; "
                         "an (H, W, C) array needs .transpose(2, 0, 1)")
    if min(arr.shape[1:]) < MIN_SIDE:
        raise InputError(f"image is {arr.shape[2]}×{arr.shape[1]} pixels; segmentation needs at least "
                         f"{MIN_SIDE}×{MIN_SIDE}")
    if arr.dtype.kind in "iu":
        arr = arr / (255.0 if arr.max() > 1 else 1.0)
    arr = arr[:3].astype(np.float32)
    if not np.isfinite(arr).all():
        raise InputError("image contains NaN or infinite values")
    # A little slack: resampled images overshoot [0, 1] by rounding.
    if arr.min() < -0.01 or arr.max() > 1.01:
        raise InputError(f"image values must lie in [0, 1], got [{arr.min():.3g}, {arr.max():.3g}]; "
                         "divide 8-bit images by 255")
    return np.ascontiguousarray(np.clip(arr, 0.0, 1.0).transpose(1, 2, 0))


def is_batch(images) -> bool:
    """True for a list or tuple of images or an ``(N, C, H, W)`` array; False for one image."""
    if isinstance(images, (list, tuple)):
        return True
    return getattr(images, "ndim", 0) == 4


def as_images(images) -> list[np.ndarray]:
    """A batch (``(N, C, H, W)`` or a list of ``(C, H, W)``) or one image, as a list of ``(H, W, C)``
    float32 arrays in [0, 1] (see :func:`as_image`).

    Raises
    ------
    InputError (a ValueError)
        An empty batch, or a bad image (see :func:`as_image`).
    """
    if not is_batch(images):
        return [as_image(images)]
    if len(images) == 0:
        raise InputError("the batch of images is empty")
    return [as_image(im) for im in images]


def relabel_consecutive(labels) -> np.ndarray:
    """Rename the labels of a map to ``0..K-1``, keeping their sorted order.

    Parameters
    ----------
    labels : array-like, shape (H, W), int

    Returns
    -------
    ndarray, shape (H, W), int64, values ``0..K-1`` (K = number of distinct labels)
    """
    arr = to_numpy(labels)
    _, inverse = np.unique(arr, return_inverse=True)
    return inverse.reshape(arr.shape).astype(np.int64)


def pack_maps(maps: list[np.ndarray], images):
    """The label maps shaped like the input: one ``(H, W)`` map for one image, an ``(N, H, W)`` stack
    for an array or tensor batch, a list of ``(H_i, W_i)`` maps for a list."""
    if not is_batch(images):
        return maps[0]
    if isinstance(images, (list, tuple)):
        return maps
    return np.stack(maps)


class Segmenter(Estimator):
    """Base class of the segmentation methods.

    A per-image method implements ``_segment(image (H, W, C) float32) -> labels (H, W) int``; ``fit``
    checks the input, segments each image (with a progress bar over a batch when ``progress``), renames
    the labels ``0..K-1`` and stores them in ``labels_``.

    Parameters
    ----------
    seed : int
    device : str
        Accepted by every method so that all of them are built the same way; methods that do not
        compute with torch ignore it.
    progress : bool
        Show a progress bar over the images of a batch.

    Attributes
    ----------
    labels_ : ndarray (H, W) int64 for one image; an (N, H, W) array for an array batch, a list of
        (H_i, W_i) arrays for a list.
    """

    progress_name: str | None = None
    """Title of the progress bar (default: the class name)."""

    def __init__(self, seed: int = 0, device: str = "auto", progress: bool = False):
        self.seed = seed
        self.device = device
        self.progress = progress

    def _segment(self, image: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _each_image(self, fn: Callable, batch: bool, arrays: Sequence, *per_image: Iterable) -> list:
        """``fn(image, *extras)`` for every image (and the matching item of each ``per_image``), with a
        progress bar over a batch when ``self.progress``."""
        items: Iterable = zip(arrays, *per_image, strict=True)
        if self.progress and batch:
            items = tqdm(items, total=len(arrays), desc=self.progress_name or type(self).__name__,
                         leave=False)
        return [fn(*item) for item in items]

    def fit(self, images, y=None) -> Segmenter:
        """Segment ``images``; the label maps are in ``labels_``.

        Parameters
        ----------
        images : Tensor or ndarray (C, H, W) or (H, W), float in [0, 1]; or a batch (N, C, H, W) or list
        y : ignored

        Returns
        -------
        self
            ``fit_predict(images)`` (from :class:`tutorial_lib.base.Estimator`) returns ``labels_``
            directly.
        """
        reject_labels(self, y)
        arrays = as_images(images)
        maps = self._each_image(lambda im: relabel_consecutive(self._segment(im)), is_batch(images), arrays)
        self.labels_ = pack_maps(maps, images)
        return self
