"""Clustering scores: matched accuracy, NMI, ARI, matched confusion matrix, per-class precision/recall.

Taught in notebook 03_clustering_classification.

An unsupervised method names its clusters arbitrarily (cluster 3 may be the digit 7), so every
score here is invariant to a permutation of the predicted labels: accuracy-type scores first
*match* predicted labels to true classes, the others (NMI, ARI) ignore names.

Matching protocol (the one used by DEC, IIC, SCAN and PiCIE):

* **one-to-one** (default): the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``) on
  the contingency table picks the cluster -> class assignment with the largest number of correctly
  placed samples, each class used at most once. When there are *more* clusters than classes, the
  clusters left over are unmatched and all their samples count as wrong (this is the standard
  "cluster accuracy"; it penalises over-clustering).
* **many-to-one** (``many_to_one=True``): each cluster goes to the class it overlaps most (its
  majority class), several clusters may share a class. This is how IIC scores its over-clustering
  heads; it is never below the one-to-one accuracy and reaches 1.0 when every sample is its own
  cluster, so report it only beside the one-to-one figure.

Functions take 1-D integer NumPy arrays, lists or torch tensors (any device). Labels need not be
consecutive or start at 0. Bad input (length mismatch, empty, non-integer) raises ``ValueError``
with a message that says what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn import metrics as skm

from ._labels import _contingency, _one_to_one, _to_int_array

UNMATCHED = -1
"""Label that :func:`relabel` gives to samples of a cluster without a matched class."""


def _check_labels(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Validate two 1-D label vectors of the same, non-zero length."""
    t = _to_int_array(y_true, "y_true")
    p = _to_int_array(y_pred, "y_pred")
    for arr, name in ((t, "y_true"), (p, "y_pred")):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D (one label per sample), got shape {arr.shape}")
    if t.shape[0] != p.shape[0]:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {t.shape[0]} and {p.shape[0]}"
        )
    if t.shape[0] == 0:
        raise ValueError("y_true and y_pred are empty; there is nothing to score")
    return t, p


def match_clusters(y_true, y_pred, many_to_one: bool = False) -> dict[int, int]:
    """Map each predicted cluster to a true class.

    Parameters
    ----------
    y_true : array-like or Tensor, shape (N,), int
        True class of each sample.
    y_pred : array-like or Tensor, shape (N,), int
        Cluster of each sample (any integer names).
    many_to_one : bool
        False: Hungarian one-to-one matching maximising the number of correct samples; clusters
        left over when there are more clusters than classes are mapped to ``UNMATCHED`` (-1).
        True: each cluster maps to its majority class (ties go to the smallest class label).

    Returns
    -------
    dict[int, int]
        ``{cluster: class}`` for every cluster that occurs in ``y_pred``.
    """
    t, p = _check_labels(y_true, y_pred)
    table, clusters, classes = _contingency(p, t)  # rows: clusters, columns: classes
    if many_to_one:
        best = table.argmax(axis=1)
        return {int(c): int(classes[k]) for c, k in zip(clusters, best, strict=True)}
    mapping = {int(c): UNMATCHED for c in clusters}
    rows, cols = _one_to_one(table)
    for r, k in zip(rows, cols, strict=True):
        mapping[int(clusters[r])] = int(classes[k])
    return mapping


def relabel(y_pred, mapping: Mapping[int, int], fill: int = UNMATCHED) -> np.ndarray:
    """Rename predicted labels with ``mapping``; labels missing from it become ``fill``.

    Parameters
    ----------
    y_pred : array-like or Tensor, int, any shape
        Predicted cluster (or segment) labels.
    mapping : dict[int, int]
        ``{predicted label: new label}``, e.g. from :func:`match_clusters`.
    fill : int
        Label for predicted labels that ``mapping`` does not contain.

    Returns
    -------
    ndarray, same shape as ``y_pred``, int64
    """
    p = _to_int_array(y_pred, "y_pred")
    labels, inverse = np.unique(p, return_inverse=True)
    lookup = np.array([mapping.get(int(v), fill) for v in labels], dtype=np.int64)
    return lookup[inverse].reshape(p.shape)


def cluster_acc(y_true, y_pred, many_to_one: bool = False) -> float:
    """Clustering accuracy after matching clusters to classes, in [0, 1].

    Parameters
    ----------
    y_true, y_pred : array-like or Tensor, shape (N,), int
        True classes and predicted clusters.
    many_to_one : bool
        False (default): the standard one-to-one Hungarian accuracy of DEC / IIC / SCAN; samples of
        clusters left unmatched (more clusters than classes) count as wrong. True: each cluster
        votes for its majority class (IIC over-clustering evaluation); always >= the default.

    Returns
    -------
    float in [0, 1]
        Fraction of samples whose matched cluster equals their class.
    """
    t, p = _check_labels(y_true, y_pred)
    table, _, _ = _contingency(p, t)
    if many_to_one:
        correct = table.max(axis=1).sum()
    else:
        rows, cols = _one_to_one(table)
        correct = table[rows, cols].sum()
    return float(correct) / t.shape[0]


def nmi(y_true, y_pred) -> float:
    """Normalised mutual information (scikit-learn, arithmetic normalisation), in [0, 1].

    Parameters
    ----------
    y_true, y_pred : array-like or Tensor, shape (N,), int

    Returns
    -------
    float in [0, 1]; 1 when the two partitions agree up to renaming.
    """
    t, p = _check_labels(y_true, y_pred)
    return float(skm.normalized_mutual_info_score(t, p))


def ari(y_true, y_pred) -> float:
    """Adjusted Rand index (scikit-learn), in [-0.5, 1]; about 0 for random labels.

    Parameters
    ----------
    y_true, y_pred : array-like or Tensor, shape (N,), int

    Returns
    -------
    float; 1 when the two partitions agree up to renaming.
    """
    t, p = _check_labels(y_true, y_pred)
    return float(skm.adjusted_rand_score(t, p))


def neighbour_purity(neighbors, y_true) -> float:
    """Share of (image, neighbour) pairs whose two images have the same hidden class.

    How good a space is for SCAN's stage 1, measured with the labels the method never sees.

    Parameters
    ----------
    neighbors : Tensor or array of int, shape (N, k)
        Row i: the indices of image i's neighbours.
    y_true : array or Tensor of int, shape (N,)

    Returns
    -------
    float in [0, 1]
    """
    nb = np.asarray(neighbors.cpu() if hasattr(neighbors, "cpu") else neighbors)
    y = np.asarray(y_true.cpu() if hasattr(y_true, "cpu") else y_true).ravel()
    if nb.ndim != 2 or len(nb) != len(y):
        raise ValueError(f"neighbors must be (N, k) with N = {len(y)} labels, got shape {nb.shape}")
    return float((y[nb] == y[:, None]).mean())


def clustering_scores(y_true, y_pred) -> dict[str, float]:
    """The three scores reported by clustering papers: one-to-one accuracy, NMI and ARI.

    Parameters
    ----------
    y_true, y_pred : array-like or Tensor, shape (N,), int

    Returns
    -------
    dict
        ``{"acc": float, "nmi": float, "ari": float}``.
    """
    t, p = _check_labels(y_true, y_pred)
    return {"acc": cluster_acc(t, p), "nmi": nmi(t, p), "ari": ari(t, p)}


def matched_confusion(
    y_true, y_pred, many_to_one: bool = False, include_unmatched: bool = False
) -> np.ndarray:
    """Confusion matrix of true classes against matched clusters.

    Parameters
    ----------
    y_true, y_pred : array-like or Tensor, shape (N,), int
        True classes and predicted clusters.
    many_to_one : bool
        Matching rule, as in :func:`match_clusters`.
    include_unmatched : bool
        With one-to-one matching and more clusters than classes, some samples fall in unmatched
        clusters. False (default): they are left out of the matrix (its trace divided by N is
        still :func:`cluster_acc`, but rows then sum to less than the class sizes). True: an
        extra last column counts them, so rows sum to the class sizes.

    Returns
    -------
    ndarray, int64, shape (n_classes, n_classes) or (n_classes, n_classes + 1)
        ``[i, j]`` counts samples of the i-th class (sorted true labels) placed in the cluster
        matched to the j-th class; the diagonal holds the correct samples.
    """
    t, p = _check_labels(y_true, y_pred)
    classes = np.unique(t)
    mapped = relabel(p, match_clusters(t, p, many_to_one=many_to_one))
    n = len(classes)
    ti = np.searchsorted(classes, t)
    # unmatched samples get column n, which is cut off unless asked for
    pi = np.where(mapped == UNMATCHED, n, np.searchsorted(classes, mapped))
    table = np.bincount(ti * (n + 1) + pi, minlength=n * (n + 1)).reshape(n, n + 1)
    return table if include_unmatched else table[:, :n]


def per_class_precision_recall(y_true, y_pred, many_to_one: bool = False) -> dict[int, dict[str, float]]:
    """Precision, recall, F1 and support of each class after matching clusters to classes.

    Uses ``sklearn.metrics.precision_recall_fscore_support`` on the relabelled predictions.
    Samples of unmatched clusters count as missed for their class (lower recall) and as a
    false positive for no class; a class that no cluster is matched to has precision 0.

    Parameters
    ----------
    y_true, y_pred : array-like or Tensor, shape (N,), int
    many_to_one : bool
        Matching rule, as in :func:`match_clusters`.

    Returns
    -------
    dict
        ``{class: {"precision": float, "recall": float, "f1": float, "support": int}}`` for each
        true class, in increasing order of class label.
    """
    t, p = _check_labels(y_true, y_pred)
    classes = np.unique(t)
    mapped = relabel(p, match_clusters(t, p, many_to_one=many_to_one))
    prec, rec, f1, support = skm.precision_recall_fscore_support(
        t, mapped, labels=classes, zero_division=0
    )
    return {
        int(c): {"precision": float(a), "recall": float(b), "f1": float(f), "support": int(s)}
        for c, a, b, f, s in zip(classes, prec, rec, f1, support, strict=True)
    }


def format_precision_recall(
    table: Mapping[int, Mapping[str, float]], class_names: Sequence[str] | None = None
) -> str:
    """Plain-text table of :func:`per_class_precision_recall`, one row per class.

    Parameters
    ----------
    table : dict
        Output of :func:`per_class_precision_recall`.
    class_names : sequence of str, optional
        Name of class ``c`` at index ``c``; the class label is printed when missing.

    Returns
    -------
    str
    """
    names = [
        class_names[c] if class_names is not None and 0 <= c < len(class_names) else str(c) for c in table
    ]
    width = max([5, *(len(n) for n in names)])
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for name, row in zip(names, table.values(), strict=True):
        lines.append(
            f"{name:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:5.3f}"
            f"  {row['support']:7d}"
        )
    return "\n".join(lines)
