"""Segmentation scores: Hungarian-matched mIoU and pixel accuracy, covering, PRI and VOI.

Taught in notebook 04_pixel_segmentation.

Functions take (H, W) integer label maps as lists, NumPy arrays or torch tensors (any device);
labels need not be consecutive or start at 0. Bad input (shape mismatch, empty, non-integer)
raises ``ValueError`` with a message that says what is wrong.

Matched scores (mIoU, pixel accuracy) follow the protocol of unsupervised segmentation papers
(IIC, PiCIE): per image, the Hungarian algorithm matches predicted segments to ground-truth
classes one-to-one on the *pixel confusion matrix* (intersections), which maximises the number
of correctly labelled pixels. IoU is then computed per ground-truth class c with its matched
segment s: |c ∩ s| / |c ∪ s|; a class with no matched segment (fewer segments than classes)
has IoU 0. Pixels of unmatched segments (more segments than classes) are wrong pixels: they
lower pixel accuracy and the IoU of the class they belong to (missed pixels), and they enter
the union of no class. mIoU is the mean over the ground-truth classes present in the image.

segmentation_report averages the per-image scores over images by default. On the 38 nuclei
images (../shared/data/nuclei) this gives mIoU 0.871 for per-image Otsu thresholding and 0.849
for k-means (k=2) on Lab colour, the reference figures of the segmentation issue.

Region scores (covering, PRI, VOI) compare partitions, need no matching, and accept several
human segmentations of one image (BSDS style): the score is averaged over them.
"""

from __future__ import annotations

import numpy as np

from ._labels import _contingency, _one_to_one, _to_int_array


def _check_masks(pred, gt, pred_name: str = "pred", gt_name: str = "gt") -> tuple[np.ndarray, np.ndarray]:
    """Validate two integer label maps of the same (H, W) shape with at least one pixel."""
    p = _to_int_array(pred, pred_name)
    g = _to_int_array(gt, gt_name)
    for arr, name in ((p, pred_name), (g, gt_name)):
        if arr.ndim != 2:
            raise ValueError(
                f"{name} must be a label map of shape (H, W), got shape {arr.shape}; "
                "pass one image at a time (or use segmentation_report for a set)"
            )
    if p.shape != g.shape:
        raise ValueError(
            f"{pred_name} and {gt_name} must have the same shape, got {p.shape} and {g.shape}; "
            "resize the prediction to the mask with nearest-neighbour interpolation"
        )
    if p.size == 0:
        raise ValueError(f"{pred_name} and {gt_name} are empty label maps; there is nothing to score")
    return p, g


def _as_gt_list(gt) -> list:
    """One ground truth or a list (or K×H×W stack) of several human segmentations -> list."""
    if isinstance(gt, (list, tuple)):
        if len(gt) == 0:
            raise ValueError("gt is an empty list; give at least one ground-truth segmentation")
        if all(hasattr(g, "shape") for g in gt):  # a list of arrays / tensors
            return list(gt)
    arr = _to_int_array(gt, "gt")  # a single map, possibly as nested lists, or a K×H×W stack
    return list(arr) if arr.ndim == 3 else [arr]


def _matched_counts(pred: np.ndarray, gt: np.ndarray, ignore_index: int | None):
    """Per ground-truth class: (labels, intersection with matched segment, union, size), + n pixels.

    ``pred`` and ``gt`` are already checked; pixels with ``gt == ignore_index`` are dropped.
    """
    if ignore_index is not None:
        keep = gt != ignore_index
        pred, gt = pred[keep], gt[keep]
        if gt.size == 0:
            raise ValueError(f"every pixel of gt is ignore_index={ignore_index}; there is nothing to score")
    table, classes, _ = _contingency(gt, pred)  # rows: gt classes, columns: pred segments
    rows, cols = _one_to_one(table)
    gt_size = table.sum(axis=1)
    seg_size = table.sum(axis=0)
    inter = np.zeros(len(classes), dtype=np.int64)
    union = gt_size.copy()  # an unmatched class: IoU = 0 / |c|
    inter[rows] = table[rows, cols]
    union[rows] = gt_size[rows] + seg_size[cols] - inter[rows]
    return classes, inter, union, gt_size, gt.size


def segmentation_scores(pred, gt, ignore_index: int | None = None) -> dict[str, float]:
    """Hungarian-matched mean IoU and pixel accuracy of one segmentation.

    Parameters
    ----------
    pred : array-like or Tensor, shape (H, W), int
        Predicted segment of each pixel (any integer names, any number of segments).
    gt : array-like or Tensor, shape (H, W), int
        Ground-truth class of each pixel.
    ignore_index : int, optional
        Ground-truth label of pixels left out of both scores (e.g. 255 for "void").

    Returns
    -------
    dict
        ``{"miou": float in [0, 1], "pixel_acc": float in [0, 1]}``; ``miou`` is the mean IoU
        over the ground-truth classes present, after one-to-one matching on pixel overlap (see
        the module notes above).
    """
    p, g = _check_masks(pred, gt)
    _, inter, union, _, n = _matched_counts(p, g, ignore_index)
    return {"miou": float(np.mean(inter / union)), "pixel_acc": float(inter.sum() / n)}


def _pair_counts(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse contingency of two label maps: region index in a, in b, and overlap, for overlaps > 0.

    Sparse, because two over-segmentations may each have thousands of regions.
    """
    _, ia = np.unique(a.ravel(), return_inverse=True)
    _, ib = np.unique(b.ravel(), return_inverse=True)
    nb = int(ib.max()) + 1
    codes, n_ij = np.unique(ia.astype(np.int64) * nb + ib, return_counts=True)
    return codes // nb, codes % nb, n_ij


def _covering_one(pred: np.ndarray, gt: np.ndarray) -> float:
    i, j, n_ij = _pair_counts(gt, pred)
    size_gt = np.bincount(i, weights=n_ij)
    size_pred = np.bincount(j, weights=n_ij)
    iou = n_ij / (size_gt[i] + size_pred[j] - n_ij)
    best = np.zeros(len(size_gt))
    np.maximum.at(best, i, iou)
    return float(np.sum(size_gt * best) / gt.size)


def segmentation_covering(pred, gt) -> float:
    """BSDS segmentation covering of the ground truth by the prediction, in [0, 1].

    Arbeláez et al. (2011): ``C(S' -> S) = 1/N * sum_{R in S} |R| * max_{R' in S'} IoU(R, R')``,
    with ``S`` the ground truth and ``S'`` the prediction: each ground-truth region is scored by
    the predicted region that overlaps it best, weighted by its size. With several ground
    truths the covering is averaged over them.

    Parameters
    ----------
    pred : array-like or Tensor, shape (H, W), int
        Predicted segmentation.
    gt : array-like or Tensor, shape (H, W), int; or a list of them, or shape (K, H, W)
        One or several ground-truth segmentations.

    Returns
    -------
    float in [0, 1]; 1 when the two partitions agree up to renaming.
    """
    gts = _as_gt_list(gt)
    return float(np.mean([_covering_one(*_check_masks(pred, g)) for g in gts]))


def _rand_index_one(pred: np.ndarray, gt: np.ndarray) -> float:
    # Pairs counted from the contingency table: agreements = all pairs + 2 * pairs together in
    # both - pairs together in gt - pairs together in pred (no loop over the N^2 pixel pairs).
    i, j, n_ij = _pair_counts(gt, pred)
    n = float(gt.size)
    if n < 2:
        return 1.0
    a = np.bincount(i, weights=n_ij)
    b = np.bincount(j, weights=n_ij)
    same_both = np.sum(n_ij * (n_ij - 1.0)) / 2
    same_gt = np.sum(a * (a - 1.0)) / 2
    same_pred = np.sum(b * (b - 1.0)) / 2
    pairs = n * (n - 1) / 2
    return float((pairs + 2 * same_both - same_gt - same_pred) / pairs)


def probabilistic_rand_index(pred, gts) -> float:
    """Probabilistic Rand index (Unnikrishnan et al. 2007) of a segmentation, in [0, 1].

    The fraction of pixel pairs on which the prediction agrees with the ground truths (same
    region in both, or different regions in both), averaged over the ground truths; with one
    ground truth it is the Rand index (``sklearn.metrics.rand_score`` on the flattened maps).

    Parameters
    ----------
    pred : array-like or Tensor, shape (H, W), int
        Predicted segmentation.
    gts : array-like or Tensor, shape (H, W), int; or a list of them, or shape (K, H, W)
        One or several human segmentations of the same image.

    Returns
    -------
    float in [0, 1]; 1 when the partitions agree up to renaming.
    """
    return float(np.mean([_rand_index_one(*_check_masks(pred, g, gt_name="gts")) for g in _as_gt_list(gts)]))


def _voi_one(pred: np.ndarray, gt: np.ndarray) -> float:
    i, j, n_ij = _pair_counts(gt, pred)
    p_ij = n_ij / gt.size
    p_i = np.bincount(i, weights=p_ij)
    p_j = np.bincount(j, weights=p_ij)
    h_gt_given_pred = -np.sum(p_ij * np.log(p_ij / p_j[j]))
    h_pred_given_gt = -np.sum(p_ij * np.log(p_ij / p_i[i]))
    return float(max(h_gt_given_pred + h_pred_given_gt, 0.0))  # clip -1e-16 rounding


def variation_of_information(pred, gt) -> float:
    """Variation of information (Meila 2007) between two segmentations, in nats; >= 0.

    ``VOI = H(S | S') + H(S' | S)`` with natural logarithms; 0 when the two partitions agree up
    to renaming, lower is better. With several ground truths it is averaged over them.
    (``skimage.metrics.variation_of_information`` returns the two conditional entropies in bits;
    their sum times ``log(2)`` equals this value.)

    Parameters
    ----------
    pred : array-like or Tensor, shape (H, W), int
        Predicted segmentation.
    gt : array-like or Tensor, shape (H, W), int; or a list of them, or shape (K, H, W)
        One or several ground-truth segmentations.

    Returns
    -------
    float >= 0, at most ``log(H * W)``.
    """
    return float(np.mean([_voi_one(*_check_masks(pred, g)) for g in _as_gt_list(gt)]))


def segmentation_report(
    preds, gts, protocol: str = "image", regions: bool = False, ignore_index: int | None = None
) -> dict[str, float]:
    """Scores of a set of segmentations, each matched to its own ground truth.

    Parameters
    ----------
    preds : sequence of array-like or Tensor, each shape (H_i, W_i), int
        Predicted label maps (a list, or an N×H×W array / tensor); sizes may differ per image.
    gts : sequence of array-like or Tensor, each shape (H_i, W_i), int
        Ground-truth masks, in the same order.
    protocol : {"image", "dataset"}
        Both match segments to classes per image (an unsupervised method names its segments
        per image). ``"image"`` (default): mean over images of each image's mIoU and pixel
        accuracy, every image counting equally. ``"dataset"``: intersections, unions and correct
        pixels summed over all images first, then IoU per ground-truth class label (the class
        labels must mean the same thing in every mask), so large images weigh more.
    regions : bool
        Also report the means over images of ``covering``, ``pri`` and ``voi`` (slower on many
        large images).
    ignore_index : int, optional
        Ground-truth label of pixels left out of mIoU and pixel accuracy.

    Returns
    -------
    dict
        ``{"miou", "pixel_acc", "n_images"}`` plus ``{"covering", "pri", "voi"}`` when
        ``regions`` is True; all floats except ``n_images``.
    """
    if protocol not in ("image", "dataset"):
        raise ValueError(f"protocol must be 'image' or 'dataset', got {protocol!r}")
    for seq, name in ((preds, "preds"), (gts, "gts")):
        if getattr(seq, "ndim", None) == 2:
            raise ValueError(f"{name} is a single (H, W) map; pass a list of maps or an (N, H, W) stack")
    preds, gts = list(preds), list(gts)
    if len(preds) != len(gts):
        raise ValueError(f"preds and gts must have the same length, got {len(preds)} and {len(gts)}")
    if not preds:
        raise ValueError("preds and gts are empty; there is nothing to score")
    per_image_miou, per_image_acc = [], []
    inter_sum: dict[int, int] = {}
    union_sum: dict[int, int] = {}
    correct = total = 0
    checked = []
    for k, (pred, gt) in enumerate(zip(preds, gts, strict=True)):
        p, g = _check_masks(pred, gt, pred_name=f"preds[{k}]", gt_name=f"gts[{k}]")
        checked.append((p, g))
        classes, inter, union, _, n = _matched_counts(p, g, ignore_index)
        per_image_miou.append(float(np.mean(inter / union)))
        per_image_acc.append(float(inter.sum() / n))
        for c, i, u in zip(classes.tolist(), inter.tolist(), union.tolist(), strict=True):
            inter_sum[c] = inter_sum.get(c, 0) + i
            union_sum[c] = union_sum.get(c, 0) + u
        correct += int(inter.sum())
        total += n
    if protocol == "image":
        out = {"miou": float(np.mean(per_image_miou)), "pixel_acc": float(np.mean(per_image_acc))}
    else:
        out = {
            "miou": float(np.mean([inter_sum[c] / union_sum[c] for c in inter_sum])),
            "pixel_acc": correct / total,
        }
    out["n_images"] = len(preds)
    if regions:
        out["covering"] = float(np.mean([_covering_one(p, g) for p, g in checked]))
        out["pri"] = float(np.mean([_rand_index_one(p, g) for p, g in checked]))
        out["voi"] = float(np.mean([_voi_one(p, g) for p, g in checked]))
    return out
