"""SCAN's neighbours from PCA or from a SimCLR encoder (notebook 02's): purity and final accuracy (issue 19).

For each set, mines each image's 10 nearest neighbours in both spaces, scores their purity (the share of
neighbours of the same hidden class, :func:`tutorial_lib.metrics.neighbour_purity`), then fits SCAN with
each (``SCAN(neighbors="pca" | "simclr")``, default settings otherwise, seed 0) and scores it. Writes
``bench/results/scan_neighbours.md`` and ``.json``; rows already in the JSON are kept::

    python bench/scan_neighbours.py --sets digits
    python bench/scan_neighbours.py --sets mnist --simclr-epochs 15
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from tutorial_lib import data, metrics
from tutorial_lib.cluster import SCAN

OUT = Path(__file__).parent / "results" / "scan_neighbours"


def run(set_name: str, space: str, simclr_epochs: int, seed: int = 0) -> dict:
    """One SCAN fit with neighbours mined in ``space``: purity, scores, seconds."""
    ds = data.load(set_name, split="test" if set_name == "mnist" else "train")
    started, cpu = time.perf_counter(), time.process_time()
    model = SCAN(10, neighbors=space, neighbor_epochs=simclr_epochs, seed=seed).fit(ds.images)
    scores = metrics.clustering_scores(ds.labels, model.labels_)
    return {"set": set_name, "neighbours": space,
            "simclr_epochs": simclr_epochs if space == "simclr" else None,
            "purity": round(metrics.neighbour_purity(model.neighbors_, ds.labels), 4),
            **{k: round(float(v), 4) for k, v in scores.items()},
            "seconds": round(time.perf_counter() - started, 1),
            "cpu_seconds": round(time.process_time() - cpu, 1),
            "threads": torch.get_num_threads(), "seed": seed}


def write(results: dict) -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.with_suffix(".json").write_text(json.dumps({"command": "python bench/scan_neighbours.py",
                                                    "rows": list(results.values())}, indent=1))
    lines = ["# SCAN's neighbours: PCA against a SimCLR encoder", "",
             "`python bench/scan_neighbours.py` (see its docstring); seed 0, 10 neighbours, SCAN's defaults "
             f"otherwise; machine: {os.cpu_count()} CPU cores, torch {torch.__version__}. Purity: the share "
             "of an image's neighbours with its hidden class; seconds include training the SimCLR encoder.",
             "", "| set | neighbours | SimCLR epochs | purity | acc | nmi | seconds | CPU seconds "
             "| threads |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results.values():
        lines.append(f"| {r['set']} | {r['neighbours']} | {r['simclr_epochs'] or '–'} | {r['purity']:.3f} | "
                     f"{r['acc']:.3f} | {r['nmi']:.3f} | {r['seconds']:.0f} | {r['cpu_seconds']:.0f} | "
                     f"{r['threads']} |")
    OUT.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", nargs="+", default=["digits", "mnist"], choices=["digits", "mnist"])
    p.add_argument("--spaces", nargs="+", default=["pca", "simclr"], choices=["pca", "simclr"])
    p.add_argument("--simclr-epochs", type=int, default=30)
    args = p.parse_args()
    path = OUT.with_suffix(".json")
    results = {f"{r['set']}/{r['neighbours']}": r
               for r in (json.loads(path.read_text())["rows"] if path.exists() else [])}
    for set_name in args.sets:
        for space in args.spaces:
            results[f"{set_name}/{space}"] = run(set_name, space, args.simclr_epochs)
            print(results[f"{set_name}/{space}"], flush=True)
            write(results)


if __name__ == "__main__":
    main()
