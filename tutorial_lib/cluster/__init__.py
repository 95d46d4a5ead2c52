"""Clustering images without labels: k-means on tensors, DEC, and SCAN with self-labelling.

Taught in notebook 03_clustering_classification. Every method is an estimator in scikit-learn's
shape (:class:`tutorial_lib.base.Estimator`): parameters, ``seed``, ``device`` and ``progress`` in
``__init__``, ``fit(images)``, ``predict`` and ``fit_predict`` returning NumPy int64 labels, fitted
state in attributes ending with ``_``; a fit leaves the caller's random state unchanged.

* :mod:`~tutorial_lib.cluster.kmeans`: :class:`KMeans` (Lloyd's algorithm on tensors, CPU or GPU,
  k-means++ seeding, best of ``n_init`` runs).
* :mod:`~tutorial_lib.cluster.pipeline`: :class:`DeepClusterPipeline`, features (pixels, PCA, t-SNE,
  autoencoder codes, or any object with ``fit_transform``) followed by a clusterer; the baselines.
* :mod:`~tutorial_lib.cluster.umap`: :class:`UMAPPipeline`, the UMAP baselines: UMAP + k-means on pixels
  (``umap-kmeans``) and N2D (``n2d``: autoencoder codes, UMAP, a Gaussian mixture), with their parts
  :class:`UMAPFeatures` and :class:`GaussianMixtureClusterer`.
* :mod:`~tutorial_lib.cluster.dec`: :class:`DEC`, Deep Embedded Clustering (Xie et al., 2016).
* :mod:`~tutorial_lib.cluster.scan`: :class:`SCAN`, the deep method (after Van Gansbeke et al.,
  2020), with its parts (losses, CNN, views) in :mod:`~tutorial_lib.cluster.scan_losses`, and
  over-clustering then merging by shared neighbours (sizes from the data) in
  :mod:`~tutorial_lib.cluster.merge`.

``METHODS`` maps the names used by the command line and the benchmark to estimators, each built as
``METHODS[name](n_clusters=k, seed=s, device=d, progress=p, **params)``. Scoring a method on a data
set lives in the evaluation layer, :mod:`tutorial_lib.evaluation.clustering`.
"""

from __future__ import annotations

import warnings
from functools import partial

from .dec import DEC, DECModule, dec_loss, soft_assignment, target_distribution
from .kmeans import KMeans, kmeans_plusplus, lloyd, squared_distances
from .merge import MergedHead, cluster_affinity, kept_factor, merge_clusters, neighbour_modularity
from .neighbours import mine_pca_neighbors, mine_simclr_neighbors
from .pipeline import (
    FEATURES,
    AutoencoderFeatures,
    DeepClusterPipeline,
    PCAFeatures,
    PixelFeatures,
    TSNEFeatures,
)
from .scan import (
    SCAN,
    build_scan_model,
    train_neighbour_consistency,
    train_self_labelling,
    warm_start,
)
from .scan_losses import (
    ScanStep,
    SelfLabelStep,
    equipartition,
    mine_neighbors,
    reseed_from_global,
    scan_augment,
    scan_encoder,
    scan_loss,
    self_label_loss,
)
from .umap import GaussianMixtureClusterer, UMAPFeatures, UMAPPipeline

METHODS: dict[str, type | partial] = {
    "kmeans": partial(DeepClusterPipeline, "pixels"),
    "pca-kmeans": partial(DeepClusterPipeline, "pca"),
    "umap-kmeans": partial(UMAPPipeline, "pixels", "kmeans", n_neighbors=30),
    "n2d": partial(UMAPPipeline, "autoencoder", "gmm"),
    "tsne-kmeans": partial(DeepClusterPipeline, "tsne"),
    "dec": DEC,
    "scan": SCAN,
}
"""Method name -> estimator class (or partial of one), baselines first; called as
``METHODS[name](n_clusters=k, seed=s, device=d, progress=p, **params)``."""

DEFAULT_METHOD = "scan"
DEFAULT_N_CLUSTERS = 10

# Names that moved out of this package, and where they live now (see __getattr__).
_MOVED = {
    "evaluate": "tutorial_lib.evaluation.clustering",
    "load_for_clustering": "tutorial_lib.evaluation.clustering",
    "make_estimator": "tutorial_lib.evaluation.clustering",
    "TEST_SPLIT_SETS": "tutorial_lib.evaluation.clustering",
    "train_scan": "tutorial_lib.widgets",
}


def __getattr__(name: str):
    """Old names of this module that moved elsewhere: returned with a ``DeprecationWarning``.

    The import happens here, on first use, so that this package never imports the evaluation layer
    or the widgets when it is loaded (methods must not depend on them, and no import cycle arises).
    """
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    where = _MOVED[name]
    warnings.warn(f"tutorial_lib.cluster.{name} moved to {where}.{name}; import it from there",
                  DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(where), name)


__all__ = [
    "AutoencoderFeatures", "DEC", "DECModule", "DEFAULT_METHOD", "DEFAULT_N_CLUSTERS", "DeepClusterPipeline",
    "FEATURES", "GaussianMixtureClusterer", "KMeans", "METHODS", "MergedHead", "cluster_affinity",
    "kept_factor", "merge_clusters", "neighbour_modularity", "PCAFeatures", "PixelFeatures", "SCAN",
    "ScanStep", "SelfLabelStep",
    "TSNEFeatures", "build_scan_model", "dec_loss", "equipartition", "kmeans_plusplus", "lloyd",
    "mine_neighbors", "mine_pca_neighbors", "mine_simclr_neighbors", "reseed_from_global", "scan_augment",
    "scan_encoder", "scan_loss",
    "self_label_loss", "soft_assignment", "squared_distances", "target_distribution",
    "train_neighbour_consistency", "train_self_labelling", "UMAPFeatures", "UMAPPipeline", "warm_start",
]
