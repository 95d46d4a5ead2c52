"""Scoring the clustering methods: one method on one named data set, against its hidden labels.

Taught in notebook 03_clustering_classification; backs ``python -m tutorial_lib cluster`` and
``python -m tutorial_lib bench clustering`` (``METHODS``, ``evaluate``). The methods live in
:mod:`tutorial_lib.cluster`; this layer only builds, runs and scores them, and reads nothing from the
environment: callers choose small budgets with ``fast=True`` (the command line passes
``fast=runtime.fast_mode()``).
"""

from __future__ import annotations

import time
from numbers import Integral

import torch

from .. import runtime
from ..cluster import DEFAULT_METHOD, DEFAULT_N_CLUSTERS, METHODS

# Sets with a train and a test split are clustered on their test split (MNIST-test: 10,000 images),
# the protocol of the clustering papers this tutorial compares with; "mnist:train" picks the other.
TEST_SPLIT_SETS = ("mnist", "fashion-mnist", "cifar10", "stl10")

FAST_PARAMS: dict[str, dict] = {
    "kmeans": {},
    "pca-kmeans": {},
    "tsne-kmeans": {},
    "dec": {"pretrain_steps": 40, "pretrain_min_epochs": 2, "pretrain_max_epochs": 5,
            "steps": 20, "min_epochs": 2, "max_epochs": 5},
    "scan": {"warm_steps": 3, "steps": 30, "self_label_steps": 10},
}
"""Method name -> small training budgets for ``fast=True`` (CI, quick checks): a minute or less."""

MIN_IMAGES_PER_CLUSTER = 2
""":func:`evaluate` refuses fewer images than this per cluster: with one image per cluster every
image can be a cluster of its own, and accuracy, NMI and ARI of 1.0 would say nothing."""



def training_params(factory, checkpoint_dir=None, resume: bool = False) -> dict:
    """``checkpoint_dir`` and ``resume`` for ``factory`` (an estimator class, or a partial of one) if
    its constructor takes them (the methods that train), else ``{}``."""
    accepted = set(getattr(factory, "func", factory)._param_names())
    return {k: v for k, v in {"checkpoint_dir": checkpoint_dir, "resume": resume}.items() if k in accepted}


def make_estimator(method: str | None = None, n_clusters: int = DEFAULT_N_CLUSTERS, seed: int = 0,
                   device: str = "auto", progress: bool = False, fast: bool = False, checkpoint_dir=None,
                   resume: bool = False, **params):
    """A fresh estimator for ``method``.

    Parameters
    ----------
    method : str, optional
        A key of ``METHODS`` (default ``DEFAULT_METHOD``).
    n_clusters, seed, device, progress
        Passed to the estimator.
    fast : bool
        Use the small budgets of ``FAST_PARAMS[method]``.
    checkpoint_dir, resume
        Where a method that trains keeps its checkpoints, and whether to continue from them (see
        ``SCAN``); methods that train nothing (k-means, PCA, t-SNE) do not take them.
    **params
        Other parameters of the estimator; they override the fast budgets.

    Returns
    -------
    An unfitted estimator (``fit``, ``fit_predict``, ``labels_``).
    """
    name = method or DEFAULT_METHOD
    if name not in METHODS:
        raise ValueError(f"unknown clustering method {name!r}; choose one of {list(METHODS)}")
    factory = METHODS[name]
    settings = {**(FAST_PARAMS.get(name, {}) if fast else {}),
                **training_params(factory, checkpoint_dir, resume), **params}
    return factory(n_clusters=n_clusters, seed=seed, device=device, progress=progress, **settings)


def load_for_clustering(data: str, root=None, limit: int | None = None):
    """The images :func:`evaluate` clusters: ``data.load`` with the split convention of this module.

    ``mnist``, ``fashion-mnist``, ``cifar10`` and ``stl10`` give their **test** split (the
    MNIST-test protocol: 10,000 images); append ``:train`` (``"mnist:train"``) for the training split.
    Every other name (``digits``, ``shapes``, ``folder:PATH``) is passed to ``data.load`` unchanged.
    The subset taken by ``limit`` is always the one of data seed 0, so every method and seed sees
    the same images.

    Returns
    -------
    data.ImageSet (``images`` (N, C, H, W) float in [0, 1], ``labels`` (N,) or None, ``classes``)
    """
    from .. import data as data_module

    kind, _, rest = data.partition(":")
    if kind.lower() in TEST_SPLIT_SETS:
        split = rest or "test"
        if split not in ("train", "test", "unlabeled"):
            raise ValueError(f"unknown split {split!r} in {data!r}; use {kind}, {kind}:train or {kind}:test")
        return data_module.load(kind.lower(), split=split, root=root, limit=limit, seed=0)
    return data_module.load(data, root=root, limit=limit, seed=0)


def _check_subset(ds, data: str, n_clusters: int | None) -> int:
    """The number of clusters for ``ds``; refuses subsets whose scores would be misleading.

    Default: the set's classes (``ds.classes``) when it has labels, else ``DEFAULT_N_CLUSTERS``.

    Raises
    ------
    ValueError
        ``n_clusters`` below 1; fewer than ``MIN_IMAGES_PER_CLUSTER`` images per cluster; or fewer
        classes present in the images than clusters (a small ``limit`` then lowered k to the classes
        present and reported scores of 1.0).
    """
    if n_clusters is not None and (isinstance(n_clusters, bool) or not isinstance(n_clusters, Integral)
                                   or n_clusters < 1):
        raise ValueError(f"n_clusters must be a whole number of at least 1 (or None for the set's classes), "
                         f"got {n_clusters!r}")
    labels = ds.labels
    present = len(torch.unique(labels)) if labels is not None else None
    k = int(n_clusters or ((len(ds.classes) or present) if labels is not None else DEFAULT_N_CLUSTERS))
    need = MIN_IMAGES_PER_CLUSTER * k
    if len(ds) < need:
        raise ValueError(
            f"{data} gives {len(ds)} images, too few to score {k} clusters: at least {need} are needed "
            f"({MIN_IMAGES_PER_CLUSTER} per cluster, else every image can be a cluster of its own and the "
            f"scores mean nothing). Use a limit of {need} or more (--limit on the command line), or fewer "
            "clusters")
    if present is not None and present < k:
        raise ValueError(
            f"the {len(ds)} images of {data} hold {present} of its {len(ds.classes) or present} classes, "
            f"fewer than the {k} clusters asked for: the scores would be misleading. Use more images "
            "(a larger limit, --limit on the command line) so that every class is present, or fewer "
            "clusters")
    return k


def evaluate(data: str, root=None, method: str | None = None, seed: int = 0, limit: int | None = None,
             device: str = "auto", n_clusters: int | None = None, fast: bool = False,
             progress: bool = False, checkpoint_dir=None, resume: bool = False) -> dict:
    """Cluster one dataset without its labels, then score the clusters against them.

    Parameters
    ----------
    data : str
        A name for ``data.load``: ``digits``, ``mnist`` (its test split, see
        :func:`load_for_clustering`), ``fashion-mnist``, ``cifar10``, ``shapes``, ``folder:PATH``...
    root : path, optional
        Data folder (default ``$TUTORIAL_DATA_DIR``, else ``data/``).
    method : str, optional
        A key of ``METHODS``; default ``DEFAULT_METHOD``.
    seed : int
        Seed of the method (the images are the same for every seed).
    limit : int, optional
        Cluster a stratified subset of this many images.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``...
    n_clusters : int, optional
        Default: the number of classes of the set when it has labels, else 10. Fewer than
        ``MIN_IMAGES_PER_CLUSTER`` images per cluster, or fewer classes present than clusters, are
        refused (``ValueError``): such scores would say nothing.
    fast : bool
        Small training budgets (``FAST_PARAMS``).
    progress : bool
        Progress bars while training.
    checkpoint_dir, resume
        Passed to the methods that train (see :func:`make_estimator`): after a
        ``train.TrainingInterrupted``, the same call with ``resume=True`` gives the result of an
        uninterrupted one.

    Returns
    -------
    dict
        ``acc``, ``nmi``, ``ari`` (None when the set has no labels), ``seconds`` (wall-clock fitting
        time), ``cpu_seconds`` (CPU time of this process over all its threads: on a busy machine the
        better measure of cost), ``threads`` (torch's thread count), ``n_samples``, ``n_clusters``,
        ``method``, ``device``, ``data``, ``seed``.
    """
    from ..metrics import clustering_scores

    ds = load_for_clustering(data, root=root, limit=limit)
    labels = ds.labels
    k = _check_subset(ds, data, n_clusters)
    name = method or DEFAULT_METHOD
    estimator = make_estimator(name, k, seed, device, progress=progress, fast=fast,
                               checkpoint_dir=checkpoint_dir, resume=resume)
    started, cpu_started = time.perf_counter(), time.process_time()
    predicted = estimator.fit_predict(ds.images)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    scores = (clustering_scores(labels, predicted) if labels is not None
              else dict.fromkeys(("acc", "nmi", "ari")))
    return {**scores, "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2),
            "threads": torch.get_num_threads(), "n_samples": len(ds), "n_clusters": int(k),
            "method": name, "device": str(runtime.device(device)), "data": data, "seed": seed}


__all__ = ["DEFAULT_METHOD", "DEFAULT_N_CLUSTERS", "FAST_PARAMS", "METHODS", "MIN_IMAGES_PER_CLUSTER",
           "TEST_SPLIT_SETS", "evaluate", "load_for_clustering", "make_estimator", "training_params"]
