"""The two containers every loader returns, :class:`ImageSet` and :class:`SegmentationSet`, and the
helpers all loaders share: seeded stratified subsets (:func:`subset_indices`), conversion to float
in [0, 1], and resizing.

Taught in notebook 00_overview (what a dataset looks like here) and used by every notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

__all__ = ["ImageSet", "SegmentationSet", "subset_indices"]


# --- containers ----------------------------------------------------------------------------------
@dataclass
class ImageSet:
    """Images with optional class labels.

    Attributes
    ----------
    images : Tensor, shape (N, C, H, W), float32 in [0, 1]
    labels : Tensor, shape (N,), int64 in [0, len(classes)), or None when the set has no labels
    classes : list of str
        Class names; ``classes[k]`` names label ``k``. Empty when there are no labels.
    name : str
        Where the set came from, e.g. ``"mnist-test"``.
    paths : list of str, or None
        The source file of each image (absolute paths, in the order of ``images``) for sets read from the
        user's files; None for built-in and generated sets.
    note : str
        How the loader built the set, in one line (folder sets: the size and channels chosen); "" otherwise.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    classes: list[str] = field(default_factory=list)
    name: str = ""
    paths: list[str] | None = None
    note: str = ""

    def __post_init__(self) -> None:
        _check_paths(self.paths, len(self))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> ImageSet:
        """The items at ``indices`` (ints, in the order given), with their labels and paths kept in step."""
        idx = _as_index(indices)
        return replace(self, images=_take(self.images, idx), labels=_take(self.labels, idx),
                       classes=list(self.classes), paths=_take(self.paths, idx))

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        lab = f"{len(self.classes)} classes" if self.labels is not None else "no labels"
        return f"ImageSet({self.name!r}: {n} images of {c}×{h}×{w}, {lab})"


@dataclass
class SegmentationSet:
    """Images with one integer label per pixel.

    Attributes
    ----------
    images : Tensor, shape (N, C, H, W), float32 in [0, 1]; or a list of N (C, H, W) tensors when sizes differ
    masks : Tensor, shape (N, H, W), int64; or a list of N (H, W) tensors. Value k means ``classes[k]``.
    classes : list of str
    name : str
    paths : list of str, or None
        The source file of each image (absolute paths; its mask has the same stem under ``masks/``) for
        ``segfolder:`` sets; None for generated sets.
    annotations : list of Tensor, or None
        Sets with several human segmentations per image (BSDS500): ``annotations[i]`` is an (A_i, H, W)
        int64 stack of image i's A_i label maps (``masks[i]`` is the first); None for the other sets.

    Iterate over pairs with ``zip(ds.images, ds.masks)``.
    """

    images: torch.Tensor | list[torch.Tensor]
    masks: torch.Tensor | list[torch.Tensor]
    classes: list[str] = field(default_factory=list)
    name: str = ""
    paths: list[str] | None = None
    annotations: list[torch.Tensor] | None = None

    def __post_init__(self) -> None:
        _check_paths(self.paths, len(self))
        if self.annotations is not None and len(self.annotations) != len(self):
            raise ValueError(f"annotations must hold one stack per image: {len(self.annotations)} for "
                             f"{len(self)} images")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> SegmentationSet:
        """The items at ``indices`` (ints, in the order given), with their masks and paths kept in step."""
        idx = _as_index(indices)
        return replace(self, images=_take(self.images, idx), masks=_take(self.masks, idx),
                       classes=list(self.classes), paths=_take(self.paths, idx),
                       annotations=_take(self.annotations, idx))

    def __repr__(self) -> str:
        sizes = {tuple(im.shape) for im in self.images}
        shape = "×".join(map(str, sizes.pop())) if len(sizes) == 1 else f"{len(sizes)} sizes"
        return f"SegmentationSet({self.name!r}: {len(self)} images of {shape}, {len(self.classes)} classes)"


def _check_paths(paths: list[str] | None, n: int) -> None:
    if paths is not None and len(paths) != n:
        raise ValueError(f"paths must name one file per item: {len(paths)} paths for {n} items")


def _as_index(indices) -> torch.Tensor:
    """Integer indices (a list, an array or a tensor) as a 1-d int64 tensor."""
    return torch.as_tensor(np.asarray(indices), dtype=torch.int64).reshape(-1)


def _take(items, idx: torch.Tensor):
    """``items`` (a tensor, a list or None) at ``idx``: a tensor stays a tensor, a list a list."""
    if items is None:
        return None
    return items[idx] if isinstance(items, torch.Tensor) else [items[i] for i in idx.tolist()]


def segmentation_set(images: list[torch.Tensor], masks: list[torch.Tensor], classes: Sequence[str],
                     name: str, paths: list[str] | None = None) -> SegmentationSet:
    """A :class:`SegmentationSet` of (C, H, W) images and (H, W) masks: stacked into (N, C, H, W) and
    (N, H, W) tensors when every image has the same size, else kept as lists. ``paths``: one source file
    per image, or None."""
    if len({tuple(im.shape) for im in images}) == 1:
        return SegmentationSet(torch.stack(images), torch.stack(masks), list(classes), name, paths)
    return SegmentationSet(list(images), list(masks), list(classes), name, paths)


# --- subsets and conversion (shared by every loader) ---------------------------------------------
def subset_indices(n: int, limit: int | None, labels=None, seed: int = 0) -> np.ndarray:
    """Indices of a seeded random subset of ``limit`` items out of ``n``, stratified by label.

    Parameters
    ----------
    n : int
        Number of items.
    limit : int or None
        Subset size; None, or a limit >= n, keeps every item.
    labels : array-like, shape (n,), optional
        When given, each class keeps its share of the subset (largest-remainder rounding).
    seed : int
        Same seed, same subset.

    Returns
    -------
    ndarray, shape (min(n, limit),), int64, sorted ascending (the set keeps its original order).
    """
    if limit is None or limit >= n:
        return np.arange(n)
    if limit < 1:
        raise ValueError(f"limit must be a positive number of items, got {limit}")
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(n, size=limit, replace=False))
    labels = np.asarray(labels)
    values, counts = np.unique(labels, return_counts=True)
    quota = counts * limit / n
    take = np.floor(quota).astype(int)
    # hand the remaining places to the classes with the largest remainders (ties broken at random)
    order = np.lexsort((rng.random(len(values)), -(quota - take)))
    take[order[: limit - take.sum()]] += 1
    chosen = [rng.choice(np.flatnonzero(labels == v), size=k, replace=False)
              for v, k in zip(values, take, strict=True)]
    return np.sort(np.concatenate(chosen))


def _to_float(images: torch.Tensor | np.ndarray, scale: float) -> torch.Tensor:
    """Integer pixel values (0..scale) to float32 in [0, 1]."""
    return (torch.as_tensor(images).to(torch.float32) / scale).clamp_(0.0, 1.0)


def finish(images: np.ndarray | torch.Tensor, labels, classes: Sequence[str], name: str, limit: int | None,
           seed: int, scale: float) -> ImageSet:
    """An :class:`ImageSet` of a seeded subset of integer images (N, C, H, W) with values 0..``scale``.

    The subset is taken first (cheap on uint8), then the images become float32 in [0, 1]; labels
    (N,) or None become int64.
    """
    labels_np = None if labels is None else np.asarray(labels)
    idx = subset_indices(len(images), limit, labels_np, seed)
    images = torch.as_tensor(np.asarray(images)[idx]) if isinstance(images, np.ndarray) else images[idx]
    out_labels = None if labels_np is None else torch.as_tensor(labels_np[idx], dtype=torch.int64)
    return ImageSet(_to_float(images, scale), out_labels, list(classes), name)


def resize(image: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize a (C, H, W) tensor to ``size`` (H, W) pixels: ``mode="bilinear"`` (antialiased, clipped
    to [0, 1]) for images, ``"nearest"`` for masks (returned as float; cast back with ``.long()``)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    if mode == "nearest":
        return torch.nn.functional.interpolate(image[None].float(), size=size, mode="nearest-exact")[0]
    out = torch.nn.functional.interpolate(image[None], size=size, mode="bilinear", antialias=True,
                                          align_corners=False)
    return out[0].clamp_(0.0, 1.0)


def as_size(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """A size option (an int for a square, or (H, W)) as an (H, W) pair of ints; None stays None."""
    if size is None:
        return None
    return (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
