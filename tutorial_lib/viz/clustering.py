"""Figures of clustering: a gallery per cluster, the matched confusion matrix, method scores.

Taught in notebook 03_clustering_classification (the method-score bars again in 04).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..base import as_label_array
from ..metrics import match_clusters, matched_confusion
from .images import _show


def plot_cluster_gallery(images, clusters, n_per_cluster: int = 10, labels=None, classes=None,
                         panel_size: float = 0.7, seed: int = 0, title: str | None = None) -> Figure:
    """One row of sample images per cluster; with the hidden labels, wrongly clustered ones are framed red.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    clusters : array or Tensor of int, shape (N,)
        Cluster of each image.
    n_per_cluster : int
        Images shown per row (a seeded random sample of the cluster).
    labels : array or Tensor of int, shape (N,), optional
        Hidden classes: each row is then named after its matched class (Hungarian matching) with its
        purity, and images whose class differs from the row's are framed in red. A cluster left over
        when there are more clusters than classes is named after its majority class, "(extra)".
    classes : list of str, optional
        Class names for the row captions.
    seed : int
        Which images are sampled.

    Returns
    -------
    matplotlib.figure.Figure
    """
    pred = as_label_array(clusters).ravel()
    if len(pred) != len(images):
        raise ValueError(f"got {len(pred)} cluster labels for {len(images)} images")
    true = None if labels is None else as_label_array(labels).ravel()
    mapping = match_clusters(true, pred) if true is not None else {}
    ids = np.unique(pred)
    if true is not None:  # rows in the order of the matched classes, unmatched clusters last
        ids = sorted(ids, key=lambda c: (mapping.get(int(c), -1) < 0, mapping.get(int(c), -1), c))
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(ids), n_per_cluster, squeeze=False,
                             figsize=(panel_size * n_per_cluster + 1.6, panel_size * len(ids) + 0.4))
    for row, c in enumerate(ids):
        members = np.flatnonzero(pred == c)
        shown = np.sort(rng.choice(members, size=min(n_per_cluster, len(members)), replace=False))
        target = mapping.get(int(c), -1)
        extra = true is not None and target < 0
        if extra:  # more clusters than classes: judge the cluster by its own majority class
            target = int(np.bincount(true[members]).argmax())
        for j, ax in enumerate(axes[row]):
            if j >= len(shown):
                ax.axis("off")
                continue
            _show(ax, images[shown[j]])
            if true is not None and true[shown[j]] != target:
                for side in ax.spines.values():
                    side.set_edgecolor("red")
                    side.set_linewidth(2)
        caption = f"cluster {c}\n{len(members)} images"
        if true is not None:
            name = classes[target] if classes is not None and 0 <= target < len(classes) else str(target)
            purity = float(np.mean(true[members] == target))
            name = f"{name} (extra)" if extra else name
            caption = f"cluster {c} → {name}\n{len(members)}, {100 * purity:.0f}% pure"
        axes[row, 0].set_ylabel(caption, fontsize=7, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(y_true, y_pred, classes=None, normalize: bool = False, ax=None,
                          title: str | None = None) -> Figure:
    """Confusion matrix of hidden classes (rows) against matched clusters (columns).

    Clusters are matched one-to-one to classes (``metrics.matched_confusion``), so the diagonal
    holds the correctly clustered images and its sum over N is the matched accuracy.

    Parameters
    ----------
    y_true, y_pred : array or Tensor of int, shape (N,)
    classes : list of str, optional
        Tick labels.
    normalize : bool
        Show each row as fractions of its class (recall on the diagonal) instead of counts.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = matched_confusion(y_true, y_pred).astype(float)
    shown = table / np.maximum(table.sum(1, keepdims=True), 1) if normalize else table
    n = len(table)
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.42 * n + 1.8, 0.42 * n + 1.4))
    else:
        fig = ax.figure
    ax.imshow(shown, cmap="Blues")
    names = list(classes) if classes is not None and len(classes) == n else [str(i) for i in range(n)]
    ax.set_xticks(range(n), names, fontsize=8, rotation=90 if max(map(len, names)) > 2 else 0)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("matched cluster")
    ax.set_ylabel("hidden class")
    top = shown.max() if shown.size else 1.0
    for i in range(n):
        for j in range(n):
            if table[i, j]:
                text = f"{shown[i, j]:.2f}" if normalize else f"{int(table[i, j])}"
                ax.text(j, i, text, ha="center", va="center", fontsize=6 if n > 10 else 7,
                        color="white" if shown[i, j] > 0.6 * top else "black")
    acc = np.trace(table) / max(table.sum(), 1)
    ax.set_title(title or f"matched accuracy {acc:.3f}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_method_scores(results: dict, metrics=("acc", "nmi", "ari"), ax=None,
                       title: str | None = None) -> Figure:
    """Grouped bars comparing methods: ``results`` maps method -> dict with the metrics (e.g.
    ``cluster.evaluate`` or ``segment.evaluate`` outputs, all in [0, 1]); the value is written on
    each bar and a missing score is drawn as 0."""
    if not results:
        raise ValueError("plot_method_scores needs at least one method")
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.3 * len(results) + 2.2, 3.2))
    else:
        fig = ax.figure
    width = 0.8 / len(metrics)
    for j, key in enumerate(metrics):
        xs = [i + (j - (len(metrics) - 1) / 2) * width for i in range(len(results))]
        vals = [float(r.get(key) or 0.0) for r in results.values()]
        bars = ax.bar(xs, vals, width=width, label=key, color=f"C{j}")
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    crowded = len(results) > 4  # long method names overlap unless tilted
    ax.set_xticks(range(len(results)), list(results), fontsize=8, rotation=20 if crowded else 0,
                  ha="right" if crowded else "center")
    ax.set_ylim(0, 1.08)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
