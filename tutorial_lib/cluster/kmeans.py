"""k-means on tensors: k-means++ seeding and Lloyd's iterations, on the CPU or a GPU.

Taught in notebook 03_clustering_classification (the first baseline, and the clusterer behind the
t-SNE, DEC and SCAN warm starts); the segmentation methods of notebook 04 use it on pixels.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import runtime
from ..base import Estimator, as_label_array, generator, reject_labels
from ._common import as_matrix, check_k


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


def lloyd(x: torch.Tensor, centers: torch.Tensor, max_iter: int,
          tol: float) -> tuple[torch.Tensor, torch.Tensor, float, int]:
    """Lloyd's iterations from ``centers``: assign each point to its nearest centre, move the centres.

    Parameters
    ----------
    x : Tensor, shape (N, D), float
    centers : Tensor, shape (K, D), float, on the device of ``x``
    max_iter : int
    tol : float
        Stop when the squared centre shift (summed over centres) is at most this.

    Returns
    -------
    (centers, labels, inertia, n_iter)
        Centres (K, D), labels (N,) int64 tensor, sum of squared distances to the centres, and the
        number of iterations run. A cluster left empty restarts on the worst-served points.
    """
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


class KMeans(Estimator):
    """k-means on tensors: k-means++ seeding, Lloyd iterations, best of ``n_init`` runs.

    The same algorithm as ``sklearn.cluster.KMeans`` (greedy k-means++, tolerance relative to the
    data variance, empty clusters re-seeded), written with torch so it runs on a GPU when one is
    present (``device="auto"``) and takes tensors directly. Any finite features are accepted.

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
        Same seed, same clustering (on the same device). The seedings draw from a generator of
        their own: the caller's random state is not touched.
    device : str
        ``"auto"`` (CUDA, MPS, CPU), ``"cpu"``, ...
    progress : bool
        Accepted like every estimator's; k-means is quick and shows no progress bar.

    Attributes
    ----------
    cluster_centers_ : Tensor, shape (n_clusters, D), float32, on the CPU
    labels_ : ndarray, shape (N,), int64
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
                 seed: int = 0, device: str = "auto", progress: bool = False):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.device = device
        self.progress = progress

    def fit(self, X, y=None) -> KMeans:
        """Cluster ``X``: Tensor or array, shape (N, D) (images (N, C, H, W) are flattened)."""
        reject_labels(self, y)
        x = as_matrix(X)
        check_k(self.n_clusters, len(x))
        if self.n_init < 1 or self.max_iter < 1:
            raise ValueError(f"n_init and max_iter must be >= 1, got {self.n_init}, {self.max_iter}")
        x = x.to(runtime.device(self.device))
        tol = self.tol * float(x.var(0).mean()) if len(x) > 1 else 0.0
        gen = generator(self.seed)
        best = None
        for _ in range(self.n_init):
            run = lloyd(x, kmeans_plusplus(x, self.n_clusters, gen), self.max_iter, tol)
            if best is None or run[2] < best[2]:
                best = run
        centers, labels, inertia, n_iter = best
        self.cluster_centers_ = centers.cpu()
        self.labels_ = as_label_array(labels)
        self.inertia_ = inertia
        self.n_iter_ = n_iter
        return self

    def transform(self, X) -> torch.Tensor:
        """Euclidean distances ``(N, n_clusters)`` (float32 tensor, CPU) from each sample to each centre."""
        self._check_fitted("cluster_centers_")
        x = as_matrix(X)
        if x.shape[1] != self.cluster_centers_.shape[1]:
            raise ValueError(f"X has {x.shape[1]} features, the model was fitted on "
                             f"{self.cluster_centers_.shape[1]}")
        return squared_distances(x, self.cluster_centers_).sqrt()

    def predict(self, X) -> np.ndarray:
        """Index ``(N,)`` (NumPy int64) of the nearest centre of each sample."""
        return as_label_array(self.transform(X).argmin(1))
