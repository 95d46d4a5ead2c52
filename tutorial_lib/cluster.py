"""Clustering images without labels: k-means on tensors, DEC, and SCAN with self-labelling.

Every method is an estimator in scikit-learn's shape: parameters in ``__init__``, ``fit(images)``,
``predict``, ``fit_predict``, fitted state in attributes ending with ``_``, and a ``seed``.

* :class:`KMeans`: Lloyd's algorithm on tensors (CPU or GPU), k-means++ seeding, empty clusters
  re-seeded with the worst-fitted points, best of ``n_init`` runs.
* :class:`DeepClusterPipeline`: features (pixels, PCA, t-SNE, autoencoder codes, or any object with
  ``fit_transform``) followed by a clusterer; the baselines are built from it.
* :class:`DEC`: Deep Embedded Clustering (Xie et al., 2016): an autoencoder, then its encoder and the
  cluster centres trained together to sharpen Student-t soft assignments towards a target
  distribution (:func:`soft_assignment`, :func:`target_distribution`, :func:`dec_loss`).
* :class:`SCAN`: the deep method (after Van Gansbeke et al., 2020): a CNN trained from a t-SNE +
  k-means warm start so that each image and its nearest neighbours fall in the same cluster, with an
  entropy term that keeps every cluster in use (:func:`scan_loss`), then self-labelling: its own
  predictions, rebalanced to equal-sized clusters (:func:`equipartition`), are the targets of
  augmented views.

:func:`evaluate` runs one method on one dataset and scores it against the hidden labels; it backs
``python -m tutorial_lib cluster`` and ``python -m tutorial_lib bench clustering`` (``METHODS``).
All training goes through :func:`tutorial_lib.train.fit`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import runtime
from .models import (
    AutoencoderEncoder,
    ClusteringHead,
    ConvAutoencoder,
    ConvEncoder,
    EncoderWithHead,
    make_activation,
)
from .train import StopTraining, fit

# --- input checks ------------------------------------------------------------------------------


def _as_matrix(x, name: str = "X") -> torch.Tensor:
    """A 2-D float tensor (N, D) from a tensor or array; images are flattened."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.ndim > 2:
        t = t.flatten(1)
    if t.ndim != 2 or len(t) == 0:
        raise ValueError(f"{name} must have shape (N, D) with N >= 1 (or be images (N, C, H, W)), "
                         f"got {tuple(t.shape)}")
    t = t.float()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinite values; clean the data first")
    return t


def _check_images(images) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise ValueError(f"images must be a float tensor of shape (N, C, H, W), got {shape}")
    if len(images) < 2:
        raise ValueError(f"need at least 2 images to cluster, got {len(images)}")
    return images.float()


def _check_k(n_clusters: int, n: int) -> None:
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be at least 1, got {n_clusters}")
    if n_clusters > n:
        raise ValueError(f"n_clusters={n_clusters} is more than the {n} samples given; lower it")


def _not_fitted(obj) -> RuntimeError:
    return RuntimeError(f"this {type(obj).__name__} is not fitted yet; call fit(...) first")


# --- k-means on tensors ------------------------------------------------------------------------


def squared_distances(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances ``(N, K)`` between rows of ``x`` (N, D) and ``centers`` (K, D).

    Computed as :math:`\\|x\\|^2 - 2 x^\\top c + \\|c\\|^2` (one matrix product), clamped at 0.
    """
    d = (x * x).sum(1, keepdim=True) - 2 * x @ centers.T + (centers * centers).sum(1)
    return d.clamp_min_(0)


def kmeans_plusplus(x: torch.Tensor, n_clusters: int, generator: torch.Generator,
                    n_local_trials: int | None = None) -> torch.Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii, 2007), greedy as in scikit-learn.

    Each new centre is drawn with probability proportional to the squared distance to the nearest
    centre chosen so far; of ``n_local_trials`` draws, the one that lowers the total most is kept.

    Parameters
    ----------
    x : Tensor, shape (N, D), float
    n_clusters : int
    generator : torch.Generator
        A CPU generator: the draws do not depend on the device ``x`` lives on.
    n_local_trials : int, optional
        Default ``2 + int(log(n_clusters))``.

    Returns
    -------
    Tensor, shape (n_clusters, D), rows of ``x``.
    """
    n = len(x)
    trials = n_local_trials or 2 + int(math.log(n_clusters))
    # Sums of many squared distances in double precision, except on Apple GPUs which lack it.
    acc = torch.float32 if x.device.type == "mps" else torch.float64
    first = int(torch.randint(n, (1,), generator=generator))
    centers = [x[first]]
    closest = squared_distances(x, x[first:first + 1])[:, 0].to(acc)
    for _ in range(1, n_clusters):
        total = closest.sum()
        if total <= 0:  # fewer distinct points than clusters: any point will do
            pick = torch.randint(n, (trials,), generator=generator).to(x.device)
        else:
            draws = torch.rand(trials, generator=generator, dtype=torch.float64).to(x.device, acc) * total
            pick = torch.searchsorted(torch.cumsum(closest, 0), draws).clamp_(max=n - 1)
        cand = torch.minimum(closest[:, None], squared_distances(x, x[pick]).to(acc))
        best = int(cand.sum(0).argmin())
        centers.append(x[pick[best]])
        closest = cand[:, best]
    return torch.stack(centers)


def _lloyd(x: torch.Tensor, centers: torch.Tensor, max_iter: int, tol: float):
    """Lloyd iterations from ``centers``; returns (centers, labels, inertia, n_iter)."""
    k = len(centers)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        d = squared_distances(x, centers)
        labels = d.argmin(1)
        counts = torch.bincount(labels, minlength=k)
        new = torch.zeros_like(centers).index_add_(0, labels, x)
        empty = counts == 0
        new[~empty] /= counts[~empty, None].to(x.dtype)
        if empty.any():
            # An empty cluster restarts on the points worst served by their centre.
            worst = d.gather(1, labels[:, None])[:, 0].argsort(descending=True)[: int(empty.sum())]
            new[empty] = x[worst]
        shift = float(((new - centers) ** 2).sum())
        centers = new
        if shift <= tol:
            break
    d = squared_distances(x, centers)
    labels = d.argmin(1)
    inertia = float(d.gather(1, labels[:, None]).sum())
    return centers, labels, inertia, it


class KMeans:
    """k-means on tensors: k-means++ seeding, Lloyd iterations, best of ``n_init`` runs.

    The same algorithm as ``sklearn.cluster.KMeans`` (greedy k-means++, tolerance relative to the
    data variance, empty clusters re-seeded), written with torch so it runs on a GPU when one is
    present (``device="auto"``) and takes tensors directly.

    Parameters
    ----------
    n_clusters : int
    n_init : int
        Independent seedings; the run with the lowest inertia is kept.
    max_iter : int
        Lloyd iterations per run.
    tol : float
        Stop when the squared centre shift falls below ``tol`` times the mean variance of the features.
    seed : int
        Same seed, same clustering (on the same device).
    device : str
        ``"auto"`` (CUDA, MPS, CPU), ``"cpu"``, ...

    Attributes
    ----------
    cluster_centers_ : Tensor, shape (n_clusters, D), on the CPU
    labels_ : Tensor, shape (N,), int64
    inertia_ : float
        Sum of squared distances of the samples to their centre.
    n_iter_ : int
        Lloyd iterations of the kept run.

    Examples
    --------
    >>> km = KMeans(10, seed=0).fit(features)       # features: (N, D) tensor or array
    >>> km.labels_[:5], km.inertia_
    """

    def __init__(self, n_clusters: int = 10, n_init: int = 10, max_iter: int = 300, tol: float = 1e-4,
                 seed: int = 0, device: str = "auto"):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.device = device

    def fit(self, X) -> KMeans:
        """Cluster ``X``: Tensor or array, shape (N, D) (images (N, C, H, W) are flattened)."""
        x = _as_matrix(X)
        _check_k(self.n_clusters, len(x))
        if self.n_init < 1 or self.max_iter < 1:
            raise ValueError(f"n_init and max_iter must be >= 1, got {self.n_init}, {self.max_iter}")
        dev = runtime.device(self.device)
        x = x.to(dev)
        tol = self.tol * float(x.var(0).mean()) if len(x) > 1 else 0.0
        gen = torch.Generator().manual_seed(self.seed)
        best = None
        for _ in range(self.n_init):
            start = kmeans_plusplus(x, self.n_clusters, gen)
            run = _lloyd(x, start, self.max_iter, tol)
            if best is None or run[2] < best[2]:
                best = run
        centers, labels, inertia, n_iter = best
        self.cluster_centers_ = centers.cpu()
        self.labels_ = labels.cpu()
        self.inertia_ = inertia
        self.n_iter_ = n_iter
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "cluster_centers_"):
            raise _not_fitted(self)

    def transform(self, X) -> torch.Tensor:
        """Euclidean distances ``(N, n_clusters)`` from each sample to each centre."""
        self._check_fitted()
        x = _as_matrix(X)
        if x.shape[1] != self.cluster_centers_.shape[1]:
            raise ValueError(f"X has {x.shape[1]} features, the model was fitted on "
                             f"{self.cluster_centers_.shape[1]}")
        return squared_distances(x, self.cluster_centers_).sqrt()

    def predict(self, X) -> torch.Tensor:
        """Index ``(N,)`` int64 of the nearest centre of each sample."""
        return self.transform(X).argmin(1)

    def fit_predict(self, X) -> torch.Tensor:
        """``fit(X).labels_``."""
        return self.fit(X).labels_

    def __repr__(self) -> str:
        return f"KMeans(n_clusters={self.n_clusters}, n_init={self.n_init}, seed={self.seed})"


# --- features for clustering -------------------------------------------------------------------


class PixelFeatures:
    """Raw pixels as features: ``(N, C*H*W)``."""

    def fit_transform(self, images: torch.Tensor) -> torch.Tensor:
        return _as_matrix(images, "images")

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        return _as_matrix(images, "images")

    def __repr__(self) -> str:
        return "PixelFeatures()"


class PCAFeatures:
    """Principal components of the pixels (scikit-learn's PCA, randomised solver, seeded).

    Parameters
    ----------
    n_components : int
        At most ``min(N, C*H*W)``; fewer are used when the data has fewer.
    whiten : bool
        Scale each component to unit variance.
    seed : int
    """

    def __init__(self, n_components: int = 50, whiten: bool = False, seed: int = 0):
        self.n_components = n_components
        self.whiten = whiten
        self.seed = seed

    def fit_transform(self, images) -> torch.Tensor:
        from sklearn.decomposition import PCA

        x = _as_matrix(images, "images").numpy()
        k = max(1, min(self.n_components, x.shape[0] - 1, x.shape[1]))
        self.pca_ = PCA(n_components=k, whiten=self.whiten, random_state=self.seed)
        return torch.from_numpy(self.pca_.fit_transform(x)).float()

    def transform(self, images) -> torch.Tensor:
        if not hasattr(self, "pca_"):
            raise _not_fitted(self)
        return torch.from_numpy(self.pca_.transform(_as_matrix(images, "images").numpy())).float()

    def __repr__(self) -> str:
        return f"PCAFeatures(n_components={self.n_components})"


class TSNEFeatures:
    """A 2-D t-SNE map of the pixels (PCA to 50 dimensions first), as in ``features.project_2d``.

    t-SNE places points so that neighbours in the input stay neighbours on the map; k-means on the
    map is a strong classical baseline. It has no ``transform``: new points cannot be placed on an
    existing map.

    Parameters
    ----------
    seed : int
    features : object with ``fit_transform``, optional
        Features to map (default: ``PCAFeatures(50)`` of the pixels).
    """

    def __init__(self, seed: int = 0, features=None):
        self.seed = seed
        self.features = features

    def fit_transform(self, images) -> torch.Tensor:
        from .features import project_2d

        # PCA to at most 50 dimensions first (fewer when there are fewer images), as project_2d would.
        steps = self.features or PCAFeatures(50, seed=self.seed)
        x = steps.fit_transform(images)
        if len(x) < 4:
            raise ValueError(f"t-SNE needs at least 4 images, got {len(x)}")
        return torch.from_numpy(project_2d(x, "tsne", seed=self.seed)).float()

    def transform(self, images):
        raise NotImplementedError("t-SNE cannot place new points on a fitted map; fit on all the images")

    def __repr__(self) -> str:
        return f"TSNEFeatures(seed={self.seed})"


class AutoencoderFeatures:
    """Codes of a convolutional autoencoder trained on the images (``features.train_autoencoder``).

    Parameters
    ----------
    latent_dim, width, epochs, lr, batch_size
        Passed to :func:`tutorial_lib.features.train_autoencoder`; ``epochs=None`` picks a default that
        gives every dataset about the same number of optimisation steps (fewer in fast mode).
    seed, device, progress
    """

    def __init__(self, latent_dim: int = 10, width: int = 32, epochs: int | None = None, lr: float = 2e-3,
                 batch_size: int = 256, seed: int = 0, device: str = "auto", progress: bool = False):
        self.latent_dim = latent_dim
        self.width = width
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self.progress = progress

    def fit_transform(self, images) -> torch.Tensor:
        from .features import embed, train_autoencoder

        images = _check_images(images)
        epochs = self.epochs or _epochs_for(len(images), self.batch_size, runtime.pick(800, 40),
                                            lo=runtime.pick(15, 2), hi=runtime.pick(100, 5))
        self.autoencoder_, self.history_ = train_autoencoder(
            images, latent_dim=self.latent_dim, width=self.width, epochs=epochs, lr=self.lr,
            batch_size=self.batch_size, seed=self.seed, device=self.device, progress=self.progress)
        return embed(self.autoencoder_, images, device=self.device)

    def transform(self, images) -> torch.Tensor:
        from .features import embed

        if not hasattr(self, "autoencoder_"):
            raise _not_fitted(self)
        return embed(self.autoencoder_, _check_images(images), device=self.device)

    def __repr__(self) -> str:
        return f"AutoencoderFeatures(latent_dim={self.latent_dim})"


FEATURES: dict[str, Callable[..., object]] = {
    "pixels": lambda seed=0, device="auto": PixelFeatures(),
    "pca": lambda seed=0, device="auto": PCAFeatures(50, seed=seed),
    "tsne": lambda seed=0, device="auto": TSNEFeatures(seed=seed),
    "autoencoder": lambda seed=0, device="auto": AutoencoderFeatures(seed=seed, device=device),
}


def _epochs_for(n: int, batch_size: int, steps: int, lo: int = 1, hi: int = 1000) -> int:
    """Epochs giving about ``steps`` optimisation steps on ``n`` samples, clipped to [lo, hi]."""
    per_epoch = max(1, math.ceil(n / batch_size))
    return int(min(max(round(steps / per_epoch), lo), hi))


class DeepClusterPipeline:
    """Features, then a clusterer: ``DeepClusterPipeline(features="tsne", clusterer=KMeans(10))``.

    Parameters
    ----------
    features : str or object
        ``"pixels"``, ``"pca"``, ``"tsne"``, ``"autoencoder"`` (see ``FEATURES``), or any object with
        ``fit_transform(images) -> (N, D)`` (and ``transform`` for :meth:`predict`), e.g. a trained
        SimCLR encoder wrapped by the caller.
    clusterer : estimator, optional
        Anything with ``fit`` and ``labels_`` (and ``predict``), e.g. :class:`KMeans` (the default,
        with ``n_clusters`` and ``seed``) or ``sklearn.mixture.GaussianMixture``.
    n_clusters, seed, device
        Used to build the defaults.

    Attributes
    ----------
    features_ : Tensor, shape (N, D)
        The features of the images given to ``fit``.
    labels_ : Tensor, shape (N,), int64
    feature_step_, clusterer_ : the fitted steps
    """

    def __init__(self, features="pca", clusterer=None, n_clusters: int = 10, seed: int = 0,
                 device: str = "auto"):
        self.features = features
        self.clusterer = clusterer
        self.n_clusters = n_clusters
        self.seed = seed
        self.device = device

    def _feature_step(self):
        if isinstance(self.features, str):
            if self.features not in FEATURES:
                raise ValueError(f"unknown features {self.features!r}; choose one of {sorted(FEATURES)} "
                                 "or pass an object with fit_transform")
            return FEATURES[self.features](seed=self.seed, device=self.device)
        if not hasattr(self.features, "fit_transform"):
            raise ValueError("features must be a name or an object with fit_transform(images)")
        return self.features

    def fit(self, images) -> DeepClusterPipeline:
        """Compute the features of ``images`` (N, C, H, W) and cluster them."""
        step = self._feature_step()
        feats = step.fit_transform(images)
        _check_k(self.n_clusters, len(feats))
        clusterer = self.clusterer if self.clusterer is not None else KMeans(
            self.n_clusters, seed=self.seed, device=self.device)
        clusterer.fit(feats.numpy() if not isinstance(clusterer, KMeans) else feats)
        self.feature_step_, self.clusterer_, self.features_ = step, clusterer, feats
        self.labels_ = torch.as_tensor(np.asarray(clusterer.labels_), dtype=torch.int64)
        return self

    def predict(self, images) -> torch.Tensor:
        """Clusters of new images (needs features with ``transform``: not t-SNE)."""
        if not hasattr(self, "clusterer_"):
            raise _not_fitted(self)
        feats = self.feature_step_.transform(images)
        out = self.clusterer_.predict(feats if isinstance(self.clusterer_, KMeans) else feats.numpy())
        return torch.as_tensor(np.asarray(out), dtype=torch.int64)

    def fit_predict(self, images) -> torch.Tensor:
        """``fit(images).labels_``."""
        return self.fit(images).labels_

    def __repr__(self) -> str:
        return f"DeepClusterPipeline(features={self.features!r}, clusterer={self.clusterer!r})"


# --- DEC ---------------------------------------------------------------------------------------


def soft_assignment(z: torch.Tensor, centers: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """DEC's Student-t soft assignment of embedded points to cluster centres.

    .. math:: q_{ij} = \\frac{(1 + \\|z_i - \\mu_j\\|^2 / \\alpha)^{-\\frac{\\alpha + 1}{2}}}
              {\\sum_{j'} (1 + \\|z_i - \\mu_{j'}\\|^2 / \\alpha)^{-\\frac{\\alpha + 1}{2}}}

    Parameters
    ----------
    z : Tensor, shape (N, D)
    centers : Tensor, shape (K, D)
    alpha : float
        Degrees of freedom of the Student-t kernel (1 in the paper).

    Returns
    -------
    Tensor, shape (N, K), rows sum to 1.
    """
    d2 = squared_distances(z, centers)
    q = (1.0 + d2 / alpha).pow(-(alpha + 1.0) / 2.0)
    return q / q.sum(1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """DEC's target: square the assignments, divide by cluster frequency, renormalise.

    .. math:: p_{ij} = \\frac{q_{ij}^2 / f_j}{\\sum_{j'} q_{ij'}^2 / f_{j'}}, \\qquad f_j = \\sum_i q_{ij}

    Squaring sharpens confident assignments; dividing by :math:`f_j` stops large clusters from
    swallowing the others.

    Parameters
    ----------
    q : Tensor, shape (N, K), rows sum to 1

    Returns
    -------
    Tensor, shape (N, K), rows sum to 1.
    """
    weight = q.pow(2) / q.sum(0, keepdim=True).clamp_min(1e-12)
    return weight / weight.sum(1, keepdim=True)


def dec_loss(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathrm{KL}(P \\| Q) = \\frac{1}{N} \\sum_i \\sum_j p_{ij} \\log \\frac{p_{ij}}{q_{ij}}`,
    the loss DEC minimises (``p`` is held fixed).

    Parameters
    ----------
    q, p : Tensor, shape (N, K), rows sum to 1

    Returns
    -------
    Tensor, scalar >= 0 (0 when ``q == p``).
    """
    if q.shape != p.shape:
        raise ValueError(f"q and p must have the same shape, got {tuple(q.shape)} and {tuple(p.shape)}")
    return F.kl_div(q.clamp_min(1e-12).log(), p, reduction="batchmean")


class DECModule(nn.Module):
    """An encoder and learnable cluster centres; ``forward`` gives the soft assignments ``q``."""

    def __init__(self, encoder: nn.Module, centers: torch.Tensor, alpha: float = 1.0):
        super().__init__()
        self.encoder = encoder
        self.centers = nn.Parameter(centers.clone().float())
        self.alpha = alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return soft_assignment(self.encoder(x), self.centers, self.alpha)


@torch.no_grad()
def _batched_forward(model: nn.Module, images: torch.Tensor, device, batch_size: int = 1024) -> torch.Tensor:
    """``model`` on ``images`` in eval mode, batch by batch, result on the CPU."""
    was = model.training
    model.eval()
    try:
        out = [model(images[i:i + batch_size].to(device)).float().cpu()
               for i in range(0, len(images), batch_size)]
    finally:
        model.train(was)
    return torch.cat(out)


class DEC:
    """Deep Embedded Clustering (Xie, Girshick & Farhadi, 2016) on a convolutional autoencoder.

    1. Train an autoencoder by reconstruction (``features.train_autoencoder``).
    2. k-means on its codes gives the initial centres :math:`\\mu_j`.
    3. Train the encoder and the centres together to minimise :math:`\\mathrm{KL}(P\\|Q)`, with
       :math:`Q` the Student-t soft assignments and :math:`P` the sharpened target, recomputed from
       the whole set at the start of each epoch; stop when fewer than ``tol`` of the labels change.

    Parameters
    ----------
    n_clusters : int
    latent_dim, width : int
        Autoencoder code size and first-layer channels.
    pretrain_epochs, epochs : int, optional
        Autoencoder and clustering epochs; None gives every dataset about the same number of
        steps (fewer in fast mode).
    lr : float
        Adam learning rate of the clustering phase.
    batch_size : int
    alpha : float
        Student-t degrees of freedom.
    tol : float
        Stop when the fraction of changed labels between epochs falls below this.
    autoencoder : ConvAutoencoder, optional
        A trained autoencoder to start from (step 1 is skipped).
    seed, device, progress

    Attributes
    ----------
    autoencoder_ : ConvAutoencoder
    model_ : DECModule
    cluster_centers_ : Tensor, shape (n_clusters, latent_dim)
    labels_ : Tensor, shape (N,), int64
    history_ : train.History of the clustering phase (``loss``, ``changed``)
    pretrain_history_ : train.History of the autoencoder, or None
    """

    def __init__(self, n_clusters: int = 10, latent_dim: int = 10, width: int = 32,
                 pretrain_epochs: int | None = None, epochs: int | None = None, lr: float = 1e-4,
                 batch_size: int = 256, alpha: float = 1.0, tol: float = 0.001, autoencoder=None,
                 seed: int = 0, device: str = "auto", progress: bool = False):
        self.n_clusters = n_clusters
        self.latent_dim = latent_dim
        self.width = width
        self.pretrain_epochs = pretrain_epochs
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.alpha = alpha
        self.tol = tol
        self.autoencoder = autoencoder
        self.seed = seed
        self.device = device
        self.progress = progress

    def fit(self, images) -> DEC:
        """Cluster ``images``: Tensor (N, C, H, W), float in [0, 1]."""
        images = _check_images(images)
        _check_k(self.n_clusters, len(images))
        dev = runtime.device(self.device)
        if self.autoencoder is None:
            feats = AutoencoderFeatures(self.latent_dim, self.width, self.pretrain_epochs, seed=self.seed,
                                        batch_size=self.batch_size, device=self.device,
                                        progress=self.progress)
            codes = feats.fit_transform(images)
            ae, self.pretrain_history_ = feats.autoencoder_, feats.history_
        else:
            from .features import embed

            ae, self.pretrain_history_ = self.autoencoder, None
            codes = embed(ae, images, device=dev)
        km = KMeans(self.n_clusters, n_init=20, seed=self.seed, device=self.device).fit(codes)
        model = DECModule(AutoencoderEncoder(ae), km.cluster_centers_, self.alpha)
        epochs = self.epochs or _epochs_for(len(images), self.batch_size, runtime.pick(500, 20),
                                            lo=runtime.pick(5, 2), hi=runtime.pick(60, 5))
        state = {"p": None, "labels": km.labels_.clone()}

        def refresh_target(epoch, net):
            q = _batched_forward(model, images, dev)
            state["p"] = target_distribution(q).to(dev)

        def step(net, batch):
            x, idx = batch
            return dec_loss(net(x), state["p"][idx])

        def check_changes(epoch, net, history):
            labels = _batched_forward(model, images, dev).argmax(1)
            changed = float((labels != state["labels"]).float().mean())
            state["labels"] = labels
            if changed < self.tol:
                raise StopTraining
            return {"changed": changed}

        self.history_ = fit(model, step, (images, torch.arange(len(images))), epochs=epochs, lr=self.lr,
                            batch_size=self.batch_size, device=dev, seed=self.seed,
                            on_epoch_start=refresh_target, on_epoch_end=check_changes,
                            progress=self.progress, config={"model": "DEC"})
        self.autoencoder_, self.model_ = ae, model.eval()
        self.cluster_centers_ = model.centers.detach().cpu().clone()
        self.labels_ = _batched_forward(model, images, dev).argmax(1)
        return self

    def predict_proba(self, images) -> torch.Tensor:
        """Soft assignments ``q`` (N, n_clusters) of images."""
        if not hasattr(self, "model_"):
            raise _not_fitted(self)
        return _batched_forward(self.model_, _check_images(images), runtime.device(self.device))

    def predict(self, images) -> torch.Tensor:
        """Most likely cluster (N,) int64 of each image."""
        return self.predict_proba(images).argmax(1)

    def fit_predict(self, images) -> torch.Tensor:
        """``fit(images).labels_``."""
        return self.fit(images).labels_

    def __repr__(self) -> str:
        return f"DEC(n_clusters={self.n_clusters}, latent_dim={self.latent_dim}, seed={self.seed})"


# --- SCAN with self-labelling ------------------------------------------------------------------


def mine_neighbors(features, n_neighbors: int = 5, batch_size: int = 2048) -> torch.Tensor:
    """Indices ``(N, n_neighbors)`` of each sample's nearest neighbours by cosine similarity (itself
    excluded).

    Parameters
    ----------
    features : Tensor or array, shape (N, D)
    n_neighbors : int
        At most N - 1.
    """
    x = F.normalize(_as_matrix(features, "features"), dim=1)
    n = len(x)
    if not 1 <= n_neighbors < n:
        raise ValueError(f"n_neighbors must be between 1 and N - 1 = {n - 1}, got {n_neighbors}")
    out = []
    for i in range(0, n, batch_size):
        sim = x[i:i + batch_size] @ x.T
        rows = torch.arange(i, min(i + batch_size, n))
        sim[rows - i, rows] = -float("inf")
        out.append(sim.topk(n_neighbors, dim=1).indices)
    return torch.cat(out)


def scan_loss(anchor_logits: torch.Tensor, neighbor_logits: torch.Tensor,
              entropy_weight: float = 5.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SCAN's clustering loss: neighbours should agree, and every cluster should be used.

    With :math:`p_i = \\mathrm{softmax}(\\text{anchor logits}_i)`, :math:`p_{n(i)}` the same for a
    neighbour of sample :math:`i`, and :math:`\\bar p = \\frac{1}{B}\\sum_i p_i`:

    .. math:: \\mathcal{L} = -\\frac{1}{B}\\sum_i \\log \\langle p_i, p_{n(i)} \\rangle
              \\; - \\; \\lambda \\, H(\\bar p), \\qquad H(\\bar p) = -\\sum_k \\bar p_k \\log \\bar p_k

    Parameters
    ----------
    anchor_logits, neighbor_logits : Tensor, shape (B, K)
    entropy_weight : float
        :math:`\\lambda`; without it every sample would go to one cluster.

    Returns
    -------
    (total, consistency, entropy) : scalar Tensors; ``entropy`` is :math:`H(\\bar p)` in [0, log K].
    """
    if anchor_logits.shape != neighbor_logits.shape or anchor_logits.ndim != 2:
        raise ValueError(f"logits must both have shape (B, K), got {tuple(anchor_logits.shape)} and "
                         f"{tuple(neighbor_logits.shape)}")
    p = anchor_logits.float().softmax(1)
    q = neighbor_logits.float().softmax(1)
    consistency = -torch.log((p * q).sum(1).clamp_min(1e-8)).mean()
    mean = p.mean(0)
    entropy = -(mean * torch.log(mean.clamp_min(1e-8))).sum()
    return consistency - entropy_weight * entropy, consistency, entropy


def self_label_loss(logits: torch.Tensor, targets: torch.Tensor, confidence: torch.Tensor,
                    threshold: float = 0.99,
                    n_clusters: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy on confident pseudo-labels, each class weighted by the inverse of its count.

    .. math:: \\mathcal{L} = \\frac{\\sum_{i: c_i > \\tau} w_{y_i} \\,(-\\log p_{i, y_i})}
              {\\sum_{i: c_i > \\tau} w_{y_i}}, \\qquad w_k = 1 / |\\{i : c_i > \\tau, y_i = k\\}|

    Parameters
    ----------
    logits : Tensor, shape (B, K)
        Predictions on augmented views.
    targets : Tensor, shape (B,), int64
        Pseudo-labels (the model's own predictions on the clean images).
    confidence : Tensor, shape (B,), float in [0, 1]
        Probability of the pseudo-label.
    threshold : float
        :math:`\\tau`: only samples above it count.
    n_clusters : int, optional
        K (default: ``logits.shape[1]``).

    Returns
    -------
    (loss, fraction) : the loss (0 when no sample is confident) and the fraction of samples used.
    """
    k = n_clusters or logits.shape[1]
    mask = confidence > threshold
    if not bool(mask.any()):
        return logits.sum() * 0.0, mask.float().mean()
    counts = torch.bincount(targets[mask], minlength=k).float()
    weight = torch.where(counts > 0, 1.0 / counts.clamp_min(1), torch.zeros_like(counts))
    weight = weight * counts.sum() / (counts > 0).sum()  # mean weight per sample stays 1
    loss = F.cross_entropy(logits[mask].float(), targets[mask], weight=weight)
    return loss, mask.float().mean()


def equipartition(logits: torch.Tensor, n_iter: int = 100) -> torch.Tensor:
    """The assignment closest to the predictions in which every cluster gets the same share of samples.

    Sinkhorn–Knopp (as in SeLa, Asano et al. 2020, and SwAV): starting from
    :math:`Q = \\mathrm{softmax}(\\text{logits})`, rescale its columns and rows in turn until every
    row sums to 1 and every column to :math:`N / K`, i.e. find
    :math:`Q = \\mathrm{diag}(\\alpha)\\, P \\,\\mathrm{diag}(\\beta)`. Each cluster's weight
    :math:`\\beta_k` grows when it is under-used, so small groups of samples that the model put in an
    over-full cluster (a writing style of one digit merged into another digit) move to the
    under-full cluster they resemble most.

    Parameters
    ----------
    logits : Tensor, shape (N, K)
    n_iter : int
        Row/column rescalings (computed in log space, float64).

    Returns
    -------
    Tensor, shape (N, K), float32, rows sum to 1, columns sum to about N / K.
    """
    if logits.ndim != 2 or len(logits) == 0:
        raise ValueError(f"logits must have shape (N, K) with N >= 1, got {tuple(logits.shape)}")
    n, k = logits.shape
    log_q = logits.double().log_softmax(1)
    for _ in range(n_iter):
        log_q = log_q - log_q.logsumexp(0, keepdim=True) + math.log(n / k)  # columns sum to N / K
        log_q = log_q - log_q.logsumexp(1, keepdim=True)  # rows sum to 1
    return log_q.exp().float()


def scan_encoder(image_shape, width: int = 32, depth: int | None = None, activation: str = "relu",
                 feature_dim: int = 128) -> nn.Module:
    """The CNN SCAN trains, sized by the images.

    Up to 12 pixels (8×8 digits): :class:`~tutorial_lib.models.ConvEncoder` (two 3×3 convolutions at
    full resolution per stage keep the few pixels there are; ``depth`` stages, default 2). Larger
    images: the stride-2 encoder of :class:`~tutorial_lib.models.ConvAutoencoder` (``depth`` stride-2
    layers, default 3 below 48 pixels else 4, and a linear layer to ``feature_dim``), several times
    cheaper per image on a CPU.

    Parameters
    ----------
    image_shape : tuple (..., C, H, W)
    width : int
        Channels of the first layer (doubling at each stage).
    depth : int, optional
    activation : str
        See ``models.make_activation``.
    feature_dim : int
        Output size for the larger images.

    Returns
    -------
    nn.Module mapping (N, C, H, W) to (N, D) features.
    """
    c, h, w = image_shape[-3:]
    if max(h, w) <= 12:
        return ConvEncoder(c, depth=depth or 2, width=width, activation=activation)
    depth = depth or (3 if min(h, w) < 48 else 4)
    ae = ConvAutoencoder(c, (h, w), latent_dim=feature_dim, width=width, depth=depth, activation=activation)
    # Only the encoder half is trained; drop the decoder so the optimiser and checkpoints skip it.
    ae.from_latent, ae.out_conv = nn.Identity(), nn.Identity()
    ae.up, ae.up_post = nn.ModuleList(), nn.ModuleList()
    return nn.Sequential(AutoencoderEncoder(ae), nn.BatchNorm1d(feature_dim), make_activation(activation))


def scan_augment(images: torch.Tensor, seed: int = 0):
    """SCAN's augmentation: a random rotation (±15°), shift (±10 %) and zoom (0.9–1.1) of each image,
    with brightness/contrast jitter, as ``preprocess.ContrastiveAugment`` with no crop or blur."""
    from .preprocess import ContrastiveAugment, preset_for

    return ContrastiveAugment(preset_for(images), seed=seed, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0),
                              degrees=15.0, translate=0.1, affine_scale=(0.9, 1.1), blur_p=0.0)


class _ScanStep:
    """``train.fit`` step: each anchor and one of its neighbours (or itself), both augmented."""

    def __init__(self, images, neighbors, augment, entropy_weight):
        self.images, self.neighbors, self.augment = images, neighbors, augment
        self.entropy_weight = entropy_weight

    def __call__(self, model, batch):
        x, idx = batch
        gen = getattr(self.augment, "generator", None)
        if isinstance(gen, torch.Generator):  # views follow the seeded global stream (resumable)
            gen.manual_seed(int(torch.randint(0, 2**62, (1,))))
        k = self.neighbors.shape[1]
        pick = torch.randint(0, k + 1, (len(idx),))
        nb = torch.where(pick == k, idx.cpu(), self.neighbors[idx.cpu(), pick.clamp(max=k - 1)])
        xn = self.images[nb].to(x.device)
        logits = model(torch.cat([self.augment(x), self.augment(xn)]))
        total, consistency, entropy = scan_loss(*logits.chunk(2), self.entropy_weight)
        return total, {"consistency": consistency, "entropy": entropy}


class _SelfLabelStep:
    """``train.fit`` step: cross-entropy of augmented views against pseudo-labels.

    ``state["targets"]`` (balanced labels of every sample) when present, else the confident ones of
    ``state["probs"]``.
    """

    def __init__(self, state, augment, threshold, n_clusters):
        self.state, self.augment = state, augment
        self.threshold, self.n_clusters = threshold, n_clusters

    def __call__(self, model, batch):
        x, idx = batch
        gen = getattr(self.augment, "generator", None)
        if isinstance(gen, torch.Generator):
            gen.manual_seed(int(torch.randint(0, 2**62, (1,))))
        if "targets" in self.state:
            targets = self.state["targets"][idx.cpu()].to(x.device)
            return F.cross_entropy(model(self.augment(x)).float(), targets)
        probs = self.state["probs"][idx.cpu()].to(x.device)
        conf, targets = probs.max(1)
        loss, used = self_label_loss(model(self.augment(x)), targets, conf, self.threshold, self.n_clusters)
        return loss, {"confident": used}


class SCAN:
    """The deep method: a CNN clustering head trained by neighbour consistency, then self-labelling.

    After SCAN (Van Gansbeke et al., 2020), adapted to a laptop CPU:

    1. **Neighbours.** The ``n_neighbors`` nearest neighbours of each image by cosine similarity of
       its 50 principal components (with 10 neighbours, the same digit 96 % of the time on digits and
       92 % on MNIST-test).
    2. **Warm start.** A t-SNE map of the pixels and k-means on it give a first partition
       (``init="tsne"``); the CNN is trained for a few steps to predict it on the half of each cluster
       nearest its centre. ``init=None`` starts from a random network.
    3. **SCAN.** Minimise :func:`scan_loss` on augmented anchors and augmented neighbours: neighbours
       must share a cluster, and the entropy term keeps all clusters in use.
    4. **Self-labelling.** The predictions on the clean images, rebalanced so that every cluster
       gets the same share (:func:`equipartition`, ``balance=True``), become targets for augmented
       views; the labels are refreshed every epoch. With ``balance=False``, predictions above
       ``threshold`` become the targets instead (:func:`self_label_loss`).

    Parameters
    ----------
    n_clusters : int
    n_neighbors : int
    entropy_weight : float
    init : {"tsne", None}
    warm_steps, steps, self_label_steps : int
        Optimisation steps of stages 2, 3 and 4 (converted to whole epochs for the data size, fewer
        in fast mode).
    balance : bool
        Self-label with equal-sized clusters (SCAN's entropy term assumes them too). On digits, stage
        3 merges a writing style of a few dozen images into another digit (open-loop 9s into the 4s
        or 7s); the balanced targets send it back (seed 0: 0.961 -> 0.974; MNIST-test 0.975 -> 0.977).
        Turn it off for sets whose classes have very different sizes.
    threshold : float
        Confidence needed to become a pseudo-label when ``balance=False``.
    lr, weight_decay, batch_size : training settings (Adam)
    width, encoder_depth, activation
        The CNN (see :func:`scan_encoder`).
    epochs : int, optional
        Epochs of stage 3, overriding ``steps``.
    augment : callable, optional
        ``images -> images`` random views (default :func:`scan_augment`).
    on_epoch_end : callable, optional
        ``(epoch, model, history) -> dict | None`` after each epoch of stage 3 (``train.fit``'s hook).
    seed, device, progress

    Attributes
    ----------
    neighbors_ : Tensor, shape (N, n_neighbors), int64
    init_labels_ : Tensor, shape (N,), int64, or None: the warm-start partition
    model_ : EncoderWithHead (encoder + ``ClusteringHead``)
    labels_ : Tensor, shape (N,), int64
    history_ : dict of train.History: ``"warm"``, ``"scan"``, ``"self_label"``
    """

    def __init__(self, n_clusters: int = 10, n_neighbors: int = 10, entropy_weight: float = 5.0,
                 init: str | None = "tsne", warm_steps: int = 60, steps: int = 600,
                 self_label_steps: int = 200, balance: bool = True, threshold: float = 0.99,
                 lr: float = 1e-3, self_label_lr: float = 1e-4,
                 weight_decay: float = 1e-4, batch_size: int = 256, width: int = 32,
                 encoder_depth: int | None = None, activation: str = "relu", epochs: int | None = None,
                 augment=None, on_epoch_end: Callable | None = None, seed: int = 0, device: str = "auto",
                 progress: bool = False):
        self.n_clusters = n_clusters
        self.n_neighbors = n_neighbors
        self.entropy_weight = entropy_weight
        self.init = init
        self.warm_steps = warm_steps
        self.steps = steps
        self.self_label_steps = self_label_steps
        self.balance = balance
        self.threshold = threshold
        self.lr = lr
        self.self_label_lr = self_label_lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.width = width
        self.encoder_depth = encoder_depth
        self.activation = activation
        self.epochs = epochs
        self.augment = augment
        self.on_epoch_end = on_epoch_end
        self.seed = seed
        self.device = device
        self.progress = progress

    def _epochs(self, n: int, steps: int) -> int:
        if not steps:
            return 0
        # At most 200 epochs: on a few dozen images every step is an epoch.
        return _epochs_for(n, self.batch_size, runtime.pick(steps, max(steps // 20, 1)), lo=1, hi=200)

    def _fit_kwargs(self, dev, lr: float | None = None) -> dict:
        return dict(lr=lr or self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size, device=dev,
                    seed=self.seed, progress=self.progress, grad_clip=5.0)

    def _warm_start(self, model, images, dev) -> torch.Tensor | None:
        if self.init is None:
            return None
        if self.init != "tsne":
            raise ValueError(f"init must be 'tsne' or None, got {self.init!r}")
        pipe = DeepClusterPipeline(TSNEFeatures(seed=self.seed), n_clusters=self.n_clusters, seed=self.seed,
                                   device=self.device).fit(images)
        labels = pipe.labels_
        dist = pipe.clusterer_.transform(pipe.features_).gather(1, labels[:, None])[:, 0]
        keep = torch.cat([idx[dist[idx].argsort()[: max(1, (len(idx) + 1) // 2)]]
                          for idx in (torch.nonzero(labels == c)[:, 0] for c in range(self.n_clusters))
                          if len(idx)])
        augment = self.augment or scan_augment(images, self.seed)

        def step(net, batch):
            x, y = batch
            return F.cross_entropy(net(augment(x)), y)

        self.history_["warm"] = fit(model, step, (images[keep], labels[keep]),
                                    epochs=self._epochs(len(keep), self.warm_steps), **self._fit_kwargs(dev))
        return labels

    def fit(self, images) -> SCAN:
        """Cluster ``images``: Tensor (N, C, H, W), float in [0, 1]."""
        images = _check_images(images)
        n = len(images)
        _check_k(self.n_clusters, n)
        dev = runtime.device(self.device)
        runtime.seed_everything(self.seed)
        self.history_ = {}
        feats = PCAFeatures(50, seed=self.seed).fit_transform(images)
        self.neighbors_ = mine_neighbors(feats, min(self.n_neighbors, n - 1))
        runtime.seed_everything(self.seed)
        encoder = scan_encoder(images.shape, self.width, self.encoder_depth, self.activation)
        model = EncoderWithHead(encoder, ClusteringHead(_out_dim(encoder, images.shape), self.n_clusters))
        self.init_labels_ = self._warm_start(model, images, dev)
        augment = self.augment or scan_augment(images, self.seed)
        index = torch.arange(n)
        step = _ScanStep(images, self.neighbors_, augment, self.entropy_weight)
        epochs = self.epochs if self.epochs is not None else self._epochs(n, self.steps)
        self.history_["scan"] = fit(model, step, (images, index), epochs=epochs,
                                    on_epoch_end=self.on_epoch_end, **self._fit_kwargs(dev))
        state = {}

        def refresh_labels(epoch, net):
            logits = _batched_forward(model, images, dev)
            if self.balance:
                state["targets"] = equipartition(logits).argmax(1)
            else:
                state["probs"] = logits.softmax(1)

        self.history_["self_label"] = fit(
            model, _SelfLabelStep(state, augment, self.threshold, self.n_clusters), (images, index),
            epochs=self._epochs(n, self.self_label_steps), on_epoch_start=refresh_labels,
            **self._fit_kwargs(dev, self.self_label_lr))
        self.model_ = model.eval()
        self.labels_ = self.predict_proba(images).argmax(1)
        return self

    def predict_proba(self, images) -> torch.Tensor:
        """Cluster probabilities (N, n_clusters) of images."""
        if not hasattr(self, "model_"):
            raise _not_fitted(self)
        return _batched_forward(self.model_, _check_images(images), runtime.device(self.device)).softmax(1)

    def predict(self, images) -> torch.Tensor:
        """Most likely cluster (N,) int64 of each image."""
        return self.predict_proba(images).argmax(1)

    def fit_predict(self, images) -> torch.Tensor:
        """``fit(images).labels_``."""
        return self.fit(images).labels_

    def __repr__(self) -> str:
        return (f"SCAN(n_clusters={self.n_clusters}, n_neighbors={self.n_neighbors}, init={self.init!r}, "
                f"seed={self.seed})")


def _out_dim(encoder: nn.Module, image_shape) -> int:
    dim = getattr(encoder, "out_dim", None)
    if dim is None:
        with torch.no_grad():
            dim = encoder.eval()(torch.zeros(2, *image_shape[1:])).shape[1]
        encoder.train()
    return int(dim)


# --- methods, evaluation -----------------------------------------------------------------------


def _kmeans_pixels(n_clusters: int, seed: int, device: str):
    return DeepClusterPipeline("pixels", n_clusters=n_clusters, seed=seed, device=device)


def _kmeans_pca(n_clusters: int, seed: int, device: str):
    return DeepClusterPipeline("pca", n_clusters=n_clusters, seed=seed, device=device)


def _kmeans_tsne(n_clusters: int, seed: int, device: str):
    return DeepClusterPipeline("tsne", n_clusters=n_clusters, seed=seed, device=device)


def _dec(n_clusters: int, seed: int, device: str):
    return DEC(n_clusters, seed=seed, device=device)


def _scan(n_clusters: int, seed: int, device: str):
    return SCAN(n_clusters, seed=seed, device=device)


METHODS: dict[str, Callable[[int, int, str], object]] = {
    "kmeans": _kmeans_pixels,
    "pca-kmeans": _kmeans_pca,
    "tsne-kmeans": _kmeans_tsne,
    "dec": _dec,
    "scan": _scan,
}
"""Method name -> ``factory(n_clusters, seed, device)`` returning an estimator; baselines first."""

DEFAULT_METHOD = "scan"
DEFAULT_N_CLUSTERS = 10
# Sets with a train and a test split are clustered on their test split (MNIST-test: 10,000 images),
# the protocol of the clustering papers this tutorial compares with; "mnist:train" picks the other.
TEST_SPLIT_SETS = ("mnist", "fashion-mnist", "cifar10", "stl10")


def make_estimator(method: str | None = None, n_clusters: int = DEFAULT_N_CLUSTERS, seed: int = 0,
                   device: str = "auto"):
    """A fresh estimator for ``method`` (a key of ``METHODS``; None gives ``DEFAULT_METHOD``)."""
    name = method or DEFAULT_METHOD
    if name not in METHODS:
        raise ValueError(f"unknown clustering method {name!r}; choose one of {list(METHODS)}")
    return METHODS[name](n_clusters, seed, device)


def load_for_clustering(data: str, root=None, limit: int | None = None):
    """The images :func:`evaluate` clusters: ``data.load`` with the split convention of this module.

    ``mnist``, ``fashion-mnist``, ``cifar10`` and ``stl10`` give their **test** split (the
    MNIST-test protocol: 10,000 images); append ``:train`` (``"mnist:train"``) for the training split.
    Every other name (``digits``, ``shapes``, ``folder:PATH``) is passed to ``data.load`` unchanged.
    The subset taken by ``limit`` is always the one of data seed 0, so every method and seed sees
    the same images.
    """
    from . import data as data_module

    kind, _, rest = data.partition(":")
    if kind.lower() in TEST_SPLIT_SETS:
        split = rest or "test"
        if split not in ("train", "test", "unlabeled"):
            raise ValueError(f"unknown split {split!r} in {data!r}; use {kind}, {kind}:train or {kind}:test")
        return data_module.load(kind.lower(), split=split, root=root, limit=limit, seed=0)
    return data_module.load(data, root=root, limit=limit, seed=0)


def evaluate(data: str, root=None, method: str | None = None, seed: int = 0, limit: int | None = None,
             device: str = "auto", n_clusters: int | None = None) -> dict:
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

    Returns
    -------
    dict
        ``acc``, ``nmi``, ``ari`` (None when the set has no labels), ``seconds`` (wall-clock fitting
        time), ``cpu_seconds`` (CPU time of this process over all its threads: on a busy machine the
        better measure of cost), ``threads`` (torch's thread count), ``n_samples``, ``n_clusters``,
        ``method``, ``device``, ``data``, ``seed``.
    """
    from .metrics import clustering_scores

    ds = load_for_clustering(data, root=root, limit=limit)
    labels = ds.labels
    k = n_clusters or (len(torch.unique(labels)) if labels is not None else DEFAULT_N_CLUSTERS)
    if k > len(ds):
        raise ValueError(f"{data} has {len(ds)} images, fewer than the {k} clusters asked for; "
                         "use more images or fewer clusters")
    name = method or DEFAULT_METHOD
    estimator = make_estimator(name, k, seed, device)
    started, cpu_started = time.perf_counter(), time.process_time()
    predicted = estimator.fit_predict(ds.images)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    scores = (clustering_scores(labels, predicted) if labels is not None
              else dict.fromkeys(("acc", "nmi", "ari")))
    return {**scores, "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2),
            "threads": torch.get_num_threads(), "n_samples": len(ds), "n_clusters": int(k),
            "method": name, "device": str(runtime.device(device)), "data": data, "seed": seed}


def train_scan(images: torch.Tensor, *, lr: float = 1e-3, epochs: int = 20, depth: int | None = None,
               activation: str = "relu", n_clusters: int = 10, monitor_labels=None, seed: int = 0,
               device: str = "auto", progress: bool = False, on_epoch_end: Callable | None = None,
               **scan_kwargs) -> tuple[SCAN, object]:
    """Fit :class:`SCAN` with the settings a training panel exposes (``widgets.training_panel``).

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    lr, epochs, depth, activation
        Learning rate, epochs of the SCAN stage, encoder depth and activation.
    n_clusters : int
    monitor_labels : Tensor (N,), optional
        Hidden labels, used ONLY to report the matched accuracy after each epoch (``history["acc"]``).
    seed, device, progress, on_epoch_end
    **scan_kwargs
        Other :class:`SCAN` parameters (e.g. ``init=None``, ``self_label_steps=0``).

    Returns
    -------
    (SCAN, train.History)
        The fitted estimator and the history of its SCAN stage (``loss``, ``consistency``,
        ``entropy`` and maybe ``acc`` per epoch).
    """
    from .metrics import cluster_acc

    images = _check_images(images)

    def end_of_epoch(epoch, net, history):
        out = {}
        if monitor_labels is not None:
            pred = _batched_forward(net, images, next(net.parameters()).device).argmax(1)
            out["acc"] = cluster_acc(monitor_labels, pred)
        if on_epoch_end is not None:
            out.update(on_epoch_end(epoch, net, history) or {})
        return out

    est = SCAN(n_clusters, lr=lr, epochs=epochs, encoder_depth=depth, activation=activation, seed=seed,
               device=device, progress=progress, on_epoch_end=end_of_epoch, **scan_kwargs).fit(images)
    return est, est.history_["scan"]
