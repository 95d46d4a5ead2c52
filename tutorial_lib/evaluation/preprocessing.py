"""The effect of preprocessing on a k-means baseline: preprocess, cluster, score, tabulate.

Taught in notebook 01_preprocessing (section "Does preprocessing help k-means?"). Each choice of
preprocessing is applied to a labelled set, the result is clustered with the library's own
:class:`tutorial_lib.cluster.KMeans` and scored with :func:`tutorial_lib.metrics.clustering_scores`;
:func:`format_comparison` prints the rows as a table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

from ..base import InputError, check_images

__all__ = ["compare_on_kmeans", "format_comparison"]


@contextmanager
def _thread_limit(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch threads (None: unchanged), then restore the setting."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _apply(step, images: torch.Tensor) -> torch.Tensor:
    """One preprocessing choice on the whole set: None (raw), a fitted step (fitted here) or a callable."""
    if step is None:
        return images
    if hasattr(step, "fit") and hasattr(step, "transform"):
        # k-means is unsupervised, so fitting e.g. ZCA on the images it clusters is fair.
        return step.fit_transform(images) if hasattr(step, "fit_transform") else (
            step.fit(images).transform(images))
    return step(images)


def compare_on_kmeans(images: torch.Tensor, labels, preprocessing: dict[str, Callable | None],
                      n_clusters: int | None = None, n_runs: int = 5, n_init: int = 1, seed: int = 0,
                      progress: bool = False, threads: int | None = 1, device: str = "cpu") -> list[dict]:
    """Cluster ``images`` with k-means after each preprocessing choice and score against ``labels``.

    Each entry of ``preprocessing`` is applied to the whole set (estimators such as ZCA are fitted
    on it first: k-means is unsupervised, so fitting on the images it clusters is fair), the
    result is flattened to one feature vector per image, and :class:`tutorial_lib.cluster.KMeans`
    with ``n_clusters`` (default: the number of classes) is run ``n_runs`` times (seeds ``seed``,
    ``seed + 1``, ...) and scored with Hungarian-matched accuracy, NMI and ARI from
    :mod:`tutorial_lib.metrics`. k-means lands in different local optima from run to run (a few
    points of accuracy apart), so the mean and standard deviation over runs are reported: a
    difference smaller than about two standard deviations is not a real effect.

    Parameters
    ----------
    images : Tensor or ndarray, shape (N, C, H, W), float in [0, 1]
    labels : array-like or Tensor, shape (N,), int
    preprocessing : dict name -> Pipeline, estimator, callable or None
        ``None`` means the raw pixels.
    n_clusters : int, optional
    n_runs : int, >= 1
        Independent k-means runs to average over.
    n_init : int
        Restarts inside each run (keeps the lowest inertia).
    seed : int
        Seed of the first run (and nothing else: seeded noise steps carry their own seed).
    progress : bool
        Show a tqdm bar over the choices.
    threads : int or None
        Threads for the preprocessing (torch, OpenMP, BLAS) and k-means while this runs, restored
        afterwards. One by default: on a few thousand small vectors more threads gain little, and on
        a busy machine they spin-wait (a 784 x 784 eigendecomposition for ZCA went from 0.3 s to 20 s
        with 2 threads on 2 shared cores). None keeps the libraries' own settings.
    device : str
        Where k-means runs (``"cpu"``, ``"cuda"``, ``"auto"``). The CPU by default: the figures are
        then the same on every machine, and a few thousand vectors cluster in a fraction of a second.

    Returns
    -------
    list of dict, one per choice in order, with keys ``preprocessing`` (str); ``acc``, ``nmi``,
    ``ari`` (means over runs, in [0, 1], ARI in [-1, 1]) with ``acc_std``, ``nmi_std``, ``ari_std``;
    and ``seconds`` (preprocessing plus all runs).
    """
    from threadpoolctl import threadpool_limits

    from ..cluster import KMeans
    from ..metrics import clustering_scores
    from ..runtime import progress_bar as tqdm

    checked = check_images(images)
    images = images if isinstance(images, torch.Tensor) else checked  # a tensor keeps its dtype
    y = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if y.shape != (images.shape[0],):
        raise InputError(f"labels must have shape ({images.shape[0]},); got {y.shape}")
    if n_runs < 1:
        raise ValueError(f"n_runs must be >= 1; got {n_runs}")
    k = int(n_clusters or len(np.unique(y)))
    rows = []
    for name, step in tqdm(list(preprocessing.items()), disable=not progress, desc="k-means"):
        start = time.perf_counter()
        with _thread_limit(threads), threadpool_limits(limits=threads):
            x = _apply(step, images)
            feats = x.detach().reshape(x.shape[0], -1).to("cpu", torch.float32)
            runs = [clustering_scores(y, KMeans(k, n_init=n_init, seed=seed + r, device=device).fit_predict(
                feats)) for r in range(n_runs)]
        row = {"preprocessing": name}
        for key in ("acc", "nmi", "ari"):
            vals = np.array([run[key] for run in runs])
            row[key], row[key + "_std"] = float(vals.mean()), float(vals.std())
        rows.append({**row, "seconds": time.perf_counter() - start})
    return rows


def format_comparison(rows: Iterable[dict], title: str | None = None) -> str:
    """A fixed-width text table of :func:`compare_on_kmeans` rows: mean +- std in %, and seconds.

    Parameters
    ----------
    rows : iterable of dict
        As returned by :func:`compare_on_kmeans` (``*_std`` keys are optional).
    title : str, optional
        A first line above the header.

    Returns
    -------
    str, one line per row after the header.
    """
    rows = list(rows)
    width = max([len("preprocessing")] + [len(r["preprocessing"]) for r in rows])
    lines = [title] if title else []
    lines.append(f"{'preprocessing':<{width}}  {'acc %':>11}  {'NMI %':>11}  {'ARI %':>11}  {'time s':>6}")
    for r in rows:
        cells = "  ".join(f"{100 * r[k]:5.1f} ± {100 * r.get(k + '_std', 0.0):3.1f}"
                          for k in ("acc", "nmi", "ari"))
        lines.append(f"{r['preprocessing']:<{width}}  {cells}  {r['seconds']:6.2f}")
    return "\n".join(lines)
