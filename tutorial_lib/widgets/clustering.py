"""The cluster explorer, and :func:`train_scan`, the adapter that lets the training panel fit SCAN.

Taught in notebook 03_clustering_classification.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import ipywidgets as widgets
import numpy as np
import torch

from .. import viz
from ..base import as_label_array, batched_forward, check_images
from ..metrics import cluster_acc, clustering_scores
from .panel import Panel

if TYPE_CHECKING:  # only for the annotation; the clustering methods are imported when used
    from ..cluster import SCAN

CLUSTER_METHODS = ("kmeans", "pca-kmeans", "tsne-kmeans")
"""The keys of ``tutorial_lib.cluster.METHODS`` the explorer's menu offers: the k-means baselines, quick
enough to recompute on every change (DEC and SCAN train networks: see :func:`train_scan`)."""


def _kmeans(features, n_clusters: int, seed: int) -> np.ndarray:
    """k-means labels (N,) int64 of features (N, D), on the CPU like the rest of the explorer."""
    from .. import cluster

    kmeans = cluster.KMeans(n_clusters=n_clusters, seed=seed, device="cpu")
    return as_label_array(kmeans.fit_predict(features))


def _cluster(images, method: str, n_clusters: int, seed: int, extra: dict, cache: dict) -> np.ndarray:
    """Labels (N,) int64 of ``method``: a key of ``extra`` (k-means on those features) or of the
    clustering registry; a feature pipeline's features are kept in ``cache`` for the next ``n_clusters``."""
    from .. import cluster  # lazily: importing the widgets does not load the clustering methods

    if method in extra:
        return _kmeans(extra[method], n_clusters, seed)
    if method not in cluster.METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(cluster.METHODS) + list(extra)}")
    key = (method, seed)
    if key in cache:  # the features do not depend on k: only k-means runs again (t-SNE takes seconds)
        return _kmeans(cache[key], n_clusters, seed)
    estimator = cluster.METHODS[method](n_clusters=n_clusters, seed=seed, device="cpu")
    clusters = as_label_array(estimator.fit_predict(images))
    if isinstance(estimator, cluster.DeepClusterPipeline):
        cache[key] = estimator.features_
    return clusters


def cluster_view(images: torch.Tensor, labels=None, *, method: str = "tsne-kmeans", n_clusters: int = 10,
                 classes=None, seed: int = 0, n_per_cluster: int = 8, features: dict | None = None,
                 cache: dict | None = None, draw: bool = True) -> dict:
    """Cluster ``images`` with one method of the registry and show what came out (the explorer's work).

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    labels : Tensor or array (N,) of int, optional
        Hidden classes, used only to score and to frame wrongly clustered images in the gallery.
    method : str
        A key of ``tutorial_lib.cluster.METHODS`` (``"kmeans"`` on pixels, ``"pca-kmeans"``,
        ``"tsne-kmeans"``; ``"dec"`` and ``"scan"`` work too but train a network), or a key of
        ``features``.
    n_clusters : int
        k (it may differ from the number of classes: then some clusters stay unmatched in the
        one-to-one accuracy, while the many-to-one accuracy lets each cluster vote).
    classes : list of str, optional
    seed : int
    n_per_cluster : int
        Images per gallery row.
    features : dict str -> Tensor (N, D), optional
        Extra precomputed feature spaces (e.g. a trained network's embeddings), clustered with k-means.
    cache : dict, optional
        Feature spaces already computed by a k-means baseline, keyed by ``(method, seed)``; filled in
        place, so that a new ``n_clusters`` only reruns k-means.
    draw : bool

    Returns
    -------
    dict
        ``clusters`` (ndarray (N,) int64), ``scores`` (``acc``, ``acc_many_to_one``, ``nmi``, ``ari``, or
        {} without labels), ``summary`` and ``figure`` (the cluster gallery, or None).
    """
    cache = cache if cache is not None else {}
    clusters = _cluster(images, method, n_clusters, seed, dict(features or {}), cache)
    sizes = sorted(np.bincount(clusters).tolist())
    scores, summary = {}, f"{method}, k = {n_clusters}: cluster sizes {sizes}"
    if labels is not None:
        scores = clustering_scores(labels, clusters)
        scores["acc_many_to_one"] = cluster_acc(labels, clusters, many_to_one=True)
        summary = (f"{method}, k = {n_clusters}: matched accuracy {scores['acc']:.3f} (many-to-one "
                   f"{scores['acc_many_to_one']:.3f}), NMI {scores['nmi']:.3f}, ARI {scores['ari']:.3f}")
    figure = viz.plot_cluster_gallery(images, clusters, n_per_cluster=n_per_cluster, labels=labels,
                                      classes=classes, seed=seed) if draw else None
    return {"clusters": clusters, "scores": scores, "summary": summary, "figure": figure}


def cluster_panel(images: torch.Tensor, labels=None, *, classes=None, n_clusters: int = 10,
                  method: str = "tsne-kmeans", features: dict | None = None, max_clusters: int = 20,
                  seed: int = 0, n_per_cluster: int = 8) -> Panel:
    """The cluster explorer: number of clusters and method; shows the scores and a gallery per cluster.

    Feature spaces are computed once and cached by the panel (t-SNE takes a few seconds).

    Parameters
    ----------
    images, labels, classes, seed, n_per_cluster
        As in :func:`cluster_view`.
    n_clusters, method : starting values of the controls.
    features : dict str -> Tensor (N, D), optional
        Extra feature spaces to offer in the method menu (e.g. ``{"SCAN network": embeddings}``).
    max_clusters : int
        Upper end of the slider.

    Returns
    -------
    Panel
        ``panel.controls["n_clusters"]``, ``panel.controls["method"]``; ``panel.result`` as returned by
        :func:`cluster_view`.
    """
    options = list(CLUSTER_METHODS) + list(features or {})
    if method not in options:
        raise ValueError(f"method {method!r} is not among {options}")
    controls = {
        "n_clusters": widgets.IntSlider(value=n_clusters, min=2, max=max(max_clusters, n_clusters),
                                        description="clusters", continuous_update=False),
        "method": widgets.Dropdown(options=options, value=method, description="method"),
    }
    compute = functools.partial(cluster_view, images, labels, classes=classes, seed=seed,
                                n_per_cluster=n_per_cluster, features=features, cache={})
    return Panel(controls, compute, title="Cluster explorer")


def train_scan(images: torch.Tensor, *, lr: float = 1e-3, epochs: int = 20, depth: int | None = None,
               activation: str = "relu", n_clusters: int = 10, monitor_labels=None, seed: int = 0,
               device: str = "auto", progress: bool = False, on_epoch_end: Callable | None = None,
               **scan_kwargs) -> tuple[SCAN, object]:
    """Fit :class:`~tutorial_lib.cluster.SCAN` with the settings a training panel exposes.

    The trainer to give :func:`tutorial_lib.widgets.training_panel` or
    :func:`tutorial_lib.widgets.train_view` (moved here from ``tutorial_lib.cluster``).

    Parameters
    ----------
    images : Tensor or ndarray, shape (N, C, H, W), float in [0, 1], N >= 2
    lr, epochs, depth, activation
        Learning rate, epochs of the SCAN stage, encoder depth and activation.
    n_clusters : int
    monitor_labels : Tensor or array (N,), optional
        Hidden labels, used ONLY to report the matched accuracy after each epoch (``history["acc"]``).
    seed, device, progress, on_epoch_end
        As in :class:`~tutorial_lib.cluster.SCAN`; ``on_epoch_end(epoch, model, history)`` may return
        a dict of extra values to record.
    **scan_kwargs
        Other :class:`~tutorial_lib.cluster.SCAN` parameters (e.g. ``init=None``,
        ``self_label_steps=0``, or small ``warm_steps`` for a quick run).

    Returns
    -------
    (SCAN, train.History)
        The fitted estimator and the history of its SCAN stage (``loss``, ``consistency``,
        ``entropy`` and maybe ``acc`` per epoch).
    """
    from ..cluster import SCAN  # lazily: importing the widgets does not load the clustering methods

    images = check_images(images, min_count=2)

    def end_of_epoch(epoch, net, history):
        out = {}
        if monitor_labels is not None:
            # batches of 1024 as before train_scan moved here from cluster.py
            pred = batched_forward(net, images, next(net.parameters()).device, batch_size=1024).argmax(1)
            out["acc"] = cluster_acc(monitor_labels, pred)
        if on_epoch_end is not None:
            out.update(on_epoch_end(epoch, net, history) or {})
        return out

    scan_kwargs = {"overcluster": 1, **scan_kwargs}  # one fit, so the curves are those of one network
    est = SCAN(n_clusters=n_clusters, lr=lr, epochs=epochs, encoder_depth=depth, activation=activation,
               seed=seed, device=device, progress=progress, on_epoch_end=end_of_epoch,
               **scan_kwargs).fit(images)
    return est, est.history_["scan"]
