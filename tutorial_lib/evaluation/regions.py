"""The BSDS500 region benchmark of a segmentation method: a sweep of its scale, scored at ODS and OIS.

Taught in notebook 04_pixel_segmentation (the BSDS500 table, and what ODS and OIS mean); run by
``python -m tutorial_lib bench segmentation --data bsds500:val``.

A method is run at every setting of its scale parameter (:data:`SWEEPS`: the merge threshold of the
hierarchy, Felzenszwalb's ``scale``, ``k`` for the methods with a fixed number of segments, a single
setting for Otsu) and each segmentation is scored against all of its photo's human segmentations
(:mod:`tutorial_lib.metrics.regions`). ODS keeps one setting for the whole set, OIS the best setting of
each photo. A method with a ``labels_at(image, values)`` method (:class:`tutorial_lib.segment.RegionMerging`)
builds its hierarchy once per photo and cuts it at every setting; the others run once per setting.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from .. import runtime
from ..metrics.regions import BENCHMARK_KEYS, RegionScorer, region_benchmark
from ..runtime import progress_bar as tqdm
from ..segment import DEFAULT_METHOD, METHODS
from ..segment.base import to_numpy
from .segmentation import make_method

__all__ = ["REGION_COLUMNS", "SWEEPS", "evaluate_regions", "sweep_of"]

SWEEPS: dict[str, tuple[str | None, tuple]] = {
    "otsu": (None, (None,)),
    "kmeans_lab": ("n_segments", (2, 3, 4, 5, 6, 8, 10, 12)),
    "slic_kmeans": ("n_segments", (2, 3, 4, 5, 6, 8, 10, 12)),
    "felzenszwalb": ("scale", (50, 100, 200, 300, 500, 800, 1200, 2000, 3000)),
    "kanezaki": ("min_labels", (2, 3, 5, 8)),
    "deep_features": ("n_segments", (2, 3, 4, 6, 8)),
    "rag-merge": ("threshold", (2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 9, 10, 12, 14, 17, 20, 25, 32)),
}
"""Method name -> (the parameter swept, its values from fine to coarse). ``None``: one run at the
method's own settings. A method missing here runs at its own settings only."""

REGION_COLUMNS = (*BENCHMARK_KEYS, "seconds_per_image", "covering_ods_setting", "mean_segments")
"""The columns of the benchmark table (``bench segmentation --data bsds500:SPLIT``)."""


def sweep_of(method: str) -> tuple[str | None, tuple]:
    """The parameter swept for ``method`` and its values (:data:`SWEEPS`; ``(None, (None,))`` if absent)."""
    return SWEEPS.get(method, (None, (None,)))


def _by_setting(name: str, parameter, values, images, scorers, counts, seed, device, fast, progress) -> None:
    """Run the method once per setting on every image (as :func:`segmentation.evaluate` does) and score."""
    for t, value in enumerate(tqdm(values, desc=f"{name} settings", disable=not progress)):
        params = {} if parameter is None else {parameter: value}
        maps = make_method(name, seed=seed, device=device, fast=fast, **params).fit_predict(images)
        for i, (labels, scorer) in enumerate(zip(maps, scorers, strict=True)):
            scorer.add(labels)
            counts[i, t] = len(np.unique(labels))


def _by_cuts(name: str, values, images, scorers, counts, seed, device, fast, progress) -> None:
    """Build each image's hierarchy once and cut it at every setting (``labels_at``)."""
    method = make_method(name, seed=seed, device=device, fast=fast)
    for i, (image, scorer) in enumerate(tqdm(list(zip(images, scorers, strict=True)), desc=name,
                                             disable=not progress)):
        for t, labels in enumerate(method.labels_at(image, values)):
            scorer.add(labels)
            counts[i, t] = len(np.unique(labels))


def evaluate_regions(data: str = "bsds500:val", root=None, method: str | None = None, seed: int = 0,
                     limit: int | None = None, settings: Sequence | None = None, device: str = "auto",
                     progress: bool = True, fast: bool = False) -> dict:
    """Run a method over a set with several human segmentations per image, sweeping its scale.

    Parameters
    ----------
    data : str
        A set whose ``annotations`` hold every human segmentation (``bsds500:train``, ``bsds500:val``,
        ``bsds500:test``); a set without them is scored against its one mask per image.
    root : path, optional
        Data root.
    method : str, optional
        A key of ``tutorial_lib.segment.METHODS`` (default ``DEFAULT_METHOD``); ``auto`` sweeps the
        method it chooses for these photos (``chosen_method`` in the result).
    seed : int
        Seed of the method (the photos are the same for every seed).
    limit : int, optional
        At most this many photos (a seeded subset, data seed 0).
    settings : sequence, optional
        The values of the swept parameter (default :data:`SWEEPS`), fine to coarse.
    device, progress
    fast : bool
        Small training budgets (:data:`tutorial_lib.evaluation.segmentation.FAST_PARAMS`).

    Returns
    -------
    dict
        ``covering_ods``, ``covering_ois``, ``pri_ods``, ``pri_ois``, ``voi_ods``, ``voi_ois`` (VOI in bits),
        ``covering_best``, each measure's ODS setting (``covering_ods_setting``...), ``parameter`` and
        ``settings`` (the sweep), ``mean_segments`` (segments per photo at the covering ODS setting),
        ``seconds_per_image`` (one segmentation of one photo at one setting; for a hierarchy, the tree and
        all its cuts), ``sweep_seconds_per_image`` (every setting of one photo), ``n_images``, ``method``,
        ``data``, ``seed``, ``device``.
    """
    from ..data import load_segmentation

    name = method or DEFAULT_METHOD
    chooser = make_method(name, seed=seed)  # an unknown name fails here, before the photos are read
    ds = load_segmentation(data, root=root, limit=limit)
    chosen = {}
    if hasattr(chooser, "choose"):  # auto: sweep the method it picks for these photos
        picked, stats = chooser.choose(list(ds.images))
        chosen = {"chosen_method": picked, "coherence_mean": stats["coherence_mean"],
                  "two_tone_mean": stats["two_tone_mean"]}
        name = picked
    parameter, values = sweep_of(name)
    values = tuple(settings) if settings is not None else values
    if not values:
        raise ValueError(f"no settings to sweep for {name}: give at least one value")
    truths = ds.annotations if ds.annotations is not None else [m[None] for m in ds.masks]
    scorers = [RegionScorer(to_numpy(t)) for t in truths]
    counts = np.zeros((len(scorers), len(values)), dtype=np.int64)
    images = list(ds.images)
    cuts = parameter is not None and hasattr(METHODS[name], "labels_at")
    started = time.perf_counter()
    if cuts:
        _by_cuts(name, values, images, scorers, counts, seed, device, fast, progress)
    else:
        _by_setting(name, parameter, values, images, scorers, counts, seed, device, fast, progress)
    seconds = time.perf_counter() - started
    scores = region_benchmark([s.sweep() for s in scorers], list(values))
    scores.pop("ois_settings")
    best = list(values).index(scores["covering_ods_setting"])
    runs = 1 if cuts else len(values)
    return {**scores, "parameter": parameter, "settings": list(values),
            "mean_segments": float(counts[:, best].mean()),
            "seconds_per_image": seconds / len(images) / runs,
            "sweep_seconds_per_image": seconds / len(images),
            "method": method or DEFAULT_METHOD, **chosen, "data": data, "seed": seed,
            "device": str(runtime.device(device))}
