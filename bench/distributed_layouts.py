"""One process of two threads against two processes of one thread, on the same training job (issue 18).

The job (``python -m tutorial_lib.scaling.distributed``): an autoencoder on a set, a fixed global batch
split over the processes, then k-means on its codes. Every layout is run ``--repeats`` times; the table
gives the median (min-max) wall seconds of the whole launch, the training seconds of rank 0, the CPU
seconds of all processes, and the final loss and accuracy (the same optimisation steps in every layout,
so those should agree to rounding). Writes ``bench/results/distributed.md`` and ``.csv``::

    python bench/distributed_layouts.py                      # digits, 10 epochs, 3 repeats
    python bench/distributed_layouts.py --data mnist --limit 4000 --epochs 3
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import tempfile
from pathlib import Path

import torch

from tutorial_lib.scaling import compare_layouts

OUT = Path(__file__).parent / "results" / "distributed"
COLUMNS = ["processes", "threads", "runs", "wall_s", "wall_min_s", "wall_max_s", "train_s", "cpu_s",
           "final_loss", "acc", "nmi"]


def machine() -> str:
    """The machine the table was measured on, in words."""
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, gloo, no GPU used"


def write(rows: list[dict], args: argparse.Namespace) -> None:
    """``distributed.csv`` (every column) and ``distributed.md`` (the table with its settings)."""
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({k: row[k] for k in COLUMNS} for row in rows)
    subset = f", a {args.limit}-image subset" if args.limit else ""
    lines = ["# Processes × threads on 2 CPU cores: the same DDP training job", "",
             f"`python bench/distributed_layouts.py --data {args.data} --split {args.split} --epochs "
             f"{args.epochs} --repeats {args.repeats}" + (f" --limit {args.limit}" if args.limit else "")
             + f"`: an autoencoder on {args.data} ({args.split}){subset}, global batch "
             f"{args.global_batch}, {args.epochs} epochs, then k-means on its codes. "
             f"Machine: {machine()}.", "",
             "| processes × threads | wall s, median (min–max) | training s (rank 0) | CPU s | final loss "
             "| k-means acc |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['processes']} × {r['threads']} | {r['wall_s']:.1f} ({r['wall_min_s']:.1f}–"
                     f"{r['wall_max_s']:.1f}) | {r['train_s']:.1f} | {r['cpu_s']:.1f} "
                     f"| {r['final_loss']:.4f} | {r['acc']:.3f} |")
    OUT.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="digits")
    p.add_argument("--split", default="train")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--global-batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = compare_layouts(tmp, layouts=((1, 2), (2, 1)), repeats=args.repeats, data=args.data,
                               split=args.split, limit=args.limit, epochs=args.epochs,
                               global_batch=args.global_batch)
    write(rows, args)
    print(OUT.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
