"""SCAN's cluster-size assumptions on balanced and imbalanced data (issue 14, item 6).

Runs SCAN's variants (equal sizes; no balanced self-labelling; sizes estimated from a mixture; over-
clustered then merged; ``auto``, the default, which keeps the better of equal and merged by the
neighbour graph's modularity) on MNIST-test and on ``mnist-imbalanced`` (class sizes 892 ... 100),
seed 0, and writes
``bench/results/scan_sizes.md`` and ``.json``. Results already in the JSON are kept, so the grid can
be filled in several runs::

    python bench/scan_sizes.py --sets mnist-imbalanced --variants equal no-balance estimated
    python bench/scan_sizes.py --sets mnist --variants no-balance estimated
    python bench/scan_sizes.py --sets mnist-imbalanced mnist --variants auto
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from tutorial_lib import data, metrics
from tutorial_lib.cluster import SCAN

VARIANTS = {"equal": {"overcluster": 1}, "no-balance": {"overcluster": 1, "balance": False},
            "estimated": {"overcluster": 1, "sizes": "estimated"}, "merged": {"overcluster": 5},
            "auto": {"overcluster": "auto"}}
OUT = Path(__file__).parent / "results" / "scan_sizes"


def run(set_name: str, variant: str, seed: int = 0) -> dict:
    """Fit one SCAN variant on one set; its scores, cluster sizes and seconds."""
    ds = data.load(set_name, split="test")
    started, cpu = time.perf_counter(), time.process_time()
    est = SCAN(n_clusters=10, seed=seed, **VARIANTS[variant])
    labels = est.fit_predict(ds.images)
    scores = metrics.clustering_scores(ds.labels, labels)
    seconds = round(time.perf_counter() - started, 1)
    return {**{k: round(float(v), 4) for k, v in scores.items()}, "seconds": seconds,
            "cpu_seconds": round(time.process_time() - cpu, 1), "threads": torch.get_num_threads(),
            "sizes": sorted(torch.bincount(torch.as_tensor(labels), minlength=10).tolist(), reverse=True),
            "true_sizes": sorted(torch.bincount(ds.labels, minlength=10).tolist(), reverse=True),
            "set": set_name, "variant": variant, "seed": seed, "choice": est.size_choice_}


def write(results: dict) -> None:
    """The Markdown table of every result in ``results`` ({"set/variant": row})."""
    lines = ["# SCAN's cluster sizes: balanced and imbalanced MNIST-test", "",
             "Seed 0; `python bench/scan_sizes.py` (see its docstring). Variants: `equal` (`overcluster=1`, "
             "the default before `auto`: equal shares in the entropy term and the balanced "
             "self-labelling), `no-balance` "
             "(`balance=False`: confident predictions as targets), `estimated` "
             "(`sizes=\"estimated\"`: shares of a Gaussian mixture on the warm start's t-SNE map), `merged` "
             "(`overcluster=5`: 50 equal clusters joined into 10 by shared neighbours, then self-labelled "
             "towards the groups' own sizes), `auto` (`overcluster=\"auto\"`, the default: both `equal` "
             "and `merged`, "
             "keeping the one of higher neighbour-graph modularity; the choice in the last column).", "",
             "| set | variant | acc | nmi | ari | seconds | cpu_seconds | threads | predicted sizes "
             "| true sizes | kept |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(results.values(), key=lambda r: (r["set"], list(VARIANTS).index(r["variant"]))):
        lines.append(f"| {row['set']} | {row['variant']} | {row['acc']:.3f} | {row['nmi']:.3f} | "
                     f"{row['ari']:.3f} | {row['seconds']:.0f} | {row['cpu_seconds']:.0f} | "
                     f"{row['threads']} | "
                     f"{' '.join(map(str, row['sizes']))} | {' '.join(map(str, row['true_sizes']))} | "
                     f"{_kept(row)} |")
    OUT.with_suffix(".md").write_text("\n".join(lines) + "\n")


def _kept(row: dict) -> str:
    """For ``auto``: which factor was kept and the two modularities."""
    choice = row.get("choice")
    if not choice:
        return ""
    q = ", ".join(f"Q(r={r})={v:.3f}" for r, v in choice["modularity"].items())
    return f"overcluster={choice['overcluster']} ({q})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["mnist", "mnist-imbalanced"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    path = OUT.with_suffix(".json")
    results = json.loads(path.read_text()) if path.exists() else {}
    for set_name in args.sets:
        for variant in args.variants:
            results[f"{set_name}/{variant}"] = row = run(set_name, variant)
            print(json.dumps(row), flush=True)
            path.write_text(json.dumps(results, indent=2) + "\n")
            write(results)


if __name__ == "__main__":
    main()
