"""Figures: image grids, before/after comparisons, cluster galleries, embeddings, confusion
matrices, segmentation overlays and training curves. Every function returns the matplotlib
Figure it drew, so notebooks can ``plt.show()`` it and tests can inspect it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

# --- images and preprocessing ------------------------------------------------------------------

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
               panel_size: float = 1.2):
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
                 panel_size: float = 2.0, title: str | None = None):
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
                 panel_size: float = 2.0, title: str | None = None):
    """Two columns, ``before`` and ``after`` (each Tensor, shape (N, C, H, W)); see :func:`compare_grid`.

    ``captions`` is an optional pair of lists of per-image captions. Returns the Figure.
    """
    cap = None if captions is None else {labels[0]: captions[0], labels[1]: captions[1]}
    return compare_grid({labels[0]: before, labels[1]: after}, captions=cap, rescale=rescale,
                        panel_size=panel_size, title=title)


def plot_histograms(images: dict, bins: int = 64, cdf: bool = True, ax=None, title: str | None = None):
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
                            rescale: bool | str = "auto"):
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


def plot_pixel_correlation(images: dict, panel_size: float = 3.0, title: str | None = None):
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
    size = (panel_size * len(images), panel_size + 0.4)
    fig, axes = plt.subplots(1, len(images), figsize=size, squeeze=False)
    for ax, (label, x) in zip(axes[0], images.items(), strict=True):
        flat = x.detach().reshape(len(x), -1).to("cpu", torch.float64)
        corr = torch.corrcoef(flat.T).nan_to_num()
        off = corr - torch.diag(torch.diag(corr))
        mean_off = float(off.abs().sum() / max(off.numel() - len(off), 1))
        ax.imshow(corr.numpy(), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(f"{label}\nmean |off-diagonal| {mean_off:.3f}", fontsize=9)
        ax.set_xlabel("pixel")
    axes[0, 0].set_ylabel("pixel")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_kmeans_comparison(results: dict, metric: str = "acc", ax=None, title: str | None = None):
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


# --- feature learning and clustering -----------------------------------------------------------

def plot_history(history, keys=("loss",), ax=None, title: str | None = None):
    """Training curves: each quantity in ``keys`` against epoch, from a ``train.History``.

    Parameters
    ----------
    history : train.History or dict of lists
        Per-epoch records (``history["loss"]`` gives the list of losses).
    keys : sequence of str
        Quantities to draw; those never recorded are skipped. A key containing ``acc`` goes on a
        second y-axis on the right, so losses and accuracies share one panel.
    ax : matplotlib Axes or None
        Draw into this Axes (e.g. a live panel) instead of a new figure.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.2))
    else:
        fig = ax.figure
    right = None
    for key in keys:
        values = list(history[key]) if key in _history_keys(history) else []
        if not values:
            continue
        epochs = ([r["epoch"] for r in history.records if key in r] if hasattr(history, "records")
                  else range(1, len(values) + 1))
        target = ax
        if "acc" in key:
            right = right or ax.twinx()
            target = right
        target.plot(list(epochs), values, marker="o", ms=3, label=key,
                    color=f"C{list(keys).index(key)}")
    acc_keys = [k for k in keys if "acc" in k and k in _history_keys(history)]
    ax.set_ylabel("loss")
    if right is not None:
        right.set_ylabel(acc_keys[0] if len(acc_keys) == 1 else "accuracy")
    ax.set_xlabel("epoch")
    handles = [h for a in (ax, right) if a is not None for h in a.get_legend_handles_labels()[0]]
    if handles:
        # Below the axes, so it never hides a curve.
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=len(handles),
                  fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _history_keys(history) -> list[str]:
    return history.keys() if hasattr(history, "records") else list(history)


def image_rows(rows: dict, n: int = 10, panel_size: float = 0.9, title: str | None = None):
    """Rows of images with a label on the left: originals vs reconstructions, or an image and its views.

    Parameters
    ----------
    rows : dict str -> Tensor, shape (N, C, H, W), float in [0, 1]
        Row label -> images; the first ``n`` of each are shown, column ``j`` of every row being the
        same sample.
    n : int
        Columns.
    panel_size : float
        Inches per panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not rows:
        raise ValueError("image_rows needs at least one row")
    n = min([n] + [len(v) for v in rows.values()])
    fig, axes = plt.subplots(len(rows), n, figsize=(panel_size * n + 1.0, panel_size * len(rows) + 0.3),
                             squeeze=False)
    for i, (label, images) in enumerate(rows.items()):
        for j in range(n):
            _show(axes[i, j], images[j])
        axes[i, 0].set_ylabel(label, fontsize=9, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_reconstructions(images, reconstructions, n: int = 10, title: str | None = "autoencoder"):
    """Originals (top row) above their reconstructions (bottom row); Tensors (N, C, H, W) in [0, 1]."""
    return image_rows({"input": images, "reconstruction": reconstructions}, n=n, title=title)


def plot_views(images, views, n: int = 8, title: str | None = "two random views per image"):
    """An image row above rows of its augmented views (``views``: list of Tensors shaped like ``images``)."""
    rows = {"image": images}
    rows.update({f"view {i + 1}": v for i, v in enumerate(views)})
    return image_rows(rows, n=n, title=title)


def plot_embedding(coords, labels=None, classes=None, ax=None, title: str | None = None,
                   point_size: float = 4.0):
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
        lab = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).ravel()
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
                    title: str | None = None):
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


def plot_feature_quality(reports: dict, metric: str = "knn_acc", ax=None, title: str | None = None):
    """Grouped bars of feature quality: ``reports`` maps dataset -> ``features.feature_report`` result.

    Bars are grouped by dataset, one colour per feature space; the value is written on each bar.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.2))
    else:
        fig = ax.figure
    spaces: list[str] = []
    for rep in reports.values():
        spaces += [s for s in rep if s not in spaces]
    width = 0.8 / max(1, len(spaces))
    lows = []
    for j, space in enumerate(spaces):
        xs, vals = [], []
        for i, rep in enumerate(reports.values()):
            if space in rep and metric in rep[space]:
                xs.append(i + (j - (len(spaces) - 1) / 2) * width)
                vals.append(100 * rep[space][metric])
        bars = ax.bar(xs, vals, width=width, label=space, color=f"C{j}")
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
        lows += vals
    ax.set_xticks(range(len(reports)), list(reports))
    names = {"knn_acc": "kNN accuracy (%)", "linear_acc": "linear probe accuracy (%)"}
    ax.set_ylabel(names.get(metric, metric))
    if lows:
        ax.set_ylim(max(0.0, min(lows) - 5), 100.5)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_cluster_gallery(images, clusters, n_per_cluster: int = 10, labels=None, classes=None,
                         panel_size: float = 0.7, seed: int = 0, title: str | None = None):
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
        purity, and images whose class differs from the row's are framed in red.
    classes : list of str, optional
        Class names for the row captions.
    seed : int
        Which images are sampled.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .metrics import match_clusters

    pred = np.asarray(clusters.cpu() if isinstance(clusters, torch.Tensor) else clusters).ravel()
    if len(pred) != len(images):
        raise ValueError(f"got {len(pred)} cluster labels for {len(images)} images")
    true = None if labels is None else np.asarray(labels.cpu() if isinstance(labels, torch.Tensor)
                                                   else labels).ravel()
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
            purity = float(np.mean(true[members] == target)) if target >= 0 else 0.0
            name = name if target >= 0 else "–"
            caption = f"cluster {c} → {name}\n{len(members)}, {100 * purity:.0f}% pure"
        axes[row, 0].set_ylabel(caption, fontsize=7, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(y_true, y_pred, classes=None, normalize: bool = False, ax=None,
                          title: str | None = None):
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
    from .metrics import matched_confusion

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


def plot_method_scores(results: dict, metrics=("acc", "nmi", "ari"), ax=None, title: str | None = None):
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


# --- segmentation ------------------------------------------------------------------------------

def _label_array(labels) -> np.ndarray:
    return np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels).astype(np.int64)


def segment_colours(labels, image=None) -> np.ndarray:
    """An ``(H, W, 3)`` picture of a label map: each segment in its mean image colour (with ``image``)
    or in a colour of the tab20 palette.

    Parameters
    ----------
    labels : array or Tensor, shape (H, W), int
    image : Tensor or array, shape (C, H, W), float in [0, 1], optional
    """
    lab = _label_array(labels)
    _, inv = np.unique(lab, return_inverse=True)
    inv = inv.reshape(lab.shape)
    if image is None:
        palette = plt.get_cmap("tab20")(np.arange(20))[:, :3]
        return palette[inv % 20]
    arr = _display_array(image)
    arr = np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr
    n = int(inv.max()) + 1
    counts = np.bincount(inv.ravel(), minlength=n)[:, None]
    means = np.stack([np.bincount(inv.ravel(), weights=arr[..., c].ravel(), minlength=n)
                      for c in range(3)], axis=1) / np.maximum(counts, 1)
    return means[inv]


def overlay_segments(image, labels, alpha: float = 0.45, boundary_colour=(1.0, 1.0, 0.0)) -> np.ndarray:
    """The image with each segment tinted by a palette colour and segment boundaries drawn.

    Parameters
    ----------
    image : Tensor or array, shape (C, H, W), float in [0, 1]
    labels : array or Tensor, shape (H, W), int
    alpha : float in [0, 1]
        Weight of the tint.
    boundary_colour : RGB tuple, or None for no boundaries

    Returns
    -------
    ndarray, shape (H, W, 3), float in [0, 1]
    """
    from skimage.segmentation import find_boundaries

    arr = _display_array(image)
    arr = np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr
    lab = _label_array(labels)
    if lab.shape != arr.shape[:2]:
        raise ValueError(f"labels have shape {lab.shape} but the image is {arr.shape[0]}×{arr.shape[1]}")
    out = (1 - alpha) * arr + alpha * segment_colours(lab)
    if boundary_colour is not None:
        out[find_boundaries(lab, mode="inner")] = boundary_colour
    return np.clip(out, 0.0, 1.0)


def plot_segmentations(images, rows: dict, gts=None, scores: dict | None = None, panel_size: float = 2.2,
                       style: str = "overlay", title: str | None = None):
    """A grid: one column per image; rows for the image, its ground truth and each method's labels.

    Parameters
    ----------
    images : sequence of Tensor/array, each (C, H, W), float in [0, 1]
    rows : dict name -> sequence of label maps (H, W), one per image
    gts : sequence of label maps, optional
        Ground truth, drawn as a second row.
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
    for r, (name, maps) in enumerate(all_rows.items()):
        for c, image in enumerate(images):
            ax = axes[r, c]
            if maps is None:
                _show(ax, image)
            elif style == "mean":
                ax.imshow(segment_colours(maps[c], image), interpolation="nearest")
            else:
                ax.imshow(overlay_segments(image, maps[c], alpha=0.0 if style == "boundaries" else 0.45),
                          interpolation="nearest")
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


def plot_label_history(history: dict, ax=None, title: str | None = None):
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


def plot_segmentation_scores(results: dict, metrics=("miou", "pixel_acc"), ax=None, title: str | None = None):
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
                      panel_size: float = 3.0):
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
    axes[1].imshow(overlay_segments(image, labels), interpolation="nearest")
    axes[1].set_title(f"{int(_label_array(labels).max()) + 1} segments", fontsize=8)
    axes[1].axis("off")
    i = 2
    if gt is not None:
        axes[i].imshow(overlay_segments(image, gt), interpolation="nearest")
        axes[i].set_title("ground truth", fontsize=8)
        axes[i].axis("off")
        i += 1
    if history is not None:
        plot_label_history(history, ax=axes[i])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
