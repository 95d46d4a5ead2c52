"""Figures of preprocessing: intensity histograms, pixel correlations, k-means scores per choice.

Taught in notebook 01_preprocessing.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .images import _show


def plot_histograms(images: dict, bins: int = 64, cdf: bool = True, ax=None,
                    title: str | None = None) -> Figure:
    """Intensity histograms (and cumulative distributions) of a few image sets, overlaid.

    Parameters
    ----------
    images : dict str -> Tensor, shape (N, C, H, W), float in [0, 1]
        Label -> images; all their values enter one histogram per label.
    bins : int
    cdf : bool
        Also draw the cumulative distribution on a right-hand axis (a straight line after
        histogram equalisation).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 3.2))
    else:
        fig = ax.figure
    right = ax.twinx() if cdf else None
    edges = np.linspace(0.0, 1.0, bins + 1)
    for i, (label, x) in enumerate(images.items()):
        values = x.detach().to("cpu", torch.float32).numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        hist, _ = np.histogram(np.clip(values.ravel(), 0, 1), bins=edges, density=True)
        ax.stairs(hist, edges, label=label, color=f"C{i}", alpha=0.8)
        if right is not None:
            right.plot(edges[1:], np.cumsum(hist) / max(hist.sum(), 1e-12), color=f"C{i}", ls="--", lw=1)
    ax.set_xlabel("intensity")
    ax.set_ylabel("density")
    if right is not None:
        right.set_ylabel("cumulative (dashed)")
        right.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="best", framealpha=0.9)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def compare_with_histograms(before, after, labels=("before", "after"), bins: int = 64,
                            rescale: bool | str = "auto") -> Figure:
    """One image before and after a contrast change, with both intensity histograms.

    Parameters
    ----------
    before, after : Tensor, shape (1, C, H, W) or (C, H, W), float in [0, 1]
    labels : (str, str)
    bins : int
    rescale : "auto", True or False
        See :func:`image_grid`.

    Returns
    -------
    matplotlib.figure.Figure with three panels: before, after, histograms (dashed: cumulative).
    """
    before = before[0] if before.ndim == 4 else before
    after = after[0] if after.ndim == 4 else after
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.3), gridspec_kw={"width_ratios": [1, 1, 1.4]})
    _show(axes[0], before, rescale, labels[0], fontsize=9)
    _show(axes[1], after, rescale, labels[1], fontsize=9)
    plot_histograms({labels[0]: before, labels[1]: after}, bins=bins, ax=axes[2])
    return fig


def plot_pixel_correlation(images: dict, panel_size: float = 3.0, title: str | None = None) -> Figure:
    """Pixel-by-pixel correlation matrices of a few image sets, side by side.

    Each image is flattened to a vector of D = C*H*W values; panel k shows the D x D correlation
    matrix over that set's images (pixels that never vary get 0), titled with the mean absolute
    off-diagonal correlation. Whitening drives the off-diagonal towards 0.

    Parameters
    ----------
    images : dict str -> Tensor, shape (N, C, H, W), N >= 2
    panel_size : float
        Inches per panel.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    size = (panel_size * len(images) + 0.6, panel_size + 0.4)
    # Constrained layout leaves room for the shared colour bar (tight_layout would not).
    fig, axes = plt.subplots(1, len(images), figsize=size, squeeze=False, layout="constrained")
    shown = None
    for ax, (label, x) in zip(axes[0], images.items(), strict=True):
        flat = x.detach().reshape(len(x), -1).to("cpu", torch.float64)
        corr = torch.corrcoef(flat.T).nan_to_num()
        off = corr - torch.diag(torch.diag(corr))
        mean_off = float(off.abs().sum() / max(off.numel() - len(off), 1))
        shown = ax.imshow(corr.numpy(), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(f"{label}\nmean |off-diagonal| {mean_off:.3f}", fontsize=9)
        ax.set_xlabel("pixel")
    axes[0, 0].set_ylabel("pixel")
    fig.colorbar(shown, ax=list(axes[0]), shrink=0.8, label="correlation")
    if title:
        fig.suptitle(title)
    return fig


def plot_kmeans_comparison(results: dict, metric: str = "acc", ax=None, title: str | None = None) -> Figure:
    """Grouped horizontal bars of a k-means score per preprocessing choice, one colour per dataset.

    Parameters
    ----------
    results : dict dataset name -> list of rows from ``preprocess.compare_on_kmeans``
        Choices are matched by their ``preprocessing`` name (missing ones are left blank).
    metric : {"acc", "nmi", "ari"}
        Drawn in %, with the ``<metric>_std`` over runs as error bars.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    names: list[str] = []
    for rows in results.values():
        names += [r["preprocessing"] for r in rows if r["preprocessing"] not in names]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 0.32 * len(names) * max(1, len(results)) / 1.5 + 1.2))
    else:
        fig = ax.figure
    height = 0.8 / max(1, len(results))
    pos = np.arange(len(names))
    for i, (dataset, rows) in enumerate(results.items()):
        by_name = {r["preprocessing"]: r for r in rows}
        vals = [100 * by_name[n][metric] if n in by_name else np.nan for n in names]
        errs = [100 * by_name[n].get(metric + "_std", 0.0) if n in by_name else 0.0 for n in names]
        ax.barh(pos + (i - (len(results) - 1) / 2) * height, vals, height=height, xerr=errs, label=dataset,
                color=f"C{i}", error_kw={"lw": 1, "capsize": 2})
        first = by_name.get(names[0])
        if first is not None:
            ax.axvline(100 * first[metric], color=f"C{i}", ls=":", lw=1)
    ax.set_yticks(pos, names)
    ax.invert_yaxis()
    ax.set_xlabel({"acc": "matched accuracy", "nmi": "NMI", "ari": "ARI"}.get(metric, metric) + " (%)")
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
