"""Features, then a clusterer: the classical baselines (k-means on pixels, PCA, t-SNE, autoencoder codes).

Taught in notebook 03_clustering_classification: k-means on raw pixels, on principal components and
on a t-SNE map are the baselines every deep method is compared with.

* :class:`PixelFeatures`, :class:`PCAFeatures`, :class:`TSNEFeatures`, :class:`AutoencoderFeatures`:
  feature steps with ``fit_transform(images) -> (N, D)`` (and ``transform`` where new images can be
  placed), registered by name in ``FEATURES``.
* :class:`DeepClusterPipeline`: a feature step followed by a clusterer (:class:`KMeans` by default).
"""

from __future__ import annotations

import numpy as np
import torch

from .. import runtime
from ..base import Estimator, as_label_array, reject_labels, seeded
from ..features import check_training_images
from ._common import as_matrix, check_k, epochs_for, warn_if_collapsed
from .kmeans import KMeans


class _FeatureStep(Estimator):
    """A feature step: ``fit_transform(images) -> (N, D)``; ``fit`` runs it and keeps the fitted state."""

    def fit(self, X, y=None) -> _FeatureStep:
        """Fit on ``X`` (what :meth:`fit_transform` takes) and return ``self``."""
        reject_labels(self, y)
        self.fit_transform(X)
        return self

    def fit_transform(self, X) -> torch.Tensor:  # pragma: no cover - every step defines it
        raise NotImplementedError


class PixelFeatures(_FeatureStep):
    """Raw pixels as features: ``(N, C*H*W)``.

    Parameters
    ----------
    seed, device, progress
        Accepted so that every step of ``FEATURES`` is built the same way; pixels need none of them.
    """

    def __init__(self, seed: int = 0, device: str = "auto", progress: bool = False):
        self.seed = seed
        self.device = device
        self.progress = progress

    def fit_transform(self, images) -> torch.Tensor:
        """Images (N, C, H, W) (or features (N, D)) flattened to a float32 tensor (N, D)."""
        return self.transform(images)

    def transform(self, images) -> torch.Tensor:
        """Images (N, C, H, W) (or features (N, D)) flattened to a float32 tensor (N, D)."""
        return as_matrix(images, "images")


class PCAFeatures(_FeatureStep):
    """Principal components of the pixels (scikit-learn's PCA, randomised solver, seeded).

    Parameters
    ----------
    n_components : int
        At most ``min(N - 1, C*H*W)``; fewer are used when the data has fewer.
    whiten : bool
        Scale each component to unit variance.
    seed : int
        Seed of the randomised solver (its own generator: the caller's random state is untouched).
    device, progress
        Accepted like every feature step's; PCA runs on the CPU and quickly.

    Attributes
    ----------
    pca_ : sklearn.decomposition.PCA
    """

    def __init__(self, n_components: int = 50, whiten: bool = False, seed: int = 0, device: str = "auto",
                 progress: bool = False):
        self.n_components = n_components
        self.whiten = whiten
        self.seed = seed
        self.device = device
        self.progress = progress

    def fit_transform(self, images) -> torch.Tensor:
        """Fit the PCA on images (N, C, H, W) or features (N, D); their components (N, k), float32."""
        from sklearn.decomposition import PCA

        x = as_matrix(images, "images").numpy()
        k = max(1, min(self.n_components, x.shape[0] - 1, x.shape[1]))
        self.pca_ = PCA(n_components=k, whiten=self.whiten, random_state=self.seed)
        return torch.from_numpy(self.pca_.fit_transform(x)).float()

    def transform(self, images) -> torch.Tensor:
        """Components (N, k), float32, of new images with the fitted PCA."""
        self._check_fitted("pca_")
        return torch.from_numpy(self.pca_.transform(as_matrix(images, "images").numpy())).float()


class TSNEFeatures(_FeatureStep):
    """A 2-D t-SNE map of the pixels (PCA to 50 dimensions first), as in ``features.project_2d``.

    t-SNE places points so that neighbours in the input stay neighbours on the map; k-means on the
    map is a strong classical baseline. It has no ``transform``: new points cannot be placed on an
    existing map.

    Parameters
    ----------
    features : feature step, optional
        Features to map (default: ``PCAFeatures(50)`` of the pixels).
    seed : int
        Seed of t-SNE and of the default PCA (their own generators).
    device, progress
        Accepted like every feature step's; t-SNE runs on the CPU.

    Attributes
    ----------
    embedding_ : Tensor, shape (N, 2), float32
    """

    def __init__(self, features=None, seed: int = 0, device: str = "auto", progress: bool = False):
        self.features = features
        self.seed = seed
        self.device = device
        self.progress = progress

    def fit_transform(self, images) -> torch.Tensor:
        """The t-SNE map (N, 2), float32, of images (N, C, H, W) or features (N, D); N >= 4."""
        from ..features import project_2d

        # PCA to at most 50 dimensions first (fewer when there are fewer images), as project_2d would.
        steps = self.features or PCAFeatures(50, seed=self.seed)
        x = steps.fit_transform(images)
        if len(x) < 4:
            raise ValueError(f"t-SNE needs at least 4 images, got {len(x)}")
        self.embedding_ = torch.from_numpy(project_2d(x, "tsne", seed=self.seed)).float()
        return self.embedding_

    def transform(self, images):
        """Not possible: raises ``NotImplementedError`` (fit on all the images instead)."""
        raise NotImplementedError("t-SNE cannot place new points on a fitted map; fit on all the images")


class AutoencoderFeatures(_FeatureStep):
    """Codes of a convolutional autoencoder trained on the images (``features.train_autoencoder``).

    Parameters
    ----------
    latent_dim, width, lr, batch_size
        Passed to :func:`tutorial_lib.features.train_autoencoder`.
    epochs : int, optional
        Training epochs; None converts ``steps`` to epochs for the data size.
    steps, min_epochs, max_epochs : int
        The budget when ``epochs`` is None: about ``steps`` optimisation steps, at least
        ``min_epochs`` and at most ``max_epochs`` epochs (every data set gets about the same training).
    checkpoint_dir, resume
        ``train.fit``'s checkpoint folder and resume flag: after an interruption
        (``train.TrainingInterrupted``), fit again with ``resume=True`` to continue.
    standardized : bool
        The images are standardised on purpose: accept values outside [-0.5, 1.5] (otherwise refused:
        divide 8-bit images by 255).
    seed, device, progress
        Seed of the network and of the shuffling (the caller's random state is restored afterwards),
        where it trains, and whether to show a progress bar.

    Attributes
    ----------
    autoencoder_ : ConvAutoencoder
    history_ : train.History
    """

    def __init__(self, latent_dim: int = 10, width: int = 32, epochs: int | None = None, steps: int = 800,
                 min_epochs: int = 15, max_epochs: int = 100, lr: float = 2e-3, batch_size: int = 256,
                 checkpoint_dir=None, resume: bool = False, standardized: bool = False, seed: int = 0,
                 device: str = "auto", progress: bool = False):
        self.latent_dim = latent_dim
        self.width = width
        self.epochs = epochs
        self.steps = steps
        self.min_epochs = min_epochs
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.standardized = standardized
        self.seed = seed
        self.device = device
        self.progress = progress

    def fit_transform(self, images) -> torch.Tensor:
        """Train on images (N, C, H, W), float in [0, 1]; their codes (N, latent_dim), float32, CPU."""
        from ..features import embed, train_autoencoder

        images = check_training_images(images, standardized=self.standardized, min_count=2)
        dev = runtime.device(self.device)
        epochs = self.epochs or epochs_for(len(images), self.batch_size, self.steps,
                                           lo=self.min_epochs, hi=self.max_epochs)
        with seeded(self.seed, dev):  # the network's initial weights come from the global generator
            self.autoencoder_, self.history_ = train_autoencoder(
                images, latent_dim=self.latent_dim, width=self.width, epochs=epochs, lr=self.lr,
                batch_size=self.batch_size, seed=self.seed, device=dev, progress=self.progress,
                checkpoint_dir=self.checkpoint_dir, resume=self.resume, standardized=self.standardized)
        return embed(self.autoencoder_, images, device=dev)

    def transform(self, images) -> torch.Tensor:
        """Codes (N, latent_dim), float32, of new images with the trained encoder."""
        from ..features import embed

        self._check_fitted("autoencoder_")
        images = check_training_images(images, standardized=self.standardized)
        return embed(self.autoencoder_, images, device=runtime.device(self.device))


FEATURES: dict[str, type[_FeatureStep]] = {
    "pixels": PixelFeatures,
    "pca": PCAFeatures,
    "tsne": TSNEFeatures,
    "autoencoder": AutoencoderFeatures,
}
"""Feature step name -> class; each is built as ``FEATURES[name](seed=, device=, progress=)``."""


class DeepClusterPipeline(Estimator):
    """Features, then a clusterer: ``DeepClusterPipeline(features="tsne", clusterer=KMeans(10))``.

    Parameters
    ----------
    features : str or object
        ``"pixels"``, ``"pca"``, ``"tsne"``, ``"autoencoder"`` (see ``FEATURES``), or any object with
        ``fit_transform(images) -> (N, D)`` (and ``transform`` for :meth:`predict`), e.g. a trained
        SimCLR encoder wrapped by the caller. An object is fitted in place.
    clusterer : estimator, optional
        Anything with ``fit`` and ``labels_`` (and ``predict``), e.g. :class:`KMeans` (the default,
        with ``n_clusters`` and ``seed``) or ``sklearn.cluster.MiniBatchKMeans`` (given NumPy features).
    n_clusters : int
        Clusters of the default :class:`KMeans`.
    checkpoint_dir, resume, standardized
        Passed to a named feature step that trains (``"autoencoder"``, see :class:`AutoencoderFeatures`);
        the other steps do not need them.
    seed, device, progress
        Passed to the named feature step and the default clusterer. The fit runs with the global
        generators seeded by ``seed`` (for clusterers that use them) and then restored.

    A fit that puts more than 90 % of the images in one cluster warns (``UserWarning``).

    Attributes
    ----------
    features_ : Tensor, shape (N, D), float32
        The features of the images given to ``fit``.
    labels_ : ndarray, shape (N,), int64
    feature_step_, clusterer_ : the fitted steps
    """

    def __init__(self, features="pca", clusterer=None, n_clusters: int = 10, checkpoint_dir=None,
                 resume: bool = False, standardized: bool = False, seed: int = 0, device: str = "auto",
                 progress: bool = False):
        self.features = features
        self.clusterer = clusterer
        self.n_clusters = n_clusters
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.standardized = standardized
        self.seed = seed
        self.device = device
        self.progress = progress

    def _feature_step(self):
        if isinstance(self.features, str):
            if self.features not in FEATURES:
                raise ValueError(f"unknown features {self.features!r}; choose one of {sorted(FEATURES)} "
                                 "or pass an object with fit_transform")
            cls = FEATURES[self.features]
            trains = {"checkpoint_dir": self.checkpoint_dir, "resume": self.resume,
                      "standardized": self.standardized}
            own = set(cls._param_names())
            return cls(seed=self.seed, device=self.device, progress=self.progress,
                       **{k: v for k, v in trains.items() if k in own})
        if not hasattr(self.features, "fit_transform"):
            raise ValueError("features must be a name or an object with fit_transform(images)")
        return self.features

    def fit(self, images, y=None) -> DeepClusterPipeline:
        """Compute the features of ``images`` (N, C, H, W) and cluster them."""
        reject_labels(self, y)
        step = self._feature_step()
        with seeded(self.seed, runtime.device(self.device)):
            feats = as_matrix(step.fit_transform(images), "features")
            check_k(self.n_clusters, len(feats))
            clusterer = self.clusterer if self.clusterer is not None else KMeans(
                self.n_clusters, seed=self.seed, device=self.device)
            clusterer.fit(feats if isinstance(clusterer, KMeans) else feats.numpy())
        self.feature_step_, self.clusterer_, self.features_ = step, clusterer, feats
        self.labels_ = as_label_array(np.asarray(clusterer.labels_))
        warn_if_collapsed(self.labels_, getattr(clusterer, "n_clusters", self.n_clusters),
                          "DeepClusterPipeline", "other features (a few outlying images can take all but one "
                          "cluster: standardise the features or remove the outliers)")
        return self

    def predict(self, images) -> np.ndarray:
        """Clusters (N,) NumPy int64 of new images (needs features with ``transform``: not t-SNE)."""
        self._check_fitted("clusterer_")
        feats = as_matrix(self.feature_step_.transform(images), "features")
        out = self.clusterer_.predict(feats if isinstance(self.clusterer_, KMeans) else feats.numpy())
        return as_label_array(np.asarray(out))
