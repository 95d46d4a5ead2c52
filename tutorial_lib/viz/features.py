"""Figures of feature learning: training curves, reconstructions, augmented views, 2-D embeddings
and feature-quality bars.

Taught in notebook 02_feature_learning (the embeddings and training curves again in
03_clustering_classification).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ..base import as_label_array
from .images import image_rows


def plot_history(history, keys=("loss",), ax=None, title: str | None = None,
                 refs: dict | None = None) -> Figure:
    """Training curves: each quantity in ``keys`` against epoch, from a ``train.History``.

    Parameters
    ----------
    history : train.History or dict of lists
        Per-epoch records (``history["loss"]`` gives the list of losses).
    keys : sequence of str
        Quantities to draw; those never recorded are skipped. A key containing ``acc`` goes on a
        second y-axis on the right when a loss is drawn too, so losses and accuracies share one
        panel; accuracies alone use the main axis.
    ax : matplotlib Axes or None
        Draw into this Axes (e.g. a live panel) instead of a new figure.
    title : str, optional
    refs : dict str -> float, optional
        Reference levels drawn as dashed horizontal lines on the accuracy axis, with their labels
        in the legend (e.g. ``{"raw pixels": 0.983, "untrained network": 0.95}``), so a curve is
        read against its baselines rather than against an axis zoomed onto it.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.2))
    else:
        fig = ax.figure
    recorded = _history_keys(history)
    drawn = [k for k in keys if k in recorded and len(list(history[k]))]
    acc_keys = [k for k in drawn if "acc" in k]
    right = ax.twinx() if acc_keys and len(acc_keys) < len(drawn) else None
    acc_axis = right if right is not None else ax
    for key in drawn:
        values = list(history[key])
        epochs = ([r["epoch"] for r in history.records if key in r] if hasattr(history, "records")
                  else range(1, len(values) + 1))
        target = acc_axis if "acc" in key else ax
        target.plot(list(epochs), values, marker="o", ms=3, label=key, color=f"C{list(keys).index(key)}")
    for i, (label, level) in enumerate((refs or {}).items()):
        acc_axis.axhline(level, color=f"C{len(keys) + i}", ls="--", lw=1, label=label)
    acc_label = acc_keys[0] if len(acc_keys) == 1 else "accuracy"
    if right is not None or not acc_keys:
        ax.set_ylabel("loss")
    if acc_keys:
        acc_axis.set_ylabel(acc_label)
    ax.set_xlabel("epoch")
    handles = [h for a in (ax, right) if a is not None for h in a.get_legend_handles_labels()[0]]
    if handles:
        # Below the axes, so it never hides a curve.
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                  ncol=min(len(handles), 3), fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _history_keys(history) -> list[str]:
    return history.keys() if hasattr(history, "records") else list(history)


def plot_reconstructions(images, reconstructions, n: int = 10, title: str | None = "autoencoder") -> Figure:
    """Originals (top row) above their reconstructions (bottom row); Tensors (N, C, H, W) in [0, 1]."""
    return image_rows({"input": images, "reconstruction": reconstructions}, n=n, title=title)


def plot_views(images, views, n: int = 8, title: str | None = "two random views per image") -> Figure:
    """An image row above rows of its augmented views (``views``: list of Tensors shaped like ``images``)."""
    rows = {"image": images}
    rows.update({f"view {i + 1}": v for i, v in enumerate(views)})
    return image_rows(rows, n=n, title=title)


def plot_embedding(coords, labels=None, classes=None, ax=None, title: str | None = None,
                   point_size: float = 4.0) -> Figure:
    """Scatter of 2-D coordinates (e.g. ``features.project_2d``), one colour per hidden label.

    Parameters
    ----------
    coords : array or Tensor, shape (N, 2)
    labels : array or Tensor of int, shape (N,), optional
        Colours (up to 20 classes get distinct colours); None draws one colour.
    classes : list of str, optional
        Names for the legend.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    xy = np.asarray(coords.detach().cpu() if isinstance(coords, torch.Tensor) else coords, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"coords must have shape (N, 2), got {xy.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 4.2))
    else:
        fig = ax.figure
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=point_size, color="C0", linewidths=0)
    else:
        lab = as_label_array(labels).ravel()
        cmap = plt.get_cmap("tab10" if lab.max() < 10 else "tab20")
        for k in np.unique(lab):
            name = classes[k] if classes is not None and k < len(classes) else str(k)
            pts = xy[lab == k]
            ax.scatter(pts[:, 0], pts[:, 1], s=point_size, color=cmap(int(k) % cmap.N), label=name,
                       linewidths=0)
            # The class name at the median point shows where each class sits without a legend lookup.
            mx, my = np.median(pts, axis=0)
            ax.text(mx, my, name, fontsize=9, weight="bold", ha="center", va="center",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0})
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_embeddings(spaces: dict, labels=None, classes=None, panel_size: float = 3.6,
                    title: str | None = None) -> Figure:
    """Several 2-D embeddings side by side (``spaces``: name -> (N, 2) coordinates), same colours."""
    if not spaces:
        raise ValueError("plot_embeddings needs at least one embedding")
    fig, axes = plt.subplots(1, len(spaces), figsize=(panel_size * len(spaces), panel_size + 0.3),
                             squeeze=False)
    for ax, (name, xy) in zip(axes[0], spaces.items(), strict=True):
        plot_embedding(xy, labels, classes, ax=ax, title=name)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_feature_quality(reports: dict, metric: str = "knn_acc", ax=None, title: str | None = None) -> Figure:
    """Grouped bars of feature quality: ``reports`` maps dataset -> ``features.feature_report`` result.

    Bars are grouped by dataset, one colour per feature space; the value is written on each bar.
    The axis starts at 0, so bar heights compare honestly; the labels give the differences.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.2))
    else:
        fig = ax.figure
    spaces: list[str] = []
    for rep in reports.values():
        spaces += [s for s in rep if s not in spaces]
    width = 0.8 / max(1, len(spaces))
    for j, space in enumerate(spaces):
        xs, vals = [], []
        for i, rep in enumerate(reports.values()):
            if space in rep and metric in rep[space]:
                xs.append(i + (j - (len(spaces) - 1) / 2) * width)
                vals.append(100 * rep[space][metric])
        bars = ax.bar(xs, vals, width=width, label=space, color=f"C{j}")
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    ax.set_xticks(range(len(reports)), list(reports))
    names = {"knn_acc": "kNN accuracy (%)", "linear_acc": "linear probe accuracy (%)"}
    ax.set_ylabel(names.get(metric, metric))
    # From 0: an axis starting near the lowest bar would turn a 0.3-point gain into a tall step.
    ax.set_ylim(0.0, 109.0)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
