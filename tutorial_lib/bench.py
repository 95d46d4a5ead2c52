"""Benchmarks: every method of a task on one dataset, the same seeds, one table written to disk (the
generalisation table, every clustering method on every development set, is
:mod:`tutorial_lib.bench_generalisation`).

This module keeps only the seed grid and the writing of result files. Scoring a method on a named set
is the evaluation layer's job (:mod:`tutorial_lib.evaluation`); the methods come from the registries
``tutorial_lib.cluster.METHODS`` and ``tutorial_lib.segment.METHODS``. Notebooks 03 and 04 print the
tables written here (``bench/results/*.md``).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Mapping
from functools import partial
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
        ``out_dir/<task>_<data>.json``. Segmentation on a set with several human segmentations per image
        (``bsds500:SPLIT``) runs the region benchmark instead (:func:`run_region_benchmark`).
    """
    if task == "segmentation" and is_region_set(data):
        return run_region_benchmark(data, root=root, seeds=seeds, limit=limit, out_dir=out_dir,
                                    methods=methods, device=device, fast=fast)
    registry, evaluate = task_parts(task)
    names = method_names(registry, task, methods)
    seeds = check_seeds(seeds)
    keys = TASK_METRICS[task]
    started = time.time()
    rows, runs = run_grid(evaluate, data, names, seeds, keys, root=root, limit=limit, device=device,
                          fast=fast, desc=f"{task} on {data}")
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


def machine_info() -> dict:
    """The machine a result comes from: CPU model, cores, torch threads, torch and Python versions.

    Returns
    -------
    dict with ``cpu`` (str), ``cpu_count`` (int, logical cores), ``threads`` (torch's intra-op
    threads), ``torch``, ``python`` (version strings) and ``cuda`` (the GPU's name, or None).
    """
    cpu = platform.processor() or platform.machine()
    try:  # Linux names the model here; platform.processor() is often empty or just "x86_64"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def invocation() -> str | None:
    """The command line that is running, when it is ``python -m tutorial_lib ...``; else None."""
    main = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if main is None or main.name != "__main__.py" or main.parent.name != "tutorial_lib":
        return None
    return " ".join(["python -m tutorial_lib", *map(shlex.quote, sys.argv[1:])])


def check_seeds(seeds) -> list[int]:
    seeds = list(seeds)
    if not seeds:
        raise ValueError("no seeds to run: give at least one "
                         "(on the command line, --seeds N runs seeds 0..N-1, so N >= 1)")
    return seeds


def run_grid(evaluate: Callable[..., dict], data: str, names, seeds, keys, *, root=None, limit=None,
             device="auto", fast: bool = False, desc: str = "") -> tuple[list[dict], dict[str, list[dict]]]:
    """Every method of ``names`` on ``data`` for every seed: the median row of each method and its runs.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(data, root=, method=, seed=, limit=, device=, fast=) -> dict`` (the task's).
    data : str
    names : sequence of str
        Method names, in the order of the rows.
    seeds : sequence of int
    keys : sequence of str
        The result keys whose median over the seeds each row holds.
    root, limit, device, fast
        Passed to ``evaluate``.
    desc : str
        The progress bar's label.

    Returns
    -------
    rows : list of dict
        ``{"method": name, key: median, ...}`` per method.
    runs : dict
        Method name -> the result dict of each seed.
    """
    rows, runs = [], {}
    for name in tqdm(list(names), desc=desc):
        runs[name] = [_timed(evaluate, data, root=root, method=name, seed=s, limit=limit, device=device,
                             fast=fast) for s in seeds]
        rows.append({"method": name, **median_over_seeds(runs[name], keys)})
    return rows, runs


def _timed(evaluate: Callable[..., dict], *args, **kwargs) -> dict:
    """``evaluate(*args, **kwargs)`` with the wall and CPU seconds of the whole call (loading and
    scoring included) added as ``run_seconds`` and ``run_cpu_seconds``: CPU seconds above wall
    seconds mean several threads worked, below mean the process waited for a busy machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = dict(evaluate(*args, **kwargs))
    result.setdefault("run_seconds", round(time.perf_counter() - wall, 3))
    result.setdefault("run_cpu_seconds", round(time.process_time() - cpu, 3))
    return result


REGION_SETS = ("bsds500",)
"""Segmentation sets scored by the region benchmark (every human segmentation, a sweep of each method's
scale, ODS and OIS) instead of matched mIoU."""


def is_region_set(data: str) -> bool:
    """Whether ``data`` names a set of :data:`REGION_SETS` (``bsds500:val``...)."""
    return data.partition(":")[0].lower() in REGION_SETS


def run_region_benchmark(data: str, *, root=None, seeds=(0,), limit=None, out_dir="bench/results",
                         methods=None, device="auto", fast: bool = False) -> str:
    """The BSDS500 region benchmark of every segmentation method: covering, PRI and VOI at ODS and OIS.

    Each method sweeps its scale parameter (:data:`tutorial_lib.evaluation.regions.SWEEPS`); the table shows
    the median over ``seeds`` (one is enough: the classic methods are deterministic), with the seconds per
    photo and setting, the covering's ODS setting and the segments per photo there.

    Parameters
    ----------
    data : str
        ``bsds500:val`` (or ``train``, ``test``).
    root, seeds, limit, out_dir, methods, device, fast
        As :func:`run_benchmark`.

    Returns
    -------
    str
        The Markdown table, also written to ``out_dir/segmentation_<data>.md`` (runs in ``.json``).
    """
    from .evaluation.regions import REGION_COLUMNS, evaluate_regions
    from .segment import METHODS

    names = method_names(METHODS, "segmentation", methods)
    seeds = check_seeds(seeds)
    started = time.time()
    rows, runs = run_grid(partial(evaluate_regions, progress=False), data, names, seeds, REGION_COLUMNS,
                          root=root, limit=limit, device=device, fast=fast,
                          desc=f"region benchmark on {data}")
    for row in rows:  # the swept parameter and the covering's ODS value (seed 0's) as one readable cell
        first = runs[row["method"]][0]
        row["covering_ods_setting"] = (f"{first['parameter']}={first['covering_ods_setting']}"
                                       if first["parameter"] else "-")
    first = runs[names[0]][0]
    header = (f"# segmentation on `{data}`: the BSDS500 region benchmark\n\n"
              f"Covering, PRI and VOI (bits) against every human segmentation, at the best single setting of "
              f"each method's scale for the whole set (ODS) and per photo (OIS); median over seeds {seeds}; "
              f"n_images={first['n_images']}, device={first['device']}, threads={torch.get_num_threads()}; "
              f"total {time.time() - started:.0f} s.")
    table = markdown_table(rows, REGION_COLUMNS)
    write_tables(out_dir, result_slug("segmentation", data), header, table,
                 {"task": "segmentation", "data": data, "seeds": seeds, "median": rows, "runs": runs})
    return table


def write_tables(out_dir, slug: str, header: str, table: str, payload) -> None:
    """Write ``out_dir/<slug>.md`` (header, blank line, table) and ``out_dir/<slug>.json`` (payload,
    with ``machine`` (:func:`machine_info`) and ``command`` (:func:`invocation`) added)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Where and how a table was made, for the results page (``python -m tutorial_lib bench report``).
    provenance = {"machine": machine_info(), "command": invocation()}
    if isinstance(payload, dict):
        payload = {**payload, **provenance}
    else:  # a list of rows (the photo timings): each row says it
        payload = [{**row, **provenance} for row in payload]
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


APPLICATION_VARIANTS = {
    "flat-contrast+scan": {"foreground": "flat-contrast", "method": "scan"},
    "flat-contrast+pca-kmeans": {"foreground": "flat-contrast", "method": "pca-kmeans"},
    "flat+pca-kmeans": {"foreground": "flat", "method": "pca-kmeans"},
    "flat-contrast+umap-kmeans": {"foreground": "flat-contrast", "method": "umap-kmeans"},
}
"""The application's variants in ``bench application``: the default pipeline (SCAN recogniser), the
foreground baseline (every flat region an object; its foreground and object scores do not depend on the
recogniser, so it runs the fast one) and two faster recognisers."""

APPLICATION_KEYS = ("foreground_iou", "object_recall", "object_precision", "object_acc", "seconds_per_image",
                    "fit_seconds")


def run_application_benchmark(data: str = "photo-objects", *, root=None, seeds=(0,), limit=None,
                              out_dir="bench/results", methods=None, device="auto",
                              fast: bool = False) -> str:
    """The application pipeline's variants (:data:`APPLICATION_VARIANTS`) on ``data``; write and return
    the Markdown table (``out_dir/application_<data>.md`` and ``.json``), medians over ``seeds``.

    Parameters
    ----------
    data : str
        ``photo-objects`` or a ``segfolder:PATH`` in its mask layout.
    methods : list of str, optional
        Only these variants.
    root, seeds, limit, out_dir, device, fast
        As :func:`run_benchmark`.
    """
    from .evaluation.application import evaluate, summary

    names = list(methods or APPLICATION_VARIANTS)
    unknown = sorted(set(names) - set(APPLICATION_VARIANTS))
    if unknown:
        raise ValueError(f"unknown application variants {unknown}; choose from {list(APPLICATION_VARIANTS)}")
    seeds = check_seeds(seeds)
    started = time.time()
    rows, runs = [], {}
    for name in tqdm(names, desc=f"application on {data}"):
        runs[name] = [summary(evaluate(data, root=root, seed=s, limit=limit, device=device, fast=fast,
                                       **APPLICATION_VARIANTS[name])) for s in seeds]
        rows.append({"method": name, **median_over_seeds(runs[name], APPLICATION_KEYS)})
    table = markdown_table(rows, APPLICATION_KEYS)
    first = runs[names[0]][0]
    header = (f"# application on `{data}`\n\nMedian over seeds {seeds}; n_images={first['n_images']}, "
              f"device={first['device']}, threads={torch.get_num_threads()}; "
              f"total {time.time() - started:.0f} s.")
    write_tables(out_dir, result_slug("application", data), header, table,
                 {"task": "application", "data": data, "seeds": seeds, "median": rows, "runs": runs})
    return table

