"""Figures of segmentation: segment colours, overlays, grids of segmentations, the Kanezaki
method's label history and segmentation-score bars.

Taught in notebook 04_pixel_segmentation.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..base import as_label_array
from ..metrics import match_clusters
from .clustering import plot_method_scores
from .images import _display_array, _show


def match_to_truth(labels, gt) -> np.ndarray:
    """``labels`` renumbered so that each segment matched to a ground-truth class takes that class's id.

    The matching is the one-to-one (Hungarian) matching of mIoU, on pixel overlaps; segments left over
    get the ids after the largest class id. Drawn with ``by_value=True``, a prediction and its truth then
    share colours, and the eye can compare them.

    Parameters
    ----------
    labels, gt : array or Tensor, shape (H, W), int

    Returns
    -------
    ndarray, shape (H, W), int64
    """
    lab, truth = as_label_array(labels), as_label_array(gt)
    if lab.shape != truth.shape:
        raise ValueError(f"labels have shape {lab.shape} but the ground truth {truth.shape}")
    mapping = match_clusters(truth.ravel(), lab.ravel())
    ids, inverse = np.unique(lab, return_inverse=True)
    spare = iter(range(int(truth.max()) + 1, int(truth.max()) + 1 + len(ids)))
    new = np.array([mapping[int(s)] if mapping.get(int(s), -1) >= 0 else next(spare) for s in ids], np.int64)
    return new[inverse].reshape(lab.shape)  # one lookup per segment, not per pixel


def segment_colours(labels, image=None, by_value: bool = False) -> np.ndarray:
    """An ``(H, W, 3)`` picture of a label map: each segment in its mean image colour (with ``image``)
    or in a colour of the tab20 palette.

    Parameters
    ----------
    labels : array or Tensor, shape (H, W), int
    image : Tensor or array, shape (C, H, W), float in [0, 1], optional
    by_value : bool
        Palette colour ``id % 20`` for segment ``id`` (two maps then share colours id by id; see
        :func:`match_to_truth`), instead of colours in the order of the ids present.
    """
    lab = as_label_array(labels)
    _, inv = np.unique(lab, return_inverse=True)
    inv = inv.reshape(lab.shape)
    if image is None:
        palette = plt.get_cmap("tab20")(np.arange(20))[:, :3]
        return palette[(lab if by_value else inv) % 20]
    arr = _display_array(image)
    arr = np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr
    n = int(inv.max()) + 1
    counts = np.bincount(inv.ravel(), minlength=n)[:, None]
    means = np.stack([np.bincount(inv.ravel(), weights=arr[..., c].ravel(), minlength=n)
                      for c in range(3)], axis=1) / np.maximum(counts, 1)
    return means[inv]


def overlay_segments(image, labels, alpha: float = 0.45, boundary_colour=(1.0, 1.0, 0.0),
                     by_value: bool = False) -> np.ndarray:
    """The image with each segment tinted by a palette colour and segment boundaries drawn.

    Parameters
    ----------
    image : Tensor or array, shape (C, H, W), float in [0, 1]
    labels : array or Tensor, shape (H, W), int
    alpha : float in [0, 1]
        Weight of the tint.
    boundary_colour : RGB tuple, or None for no boundaries
    by_value : bool
        See :func:`segment_colours`.

    Returns
    -------
    ndarray, shape (H, W, 3), float in [0, 1]
    """
    from skimage.segmentation import find_boundaries

    arr = _display_array(image)
    arr = np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr
    lab = as_label_array(labels)
    if lab.shape != arr.shape[:2]:
        raise ValueError(f"labels have shape {lab.shape} but the image is {arr.shape[0]}×{arr.shape[1]}")
    out = (1 - alpha) * arr + alpha * segment_colours(lab, by_value=by_value)
    if boundary_colour is not None:
        out[find_boundaries(lab, mode="inner")] = boundary_colour
    return np.clip(out, 0.0, 1.0)


def plot_segmentations(images, rows: dict, gts=None, scores: dict | None = None, panel_size: float = 2.2,
                       style: str = "overlay", title: str | None = None) -> Figure:
    """A grid: one column per image; rows for the image, its ground truth and each method's labels.

    Parameters
    ----------
    images : sequence of Tensor/array, each (C, H, W), float in [0, 1]
    rows : dict name -> sequence of label maps (H, W), one per image
    gts : sequence of label maps, optional
        Ground truth, drawn as a second row; each method's segments are then coloured like the class they
        are matched to (:func:`match_to_truth`).
    scores : dict name -> sequence of str, optional
        A caption under each panel of that row (e.g. its mIoU).
    style : {"overlay", "boundaries", "mean"}
        ``overlay``: palette tint and boundaries; ``boundaries``: boundaries on the image only;
        ``mean``: each segment painted in its mean colour.

    Returns
    -------
    matplotlib.figure.Figure
    """
    images = list(images)
    all_rows = {"image": None}
    if gts is not None:
        all_rows["ground truth"] = list(gts)
    all_rows.update({k: list(v) for k, v in rows.items()})
    fig, axes = plt.subplots(len(all_rows), len(images), squeeze=False,
                             figsize=(panel_size * len(images) + 1.0, panel_size * len(all_rows)))
    matched = gts is not None
    for r, (name, maps) in enumerate(all_rows.items()):
        for c, image in enumerate(images):
            ax = axes[r, c]
            if maps is None:
                _show(ax, image)
            elif style == "mean":
                ax.imshow(segment_colours(maps[c], image), interpolation="nearest")
            else:
                lab = match_to_truth(maps[c], gts[c]) if matched and name != "ground truth" else maps[c]
                ax.imshow(overlay_segments(image, lab, alpha=0.0 if style == "boundaries" else 0.45,
                                           by_value=matched), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
            if scores and name in scores:
                ax.set_xlabel(scores[name][c], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_label_history(history: dict, ax=None, title: str | None = None) -> Figure:
    """Loss and number of labels per iteration of the Kanezaki method (one image's ``history_``).

    Parameters
    ----------
    history : dict with lists ``loss`` and ``n_labels``
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.0))
    else:
        fig = ax.figure
    steps = np.arange(1, len(history["loss"]) + 1)
    ax.plot(steps, history["loss"], color="tab:blue")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss", color="tab:blue")
    twin = ax.twinx()
    twin.step(steps, history["n_labels"], where="post", color="tab:orange")
    twin.set_ylabel("number of labels", color="tab:orange")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_segmentation_scores(results: dict, metrics=("miou", "pixel_acc"), ax=None,
                             title: str | None = None) -> Figure:
    """Grouped bars of segmentation scores per method (:func:`plot_method_scores` with the
    segmentation metrics).

    Parameters
    ----------
    results : dict method -> dict of scores (as returned by ``segment.evaluate`` or
        ``segment.compare_methods``)
    metrics : sequence of str
    """
    return plot_method_scores(results, metrics=metrics, ax=ax, title=title)


def plot_segmentation(image, labels, gt=None, history: dict | None = None, title: str | None = None,
                      panel_size: float = 3.0) -> Figure:
    """One image: the image, its segments (tint and boundaries), the ground truth if given, and the
    loss / number of labels per iteration if a Kanezaki ``history`` is given.

    Parameters
    ----------
    image : Tensor or array, shape (C, H, W), float in [0, 1]
    labels : array or Tensor, shape (H, W), int
    gt : array or Tensor, shape (H, W), int, optional
    history : dict with lists ``loss`` and ``n_labels``, optional
    """
    n = 2 + (gt is not None) + (history is not None)
    fig, axes = plt.subplots(1, n, figsize=(panel_size * n + 0.6 * (history is not None), panel_size))
    _show(axes[0], image, title="image")
    shown = match_to_truth(labels, gt) if gt is not None else labels  # colours of the matched classes
    axes[1].imshow(overlay_segments(image, shown, by_value=gt is not None), interpolation="nearest")
    axes[1].set_title(f"{int(as_label_array(labels).max()) + 1} segments", fontsize=8)
    axes[1].axis("off")
    i = 2
    if gt is not None:
        axes[i].imshow(overlay_segments(image, gt, by_value=True), interpolation="nearest")
        axes[i].set_title("ground truth", fontsize=8)
        axes[i].axis("off")
        i += 1
    if history is not None:
        plot_label_history(history, ax=axes[i])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
