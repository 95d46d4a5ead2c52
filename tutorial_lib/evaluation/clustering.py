"""Scoring the clustering methods: one method on one named data set, against its hidden labels.

Taught in notebook 03_clustering_classification; backs ``python -m tutorial_lib cluster`` and
``python -m tutorial_lib bench clustering`` (``METHODS``, ``evaluate``). The methods live in
:mod:`tutorial_lib.cluster`; this layer only builds, runs and scores them, and reads nothing from the
environment: callers choose small budgets with ``fast=True`` (the command line passes
``fast=runtime.fast_mode()``).

Besides the scores, :func:`evaluate` (and :func:`cluster_set`, :func:`predict_set`) gives what a user of
their own folder needs: which image went to which cluster and how sure the model is
(:class:`Assignments`, the ``assignments`` attribute of the :class:`ClusteringResult`), and, for a set
without labels, a number of clusters chosen without labels (:func:`choose_n_clusters`).
:mod:`tutorial_lib.evaluation.outputs` writes them to files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch

from .. import runtime
from ..base import as_label_array
from ..cluster import DEFAULT_METHOD, DEFAULT_N_CLUSTERS, METHODS, KMeans, PCAFeatures

# Sets with a train and a test split are clustered on their test split (MNIST-test: 10,000 images),
# the protocol of the clustering papers this tutorial compares with; "mnist:train" picks the other.
TEST_SPLIT_SETS = ("mnist", "fashion-mnist", "cifar10", "stl10")

FAST_PARAMS: dict[str, dict] = {
    "kmeans": {},
    "pca-kmeans": {},
    "umap-kmeans": {"n_epochs": 100},
    "n2d": {"pretrain_steps": 40, "pretrain_min_epochs": 2, "pretrain_max_epochs": 5, "n_epochs": 100},
    "tsne-kmeans": {},
    "dec": {"pretrain_steps": 40, "pretrain_min_epochs": 2, "pretrain_max_epochs": 5,
            "steps": 20, "min_epochs": 2, "max_epochs": 5},
    "scan": {"warm_steps": 3, "steps": 30, "self_label_steps": 10},
}
"""Method name -> small training budgets for ``fast=True`` (CI, quick checks): a minute or less."""

MIN_IMAGES_PER_CLUSTER = 2
""":func:`evaluate` refuses fewer images than this per cluster: with one image per cluster every
image can be a cluster of its own, and accuracy, NMI and ARI of 1.0 would say nothing."""

AUTO_MAX_CLUSTERS = 20
"""The largest number of clusters ``n_clusters="auto"`` tries (see :func:`choose_n_clusters`)."""

AUTO_IMAGES_PER_CLUSTER = 5
"""``n_clusters="auto"`` tries at most ``N // AUTO_IMAGES_PER_CLUSTER`` clusters for N images."""

AUTO_SAMPLE = 2000
"""The silhouette of :func:`choose_n_clusters` is computed on a seeded sample of this many images (it
costs N² distances)."""

AUTO_CRITERION = (f"silhouette of k-means (3 seedings) on the images' first 50 principal components, "
                  f"on a seeded sample of at most {AUTO_SAMPLE} images; the k with the largest value wins")
"""How ``n_clusters="auto"`` chooses, in the words ``k_selection`` reports."""


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
    Every other name (``digits``, ``mnist-imbalanced``, a fixed subset of MNIST-test; ``coil20``,
    ``shapes``, ``folder:PATH``) is passed to ``data.load`` unchanged.
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


def choose_n_clusters(images, device: str = "auto", max_clusters: int = AUTO_MAX_CLUSTERS,
                      seed: int = 0) -> dict:
    """A number of clusters chosen without labels: the best silhouette of k-means on PCA codes.

    The images' first 50 principal components are clustered by k-means (3 seedings) for each k in
    ``2..min(max_clusters, N // AUTO_IMAGES_PER_CLUSTER)``; the silhouette of each clustering (mean over
    images of (b - a) / max(a, b), a the mean distance to the image's own cluster, b to the nearest other
    one; -1 to 1, larger is better separated) is computed on a seeded sample of at most
    :data:`AUTO_SAMPLE` images, and the k with the largest value is chosen (the smaller k on a tie).

    Parameters
    ----------
    images : Tensor (N, C, H, W), float in [0, 1]
    device : str
        Where k-means runs.
    max_clusters : int
    seed : int
        Seed of the PCA, the k-means runs and the sample (:func:`evaluate` always passes 0, so every
        method and seed is given the same k).

    Returns
    -------
    dict
        ``chosen`` (int), ``criterion`` (:data:`AUTO_CRITERION`), ``values`` (str(k) -> silhouette,
        4 decimals, for every k tried).

    Raises
    ------
    ValueError
        Fewer than ``2 * AUTO_IMAGES_PER_CLUSTER`` images: too few to choose; give the number.
    """
    from sklearn.metrics import silhouette_score

    n = len(images)
    top = min(max_clusters, n // AUTO_IMAGES_PER_CLUSTER)
    if top < 2:
        raise ValueError(f"choosing the number of clusters (auto) needs at least "
                         f"{2 * AUTO_IMAGES_PER_CLUSTER} images ({AUTO_IMAGES_PER_CLUSTER} per cluster for 2 "
                         f"clusters), got {n}: give the number of clusters instead (--clusters K on the "
                         "command line)")
    codes = PCAFeatures(50, seed=seed).fit_transform(images)
    sample = np.sort(np.random.default_rng(seed).choice(n, size=min(n, AUTO_SAMPLE), replace=False))
    sampled = codes[torch.from_numpy(sample)].numpy()
    values = {}
    for k in range(2, top + 1):
        labels = KMeans(k, n_init=3, seed=seed, device=device).fit(codes).labels_[sample]
        values[k] = float(silhouette_score(sampled, labels)) if len(np.unique(labels)) > 1 else -1.0
    chosen = max(values, key=values.get)
    return {"chosen": int(chosen), "criterion": AUTO_CRITERION,
            "values": {str(k): round(v, 4) for k, v in values.items()}}


def _check_n_clusters(n_clusters) -> None:
    if n_clusters is None or n_clusters == "auto":
        return
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, Integral) or n_clusters < 1:
        raise ValueError(f"n_clusters must be a whole number of at least 1, 'auto', or None (the set's "
                         f"classes, else auto), got {n_clusters!r}")


def _check_subset(ds, data: str, n_clusters, device: str = "auto") -> tuple[int, dict | None]:
    """The number of clusters for ``ds``, and how it was chosen when it was chosen (else None); refuses
    subsets whose scores would be misleading.

    Default (``n_clusters=None``): the set's classes (``ds.classes``) when it has labels, else ``"auto"``
    (:func:`choose_n_clusters`).

    Raises
    ------
    ValueError
        ``n_clusters`` below 1; fewer than ``MIN_IMAGES_PER_CLUSTER`` images per cluster; or fewer
        classes present in the images than the clusters asked for (a small ``limit`` then lowered k to the
        classes present and reported scores of 1.0); a chosen k may exceed the classes.
    """
    _check_n_clusters(n_clusters)
    labels = ds.labels
    present = len(torch.unique(labels)) if labels is not None else None
    selection = None
    if n_clusters == "auto" or (n_clusters is None and labels is None):
        selection = choose_n_clusters(ds.images, device=device)
        k = selection["chosen"]
    else:
        k = int(n_clusters or len(ds.classes) or present)
    need = MIN_IMAGES_PER_CLUSTER * k
    if len(ds) < need:
        raise ValueError(
            f"{data} gives {len(ds)} images, too few to score {k} clusters: at least {need} are needed "
            f"({MIN_IMAGES_PER_CLUSTER} per cluster, else every image can be a cluster of its own and the "
            f"scores mean nothing). Use a limit of {need} or more (--limit on the command line), or fewer "
            "clusters")
    if present is not None and present < k and selection is None:  # more clusters than classes, asked for
        raise ValueError(
            f"the {len(ds)} images of {data} hold {present} of its {len(ds.classes) or present} classes, "
            f"fewer than the {k} clusters asked for: the scores would be misleading. Use more images "
            "(a larger limit, --limit on the command line) so that every class is present, or fewer "
            "clusters")
    return k, selection


# --- per-image assignments -----------------------------------------------------------------------


@dataclass
class Assignments:
    """Which cluster each image went to and how sure the model is, one entry per image in the set's order.

    Attributes
    ----------
    clusters : ndarray, shape (N,), int64 in [0, n_clusters)
    confidence : ndarray, shape (N,), float32 in [0, 1]; NaN where the clusterer gives no score (see
        :func:`assign`)
    paths : list of str, or None
        The source file of each image (folder sets), None for built-in sets.
    labels : ndarray, shape (N,), int64, or None
        The true class of each image when the set has labels (class subfolders).
    classes : list of str
        Class names: ``classes[labels[i]]`` is the true class of image i.
    """

    clusters: np.ndarray
    confidence: np.ndarray
    paths: list[str] | None = None
    labels: np.ndarray | None = None
    classes: list[str] | None = None

    def __len__(self) -> int:
        return len(self.clusters)

    def sizes(self, n_clusters: int) -> list[int]:
        """Images per cluster, ``sizes[c]`` for cluster c (0 for an empty cluster)."""
        return np.bincount(self.clusters, minlength=n_clusters).tolist()

    def true_classes(self) -> list[str] | None:
        """The name of each image's true class, or None without labels."""
        if self.labels is None:
            return None
        names = self.classes or []
        return [names[c] if c < len(names) else str(c) for c in self.labels.tolist()]


class ClusteringResult(dict):
    """What :func:`evaluate` returns: the scores and settings as a dict (what the command line prints and
    writes as JSON), and as attributes, outside the dict: ``assignments`` (:class:`Assignments`), and with
    ``keep=True`` the fitted ``estimator`` and the ``dataset`` (the ImageSet clustered), else None."""

    def __init__(self, scores: dict, assignments: Assignments, estimator=None, dataset=None):
        super().__init__(scores)
        self.assignments, self.estimator, self.dataset = assignments, estimator, dataset


def margin_confidence(distances: torch.Tensor, clusters: torch.Tensor) -> torch.Tensor:
    """The distance-based confidence of a nearest-centre assignment: ``1 - d1 / d2``.

    ``d1`` is the distance of a sample to the centre of its cluster, ``d2`` to the nearest other centre:
    1 on the centre itself, 0 halfway between two centres (clipped to [0, 1]; 1 with a single cluster).
    It does not depend on the scale of the features, unlike a softmax of distances.

    Parameters
    ----------
    distances : Tensor (N, K), float, the distances to the K centres
    clusters : Tensor (N,), int64, the cluster of each sample

    Returns
    -------
    Tensor (N,), float32 in [0, 1]
    """
    d = distances.double()
    if d.shape[1] < 2:
        return torch.ones(len(d), dtype=torch.float32)
    own = d.gather(1, clusters[:, None])[:, 0]
    other = d.scatter(1, clusters[:, None], float("inf")).min(1).values
    ratio = torch.where(other > 0, own / other.clamp_min(1e-300), torch.ones_like(own))
    return (1 - ratio).clamp_(0.0, 1.0).float()


def _centres_and_features(estimator, images, features):
    """The fitted clusterer with centres and the features it clusters, for a k-means-like estimator; else
    (None, None)."""
    from ..cluster import DeepClusterPipeline
    from ..cluster._common import as_matrix

    if isinstance(estimator, DeepClusterPipeline):
        clusterer = estimator.clusterer_
        if features is None:
            features = as_matrix(estimator.feature_step_.transform(images), "features")
    else:
        clusterer, features = estimator, as_matrix(images) if features is None else features
    if not (hasattr(clusterer, "cluster_centers_") and hasattr(clusterer, "transform")):
        return None, None
    return clusterer, features


def assign(estimator, images, clusters=None, features=None) -> tuple[np.ndarray, np.ndarray]:
    """The cluster of each image under a fitted estimator, and the model's confidence in it.

    Confidence: the model's probability for the image's cluster where it has one (``predict_proba``: SCAN,
    DEC, the Gaussian mixture of ``n2d``); for k-means, on its own or after a feature step (the ``kmeans``,
    ``pca-kmeans``, ``umap-kmeans`` and ``tsne-kmeans`` methods), the distance-based
    :func:`margin_confidence` (``1 - d1 / d2``); NaN for a clusterer without centres.

    Parameters
    ----------
    estimator : a fitted clustering estimator
    images : Tensor (N, C, H, W), float in [0, 1]
    clusters : array (N,) of int, optional
        The clusters to score (the training labels ``labels_``); default: predicted here.
    features : Tensor (N, D), optional
        The estimator's features of ``images`` when already known (the training features
        ``features_``: t-SNE has no others).

    Returns
    -------
    clusters : ndarray (N,) int64
    confidence : ndarray (N,) float32
    """
    if hasattr(estimator, "predict_proba"):
        proba = torch.as_tensor(estimator.predict_proba(images)).float().cpu()
        chosen = proba.argmax(1) if clusters is None else torch.as_tensor(as_label_array(clusters))
        return as_label_array(chosen), proba.gather(1, chosen[:, None])[:, 0].numpy()
    clusterer, feats = _centres_and_features(estimator, images, features)
    if clusterer is None:
        chosen = as_label_array(estimator.predict(images) if clusters is None else clusters)
        return chosen, np.full(len(chosen), np.nan, np.float32)
    dist = torch.as_tensor(np.asarray(clusterer.transform(feats if isinstance(clusterer, KMeans)
                                                          else feats.numpy())))
    chosen = dist.argmin(1) if clusters is None else torch.as_tensor(as_label_array(clusters))
    return as_label_array(chosen), margin_confidence(dist, chosen).numpy()


def _scored(ds, clusters: np.ndarray, confidence: np.ndarray) -> tuple[dict, Assignments]:
    """The scores of ``clusters`` against the labels of ``ds`` (None without), its cluster sizes and the
    :class:`Assignments`."""
    from ..metrics import clustering_scores

    labels = None if ds.labels is None else as_label_array(ds.labels)
    scores = (clustering_scores(labels, clusters) if labels is not None
              else dict.fromkeys(("acc", "nmi", "ari")))
    found = Assignments(clusters, confidence, ds.paths, labels, list(ds.classes))
    return scores, found


def cluster_set(ds, data: str, method: str | None = None, seed: int = 0, device: str = "auto",
                n_clusters=None, fast: bool = False, progress: bool = False, checkpoint_dir=None,
                resume: bool = False, keep: bool = False) -> ClusteringResult:
    """Cluster an already loaded ImageSet ``ds`` (named ``data`` in the result) and score it: the work of
    :func:`evaluate`, whose parameters and result it shares."""
    k, selection = _check_subset(ds, data, n_clusters, device)
    name = method or DEFAULT_METHOD
    estimator = make_estimator(name, k, seed, device, progress=progress, fast=fast,
                               checkpoint_dir=checkpoint_dir, resume=resume)
    started, cpu_started = time.perf_counter(), time.process_time()
    predicted = estimator.fit_predict(ds.images)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    clusters, confidence = assign(estimator, ds.images, predicted, getattr(estimator, "features_", None))
    scores, found = _scored(ds, clusters, confidence)
    result = {**scores, "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2),
              "threads": torch.get_num_threads(), "n_samples": len(ds), "n_clusters": int(k),
              "cluster_sizes": found.sizes(k), **({"k_selection": selection} if selection else {}),
              # which over-clustering a method with a label-free choice of its own kept (SCAN "auto")
              **({"size_choice": estimator.size_choice_} if getattr(estimator, "size_choice_", None) else {}),
              "method": name, "device": str(runtime.device(device)), "data": data, "seed": seed}
    return ClusteringResult(result, found, estimator if keep else None, ds if keep else None)


def evaluate(data: str, root=None, method: str | None = None, seed: int = 0, limit: int | None = None,
             device: str = "auto", n_clusters=None, fast: bool = False, progress: bool = False,
             checkpoint_dir=None, resume: bool = False, keep: bool = False) -> ClusteringResult:
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
    n_clusters : int, "auto" or None
        None (default): the number of classes of the set when it has labels, else ``"auto"``: chosen
        without labels by :func:`choose_n_clusters` (the same k for every method and seed), reported
        under ``k_selection``. Fewer than ``MIN_IMAGES_PER_CLUSTER`` images per cluster, or fewer
        classes present than clusters, are refused (``ValueError``): such scores would say nothing.
    fast : bool
        Small training budgets (``FAST_PARAMS``).
    progress : bool
        Progress bars while training.
    checkpoint_dir, resume
        Passed to the methods that train (see :func:`make_estimator`): after a
        ``train.TrainingInterrupted``, the same call with ``resume=True`` gives the result of an
        uninterrupted one.
    keep : bool
        Keep the fitted estimator and the ImageSet on the result (``result.estimator``,
        ``result.dataset``): the command line needs them to save the model and draw the gallery.

    Returns
    -------
    ClusteringResult
        A dict: ``acc``, ``nmi``, ``ari`` (None when the set has no labels), ``seconds`` (wall-clock
        fitting time), ``cpu_seconds`` (CPU time of this process over all its threads: on a busy machine
        the better measure of cost), ``threads`` (torch's thread count), ``n_samples``, ``n_clusters``,
        ``cluster_sizes`` (images per cluster, a list indexed by cluster), ``k_selection`` (only when k
        was chosen: see :func:`choose_n_clusters`), ``size_choice`` (only for a method that chose its
        over-clustering: SCAN's ``size_choice_``), ``method``, ``device``, ``data``, ``seed``; and, not
        in the dict, ``result.assignments`` (:class:`Assignments`: per-image clusters, confidences,
        paths, true labels).
    """
    ds = load_for_clustering(data, root=root, limit=limit)
    return cluster_set(ds, data, method=method, seed=seed, device=device, n_clusters=n_clusters, fast=fast,
                       progress=progress, checkpoint_dir=checkpoint_dir, resume=resume, keep=keep)


def predict_set(model, ds, data: str, method: str | None = None, device: str = "auto") -> ClusteringResult:
    """Label the images of ``ds`` with a fitted (e.g. loaded) clustering model, without training, and score
    the clusters when ``ds`` has labels.

    Parameters
    ----------
    model : a fitted clustering estimator (``tutorial_lib.load_model(path)``)
    ds : ImageSet, the images at the shape the model was trained on
    data : str, the name of the set in the result
    method : str, optional, the method's name in the result (default: the model's class)
    device : str, reported in the result

    Returns
    -------
    ClusteringResult
        As :func:`evaluate` (``seconds``: the labelling time; no ``cpu_seconds``, ``seed``).
    """
    k = int(model.get_params().get("n_clusters") or 0)
    started = time.perf_counter()
    clusters, confidence = assign(model, ds.images)
    seconds = time.perf_counter() - started
    k = max(k, int(clusters.max()) + 1)
    scores, found = _scored(ds, clusters, confidence)
    result = {**scores, "seconds": round(seconds, 2), "n_samples": len(ds), "n_clusters": k,
              "cluster_sizes": found.sizes(k), "method": method or type(model).__name__,
              "device": str(runtime.device(device)), "data": data}
    return ClusteringResult(result, found, model, ds)


__all__ = ["AUTO_CRITERION", "AUTO_IMAGES_PER_CLUSTER", "AUTO_MAX_CLUSTERS", "AUTO_SAMPLE", "Assignments",
           "ClusteringResult", "DEFAULT_METHOD", "DEFAULT_N_CLUSTERS", "FAST_PARAMS", "METHODS",
           "MIN_IMAGES_PER_CLUSTER", "TEST_SPLIT_SETS", "assign", "choose_n_clusters", "cluster_set",
           "evaluate", "load_for_clustering", "make_estimator", "margin_confidence", "predict_set",
           "training_params"]
