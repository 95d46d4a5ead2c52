"""Image grids and before/after comparisons: the figures every notebook starts from.

Taught in notebooks 00_overview and 01_preprocessing. :func:`_display_array` and :func:`_show`
are the one way the other figure modules put an image on an axis.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure


def _display_array(image, rescale: bool | str = "auto"):
    """One image (C, H, W) tensor or array -> (H, W) or (H, W, 3) NumPy array ready for imshow.

    ``rescale="auto"`` min-max rescales only images that leave [0, 1] (standardised, whitened).
    """
    arr = image.detach().to("cpu", torch.float32).numpy() if isinstance(image, torch.Tensor) else np.asarray(
        image, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[0] if arr.shape[0] == 1 else np.moveaxis(arr[:3], 0, -1)
    lo, hi = float(arr.min()), float(arr.max())
    if rescale is True or (rescale == "auto" and (lo < -1e-6 or hi > 1 + 1e-6)):
        arr = (arr - lo) / max(hi - lo, 1e-12)
    return np.clip(arr, 0.0, 1.0)


def _show(ax, image, rescale="auto", title: str | None = None, fontsize: int = 8):
    arr = _display_array(image, rescale)
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def image_grid(images, ncols: int = 8, titles=None, title: str | None = None, rescale: bool | str = "auto",
               panel_size: float = 1.2) -> Figure:
    """Show a batch of images in a grid, one small panel each.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float (in [0, 1], or any range with ``rescale``), or a list of
        (C, H, W) tensors of different sizes
    ncols : int
        Panels per row.
    titles : list of str, optional
        One caption per image.
    title : str, optional
        Figure title.
    rescale : "auto", True or False
        Min-max rescale each image for display: "auto" does it only for images outside [0, 1].
    panel_size : float
        Inches per panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = len(images)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} images")
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    size = (panel_size * ncols, panel_size * nrows + (0.3 if title else 0))
    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < n:
            _show(ax, images[i], rescale, titles[i] if titles is not None else None)
        else:
            ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def compare_grid(columns: dict, row_titles=None, captions: dict | None = None, rescale: bool | str = "auto",
                 panel_size: float = 2.0, title: str | None = None) -> Figure:
    """Images side by side: one column per stage (e.g. clean, noisy, denoised), one row per image.

    Parameters
    ----------
    columns : dict str -> Tensor, shape (N, C, H, W)
        Column title -> images; every entry needs the same N.
    row_titles : list of str, optional
        One label per row, shown left of the first column.
    captions : dict str -> list of str, optional
        Per-column, per-row captions added under the column title (e.g. PSNR figures).
    rescale : "auto", True or False
        See :func:`image_grid`.
    panel_size : float
        Inches per panel.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(columns)
    if not names:
        raise ValueError("compare_grid needs at least one column")
    n = len(columns[names[0]])
    if any(len(columns[k]) != n for k in names):
        raise ValueError(f"every column needs the same number of images; got "
                         f"{ {k: len(v) for k, v in columns.items()} }")
    captions = captions or {}
    fig, axes = plt.subplots(n, len(names), figsize=(panel_size * len(names), panel_size * n + 0.3),
                             squeeze=False)
    for j, name in enumerate(names):
        for i in range(n):
            label = name if i == 0 else ""
            if name in captions:
                label = f"{label}\n{captions[name][i]}" if label else captions[name][i]
            _show(axes[i, j], columns[name][i], rescale, label, fontsize=9)
        if row_titles is not None:
            for i in range(n):
                axes[i, 0].set_ylabel(row_titles[i], fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def before_after(before, after, labels=("before", "after"), captions=None, rescale: bool | str = "auto",
                 panel_size: float = 2.0, title: str | None = None) -> Figure:
    """Two columns, ``before`` and ``after`` (each Tensor, shape (N, C, H, W)); see :func:`compare_grid`.

    ``captions`` is an optional pair of lists of per-image captions. Returns the Figure.
    """
    cap = None if captions is None else {labels[0]: captions[0], labels[1]: captions[1]}
    return compare_grid({labels[0]: before, labels[1]: after}, captions=cap, rescale=rescale,
                        panel_size=panel_size, title=title)


def image_rows(rows: dict, n: int = 10, panel_size: float = 0.9, title: str | None = None,
               shared_scale: bool = False) -> Figure:
    """Rows of images with a label on the left: originals vs reconstructions, or an image and its views.

    Parameters
    ----------
    rows : dict str -> Tensor, shape (N, C, H, W), float in [0, 1] (any range with ``shared_scale``)
        Row label -> images; the first ``n`` of each are shown, column ``j`` of every row being the
        same sample.
    n : int
        Columns.
    panel_size : float
        Inches per panel.
    title : str, optional
    shared_scale : bool
        Show each row on one grey scale, from the row's minimum to its maximum, with a colour bar
        giving the values. Without it an image outside [0, 1] is rescaled on its own, which hides
        any per-image change of brightness or contrast (a per-image standardisation would then look
        exactly like the original). Grey images only.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not rows:
        raise ValueError("image_rows needs at least one row")
    n = min([n] + [len(v) for v in rows.values()])
    extra = 1.6 if shared_scale else 1.0  # room for the colour bars
    fig, axes = plt.subplots(len(rows), n, figsize=(panel_size * n + extra, panel_size * len(rows) + 0.3),
                             squeeze=False)
    for i, (label, images) in enumerate(rows.items()):
        if shared_scale:
            block = _as_numpy(images[:n])
            if block.ndim != 4 or block.shape[1] != 1:
                raise ValueError(f"shared_scale needs grey images (N, 1, H, W); row {label!r} has shape "
                                 f"{block.shape}")
            lo, hi = float(block.min()), float(block.max())
            for j in range(n):
                shown = axes[i, j].imshow(block[j, 0], cmap="gray", vmin=lo, vmax=max(hi, lo + 1e-12),
                                          interpolation="nearest")
                axes[i, j].set_xticks([])
                axes[i, j].set_yticks([])
            bar = fig.colorbar(shown, ax=list(axes[i]), fraction=0.02, pad=0.01)
            bar.ax.tick_params(labelsize=7)
        else:
            for j in range(n):
                _show(axes[i, j], images[j])
        axes[i, 0].set_ylabel(label, fontsize=9, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    if not shared_scale:  # colour bars placed by fig.colorbar(ax=...) do not survive tight_layout
        fig.tight_layout()
    return fig


def _as_numpy(images) -> np.ndarray:
    """A Tensor or array -> float32 NumPy array on the CPU."""
    if isinstance(images, torch.Tensor):
        return images.detach().to("cpu", torch.float32).numpy()
    return np.asarray(images, dtype=np.float32)
