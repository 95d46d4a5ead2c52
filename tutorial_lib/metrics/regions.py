"""The BSDS500 region benchmark: segmentation covering, probabilistic Rand index and variation of
information against all of an image's human segmentations, at ODS and OIS over a sweep of settings.

Taught in notebook 04_pixel_segmentation (the BSDS500 section: what ODS and OIS mean).

This follows the release's own bench code (Arbeláez, Maire, Fowlkes and Malik, TPAMI 2011:
``evaluation_reg_image.m``, ``match_segmentations.m``, ``match_segmentations2.m`` and
``collect_eval_reg.m``), with contingency tables (one ``np.bincount`` per annotator) instead of loops,
so a 321×481 image with five annotators takes milliseconds per setting.

Per image and setting ``t`` (one segmentation ``S``, human segmentations ``G_1..G_A``):

* **covering** numerator ``sum_a sum_{R in G_a} |R| max_{R' in S} IoU(R, R')`` and denominator
  ``sum_a sum_{R in G_a} |R| = A * N`` (N pixels): every human region of every annotator counts, weighted
  by its area. Over a set, numerators and denominators are summed before dividing (pooled), as
  ``collect_eval_reg.m`` does, so an image with more annotators weighs more;
* **PRI**: the Rand index ``1 - (sum_i a_i²/2 + sum_j b_j²/2 - sum_ij n_ij²) / (N (N-1) / 2)`` of the
  contingency table ``n_ij`` (marginals ``a_i``, ``b_j``), the fraction of pixel pairs on which the two
  partitions agree, averaged over the annotators; over a set, averaged over the images;
* **VOI** in bits: ``H(S) + H(G) - 2 I(S; G)`` with base-2 logarithms, averaged over the annotators and
  then over the images. Lower is better.

ODS (optimal dataset scale) is one setting for the whole set: the setting with the best set-level score,
each measure choosing its own (covering and PRI the largest, VOI the smallest; ties go to the first
setting, as MATLAB's ``max``). OIS (optimal image scale) takes the best setting of each image (ties to
the last, as the release's ``find(... == max(...))(end)``), then aggregates the same way. ``covering_best``
is the release's "Best": every human region's best IoU over all settings.

:func:`tutorial_lib.metrics.segmentation_covering` and :func:`~tutorial_lib.metrics.variation_of_information`
are the simpler per-pair scores (covering averaged over annotators, VOI in nats); use this module to
report BSDS figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._labels import _to_int_array

__all__ = ["BENCHMARK_KEYS", "RegionScorer", "RegionSweep", "region_benchmark", "region_scores",
           "region_sweep"]

BENCHMARK_KEYS = ("covering_ods", "covering_ois", "pri_ods", "pri_ois", "voi_ods", "voi_ois")
"""The six figures of the release's region benchmark, in table order."""

_DENSE_LIMIT = 1 << 24  # table cells above which the contingency table is built sparse (np.unique)


def _dense_labels(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels renamed ``0..K-1`` (flat int64) and K; cheap when they already are small non-negative ints."""
    flat = labels.ravel()
    lo, hi = int(flat.min()), int(flat.max())
    if lo >= 0 and hi < 4 * flat.size:
        present = np.bincount(flat, minlength=hi + 1) > 0
        if present.all():
            return flat, hi + 1
        lookup = np.cumsum(present) - 1  # skip unused names without sorting the pixels
        return lookup[flat], int(present.sum())
    _, inverse = np.unique(flat, return_inverse=True)
    return inverse.reshape(-1), int(inverse.max()) + 1


def _table(gt: np.ndarray, n_gt: int, seg: np.ndarray, n_seg: int):
    """Non-zero cells of the contingency table: (gt region, segment, pixel count), gt-major order."""
    codes = gt * n_seg + seg
    if n_gt * n_seg <= _DENSE_LIMIT:
        counts = np.bincount(codes, minlength=n_gt * n_seg)
        cells = np.flatnonzero(counts)
        n_ij = counts[cells]
    else:  # two over-segmentations with thousands of regions each
        cells, n_ij = np.unique(codes, return_counts=True)
    return cells // n_seg, cells % n_seg, n_ij.astype(np.float64)


def _pair_scores(gt: np.ndarray, n_gt: int, seg: np.ndarray, n_seg: int):
    """One segmentation against one annotator: (each human region's best IoU with a segment (n_gt,),
    the Rand index, the VOI in bits)."""
    i, j, n_ij = _table(gt, n_gt, seg, n_seg)
    n = float(gt.size)
    a = np.bincount(i, weights=n_ij, minlength=n_gt)  # area of each human region
    b = np.bincount(j, weights=n_ij, minlength=n_seg)  # area of each segment
    # match_segmentations.m: IoU of every overlapping (human region, segment) pair; each region keeps
    # its best (pairs that do not overlap have IoU 0 and are never the best of a non-empty region)
    best = np.zeros(n_gt)
    np.maximum.at(best, i, n_ij / (a[i] + b[j] - n_ij))
    # match_segmentations2.m: the pair counts of the Rand index need no loop over pixel pairs
    pairs = n * (n - 1) / 2
    disagree = np.sum(a * a) / 2 + np.sum(b * b) / 2 - np.sum(n_ij * n_ij)
    rand = 1.0 - disagree / pairs if pairs > 0 else 1.0
    # H(G|S) + H(S|G) = H(G) + H(S) - 2 I(G; S), in bits
    voi = -np.sum(n_ij / n * (np.log2(n_ij / a[i]) + np.log2(n_ij / b[j])))
    return best, float(rand), float(max(voi, 0.0))  # clip -1e-16 rounding


def _checked_gts(gts) -> list[np.ndarray]:
    """The human segmentations of one image as a list of (H, W) int64 arrays of one shape."""
    if hasattr(gts, "ndim") and gts.ndim == 2:
        gts = [gts]
    out = [_to_int_array(g, f"gts[{k}]") for k, g in enumerate(gts)]
    if not out:
        raise ValueError("gts is empty: give at least one human segmentation of the image")
    for k, g in enumerate(out):
        if g.ndim != 2 or g.size == 0:
            raise ValueError(f"gts[{k}] must be a non-empty (H, W) label map, got shape {g.shape}")
        if g.shape != out[0].shape:
            raise ValueError(f"gts[{k}] has shape {g.shape} but gts[0] has {out[0].shape}; every human "
                             "segmentation of one image must have the same size")
    return out


def _checked_pred(pred, shape: tuple[int, ...], name: str = "pred") -> np.ndarray:
    """A segmentation as an (H, W) int64 array of the human segmentations' ``shape``."""
    p = _to_int_array(pred, name)
    if p.shape != shape:
        raise ValueError(f"{name} has shape {p.shape} but the human segmentations have {shape}; resize the "
                         "prediction to the image with nearest-neighbour interpolation")
    return p


@dataclass
class RegionSweep:
    """One image's region scores at each setting of a sweep (what :func:`region_sweep` returns).

    Attributes
    ----------
    covering_num, covering_den : ndarray (T,), float
        The covering's numerator (area-weighted best IoUs of every human region of every annotator) and
        denominator (their total area, ``A * N``); ``covering_num / covering_den`` is the image's covering.
    pri, voi : ndarray (T,), float
        Rand index in [0, 1] and VOI in bits, each averaged over the annotators.
    covering_best_num : float
        The numerator when every human region keeps its best IoU over all settings (the release's "Best").
    """

    covering_num: np.ndarray
    covering_den: np.ndarray
    pri: np.ndarray
    voi: np.ndarray
    covering_best_num: float

    @property
    def covering(self) -> np.ndarray:
        """The image's covering at each setting, (T,) in [0, 1]."""
        return self.covering_num / np.maximum(self.covering_den, 1e-300)


class RegionScorer:
    """One image's region scores, accumulated one setting at a time (one label map in memory at a time).

    ``RegionScorer(gts)``, then ``add(pred)`` for each setting of the sweep, in order, then :meth:`sweep`.
    :func:`region_sweep` is the same for a list of maps.

    Parameters
    ----------
    gts : sequence of (H, W) int maps, an (A, H, W) stack, or one (H, W) map
        The image's human segmentations (kept by reference, not copied).
    """

    def __init__(self, gts):
        self._humans = _checked_gts(gts)
        self.shape = self._humans[0].shape
        dense = [_dense_labels(g) for g in self._humans]
        self._areas = [np.bincount(gt, minlength=n).astype(np.float64) for gt, n in dense]
        self._best = [np.zeros(n) for _, n in dense]
        self._num: list[float] = []
        self._pri: list[float] = []
        self._voi: list[float] = []

    def add(self, pred) -> None:
        """Score the segmentation of the next setting, (H, W) int (any label names)."""
        seg, n_seg = _dense_labels(_checked_pred(pred, self.shape, f"preds[{len(self._num)}]"))
        num = pri = voi = 0.0
        for a, human in enumerate(self._humans):
            gt, n_gt = _dense_labels(human)  # cheap for consecutive labels: no copy, no sort
            ious, rand, vi = _pair_scores(gt, n_gt, seg, n_seg)
            self._best[a] = np.maximum(self._best[a], ious)
            num += float(np.sum(self._areas[a] * ious))
            pri += rand / len(self._humans)
            voi += vi / len(self._humans)
        self._num.append(num)
        self._pri.append(pri)
        self._voi.append(voi)

    def sweep(self) -> RegionSweep:
        """The scores of every setting added so far."""
        if not self._num:
            raise ValueError("no segmentation added: call add(pred) once per setting first")
        n_px = float(np.prod(self.shape))
        best = float(sum(np.sum(area * b) for area, b in zip(self._areas, self._best, strict=True)))
        return RegionSweep(np.array(self._num), np.full(len(self._num), len(self._humans) * n_px),
                           np.array(self._pri), np.array(self._voi), best)


def region_sweep(preds: Sequence, gts) -> RegionSweep:
    """Score the segmentations of one image, one per setting, against all its human segmentations.

    Parameters
    ----------
    preds : sequence of array-like or Tensor, each shape (H, W), int
        One segmentation per setting, in the order of the sweep (any label names).
    gts : sequence of array-like or Tensor, each (H, W), int; or an (A, H, W) stack; or one (H, W) map
        The human segmentations of the image (BSDS500: 4-9 annotators).

    Returns
    -------
    RegionSweep
        Arrays of shape (T,) with T = ``len(preds)``.
    """
    if hasattr(preds, "ndim") and preds.ndim == 2:
        raise ValueError("preds is one (H, W) map: pass a list with one map per setting ([pred])")
    preds = list(preds)
    if not preds:
        raise ValueError("preds is empty: give one segmentation per setting of the sweep")
    scorer = RegionScorer(gts)
    for pred in preds:
        scorer.add(pred)
    return scorer.sweep()


def region_scores(pred, gts) -> dict[str, float]:
    """The release's region scores of one segmentation against all of an image's human segmentations.

    Parameters
    ----------
    pred : array-like or Tensor, shape (H, W), int
    gts : sequence of (H, W) int maps, an (A, H, W) stack, or one (H, W) map

    Returns
    -------
    dict
        ``covering`` in [0, 1] (every human region of every annotator, area-weighted: the sums run over
        the annotators before dividing), ``pri`` in [0, 1] and ``voi`` (bits, >= 0) averaged over the
        annotators, ``covering_num`` and ``covering_den`` (to pool over a set).
    """
    sweep = region_sweep([pred], gts)
    return {"covering": float(sweep.covering[0]), "pri": float(sweep.pri[0]), "voi": float(sweep.voi[0]),
            "covering_num": float(sweep.covering_num[0]), "covering_den": float(sweep.covering_den[0])}


def _last_argbest(values: np.ndarray, largest: bool) -> int:
    """Index of the best value, the last one on ties (the release's ``ff(end)``)."""
    best = values.max() if largest else values.min()
    return int(np.flatnonzero(values == best)[-1])


def region_benchmark(sweeps: Sequence[RegionSweep], settings: Sequence | None = None) -> dict:
    """ODS and OIS of a set from each image's :class:`RegionSweep` (``collect_eval_reg.m``).

    Parameters
    ----------
    sweeps : sequence of RegionSweep, one per image, all over the same T settings
    settings : sequence of length T, optional
        The setting values (thresholds, scales, k), reported for the ODS choices; default ``0..T-1``.

    Returns
    -------
    dict
        ``covering_ods``, ``covering_ois``, ``pri_ods``, ``pri_ois``, ``voi_ods``, ``voi_ois`` (floats; VOI
        in bits), ``covering_best``; ``covering_ods_setting``, ``pri_ods_setting``, ``voi_ods_setting``
        (each measure's own ODS setting), ``ois_settings`` (dict measure -> the setting chosen for each
        image), ``n_images``, ``n_settings``.
    """
    sweeps = list(sweeps)
    if not sweeps:
        raise ValueError("sweeps is empty: score at least one image")
    n_set = {len(s.pri) for s in sweeps}
    if len(n_set) != 1:
        raise ValueError(f"every image must be scored at the same settings, got {sorted(n_set)} settings")
    n_settings = n_set.pop()
    settings = list(range(n_settings)) if settings is None else list(settings)
    if len(settings) != n_settings:
        raise ValueError(f"{len(settings)} settings given for sweeps of {n_settings}")
    num = np.stack([s.covering_num for s in sweeps])  # (images, settings)
    den = np.stack([s.covering_den for s in sweeps])
    pri = np.stack([s.pri for s in sweeps])
    voi = np.stack([s.voi for s in sweeps])
    pooled = num.sum(0) / den.sum(0)
    t_cov, t_pri, t_voi = int(np.argmax(pooled)), int(np.argmax(pri.mean(0))), int(np.argmin(voi.mean(0)))
    per_image = {
        "covering": [_last_argbest(n / d, True) for n, d in zip(num, den, strict=True)],
        "pri": [_last_argbest(r, True) for r in pri],
        "voi": [_last_argbest(v, False) for v in voi],
    }
    rows = np.arange(len(sweeps))
    cov_ois = per_image["covering"]
    return {
        "covering_ods": float(pooled[t_cov]),
        "covering_ois": float(num[rows, cov_ois].sum() / den[rows, cov_ois].sum()),
        "pri_ods": float(pri.mean(0)[t_pri]),
        "pri_ois": float(pri[rows, per_image["pri"]].mean()),
        "voi_ods": float(voi.mean(0)[t_voi]),
        "voi_ois": float(voi[rows, per_image["voi"]].mean()),
        "covering_best": float(sum(s.covering_best_num for s in sweeps) / den[:, 0].sum()),
        "covering_ods_setting": settings[t_cov],
        "pri_ods_setting": settings[t_pri],
        "voi_ods_setting": settings[t_voi],
        "ois_settings": {k: [settings[t] for t in v] for k, v in per_image.items()},
        "n_images": len(sweeps),
        "n_settings": n_settings,
    }
