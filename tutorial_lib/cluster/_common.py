"""Checks, budgets, resumable training stages and the collapse warning shared by the clustering methods.

Taught in notebook 03_clustering_classification (used by every method there).
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import runtime
from ..base import InputError, batched_forward
from ..checkpoint import load_checkpoint
from ..train import CHECKPOINT_NAME, History, fit


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


def stage_checkpoints(checkpoint_dir: str | os.PathLike | None, stages: tuple[str, ...],
                      resume: bool) -> dict[str, Path | None]:
    """The ``train.fit`` checkpoint folder of each training stage: ``checkpoint_dir/<stage>``.

    Parameters
    ----------
    checkpoint_dir : path or None
        None: no checkpoints (every stage gets None).
    stages : tuple of str
        Stage names, e.g. ``("warm", "scan", "self_label")``.
    resume : bool
        False starts a new run: the stages' ``last.pt`` files left by an earlier run are removed now,
        so that a later resume of this run never picks up a stage it has not reached.

    Returns
    -------
    dict stage -> Path or None
    """
    if checkpoint_dir is None:
        return dict.fromkeys(stages)
    folders = {stage: Path(checkpoint_dir) / stage for stage in stages}
    if not resume:
        for folder in folders.values():
            (folder / CHECKPOINT_NAME).unlink(missing_ok=True)
    return folders


def fit_stage(model: nn.Module, step, data, **fit_kwargs) -> History:
    """``train.fit(model, step, data, **fit_kwargs)`` for one training stage of a method.

    One difference: with ``resume=True``, a stage whose checkpoint says its callback stopped it early
    (``StopTraining``: DEC converged) is complete: its weights are loaded (onto ``device``) and its
    history returned, where ``train.fit`` would train on up to ``epochs``.
    """
    folder = fit_kwargs.get("checkpoint_dir")
    path = Path(folder) / CHECKPOINT_NAME if folder is not None else None
    if fit_kwargs.get("resume") and path is not None and path.is_file():
        state = load_checkpoint(path)
        history = History.from_dict(state["history"])
        n = len(data[0]) if isinstance(data, (tuple, list)) else len(data)
        if history.stopped_early and state["config"].get("n_samples") == n:
            model.load_state_dict(state["model"])
            model.to(runtime.device(fit_kwargs.get("device", "auto")))
            history.resumed_from = state["epoch"]
            return history
    return fit(model, step, data, **fit_kwargs)


COLLAPSE_SHARE = 0.9
"""A fit whose largest cluster holds more than this share of the images (with 2 clusters or more) warns."""

RANGE_HINT = "check that the images are in [0, 1] (8-bit ones divided by 255)"
"""The collapse hint of the methods that train on images."""


def warn_if_collapsed(labels, n_clusters: int, method: str, hints: str) -> None:
    """Warn (``UserWarning``) when one cluster holds more than ``COLLAPSE_SHARE`` of ``labels``.

    Parameters
    ----------
    labels : ndarray, shape (N,), int
    n_clusters : int
        Clusters asked for (no warning below 2).
    method : str
        Named in the message.
    hints : str
        What to change, e.g. ``"a lower lr (now 1e+06)"``.
    """
    labels = np.asarray(labels)
    if n_clusters < 2 or len(labels) == 0:
        return
    largest = int(np.bincount(labels).max())
    if largest > COLLAPSE_SHARE * len(labels):
        warnings.warn(
            f"{method} put {largest} of the {len(labels)} images ({largest / len(labels):.0%}) in one of "
            f"its {n_clusters} clusters: the fit collapsed. Try {hints}", UserWarning, stacklevel=3)
