"""Transfer without labels: a SimCLR encoder learnt on one set of images, reused on another.

Taught in notebook 06_scaling_up. The source set (MNIST-test, 28×28) trains a SimCLR encoder; the
target set (scikit-learn's 8×8 digits, resized to 28×28 with :func:`resize_images`) is then embedded by
three encoders, compared by :func:`transfer_experiment`:

* **frozen**: the source encoder as it is (no training on the target at all);
* **fine-tuned**: the source encoder trained further with SimCLR on the target images;
* **scratch**: SimCLR on the target images only, with the fine-tuning's budget (epochs).

No step sees a label: training is SimCLR on unlabelled images, and the target labels are used only
to score the embeddings (k-means matched accuracy and NMI from :mod:`tutorial_lib.metrics`, k-NN
accuracy from :func:`tutorial_lib.features.knn_accuracy`), in :func:`score_embeddings`.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
import torch.nn.functional as F

from .. import metrics
from ..base import InputError, check_images
from ..cluster import KMeans
from ..features import check_training_images, embed, knn_accuracy, train_simclr

ENCODERS = ("frozen", "fine-tuned", "scratch")
"""The rows of :func:`transfer_experiment`, in order."""


def resize_images(images, size, *, pad: int = 0) -> torch.Tensor:
    """Images resized by bilinear interpolation with antialiasing (``F.interpolate``).

    Parameters
    ----------
    images : Tensor or ndarray, shape (N, C, H, W), float
    size : int or (int, int)
        Output height and width in pixels.
    pad : int
        Resize to ``size - 2 pad`` and add a border of ``pad`` zero pixels: ``size=28, pad=4`` puts
        the image in the central 20×20 box, where MNIST centres its digits.

    Returns
    -------
    Tensor, shape (N, C, size_h, size_w), float32. Every output pixel is a weighted mean of input
    pixels (the weights are positive), so values stay within the input's range (zeros added by ``pad``).
    """
    images = check_images(images)
    h, w = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
    if pad < 0 or min(h, w) - 2 * pad < 1:
        raise ValueError(f"size {(h, w)} with pad {pad} leaves no pixels; use 0 <= pad < min(size) / 2")
    inner = (h - 2 * pad, w - 2 * pad)
    # antialias matters when shrinking (it averages the pixels a bilinear tap would skip); growing
    # 8×8 digits to 28×28 is plain bilinear interpolation.
    out = F.interpolate(images, size=inner, mode="bilinear", align_corners=False, antialias=True)
    return F.pad(out, (pad, pad, pad, pad)) if pad else out


def score_embeddings(feats: torch.Tensor, labels, n_clusters: int | None = None, seed: int = 0) -> dict:
    """How well embeddings separate the hidden classes: k-means accuracy and NMI, k-NN accuracy.

    The evaluation step, and the only place that reads labels. k-means (``n_clusters``, default the
    number of classes, 10 seedings) runs on the L2-normalised embeddings: the contrastive loss only
    compares directions, so a feature's length carries no meaning.

    Parameters
    ----------
    feats : Tensor, shape (N, D)
    labels : Tensor or array of int, shape (N,)
    n_clusters : int, optional
    seed : int
        Of k-means and of the k-NN folds.

    Returns
    -------
    dict: ``kmeans_acc`` (Hungarian-matched, in [0, 1]), ``nmi`` (in [0, 1]), ``knn_acc`` (5-NN,
    cosine, 5-fold cross-validated, in [0, 1]).
    """
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).astype(np.int64).ravel()
    k = n_clusters or len(np.unique(y))
    clusters = KMeans(k, seed=seed).fit_predict(F.normalize(feats.float(), dim=1))
    return {"kmeans_acc": metrics.cluster_acc(y, clusters), "nmi": metrics.nmi(y, clusters),
            "knn_acc": knn_accuracy(feats, y, k=5, folds=5, seed=seed)}


def _check_inputs(source_images, target_images, target_labels, epochs: int, fine_tune_epochs: int):
    source = check_training_images(source_images, min_count=2, name="source_images")
    target = check_training_images(target_images, min_count=2, name="target_images")
    if source.shape[1:] != target.shape[1:]:
        raise InputError(f"source and target images must share their shape (C, H, W) for the source encoder "
                         f"to read the target: got {tuple(source.shape[1:])} and {tuple(target.shape[1:])}; "
                         f"resize the target with resize_images(target, {tuple(source.shape[-2:])})")
    if len(target_labels) != len(target):
        raise InputError(f"target_labels has {len(target_labels)} entries for {len(target)} target images")
    if epochs < 1 or fine_tune_epochs < 1:
        raise ValueError(f"epochs and fine_tune_epochs must be >= 1, got {epochs} and {fine_tune_epochs}")
    return source, target


def transfer_experiment(source_images, target_images, target_labels, *, encoder: str = "cnn",
                        epochs: int = 20, fine_tune_epochs: int = 10, lr: float = 2e-3,
                        fine_tune_lr: float | None = None, batch_size: int = 256,
                        n_clusters: int | None = None, seed: int = 0, device: str = "auto",
                        progress: bool = False) -> dict:
    """Frozen, fine-tuned and from-scratch SimCLR encoders on a target set, scored without training on labels.

    1. SimCLR on ``source_images`` for ``epochs`` (the source encoder; no labels exist for it here).
    2. **frozen**: the source encoder embeds the target images as it is.
    3. **fine-tuned**: a copy of the source encoder, with a new projection head, trained by SimCLR on
       the target images for ``fine_tune_epochs`` at ``fine_tune_lr``.
    4. **scratch**: a new encoder trained by SimCLR on the target images for ``fine_tune_epochs``
       at ``lr`` (the same budget as fine-tuning, without the source).

    Each embedding of the target is scored by :func:`score_embeddings` (the labels' only use).

    Parameters
    ----------
    source_images : Tensor or ndarray, shape (N_s, C, H, W), float in [0, 1]
    target_images : Tensor or ndarray, shape (N_t, C, H, W), float in [0, 1]
        The same (C, H, W) as the source (see :func:`resize_images`).
    target_labels : Tensor or array of int, shape (N_t,)
        Hidden classes of the target images, for scoring only.
    encoder : {"cnn", "resnet18"}
        The network (``features.train_simclr``'s ``encoder``).
    epochs : int
        SimCLR epochs on the source.
    fine_tune_epochs : int
        SimCLR epochs on the target, for both the fine-tuned and the scratch encoders.
    lr : float
        Adam learning rate of the source and scratch runs (cosine schedule).
    fine_tune_lr : float, optional
        Learning rate of the fine-tuning (default ``lr``).
    batch_size : int
    n_clusters : int, optional
        Clusters of the k-means score (default: the number of classes in ``target_labels``).
    seed : int
        Seeds every run (weights, views, k-means); the scratch and fine-tuned runs see the same views.
    device : str
    progress : bool
        Progress bars of the SimCLR runs.

    Returns
    -------
    dict: ``"frozen"``, ``"fine-tuned"``, ``"scratch"`` (in that order) -> row dict with
    ``kmeans_acc``, ``nmi``, ``knn_acc`` (see :func:`score_embeddings`), ``seconds`` (wall-clock time
    spent on the target: training and embedding), ``source_seconds`` (the source run the row reuses;
    0 for scratch) and ``epochs`` (SimCLR epochs on the target).
    """
    source, target = _check_inputs(source_images, target_images, target_labels, epochs, fine_tune_epochs)
    simclr = dict(encoder=encoder, batch_size=batch_size, seed=seed, device=device, progress=progress)

    started = time.perf_counter()
    source_model, _ = train_simclr(source, epochs=epochs, lr=lr, **simclr)
    source_seconds = time.perf_counter() - started

    def row(model, t0: float, target_epochs: int, reused: float) -> dict:
        feats = embed(model, target, device=device)
        seconds = time.perf_counter() - t0  # training and embedding; scoring is not the method's cost
        return {**score_embeddings(feats, target_labels, n_clusters, seed), "seconds": seconds,
                "source_seconds": reused, "epochs": target_epochs}

    out = {"frozen": row(source_model.encoder, time.perf_counter(), 0, source_seconds)}
    t0 = time.perf_counter()
    tuned, _ = train_simclr(target, **{**simclr, "encoder": copy.deepcopy(source_model.encoder)},
                            epochs=fine_tune_epochs, lr=fine_tune_lr or lr)
    out["fine-tuned"] = row(tuned, t0, fine_tune_epochs, source_seconds)
    t0 = time.perf_counter()
    scratch, _ = train_simclr(target, epochs=fine_tune_epochs, lr=lr, **simclr)
    out["scratch"] = row(scratch, t0, fine_tune_epochs, 0.0)
    return out


__all__ = ["ENCODERS", "resize_images", "score_embeddings", "transfer_experiment"]
