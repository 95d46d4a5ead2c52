"""Label checks and contingency tables shared by the clustering and segmentation scores.

Taught in notebooks 03_clustering_classification and 04_pixel_segmentation (through the scores
built on it). Every function here takes labels as lists, NumPy arrays or torch tensors (any device)
and raises ``ValueError`` with a message that says what is wrong.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def _to_int_array(x, name: str) -> np.ndarray:
    """Turn a list, NumPy array or torch tensor of integer labels into an int64 NumPy array."""
    if hasattr(x, "detach"):  # a torch tensor, on any device; avoids importing torch here
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype == object:
        raise ValueError(f"{name} must be an array of integer labels, got objects of mixed type")
    if arr.dtype.kind == "b":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite values; labels must be integers")
        if not np.all(arr == np.round(arr)):
            raise ValueError(
                f"{name} holds non-integer values (dtype {arr.dtype}); pass integer labels, "
                "e.g. the argmax of the scores, not the scores themselves"
            )
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer labels, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _contingency(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense contingency table of two label arrays of the same shape.

    Returns ``(table, labels_a, labels_b)`` where ``table[i, j]`` counts the elements with
    ``a == labels_a[i]`` and ``b == labels_b[j]``. One ``np.bincount`` on the combined code,
    so it is linear in the number of elements.
    """
    labels_a, ia = np.unique(a.ravel(), return_inverse=True)
    labels_b, ib = np.unique(b.ravel(), return_inverse=True)
    na, nb = len(labels_a), len(labels_b)
    table = np.bincount(ia * nb + ib, minlength=na * nb).reshape(na, nb)
    return table, labels_a, labels_b


def _one_to_one(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the assignment with the largest total count (Hungarian)."""
    rows, cols = linear_sum_assignment(table, maximize=True)
    return rows, cols
