"""Benchmarks: every method of a task on one dataset, same seeds, one table.

A task module (``tutorial_lib.cluster`` or ``tutorial_lib.segment``) provides ``METHODS`` (an
ordered mapping of method names, baselines first) and ``evaluate(data, method=, seed=, ...)``,
which returns a dict of scores. This module runs the grid, takes the median over seeds, and writes
the table as Markdown and JSON.
"""

from __future__ import annotations

import importlib
import json
import statistics
import time
from pathlib import Path

from tqdm.auto import tqdm

TASK_MODULES = {"clustering": "tutorial_lib.cluster", "segmentation": "tutorial_lib.segment"}
TASK_METRICS = {
    "clustering": ("acc", "nmi", "ari", "seconds"),
    "segmentation": ("miou", "pixel_acc", "seconds_per_image"),
}


def median_over_seeds(runs: list[dict], keys: tuple[str, ...]) -> dict:
    """Median of each numeric key over a list of per-seed result dicts (keys missing are skipped)."""
    out = {}
    for key in keys:
        values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
        if values:
            out[key] = float(statistics.median(values))
    return out


def markdown_table(rows: list[dict], columns: tuple[str, ...]) -> str:
    """A Markdown table with a ``method`` column first; floats shown with 3 decimals."""
    header = "| method | " + " | ".join(columns) + " |"
    rule = "|" + "---|" * (len(columns) + 1)
    lines = [header, rule]
    for row in rows:
        cells = [f"{row[c]:.3f}" if isinstance(row.get(c), float) else str(row.get(c, ""))
                 for c in columns]
        lines.append(f"| {row['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def method_names(module, task: str, methods=None) -> list[str]:
    """``methods`` as a list (default: all of ``module.METHODS``), refusing names the task lacks."""
    names = list(methods) if methods else list(module.METHODS)
    unknown = [m for m in names if m not in module.METHODS]
    if unknown:
        raise ValueError(f"unknown {task} method(s) {unknown}; available: {list(module.METHODS)}")
    return names


def run_benchmark(task: str, data: str, *, root=None, seeds=(0, 1, 2), limit=None,
                  out_dir="bench/results", methods=None, device="auto") -> str:
    """Run every method of ``task`` on ``data`` for each seed; write and return the Markdown table.

    Parameters
    ----------
    task : {"clustering", "segmentation"}
    data : str
        A dataset name understood by ``tutorial_lib.data`` (``digits``, ``mnist``, ``mosaic``,
        ``segfolder:PATH``, ...).
    seeds : sequence of int
        The same seeds are used for every method; the table shows the median over them.
    methods : list of str, optional
        Only these methods (default: all of the task's ``METHODS``, baselines first).

    Returns
    -------
    str
        The Markdown table, also written to ``out_dir/<task>_<data>.md`` with the per-seed runs in
        ``out_dir/<task>_<data>.json``.
    """
    if task not in TASK_MODULES:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASK_MODULES)}")
    module = importlib.import_module(TASK_MODULES[task])
    names = method_names(module, task, methods)
    seeds = list(seeds)
    if not seeds:
        raise ValueError("no seeds to run: give at least one "
                         "(on the command line, --seeds N runs seeds 0..N-1, so N >= 1)")
    keys = TASK_METRICS[task]
    rows, runs = [], {}
    started = time.time()
    for name in tqdm(names, desc=f"{task} on {data}"):
        runs[name] = [module.evaluate(data, root=root, method=name, seed=s, limit=limit,
                                      device=device) for s in seeds]
        rows.append({"method": name, **median_over_seeds(runs[name], keys)})
    table = markdown_table(rows, keys)
    first = runs[names[0]][0]
    meta = {k: first[k] for k in ("n_samples", "n_images", "n_clusters", "device") if k in first}
    slug = f"{task}_{data}".replace(":", "_").replace("/", "_").replace(".", "")
    header = (f"# {task} on `{data}`\n\nMedian over seeds {list(seeds)}; "
              f"{', '.join(f'{k}={v}' for k, v in meta.items())}; "
              f"total {time.time() - started:.0f} s.")
    write_tables(out_dir, slug, header, table,
                 {"task": task, "data": data, "seeds": list(seeds), "meta": meta, "median": rows,
                  "runs": runs})
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
        scikit-image sample photos (default: ``segment.PHOTOS``).
    methods : sequence of str
        Keys of ``segment.METHODS`` (empty: all of them).
    size : (int, int), optional
        Height and width the photos are cropped to (default: ``segment.BSDS_SIZE``, 321×481).
    seed : int
    out_dir : str or Path
    device : str

    Returns
    -------
    str
        The Markdown table, also written to ``out_dir/segmentation_photos.md`` (rows in
        ``segmentation_photos.json``).
    """
    from . import segment

    photos = list(photos or segment.PHOTOS)
    methods = method_names(segment, "segmentation", methods)
    size = tuple(size or segment.BSDS_SIZE)
    rows = [{**segment.time_photo(name, size=size, method=method, seed=seed, device=device),
             "method": method}
            for method in methods for name in tqdm(photos, desc=f"{method} on photos")]
    table = markdown_table(rows, PHOTO_COLUMNS)
    header = (f"# segmentation: seconds per real photo ({size[0]}×{size[1]})\n\n"
              f"`python -m tutorial_lib bench photos`: one photo at a time, seed {seed}, "
              f"device={rows[0]['device']}; no ground truth, so no score.")
    write_tables(out_dir, "segmentation_photos", header, table, rows)
    return table
