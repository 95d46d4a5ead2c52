"""Object scores of the application: foreground IoU, object recall and precision at mask IoU >= 0.5
(one-to-one), matched object accuracy and per-class precision and recall.

Taught in notebook 05_foreground_background.

A predicted object *matches* a true one when their pixel masks overlap with IoU >= 0.5; at that
threshold each true object can match at most one predicted object and vice versa (two masks with IoU
> 0.5 with the same mask would have to share more than half of it each), so the matching is one-to-one
without any search; ties at exactly 0.5 (an object cut into two equal halves) keep one pair. An object
split in three or more pieces matches nothing (each piece has IoU < 0.5), two objects
merged into one prediction match at most one of them. Classes are clusters without names: the object
accuracy maps clusters to classes one-to-one by the Hungarian method over the matched objects
(:func:`tutorial_lib.metrics.cluster_acc`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .clustering import cluster_acc, per_class_precision_recall

MATCH_IOU = 0.5


def _as_map(x, name: str) -> np.ndarray:
    arr = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    if arr.ndim != 2 or arr.dtype.kind not in "biu":
        raise ValueError(f"{name} must be an (H, W) integer label map, got shape {arr.shape}, "
                         f"dtype {arr.dtype}")
    return arr.astype(np.int64)


def foreground_iou(pred, gt) -> float:
    """IoU of two foreground masks (anything non-zero is foreground), pooled over a list of images.

    Parameters
    ----------
    pred, gt : ndarray (H, W) int or bool, or equally long lists of them

    Returns
    -------
    float in [0, 1]; 1.0 when both are empty everywhere
    """
    preds, gts = (pred, gt) if isinstance(pred, (list, tuple)) else ([pred], [gt])
    inter = union = 0
    for p, g in zip(preds, gts, strict=True):
        p, g = _as_map(p, "pred") != 0, _as_map(g, "gt") != 0
        if p.shape != g.shape:
            raise ValueError(f"pred has shape {p.shape} but gt has {g.shape}")
        inter += int((p & g).sum())
        union += int((p | g).sum())
    return 1.0 if union == 0 else inter / union


def match_objects(pred_objects, true_objects, min_iou: float = MATCH_IOU) -> list[tuple[int, int, float]]:
    """One-to-one matches of predicted and true objects of one image at mask IoU >= ``min_iou``.

    Parameters
    ----------
    pred_objects, true_objects : ndarray, shape (H, W), int; 0 = background, 1..K objects
    min_iou : float
        At least 0.5 (below it a matching would need a search to be one-to-one).

    Returns
    -------
    list of (pred_id, true_id, iou), ids 1-based, sorted by true id
    """
    if min_iou < 0.5:
        raise ValueError(f"min_iou must be at least 0.5 for a one-to-one matching, got {min_iou}")
    p, t = _as_map(pred_objects, "pred_objects"), _as_map(true_objects, "true_objects")
    if p.shape != t.shape:
        raise ValueError(f"pred_objects has shape {p.shape} but true_objects has {t.shape}")
    kp, kt = int(p.max(initial=0)), int(t.max(initial=0))
    table = np.zeros((kp + 1, kt + 1), np.int64)
    np.add.at(table, (p.ravel(), t.ravel()), 1)
    size_p, size_t = table.sum(1), table.sum(0)
    pairs = []
    for j in range(1, kt + 1):
        for i in np.nonzero(table[1:, j])[0] + 1:
            iou = table[i, j] / (size_p[i] + size_t[j] - table[i, j])
            if iou >= min_iou:
                pairs.append((float(iou), int(i), j))
    # above 0.5 each object has at most one partner; at exactly 0.5 (two halves) the first is kept
    used_p, used_t, out = set(), set(), []
    for iou, i, j in sorted(pairs, key=lambda x: (-x[0], x[2], x[1])):
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            out.append((i, j, iou))
    return sorted(out, key=lambda x: x[1])


def object_scores(pred_objects: Sequence, pred_classes: Sequence, true_objects: Sequence,
                  true_classes: Sequence, min_iou: float = MATCH_IOU) -> dict:
    """Object recall, precision, matched accuracy and per-class precision and recall over a set.

    Parameters
    ----------
    pred_objects : list of ndarray (H, W) int
        Each image's predicted objects (0 = background, 1..K).
    pred_classes : list of ndarray (K,) int
        The cluster of each predicted object, ``pred_classes[i][k - 1]`` for object k of image i.
    true_objects, true_classes
        The same for the true objects.
    min_iou : float

    Returns
    -------
    dict
        ``object_recall`` (matched / true objects), ``object_precision`` (matched / predicted),
        ``object_acc`` (Hungarian-matched class accuracy over the matched objects; NaN when none matched),
        ``per_class`` (true class -> ``{"precision", "recall"}`` over the matched objects), ``n_true``,
        ``n_pred``, ``n_matched``, ``mean_iou`` (of the matches).
    """
    y_true, y_pred, ious = [], [], []
    n_true = n_pred = 0
    for po, pc, to, tc in zip(pred_objects, pred_classes, true_objects, true_classes, strict=True):
        pc, tc = np.asarray(pc, np.int64), np.asarray(tc, np.int64)
        n_pred += int(_as_map(po, "pred_objects").max(initial=0))
        n_true += int(_as_map(to, "true_objects").max(initial=0))
        for i, j, iou in match_objects(po, to, min_iou):
            y_pred.append(int(pc[i - 1]))
            y_true.append(int(tc[j - 1]))
            ious.append(iou)
    matched = len(y_true)
    yt, yp = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    per_class = per_class_precision_recall(yt, yp) if matched else {}
    return {"object_recall": matched / n_true if n_true else float("nan"),
            "object_precision": matched / n_pred if n_pred else float("nan"),
            "object_acc": cluster_acc(yt, yp) if matched else float("nan"),
            "per_class": {int(c): {k: float(v) for k, v in d.items()} for c, d in per_class.items()},
            "n_true": n_true, "n_pred": n_pred, "n_matched": matched,
            "mean_iou": float(np.mean(ious)) if ious else float("nan")}
