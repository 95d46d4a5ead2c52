"""Scoring the clustering methods: one method on one named data set, against its hidden labels.

Taught in notebook 03_clustering_classification; backs ``python -m tutorial_lib cluster`` and
``python -m tutorial_lib bench clustering`` (``METHODS``, ``evaluate``). The methods live in
:mod:`tutorial_lib.cluster`; this layer only builds, runs and scores them, and reads nothing from the
environment: callers choose small budgets with ``fast=True`` (the command line passes
``fast=runtime.fast_mode()``).
"""

from __future__ import annotations

import time

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


def make_estimator(method: str | None = None, n_clusters: int = DEFAULT_N_CLUSTERS, seed: int = 0,
                   device: str = "auto", progress: bool = False, fast: bool = False, **params):
    """A fresh estimator for ``method``.

    Parameters
    ----------
    method : str, optional
        A key of ``METHODS`` (default ``DEFAULT_METHOD``).
    n_clusters, seed, device, progress
        Passed to the estimator.
    fast : bool
        Use the small budgets of ``FAST_PARAMS[method]``.
    **params
        Other parameters of the estimator; they override the fast budgets.

    Returns
    -------
    An unfitted estimator (``fit``, ``fit_predict``, ``labels_``).
    """
    name = method or DEFAULT_METHOD
    if name not in METHODS:
        raise ValueError(f"unknown clustering method {name!r}; choose one of {list(METHODS)}")
    settings = {**(FAST_PARAMS.get(name, {}) if fast else {}), **params}
    return METHODS[name](n_clusters=n_clusters, seed=seed, device=device, progress=progress, **settings)


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


def evaluate(data: str, root=None, method: str | None = None, seed: int = 0, limit: int | None = None,
             device: str = "auto", n_clusters: int | None = None, fast: bool = False,
             progress: bool = False) -> dict:
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
        Default: the number of classes when the set has labels, else 10.
    fast : bool
        Small training budgets (``FAST_PARAMS``).
    progress : bool
        Progress bars while training.

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
    k = n_clusters or (len(torch.unique(labels)) if labels is not None else DEFAULT_N_CLUSTERS)
    if k > len(ds):
        raise ValueError(f"{data} has {len(ds)} images, fewer than the {k} clusters asked for; "
                         "use more images or fewer clusters")
    name = method or DEFAULT_METHOD
    estimator = make_estimator(name, k, seed, device, progress=progress, fast=fast)
    started, cpu_started = time.perf_counter(), time.process_time()
    predicted = estimator.fit_predict(ds.images)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    scores = (clustering_scores(labels, predicted) if labels is not None
              else dict.fromkeys(("acc", "nmi", "ari")))
    return {**scores, "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2),
            "threads": torch.get_num_threads(), "n_samples": len(ds), "n_clusters": int(k),
            "method": name, "device": str(runtime.device(device)), "data": data, "seed": seed}


__all__ = ["DEFAULT_METHOD", "DEFAULT_N_CLUSTERS", "FAST_PARAMS", "METHODS", "TEST_SPLIT_SETS", "evaluate",
           "load_for_clustering", "make_estimator"]
