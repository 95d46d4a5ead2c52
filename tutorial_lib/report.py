"""The results page: every benchmark table under ``bench/results/`` on one page, ``bench/RESULTS.md``.

Built by ``python -m tutorial_lib bench report`` from the JSON files that ``bench`` writes (see
:mod:`tutorial_lib.bench`), so the page never disagrees with them. Each table comes with the command
that made it, the machine it ran on (CPU, threads, torch version) and CPU seconds beside wall seconds
where the file records them; files from before that was recorded say so. One plot per task (matched
accuracy or mIoU against seconds, each method a point) is written beside the tables.

Taught in notebook 03_clustering_classification (the clustering tables) and 04_pixel_segmentation
(the segmentation tables); the README links the page.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt

from .evaluation.tables import markdown_table

SCORE = {"clustering": ("acc", "matched accuracy"), "segmentation": ("miou", "mIoU")}
"""The score each task's plot shows, and its axis label."""

WALL = {"clustering": "seconds", "segmentation": "seconds_per_image"}
"""The wall-clock column of each task's tables (what the plot's x axis shows)."""

PREDATES = "not recorded: this file predates the recording of {what}"


def load_results(results_dir: str | Path = "bench/results") -> list[dict]:
    """Every ``*.json`` result file under ``results_dir``, sorted by name.

    Returns
    -------
    list of dict
        ``{"name": file stem, "payload": the parsed JSON (dict or list of rows)}``.
    """
    out = []
    for path in sorted(Path(results_dir).glob("*.json")):
        out.append({"name": path.stem, "payload": json.loads(path.read_text())})
    return out


def _median(values) -> float | None:
    values = [v for v in values if isinstance(v, int | float)]
    return float(statistics.median(values)) if values else None


def _command(payload: Mapping, name: str) -> str:
    """The recorded command, or the Makefile's command for this table, marked as reconstructed."""
    if payload.get("command"):
        return f"`{payload['command']}`"
    task, data = payload.get("task"), payload.get("data")
    if task and data:
        cmd = f"python -m tutorial_lib bench {task} --data {data}"
    elif name == "segmentation_photos":
        cmd = "python -m tutorial_lib bench photos"
    elif name == "generalisation":
        cmd = "python -m tutorial_lib bench generalisation"
    else:
        return PREDATES.format(what="commands")
    seeds = payload.get("seeds")
    if isinstance(seeds, list) and seeds != [0, 1, 2] and seeds:
        cmd += f" --seeds {len(seeds)}"
    return f"`{cmd}` (reconstructed: the file predates the recording of commands)"


def _machine(payload: Mapping, rows_meta: Mapping | None = None) -> str:
    """One line: CPU, cores, torch threads, torch version, device; or what the old file kept."""
    machine = payload.get("machine")
    if machine:
        gpu = f", GPU {machine['cuda']}" if machine.get("cuda") else ""
        return (f"{machine.get('cpu', '?')}, {machine.get('cpu_count', '?')} logical cores, "
                f"{machine.get('threads', '?')} torch threads, torch {machine.get('torch', '?')}, "
                f"Python {machine.get('python', '?')}{gpu}")
    meta = dict(rows_meta or {})
    meta.update(payload.get("meta") or {})
    known = ", ".join(f"{k}={meta[k]}" for k in ("device", "threads") if k in meta)
    return (f"{known or 'nothing'} recorded; CPU model and torch version "
            + PREDATES.format(what="the machine"))


def benchmark_rows(payload: Mapping) -> tuple[list[dict], list[str], bool]:
    """The rows of one benchmark file's table: each method's medians, plus CPU seconds.

    Parameters
    ----------
    payload : dict
        A ``bench`` result file (``task``, ``data``, ``median`` rows, per-seed ``runs``).

    Returns
    -------
    rows : list of dict
        ``method`` and the file's median columns; ``cpu_seconds`` (the method's own CPU time, where
        the evaluator records it) and ``run_seconds`` / ``run_cpu_seconds`` (the whole evaluation,
        loading and scoring included), medians over the seeds, where recorded.
    columns : list of str
        The columns to show, in order.
    has_cpu : bool
        Whether any CPU time was recorded.
    """
    median = list(payload.get("median") or [])
    runs = payload.get("runs") or {}
    rows, columns = [], []
    for row in median:
        columns += [k for k in row if k != "method" and k not in columns]
    extra = []
    for row in median:
        out = dict(row)
        per_seed = runs.get(row["method"], []) if isinstance(runs, Mapping) else []
        for key in ("cpu_seconds", "run_seconds", "run_cpu_seconds"):
            value = _median(r.get(key) for r in per_seed)
            if value is not None and key not in out:
                out[key] = round(value, 3)
                if key not in extra:
                    extra.append(key)
        rows.append(out)
    columns += [k for k in extra if k not in columns]
    has_cpu = any(k in columns for k in ("cpu_seconds", "run_cpu_seconds"))
    return rows, columns, has_cpu


def _section(entry: dict, results_dir: Path) -> str:
    name, payload = entry["name"], entry["payload"]
    if isinstance(payload, list):  # the photo timings: one row per method and photo
        rows = payload
        wanted = ("photo", "seconds", "n_segments", "iterations", "threads")
        columns = [c for c in wanted if rows and c in rows[0]]
        first = rows[0] if rows else {}
        lines = [f"## {name.replace('_', ' ')}", "",
                 f"Command: {_command(first, name)}", "",
                 f"Machine: {_machine(first, first)}", "",
                 "CPU seconds: " + (PREDATES.format(what="CPU time")
                                    if not any("cpu_seconds" in r for r in rows) else "in the table"),
                 "", markdown_table(rows, columns)]
        return "\n".join(lines)
    median = payload.get("median")
    if not (isinstance(median, list) and all(isinstance(r, Mapping) for r in median)):
        # A table of another shape (the generalisation grid, the bench/ scripts): its own Markdown.
        md = results_dir / f"{name}.md"
        body = md.read_text().split("\n", 1)[1].strip() if md.is_file() else "(no table)"
        return "\n".join([f"## {name.replace('_', ' ')}", "", f"Command: {_command(payload, name)}", "",
                          f"Machine: {_machine(payload)}", "", body])
    rows, columns, has_cpu = benchmark_rows(payload)
    task, data = payload.get("task", "?"), payload.get("data", "?")
    meta = payload.get("meta") or {}
    size = ", ".join(f"{k}={v}" for k, v in meta.items() if k in ("n_samples", "n_images", "n_clusters"))
    cpu_note = ("`cpu_seconds` is the method's own CPU time (all threads), beside its wall `seconds`; "
                "`run_seconds` / `run_cpu_seconds` time the whole evaluation (loading and scoring included)."
                if has_cpu else "CPU seconds: " + PREDATES.format(what="CPU time") + ".")
    lines = [f"## {task} on `{data}`", "",
             f"Command: {_command(payload, name)}", "",
             f"Machine: {_machine(payload)}", "",
             f"Median over seeds {payload.get('seeds')}" + (f"; {size}" if size else "") + ". " + cpu_note,
             "", markdown_table(rows, columns)]
    return "\n".join(lines)


def plot_task(entries: list[dict], task: str, path: str | Path) -> Path | None:
    """One figure for ``task``: a panel per dataset, the score against wall seconds, a point per method.

    Parameters
    ----------
    entries : list of dict
        From :func:`load_results`; those of other tasks (and region benchmarks) are skipped.
    task : {"clustering", "segmentation"}
    path : str or Path
        Where the PNG goes.

    Returns
    -------
    Path or None
        ``path``, or None when no file of that task has the score.
    """
    score, label = SCORE[task]
    sets = [e for e in entries if isinstance(e["payload"], Mapping) and e["payload"].get("task") == task
            and any(score in r for r in e["payload"].get("median", []))]
    if not sets:
        return None
    fig, axes = plt.subplots(1, len(sets), figsize=(3.6 * len(sets), 3.4), squeeze=False)
    for ax, entry in zip(axes[0], sets, strict=True):
        for i, row in enumerate(entry["payload"]["median"]):
            seconds, value = row.get(WALL[task]), row.get(score)
            if seconds is None or value is None:
                continue
            ax.scatter([max(seconds, 1e-4)], [value], color=f"C{i % 10}", s=30, zorder=3)
            ax.annotate(row["method"], (max(seconds, 1e-4), value), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_xscale("log")
        ax.set_ylim(0.0, 1.05)  # from 0: the whole scale, so small gaps stay small
        ax.set_xlabel("wall seconds" + (" per image" if task == "segmentation" else "") + " (log)")
        ax.set_ylabel(label)
        ax.set_title(str(entry["payload"].get("data")), fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{task}: {label} against time, median over seeds (each method a point)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def results_table(name: str, results_dir: str | Path = "bench/results") -> str:
    """The Markdown table ``<results_dir>/<name>.md``, or one line saying it is not measured yet.

    For notebooks (notebook 06_scaling_up prints its tables with it): ``IPython.display.Markdown(...)``.

    Parameters
    ----------
    name : str
        The file's stem, e.g. ``"distributed"``.
    results_dir : str or Path

    Returns
    -------
    str
        The file's Markdown, or ``"*not measured here yet: ...*"`` naming the file that is missing.
    """
    path = Path(results_dir) / f"{name}.md"
    if not path.is_file():
        return f"*not measured here yet: `{path.as_posix()}` does not exist (its benchmark writes it)*"
    return path.read_text()


def _markdown_only(results_dir: Path) -> list[str]:
    """The tables written as Markdown by the scripts of ``bench/`` (no JSON twin), headings demoted."""
    parts = []
    for path in sorted(results_dir.glob("*.md")):
        if not path.with_suffix(".json").exists():
            text = path.read_text().strip()
            parts += [("#" + text) if text.startswith("# ") else text, ""]
    return parts


def write_report(results_dir: str | Path = "bench/results", out: str | Path | None = None) -> Path:
    """Write the results page (``out``, default ``<results_dir>/../RESULTS.md``) and the task plots
    (``<results_dir>/<task>.png``).

    Parameters
    ----------
    results_dir : str or Path
        The folder ``bench`` writes to.
    out : str or Path, optional

    Returns
    -------
    Path
        The page written.

    Raises
    ------
    FileNotFoundError
        When ``results_dir`` holds no result file: run ``python -m tutorial_lib bench ...`` first.
    """
    results_dir = Path(results_dir)
    entries = load_results(results_dir)
    if not entries:
        raise FileNotFoundError(f"no *.json result files in {results_dir}: run `python -m tutorial_lib bench "
                                "clustering --data digits` (or `make bench`) first")
    out = Path(out) if out is not None else results_dir.parent / "RESULTS.md"
    parts = ["# Benchmark results", "",
             f"Generated by `python -m tutorial_lib bench report` from the JSON files in "
             f"`{results_dir.as_posix()}/`; do not edit by hand. `make bench` re-runs every table.", ""]
    for task in SCORE:
        plot = plot_task(entries, task, results_dir / f"{task}.png")
        if plot is not None:
            rel = plot.relative_to(out.parent) if plot.is_relative_to(out.parent) else plot
            parts += [f"![{task}: score against seconds]({rel.as_posix()})", ""]
    for entry in entries:
        parts += [_section(entry, results_dir), ""]
    parts += _markdown_only(results_dir)
    out.write_text("\n".join(parts).rstrip() + "\n")
    return out
