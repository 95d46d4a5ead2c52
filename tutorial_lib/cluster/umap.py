"""The UMAP baselines: UMAP + k-means on pixels (``umap-kmeans``) and N2D (``n2d``: autoencoder codes,
then UMAP, then a Gaussian mixture; McConville, Santos-Rodriguez, Piechocki and Craddock, 2020).

Taught in notebook 03_clustering_classification, beside the other baselines: UMAP (McInnes, Healy and
Melville, 2018) keeps each image's nearest neighbours together in a low-dimensional map; with
``min_dist=0`` the map packs each class into a tight clump that k-means or a Gaussian mixture then finds.
N2D's point is that UMAP of *learnt* codes (an autoencoder's) clusters better than UMAP of pixels.

* :class:`UMAPFeatures`: a feature step (``fit_transform(images) -> (N, n_components)``, and
  ``transform`` for new images) that maps another step's features (pixels by default) with
  ``umap.UMAP``, seeded (``random_state``: UMAP then runs on one thread).
* :class:`GaussianMixtureClusterer`: scikit-learn's ``GaussianMixture`` in the estimator shape of this
  library, with ``labels_`` and ``predict_proba``.
* :class:`UMAPPipeline`: a :class:`~tutorial_lib.cluster.DeepClusterPipeline` whose feature step is
  :class:`UMAPFeatures` (of pixels, PCA or autoencoder codes) and whose clusterer is k-means or a Gaussian
  mixture; ``METHODS["umap-kmeans"]`` and ``METHODS["n2d"]`` are partials of it.

The first UMAP fit of a Python process also compiles UMAP's numba kernels (about 15 s on a laptop CPU);
later fits in the same process do not pay it again. UMAP's state (its neighbour graph and the training
data) cannot be kept in a model file without pickle, so these estimators cannot be saved
(``tutorial_lib.io_adapters.UMAP_REASON``); ``predict`` works on new images within the session.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.utils.metaestimators import available_if

from ..base import Estimator, as_label_array, reject_labels
from ._common import as_matrix, check_k, stage_checkpoints
from .pipeline import (
    AutoencoderFeatures,
    DeepClusterPipeline,
    PCAFeatures,
    PixelFeatures,
    _FeatureStep,
)

__all__ = ["GaussianMixtureClusterer", "UMAPFeatures", "UMAPPipeline"]

# UMAP warns when the neighbour graph has several connected components (well-separated classes, e.g.
# objects photographed on a turntable); it then lays out each component on its own, which is what we want.
_DISCONNECTED = "Graph is not fully connected"


class UMAPFeatures(_FeatureStep):
    """A UMAP map of features: ``(N, n_components)``, float32.

    Parameters
    ----------
    features : feature step, optional
        What UMAP maps: an object with ``fit_transform(images) -> (N, D)`` (and ``transform`` for new
        images), fitted in place; default :class:`PixelFeatures` (the flattened pixels).
    n_components : int
        Dimensions of the map (fewer when there are fewer than ``n_components + 2`` images).
    n_neighbors : int
        Neighbours of each image in UMAP's graph (at most N - 1 are used): larger keeps more of the
        global structure.
    min_dist : float
        Smallest distance between points on the map; 0 packs neighbours tightly (good for clustering).
    metric : str
        Distance between input features, any ``umap.UMAP`` metric (``"euclidean"``, ``"cosine"``...).
    n_epochs : int, optional
        Epochs of UMAP's layout optimisation; None: UMAP's default (500 below 10,000 images, else 200).
    seed : int
        UMAP's ``random_state`` (deterministic, single-threaded) and the seed of the default step.
    device, progress
        Passed to the default step; UMAP runs on the CPU, quietly.

    Attributes
    ----------
    feature_step_ : the fitted step whose features were mapped
    umap_ : umap.UMAP, fitted
    embedding_ : Tensor, shape (N, n_components), float32
    """

    def __init__(self, features=None, n_components: int = 10, n_neighbors: int = 15, min_dist: float = 0.0,
                 metric: str = "euclidean", n_epochs: int | None = None, seed: int = 0, device: str = "auto",
                 progress: bool = False):
        self.features = features
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.n_epochs = n_epochs
        self.seed = seed
        self.device = device
        self.progress = progress

    def fit_transform(self, images) -> torch.Tensor:
        """Fit the step and UMAP on images (N, C, H, W) or features (N, D), N >= 4; the map (N, k),
        float32."""
        import umap

        step = self.features if self.features is not None else PixelFeatures(self.seed, self.device)
        x = np.ascontiguousarray(as_matrix(step.fit_transform(images), "features").numpy())
        n = len(x)
        if n < 4:
            raise ValueError(f"UMAP needs at least 4 images, got {n}")
        # UMAP's spectral initialisation needs fewer components than N - 1, its graph at most N - 1
        # neighbours: small sets get what they can hold.
        reducer = umap.UMAP(n_components=max(1, min(self.n_components, n - 2)),
                            n_neighbors=max(2, min(self.n_neighbors, n - 1)), min_dist=self.min_dist,
                            metric=self.metric, n_epochs=self.n_epochs, random_state=self.seed, n_jobs=1,
                            transform_seed=self.seed, verbose=False)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_DISCONNECTED)
            embedding = reducer.fit_transform(x)
        self.feature_step_, self.umap_ = step, reducer
        self.embedding_ = torch.from_numpy(np.asarray(embedding, np.float32))
        return self.embedding_

    def transform(self, images) -> torch.Tensor:
        """The map (N, k), float32, of new images placed on the fitted one (``umap.UMAP.transform``; the
        training images themselves get their fitted positions back)."""
        self._check_fitted("umap_")
        x = np.ascontiguousarray(as_matrix(self.feature_step_.transform(images), "features").numpy())
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_DISCONNECTED)
            return torch.from_numpy(np.asarray(self.umap_.transform(x), np.float32))


class GaussianMixtureClusterer(Estimator):
    """A Gaussian mixture fitted by EM (scikit-learn's ``GaussianMixture``), one component per cluster.

    Unlike k-means, each cluster has its own covariance (an ellipsoid of any shape and size) and every
    point gets a probability of belonging to each cluster (:meth:`predict_proba`).

    Parameters
    ----------
    n_clusters : int
    covariance_type : {"full", "tied", "diag", "spherical"}
    n_init : int
        EM runs from different k-means starts; the one of highest likelihood is kept.
    max_iter : int
        EM iterations per run.
    reg_covar : float
        Added to the covariances' diagonals (keeps them invertible).
    seed : int
        ``random_state`` of the k-means starts.
    device, progress
        Accepted like every clusterer's; EM runs on the CPU.

    Attributes
    ----------
    gmm_ : sklearn.mixture.GaussianMixture, fitted
    means_ : Tensor, shape (n_clusters, D), float32
    labels_ : ndarray, shape (N,), int64
    """

    def __init__(self, n_clusters: int = 10, covariance_type: str = "full", n_init: int = 1,
                 max_iter: int = 100, reg_covar: float = 1e-6, seed: int = 0, device: str = "auto",
                 progress: bool = False):
        self.n_clusters = n_clusters
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.max_iter = max_iter
        self.reg_covar = reg_covar
        self.seed = seed
        self.device = device
        self.progress = progress

    def fit(self, X, y=None) -> GaussianMixtureClusterer:
        """Fit the mixture to features ``X`` (N, D) (tensor or array; images are flattened)."""
        reject_labels(self, y)
        from sklearn.mixture import GaussianMixture

        x = as_matrix(X, "X").double().numpy()
        check_k(self.n_clusters, len(x))
        self.gmm_ = GaussianMixture(self.n_clusters, covariance_type=self.covariance_type, n_init=self.n_init,
                                    max_iter=self.max_iter, reg_covar=self.reg_covar,
                                    random_state=self.seed).fit(x)
        self.means_ = torch.from_numpy(self.gmm_.means_).float()
        self.labels_ = as_label_array(self.gmm_.predict(x))
        return self

    def predict_proba(self, X) -> torch.Tensor:
        """Posterior probability (N, n_clusters), float32 tensor, of each cluster for each row of ``X``."""
        self._check_fitted("gmm_")
        return torch.from_numpy(self.gmm_.predict_proba(as_matrix(X, "X").double().numpy())).float()

    def predict(self, X) -> np.ndarray:
        """Most probable cluster (N,), NumPy int64, of each row of ``X`` (N, D)."""
        return as_label_array(self.predict_proba(X).argmax(1))


_INPUTS = ("pixels", "pca", "autoencoder")
_CLUSTERERS = ("kmeans", "gmm")


class UMAPPipeline(DeepClusterPipeline):
    """Features, a UMAP map of them, then k-means or a Gaussian mixture on the map.

    ``UMAPPipeline("pixels", "kmeans")`` is UMAP + k-means on pixels (``METHODS["umap-kmeans"]``, with
    ``n_neighbors=30``, as in UMAP's guide to clustering); ``UMAPPipeline("autoencoder", "gmm")`` is N2D
    (``METHODS["n2d"]``): an autoencoder's codes (``latent_dim`` = the number of clusters, at least 10),
    UMAP to ``n_clusters`` dimensions with 20 neighbours and ``min_dist=0``, then a Gaussian mixture.

    Parameters
    ----------
    features : {"pixels", "pca", "autoencoder"}
        What UMAP maps: the pixels, their first 50 principal components, or the codes of a convolutional
        autoencoder trained on the images (:class:`AutoencoderFeatures`).
    clusterer : {"kmeans", "gmm"}
        :class:`KMeans` (confidence: the distance-based margin) or :class:`GaussianMixtureClusterer`
        (confidence: its probability, :meth:`predict_proba`).
    n_clusters : int
    n_components : int, optional
        Dimensions of the UMAP map; None: ``n_clusters``.
    n_neighbors, min_dist, metric, n_epochs
        UMAP's settings (see :class:`UMAPFeatures`).
    latent_dim : int, optional
        Code size of the autoencoder; None: ``max(n_clusters, 10)``.
    width, batch_size : int
        First-layer channels and batch size of the autoencoder.
    pretrain_epochs : int, optional
        Autoencoder epochs; None converts ``pretrain_steps`` to epochs for the data size.
    pretrain_steps, pretrain_min_epochs, pretrain_max_epochs : int
        Autoencoder budget when ``pretrain_epochs`` is None (as :class:`~tutorial_lib.cluster.DEC`'s).
    checkpoint_dir, resume, standardized
        The autoencoder's checkpoints (in ``checkpoint_dir/autoencoder``), resuming from them, and
        accepting standardised images (see :class:`AutoencoderFeatures`); unused by the other inputs.
    seed, device, progress
        Seed of every step (UMAP's ``random_state``: single-threaded); where the autoencoder and k-means
        run; a progress bar while the autoencoder trains (UMAP itself stays quiet).

    Attributes
    ----------
    As :class:`~tutorial_lib.cluster.DeepClusterPipeline`: ``features_`` (the UMAP map, (N, n_components)),
    ``labels_``, ``feature_step_`` (the fitted :class:`UMAPFeatures`) and ``clusterer_``.
    """

    def __init__(self, features: str = "pixels", clusterer: str = "kmeans", n_clusters: int = 10,
                 n_components: int | None = None, n_neighbors: int = 20, min_dist: float = 0.0,
                 metric: str = "euclidean", n_epochs: int | None = None, latent_dim: int | None = None,
                 width: int = 32, batch_size: int = 256, pretrain_epochs: int | None = None,
                 pretrain_steps: int = 800, pretrain_min_epochs: int = 15, pretrain_max_epochs: int = 100,
                 checkpoint_dir=None, resume: bool = False, standardized: bool = False, seed: int = 0,
                 device: str = "auto", progress: bool = False):
        self.features = features
        self.clusterer = clusterer
        self.n_clusters = n_clusters
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.n_epochs = n_epochs
        self.latent_dim = latent_dim
        self.width = width
        self.batch_size = batch_size
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_steps = pretrain_steps
        self.pretrain_min_epochs = pretrain_min_epochs
        self.pretrain_max_epochs = pretrain_max_epochs
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.standardized = standardized
        self.seed = seed
        self.device = device
        self.progress = progress

    def _input_step(self):
        """The step whose features UMAP maps, built fresh for this fit."""
        if self.features == "pixels":
            return PixelFeatures(self.seed, self.device)
        if self.features == "pca":
            return PCAFeatures(50, seed=self.seed, device=self.device)
        folder = stage_checkpoints(self.checkpoint_dir, ("autoencoder",), self.resume)["autoencoder"]
        return AutoencoderFeatures(
            latent_dim=self.latent_dim or max(self.n_clusters, 10), width=self.width,
            epochs=self.pretrain_epochs, steps=self.pretrain_steps, min_epochs=self.pretrain_min_epochs,
            max_epochs=self.pretrain_max_epochs, batch_size=self.batch_size, checkpoint_dir=folder,
            resume=self.resume, standardized=self.standardized, seed=self.seed, device=self.device,
            progress=self.progress)

    def _check_params(self) -> None:
        if self.features not in _INPUTS:
            raise ValueError(f"UMAPPipeline maps features {list(_INPUTS)}, got {self.features!r}")
        if self.clusterer not in _CLUSTERERS:
            raise ValueError(f"UMAPPipeline clusters with {list(_CLUSTERERS)}, got {self.clusterer!r}")

    def fit(self, images, y=None) -> UMAPPipeline:
        """Features of ``images`` (N, C, H, W), float in [0, 1], N >= 4; their UMAP map; clusters on it."""
        reject_labels(self, y)
        from .kmeans import KMeans

        self._check_params()
        step = UMAPFeatures(self._input_step(), n_components=self.n_components or self.n_clusters,
                            n_neighbors=self.n_neighbors, min_dist=self.min_dist, metric=self.metric,
                            n_epochs=self.n_epochs, seed=self.seed, device=self.device)
        clusterer = (KMeans(self.n_clusters, seed=self.seed, device=self.device) if self.clusterer == "kmeans"
                     else GaussianMixtureClusterer(self.n_clusters, seed=self.seed))
        # The plain pipeline does the work (seeding, checks, the collapse warning); its fitted state is ours.
        inner = DeepClusterPipeline(step, clusterer, self.n_clusters, seed=self.seed, device=self.device,
                                    progress=self.progress).fit(images)
        self.feature_step_, self.clusterer_ = inner.feature_step_, inner.clusterer_
        self.features_, self.labels_ = inner.features_, inner.labels_
        return self

    @available_if(lambda self: self.clusterer == "gmm")
    def predict_proba(self, images) -> torch.Tensor:
        """Probability (N, n_clusters), float32 tensor, of each cluster for each image (N, C, H, W); only with
        ``clusterer="gmm"`` (with k-means, ``hasattr(model, "predict_proba")`` is False)."""
        self._check_fitted("clusterer_")
        return self.clusterer_.predict_proba(as_matrix(self.feature_step_.transform(images), "features"))
