"""Over-clustering, then merging: cluster sizes that come from the data, not from an assumption.

Taught in notebook 03_clustering_classification ("When the classes are not the same size"). SCAN's
entropy term and balanced self-labelling make every cluster the same size. That is harmless when
there are *more* clusters than classes: a large class simply takes several clusters. So
:class:`~tutorial_lib.cluster.SCAN` (``overcluster=r``) trains ``K' = r K`` equal-sized clusters and
then joins them into ``K`` groups by how often their images are each other's neighbours
(:func:`merge_clusters`): two halves of one class share many neighbours, two classes few. The groups'
sizes are whatever the data gave. :class:`MergedHead` turns the ``K'`` logits into the ``K`` groups'
log-probabilities, so the merged network still ends in one softmax and can be trained further.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..models import EncoderWithHead
from ._common import forward_all
from .scan_losses import mine_neighbors

MIN_CLUSTER_SIZE = 20
AUTO_OVERCLUSTER = 5
"""The largest factor ``SCAN(overcluster="auto")`` tries beside 1."""
MODULARITY_MARGIN = 0.005
"""How much higher the over-clustered fit's :func:`neighbour_modularity` must be for
``SCAN(overcluster="auto")`` to keep it instead of the equal-size fit (see :func:`kept_factor`)."""


def trained_clusters(n_clusters: int, n: int, overcluster: int) -> int:
    """K', the clusters SCAN trains before merging: ``overcluster * n_clusters``, at least ``n_clusters``
    and at most one per ``MIN_CLUSTER_SIZE`` images (smaller clusters are noise, not sub-classes)."""
    return max(n_clusters, min(overcluster * n_clusters, n // MIN_CLUSTER_SIZE))


def auto_factor(n_clusters: int, n: int | None) -> int:
    """The factor r that ``overcluster="auto"`` tries beside 1: the largest r <= ``AUTO_OVERCLUSTER``
    whose ``r * n_clusters`` clusters still hold ``MIN_CLUSTER_SIZE`` of the ``n`` images each (so
    :func:`trained_clusters` never caps it), 1 when even two per class would be smaller; without ``n``,
    ``AUTO_OVERCLUSTER``."""
    if n is None:
        return AUTO_OVERCLUSTER
    return max(1, min(AUTO_OVERCLUSTER, int(n) // (int(n_clusters) * MIN_CLUSTER_SIZE)))


def overcluster_factors(overcluster, n_clusters: int | None = None, n: int | None = None) -> tuple[int, ...]:
    """The over-clustering factors :meth:`~tutorial_lib.cluster.SCAN.fit` trains: ``(r,)`` for an int r >= 1;
    for "auto", ``(1, r)`` with r = :func:`auto_factor` (5 on a set that fills 5 clusters of
    ``MIN_CLUSTER_SIZE`` per class, fewer on a smaller one: a factor capped by :func:`trained_clusters`
    would leave clusters too few to hold the small classes and too small to be sub-classes), ``(1,)``
    when not even r = 2 fits."""
    if overcluster == "auto":
        r = auto_factor(n_clusters, n)
        return (1,) if r < 2 else (1, r)
    if isinstance(overcluster, bool) or not isinstance(overcluster, int) or overcluster < 1:
        raise ValueError(f"overcluster must be an integer >= 1 or 'auto', got {overcluster!r}")
    return (overcluster,)


def neighbour_modularity(labels: np.ndarray, neighbors: torch.Tensor) -> float:
    r"""Newman's modularity of a partition on the k-nearest-neighbour graph: how much more often
    neighbours share a cluster than they would by chance.

    :math:`Q = \frac{1}{Nk}\sum_i \sum_{j \in \mathcal{N}_i} [c_i = c_j] - \sum_c s_c^2`, with
    :math:`s_c` the share of cluster c. Splitting a class in two cuts many neighbour pairs; joining two
    classes raises :math:`\sum_c s_c^2` more than it gains in pairs; so the partition closer to the
    classes scores higher, whether their sizes are equal or not (used by ``SCAN(overcluster="auto")``).

    Parameters
    ----------
    labels : ndarray, shape (N,), int
    neighbors : Tensor, shape (N, k), int64

    Returns
    -------
    float, at most 1 - 1/K for K equal clusters
    """
    lab = torch.as_tensor(np.asarray(labels))
    agree = (lab[neighbors] == lab[:, None]).double().mean().item()
    shares = torch.bincount(lab).double() / len(lab)
    return agree - float((shares ** 2).sum())


def kept_factor(modularity: dict[int, float], margin: float = MODULARITY_MARGIN) -> int:
    """The factor ``SCAN(overcluster="auto")`` keeps: the smallest one, unless a larger one's modularity
    is higher by at least ``margin``.

    The merged fit is the freer model (its group sizes are fitted after the fact), so an even score is
    no evidence for unequal sizes. Measured on the development sets: where merging was right, it gained
    0.015 (``mnist-imbalanced``: accuracy 0.945 against 0.625) and 0.016 (COIL-20: 0.867 against 0.821);
    where it was wrong the scores tied (digits, seed 2: 0.8476 against 0.8475, accuracy 0.833 against
    0.961 for the equal-size fit).

    Parameters
    ----------
    modularity : dict of int -> float
        Each factor's :func:`neighbour_modularity`.
    margin : float

    Returns
    -------
    int, a key of ``modularity``
    """
    base = min(modularity)
    best = max(modularity, key=modularity.get)
    return best if modularity[best] >= modularity[base] + margin else base


def cluster_affinity(probs: torch.Tensor, neighbors: torch.Tensor) -> np.ndarray:
    """How strongly each pair of clusters shares neighbours, cosine-normalised to [0, 1].

    With soft assignments :math:`P` (N, K') and :math:`Q_i = \\frac{1}{k}\\sum_{j \\in \\mathcal{N}_i}
    P_j` (the neighbours' mean assignment), :math:`C = \\tfrac12 (P^\\top Q + Q^\\top P)` counts the
    neighbour pairs that fall in clusters a and b, and :math:`S_{ab} = C_{ab} / \\sqrt{C_{aa} C_{bb}}`
    removes the effect of the clusters' sizes.

    Parameters
    ----------
    probs : Tensor, shape (N, K'), rows sum to 1
    neighbors : Tensor, shape (N, k), int64, indices into the N samples

    Returns
    -------
    ndarray, shape (K', K'), float64, symmetric, 1 on the diagonal of clusters in use
    """
    p = probs.double()
    q = p[neighbors].mean(1)
    c = (p.T @ q).numpy()
    c = (c + c.T) / 2
    d = np.sqrt(np.maximum(np.diag(c), 1e-12))
    return c / np.outer(d, d)


def merge_clusters(probs: torch.Tensor, neighbors: torch.Tensor, n_clusters: int) -> np.ndarray:
    """Join K' clusters into ``n_clusters`` groups by average-linkage on their shared neighbours.

    Average linkage joins the two groups whose clusters share the most neighbours on average, so a
    large class that was cut into several clusters is joined back, while a small class keeps its own
    cluster as long as its images' neighbours stay in it. (Measured on ``mnist-imbalanced`` and
    MNIST-test: single linkage chains two classes through one confused cluster, complete linkage
    keeps a large class split; see ``bench/results/scan_sizes.md``.)

    Parameters
    ----------
    probs : Tensor, shape (N, K'), rows sum to 1
    neighbors : Tensor, shape (N, k), int64
    n_clusters : int, at most K'

    Returns
    -------
    ndarray, shape (K',), int64: the group in ``0 .. n_clusters - 1`` of each cluster, numbered by
    first appearance so that the result does not depend on the linkage's internal order.
    """
    from sklearn.cluster import AgglomerativeClustering

    k_over = probs.shape[1]
    if not 1 <= n_clusters <= k_over:
        raise ValueError(f"n_clusters must be between 1 and the {k_over} clusters to merge, got {n_clusters}")
    if n_clusters == k_over:
        return np.arange(k_over, dtype=np.int64)
    distance = 1.0 - cluster_affinity(probs, neighbors)
    np.fill_diagonal(distance, 0.0)
    groups = AgglomerativeClustering(n_clusters, metric="precomputed", linkage="average").fit_predict(
        np.maximum(distance, 0.0))
    _, first = np.unique(groups, return_index=True)
    order = np.argsort(np.argsort(first))  # group ids renumbered by first appearance
    return order[groups].astype(np.int64)


class MergedHead(nn.Module):
    """A head of K' clusters seen as K groups: log of the summed probabilities of each group's clusters.

    ``softmax`` of the output is exactly :math:`p(g \\mid x) = \\sum_{a \\in g} p(a \\mid x)`, so the
    merged model predicts, and trains, like any clustering network with K outputs.

    Parameters
    ----------
    head : nn.Module
        Features (N, D) -> logits (N, K').
    groups : array-like, shape (K',), int
        The group of each cluster (:func:`merge_clusters`), values 0 .. K - 1, each used.

    Shapes
    ------
    ``forward``: ``(N, D)`` -> log-probabilities ``(N, K)``.
    """

    def __init__(self, head: nn.Module, groups):
        super().__init__()
        self.head = head
        groups = torch.as_tensor(np.asarray(groups), dtype=torch.long)
        k = int(groups.max()) + 1
        if groups.ndim != 1 or groups.min() < 0 or len(torch.unique(groups)) != k:
            raise ValueError(f"groups must number every group 0 .. K - 1 at least once, "
                             f"got {groups.tolist()}")
        self.register_buffer("groups", groups)
        mask = torch.full((len(groups), k), -float("inf"))
        mask[torch.arange(len(groups)), groups] = 0.0
        self.register_buffer("log_membership", mask, persistent=False)

    @property
    def n_clusters(self) -> int:
        """K, the number of groups."""
        return self.log_membership.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(self.head(x).float(), dim=1)
        return torch.logsumexp(logp[:, :, None] + self.log_membership, dim=1)


def merge_model(model: EncoderWithHead, images: torch.Tensor, n_clusters: int, n_neighbors: int,
                device: torch.device) -> tuple[np.ndarray, torch.Tensor]:
    """Join the K' clusters of a trained SCAN model into ``n_clusters`` groups (its head is replaced).

    The neighbours are mined again, in the trained encoder's feature space (purer than PCA's: 0.965
    against 0.899 on ``mnist-imbalanced``), and :func:`merge_clusters` joins the clusters that
    share them; ``model.head`` becomes a :class:`MergedHead`.

    Returns
    -------
    (groups, shares) : the group of each of the K' clusters (K',) int64, and each group's share of the
    images (n_clusters,) float32 (plus-one smoothed), the prior of the refining self-labelling.
    """
    features = forward_all(model.encoder, images, device)  # eval mode, then the previous mode again
    probs = forward_all(model.head, features, device).softmax(1)  # the head on them: no second encoder pass
    groups = merge_clusters(probs, mine_neighbors(features, min(n_neighbors, len(images) - 1)), n_clusters)
    model.head = MergedHead(model.head, groups).to(device)
    counts = np.bincount(groups[probs.argmax(1).numpy()], minlength=n_clusters) + 1.0
    return groups, torch.from_numpy(counts / counts.sum()).float()
