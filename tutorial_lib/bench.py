"""Benchmarks: every method of a task on one dataset, the same seeds, one table written to disk.

This module keeps only the seed grid and the writing of result files. Scoring a method on a named set
is the evaluation layer's job (:mod:`tutorial_lib.evaluation`); the methods come from the registries
``tutorial_lib.cluster.METHODS`` and ``tutorial_lib.segment.METHODS``. Notebooks 03 and 04 print the
tables written here (``bench/results/*.md``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from .evaluation.tables import markdown_table, median_over_seeds, method_names
from .runtime import progress_bar as tqdm

TASK_METRICS = {
    "clustering": ("acc", "nmi", "ari", "seconds"),
    "segmentation": ("miou", "pixel_acc", "seconds_per_image"),
}


def task_parts(task: str) -> tuple[Mapping, Callable[..., dict]]:
    """The method registry and the ``evaluate`` function of ``task`` ("clustering" or "segmentation")."""
    if task == "clustering":
        from .cluster import METHODS
        from .evaluation.clustering import evaluate
    elif task == "segmentation":
        from .evaluation.segmentation import evaluate
        from .segment import METHODS
    else:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASK_METRICS)}")
    return METHODS, evaluate


def result_slug(task: str, data: str) -> str:
    """The file name (no suffix) of a task's table on ``data``: ``segfolder:../x`` -> ``..._x``."""
    return f"{task}_{data}".replace(":", "_").replace("/", "_").replace(".", "")


def run_benchmark(task: str, data: str, *, root=None, seeds=(0, 1, 2), limit=None,
                  out_dir="bench/results", methods=None, device="auto", fast: bool = False) -> str:
    """Run every method of ``task`` on ``data`` for each seed; write and return the Markdown table.

    Parameters
    ----------
    task : {"clustering", "segmentation"}
    data : str
        A dataset name understood by ``tutorial_lib.data`` (``digits``, ``mnist``, ``mosaic``,
        ``segfolder:PATH``, ...).
    seeds : sequence of int
        The same seeds are used for every method; the table shows the median over them.
    limit : int, optional
        At most this many images (a seeded subset, the same for every method and seed).
    methods : list of str, optional
        Only these methods (default: all of the task's ``METHODS``, baselines first).
    device : str
    fast : bool
        Small training budgets (what ``TUTORIAL_FAST=1`` gives on the command line).

    Returns
    -------
    str
        The Markdown table, also written to ``out_dir/<task>_<data>.md`` with the per-seed runs in
        ``out_dir/<task>_<data>.json``.
    """
    registry, evaluate = task_parts(task)
    names = method_names(registry, task, methods)
    seeds = list(seeds)
    if not seeds:
        raise ValueError("no seeds to run: give at least one "
                         "(on the command line, --seeds N runs seeds 0..N-1, so N >= 1)")
    keys = TASK_METRICS[task]
    rows, runs = [], {}
    started = time.time()
    for name in tqdm(names, desc=f"{task} on {data}"):
        runs[name] = [evaluate(data, root=root, method=name, seed=s, limit=limit, device=device, fast=fast)
                      for s in seeds]
        rows.append({"method": name, **median_over_seeds(runs[name], keys)})
    table = markdown_table(rows, keys)
    first = runs[names[0]][0]
    meta = {k: first[k] for k in ("n_samples", "n_images", "n_clusters", "device") if k in first}
    # Some methods give other numbers with another thread count (float sums in another order).
    meta["threads"] = torch.get_num_threads()
    header = (f"# {task} on `{data}`\n\nMedian over seeds {seeds}; "
              f"{', '.join(f'{k}={v}' for k, v in meta.items())}; "
              f"total {time.time() - started:.0f} s.")
    write_tables(out_dir, result_slug(task, data), header, table,
                 {"task": task, "data": data, "seeds": seeds, "meta": meta, "median": rows, "runs": runs})
    return table


def write_tables(out_dir, slug: str, header: str, table: str, payload) -> None:
    """Write ``out_dir/<slug>.md`` (header, blank line, table) and ``out_dir/<slug>.json`` (payload)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{slug}.md").write_text(header + "\n\n" + table + "\n")
    (out / f"{slug}.json").write_text(json.dumps(payload, indent=2) + "\n")


PHOTO_COLUMNS = ("photo", "seconds", "n_segments", "iterations", "threads")
PHOTO_METHODS = ("kanezaki", "deep_features")
"""The methods ``bench photos`` times by default: the per-image one and the default one."""


def run_photo_timings(photos=None, methods=PHOTO_METHODS, *, size=None, seed=0,
                      out_dir="bench/results", device="auto") -> str:
    """Time segmentation methods on real photos, one at a time: what a user waits for per image.

    The photos have no ground truth, so the table gives the wall-clock seconds (network training
    included) and the number of segments found, not a score.

    Parameters
    ----------
    photos : sequence of str, optional
        scikit-image sample photos (default: ``evaluation.segmentation.PHOTOS``).
    methods : sequence of str
        Keys of ``segment.METHODS`` (empty: all of them).
    size : (int, int), optional
        Height and width the photos are cropped to (default: ``BSDS_SIZE``, 321×481).
    seed : int
    out_dir : str or Path
    device : str

    Returns
    -------
    str
        The Markdown table, also written to ``out_dir/segmentation_photos.md`` (rows in
        ``segmentation_photos.json``).
    """
    from .evaluation.segmentation import BSDS_SIZE, PHOTOS, time_photo
    from .segment import METHODS

    photos = list(photos or PHOTOS)
    methods = method_names(METHODS, "segmentation", methods)
    size = tuple(size or BSDS_SIZE)
    rows = [{**time_photo(name, size=size, method=method, seed=seed, device=device), "method": method}
            for method in methods for name in tqdm(photos, desc=f"{method} on photos")]
    table = markdown_table(rows, PHOTO_COLUMNS)
    header = (f"# segmentation: seconds per real photo ({size[0]}×{size[1]})\n\n"
              f"`python -m tutorial_lib bench photos`: one photo at a time, seed {seed}, "
              f"device={rows[0]['device']}; no ground truth, so no score.")
    write_tables(out_dir, "segmentation_photos", header, table, rows)
    return table
