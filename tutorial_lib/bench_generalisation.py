"""``bench generalisation``: every clustering method on every development set, median over seeds, each
method's mean rank; and the joining of such tables run apart (other seeds, methods or machines).

Notebook 03's last section prints the table (``bench/results/generalisation.md``). The seed grid and the
writing of result files are :mod:`tutorial_lib.bench`'s; the scores the evaluation layer's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch

from .bench import check_seeds, run_grid, write_tables
from .evaluation.tables import markdown_table, median_over_seeds, method_names

GENERALISATION_SETS = ("digits", "mnist", "mnist-imbalanced", "coil20")
"""The development sets of ``bench generalisation``: 8×8 digits, MNIST-test (28×28, 10,000 images), its
imbalanced subset (3,757 images, classes of 892 down to 100) and COIL-20 (32×32 objects, 20 classes)."""

GENERALISATION_METRICS = ("acc", "nmi", "seconds")


def mean_ranks(medians: Mapping[str, Mapping[str, float | None]], names) -> dict[str, float]:
    """Each method's rank on each set by its score (1 = best; tied methods share the mean of their ranks),
    averaged over the sets; a method without a score on a set is ranked after every method with one.

    Parameters
    ----------
    medians : dict
        Set -> method -> score (higher is better), or None where there is none.
    names : sequence of str
        The methods ranked.

    Returns
    -------
    dict
        Method -> mean rank, in [1, len(names)].
    """
    from scipy.stats import rankdata

    names = list(names)
    totals = dict.fromkeys(names, 0.0)
    for scores in medians.values():
        values = [scores.get(n) for n in names]
        # negated so that the highest score gets rank 1; a missing score is worse than every real one
        keyed = [-v if isinstance(v, (int, float)) else float("inf") for v in values]
        for name, rank in zip(names, rankdata(keyed, method="average"), strict=True):
            totals[name] += float(rank)
    return {n: totals[n] / max(len(medians), 1) for n in names}


def run_generalisation(sets=GENERALISATION_SETS, methods=None, *, seeds=(0, 1, 2), limit=None, root=None,
                       out_dir="bench/results", device="auto", fast: bool = False) -> str:
    """Every clustering method on every development set: median over seeds of accuracy, NMI and seconds,
    and each method's mean rank by accuracy; written and returned as one Markdown table.

    Parameters
    ----------
    sets : sequence of str
        Clustering sets (names for ``evaluation.clustering.evaluate``; default :data:`GENERALISATION_SETS`).
    methods : sequence of str, optional
        Keys of ``cluster.METHODS`` (default: all, baselines first).
    seeds : sequence of int
        The same seeds for every method and set; the table shows medians over them.
    limit : int, optional
        At most this many images per set (a stratified subset, the same for every method and seed).
    root : path, optional
        Data root of the sets.
    out_dir : str or Path
    device : str
    fast : bool
        Small training budgets (``FAST_PARAMS``; what ``TUTORIAL_FAST=1`` gives on the command line).

    Returns
    -------
    str
        The Markdown table (one row per method: ``SET acc``, ``SET nmi``, ``SET s`` for each set, then
        ``mean rank``), also written to ``out_dir/generalisation.md``, with the medians, ranks and every
        run in ``out_dir/generalisation.json``.

    Raises
    ------
    FileNotFoundError, ValueError
        A set that cannot be loaded (checked for every set before any method runs), an unknown method, no
        seeds.
    """
    from .cluster import METHODS
    from .evaluation.clustering import evaluate, load_for_clustering

    names = method_names(METHODS, "clustering", methods)
    seeds, sets = check_seeds(seeds), list(sets)
    if not sets:
        raise ValueError("no sets to run: give at least one (--sets on the command line)")
    for data in sets:  # a missing set fails now, not after hours of the others
        load_for_clustering(data, root=root, limit=limit)
    runs = {}
    for data in sets:
        runs[data] = run_grid(evaluate, data, names, seeds, GENERALISATION_METRICS, root=root, limit=limit,
                              device=device, fast=fast, desc=f"generalisation: {data}")[1]
    return _write_generalisation(runs, names, seeds, limit=limit, fast=fast, out_dir=out_dir)


def merge_generalisation(paths, out_dir="bench/results") -> str:
    """Join the ``generalisation.json`` files of runs made apart (other seeds, other methods, another
    machine) into one table, as if one :func:`run_generalisation` had made every run.

    Parameters
    ----------
    paths : sequence of path
        ``generalisation.json`` files, with the same ``limit`` and ``fast``. For each set, method and
        seed, a later file's run replaces an earlier one's (a cell re-run after a change of the method).
    out_dir : str or Path
        Where the joined ``generalisation.md`` and ``.json`` are written (it may hold one of ``paths``).

    Returns
    -------
    str
        The Markdown table, as :func:`run_generalisation` returns it.

    Raises
    ------
    ValueError
        No files, files of different ``limit`` or ``fast``, or a set and method whose runs do not
        cover the same seeds as every other cell (a median over other seeds would not compare).
    """
    from .cluster import METHODS

    payloads = [json.loads(Path(p).read_text()) for p in paths]
    if not payloads:
        raise ValueError("no generalisation.json files to merge")
    for key in ("limit", "fast"):
        if any(p[key] != payloads[0][key] for p in payloads):
            found = ", ".join(f"{path}: {p[key]}" for path, p in zip(paths, payloads, strict=True))
            raise ValueError(f"the files were run with different {key!r}: {found}")
    by_seed: dict[str, dict[str, dict[int, dict]]] = {}
    for payload in payloads:
        for data, methods in payload["runs"].items():
            for name, seed_runs in methods.items():
                by_seed.setdefault(data, {}).setdefault(name, {}).update({r["seed"]: r for r in seed_runs})
    order = {name: i for i, name in enumerate(METHODS)}  # the registry's order, as one run would give
    names = sorted(dict.fromkeys(n for p in payloads for n in p["methods"]),
                   key=lambda n: order.get(n, len(order)))
    seeds = sorted({s for cells in by_seed.values() for cell in cells.values() for s in cell})
    for data, cells in by_seed.items():
        for name in names:
            if sorted(cells.get(name, {})) != seeds:
                raise ValueError(f"{name} on {data} has runs for seeds {sorted(cells.get(name, {}))}, the "
                                 f"table's other cells for {seeds}: run the missing seeds and merge again")
    runs = {data: {n: [cells[n][s] for s in seeds] for n in names} for data, cells in by_seed.items()}
    return _write_generalisation(runs, names, seeds, limit=payloads[0]["limit"], fast=payloads[0]["fast"],
                                 out_dir=out_dir, merged=len(payloads))


def _write_generalisation(runs, names, seeds, *, limit, fast, out_dir, merged: int = 0) -> str:
    """The generalisation table of ``runs`` (set -> method -> one result dict per seed), written."""
    sets = list(runs)
    medians = {data: [{"method": n, **median_over_seeds(runs[data][n], GENERALISATION_METRICS)}
                      for n in names] for data in sets}
    ranks = mean_ranks({d: {r["method"]: r.get("acc") for r in rows} for d, rows in medians.items()}, names)
    table = markdown_table(_generalisation_rows(medians, ranks, names), _generalisation_columns(sets))
    meta = {data: {k: runs[data][names[0]][0][k] for k in ("n_samples", "n_clusters")} for data in sets}
    every = [r for cells in runs.values() for seed_runs in cells.values() for r in seed_runs]
    total = sum(r.get("run_seconds", r.get("seconds", 0.0)) for r in every)
    sizes = "; ".join(f"{d}: {m['n_samples']} images, {m['n_clusters']} clusters" for d, m in meta.items())
    header = (f"# generalisation: every clustering method on every development set\n\n"
              f"`python -m tutorial_lib bench generalisation`. Median over seeds {seeds} of matched "
              f"accuracy (acc), NMI and wall-clock fitting seconds (s); mean rank: the method's rank by "
              f"median accuracy on each set (1 = best, ties share), averaged over the sets. {sizes}. "
              f"device={every[0]['device']}, threads={every[0].get('threads', torch.get_num_threads())}"
              f"{', fast budgets' if fast else ''}{f', limit={limit}' if limit else ''}; "
              f"{len(every)} runs, {total:.0f} s in all"
              f"{f', joined from {merged} files (`bench generalisation --merge`)' if merged else ''}.")
    write_tables(out_dir, "generalisation", header, table,
                 {"sets": sets, "methods": list(names), "seeds": list(seeds), "limit": limit, "fast": fast,
                  "meta": meta, "median": medians, "mean_rank": ranks, "runs": runs})
    return table


def _generalisation_columns(sets) -> list[str]:
    return [f"{d} {k}" for d in sets for k in ("acc", "nmi", "s")] + ["mean rank"]


def _generalisation_rows(medians, ranks, names) -> list[dict]:
    """One row per method: its medians on each set under ``SET acc``, ``SET nmi``, ``SET s``, and its rank."""
    rows = []
    for name in names:
        row = {"method": name, "mean rank": round(ranks[name], 2)}
        for data, set_rows in medians.items():
            found = next(r for r in set_rows if r["method"] == name)
            for key, short in (("acc", "acc"), ("nmi", "nmi"), ("seconds", "s")):
                if key in found:
                    row[f"{data} {short}"] = found[key]
        rows.append(row)
    return rows
