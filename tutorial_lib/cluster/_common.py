"""Checks and training budgets shared by the clustering methods.

Taught in notebook 03_clustering_classification (used by every method there).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..base import InputError, batched_forward


def as_matrix(x, name: str = "X") -> torch.Tensor:
    """A 2-D float tensor from a tensor or array of features (images are flattened).

    Parameters
    ----------
    x : Tensor or array, shape (N, D) or (N, C, H, W), any finite real values
    name : str
        What the argument is called in the error messages.

    Returns
    -------
    Tensor, shape (N, D), float32

    Raises
    ------
    InputError
        Fewer than 1 row, not 2-D after flattening, or NaN / infinite values.
    """
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.ndim > 2:
        t = t.flatten(1)
    if t.ndim != 2 or len(t) == 0:
        raise InputError(f"{name} must have shape (N, D) with N >= 1 (or be images (N, C, H, W)), "
                         f"got {tuple(t.shape)}")
    t = t.float()
    if not torch.isfinite(t).all():
        raise InputError(f"{name} contains NaN or infinite values; clean the data first")
    return t


def check_k(n_clusters: int, n: int) -> None:
    """Refuse a number of clusters below 1 or above the number of samples ``n``."""
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be at least 1, got {n_clusters}")
    if n_clusters > n:
        raise ValueError(f"n_clusters={n_clusters} is more than the {n} samples given; lower it")


def epochs_for(n: int, batch_size: int, steps: int, lo: int = 1, hi: int = 1000) -> int:
    """Epochs giving about ``steps`` optimisation steps on ``n`` samples, clipped to ``[lo, hi]``.

    A budget in steps rather than epochs gives every data set about the same amount of training:
    1,797 digits and 10,000 MNIST images then cost about the same number of updates.

    Parameters
    ----------
    n : int
        Samples per epoch.
    batch_size : int
    steps : int
        Optimisation steps wanted.
    lo, hi : int
        Fewest and most epochs.

    Returns
    -------
    int, epochs in ``[lo, hi]``
    """
    per_epoch = max(1, math.ceil(n / batch_size))
    return int(min(max(round(steps / per_epoch), lo), hi))


# Images per forward pass when a whole set is scored (DEC's targets, SCAN's pseudo-labels, predictions).
EVAL_BATCH = 1024


def forward_all(model: nn.Module, images: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``model`` on every image in eval mode, without gradients, in batches of ``EVAL_BATCH``.

    Parameters
    ----------
    model : nn.Module
        Maps (B, C, H, W) to (B, K).
    images : Tensor, shape (N, C, H, W)
    device : torch.device or str
        Where the batches go (the model's device).

    Returns
    -------
    Tensor, shape (N, K), float32, on the CPU
    """
    return batched_forward(model, images, device, batch_size=EVAL_BATCH)
