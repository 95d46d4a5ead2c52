"""Attention and multi-level features, each against the plain model on its task (issue 18, item 4).

Taught in notebook 06_scaling_up, which prints the table this writes. One table, one row per
(task, variant):

- ``digits``: SCAN (the default clustering method) with ``attention=None`` against ``attention="se"``
  (a squeeze-and-excitation block after each stage of its CNN); score: Hungarian-matched accuracy on
  scikit-learn's 1,797 digits.
- ``mosaic`` and ``nuclei``: the set-level deep-feature segmenter (``DeepFeatureClustering(scope="set")``,
  i.e. ``SetFeatureClustering``) clustering the last stage of its patch network against its hypercolumns
  (``hypercolumns=True``: all three stages, upsampled and L2-normalised per stage); score: mIoU
  (Hungarian-matched per image, mean over images) on the 16 texture mosaics and the 38 nuclei images.

``seconds`` is the wall-clock time of the fit (the whole set), median over seeds like the score. Writes
``bench/results/attention_hypercolumns.md`` and ``.csv`` (``--fast``: ``attention_hypercolumns_fast.*``,
so a quick check never replaces the real table)::

    OMP_NUM_THREADS=1 python bench/attention_hypercolumns.py                 # default budgets, seed 0
    OMP_NUM_THREADS=1 python bench/attention_hypercolumns.py --seeds 3       # seeds 0, 1, 2
    OMP_NUM_THREADS=1 python bench/attention_hypercolumns.py --fast          # small budgets, subsets
    OMP_NUM_THREADS=1 python bench/attention_hypercolumns.py --tasks digits  # one task
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
import time
from pathlib import Path

import torch

from tutorial_lib import data, metrics, runtime
from tutorial_lib.bench import machine_info
from tutorial_lib.evaluation.clustering import load_for_clustering, make_estimator
from tutorial_lib.evaluation.segmentation import compare_methods
from tutorial_lib.evaluation.tables import markdown_table, median_over_seeds

TASKS = {
    # task -> (data set, method, score key, {variant -> the parameters it changes})
    "digits": ("digits", "scan", "acc", {"attention=None": {"attention": None},
                                         "attention=se": {"attention": "se"}}),
    "mosaic": ("mosaic", "deep_features", "miou", {"last stage": {"scope": "set", "hypercolumns": False},
                                                    "hypercolumns": {"scope": "set", "hypercolumns": True}}),
    "nuclei": ("nuclei", "deep_features", "miou", {"last stage": {"scope": "set", "hypercolumns": False},
                                                    "hypercolumns": {"scope": "set", "hypercolumns": True}}),
    # The method's own choice on the nuclei ("auto" takes the image scope for flat-coloured objects).
    "nuclei-auto": ("nuclei", "deep_features", "miou", {"last stage": {"hypercolumns": False},
                                                        "hypercolumns": {"hypercolumns": True}}),
}
FAST_LIMITS = {"digits": 300, "mosaic": 3, "nuclei": 3, "nuclei-auto": 3}
"""Images used by ``--fast`` (a seeded subset; digits stratified); the budgets are the evaluation
layer's ``FAST_PARAMS``."""

COLUMNS = ("task", "variant", "metric", "score", "seconds", "n_images", "seeds")
OUT_DIR = Path(__file__).parent / "results"


def run_clustering(data_name: str, method: str, params: dict, seed: int, fast: bool, device: str) -> dict:
    """Fit one clustering variant on ``data_name``; its matched accuracy, NMI, ARI, seconds, images."""
    ds = load_for_clustering(data_name, limit=FAST_LIMITS["digits"] if fast else None)
    est = make_estimator(method, n_clusters=len(ds.classes), seed=seed, device=device, fast=fast, **params)
    started = time.perf_counter()
    labels = est.fit_predict(ds.images)
    seconds = time.perf_counter() - started
    return {**metrics.clustering_scores(ds.labels, labels), "seconds": seconds, "n_images": len(ds.images)}


def run_segmentation(data_name: str, method: str, params: dict, seed: int, fast: bool, device: str,
                     task: str) -> dict:
    """Fit one segmentation variant on the set ``data_name``; its mIoU, pixel accuracy, seconds, images."""
    ds = data.load_segmentation(data_name, limit=FAST_LIMITS[task] if fast else None)
    images = list(ds.images)
    row = compare_methods(images, ds.masks, methods=[method], params={method: params}, seed=seed,
                          device=device, progress=False, fast=fast)[method]
    return {"miou": row["miou"], "pixel_acc": row["pixel_acc"],
            "seconds": row["seconds_per_image"] * len(images), "n_images": len(images)}


def run_task(task: str, seeds: list[int], fast: bool, device: str) -> list[dict]:
    """Every variant of ``task`` for every seed: one table row per variant (medians over the seeds)."""
    data_name, method, key, variants = TASKS[task]
    rows = []
    for variant, params in variants.items():
        runs = []
        for seed in seeds:
            if method == "scan":
                run = run_clustering(data_name, method, params, seed, fast, device)
            else:
                run = run_segmentation(data_name, method, params, seed, fast, device, task)
            runs.append(run)
            print(f"{task} / {variant} / seed {seed}: {key} {run[key]:.3f}, {run['seconds']:.1f} s",
                  flush=True)
        medians = median_over_seeds(runs, (key, "seconds"))
        rows.append({"task": task, "variant": variant, "metric": key, "score": round(medians[key], 4),
                     "seconds": round(medians["seconds"], 1), "n_images": runs[0]["n_images"],
                     "seeds": " ".join(map(str, seeds))})
    return rows


def write(rows: list[dict], out_dir: Path, slug: str, header: str) -> tuple[Path, Path]:
    """``out_dir/<slug>.md`` (header and the table) and ``out_dir/<slug>.csv`` (the same rows)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, table = out_dir / f"{slug}.md", out_dir / f"{slug}.csv"
    if table.exists():  # keep the rows of tasks not run this time (a table can be filled in parts)
        with table.open(newline="") as f:
            done = {row["task"] for row in rows}
            rows = [row for row in csv.DictReader(f) if row["task"] not in done] + rows
        rows = sorted(rows, key=lambda row: list(TASKS).index(row["task"]))
        for row in rows:
            row["score"], row["seconds"] = float(row["score"]), float(row["seconds"])
    shown = [{**row, "seconds": f"{row['seconds']:.1f}"} for row in rows]  # 3 decimals only for scores
    md.write_text(header + "\n\n" + markdown_table(shown, COLUMNS[1:], first="task") + "\n")
    with table.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return md, table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seeds", type=int, default=1, help="run seeds 0..N-1 (default 1: seed 0)")
    parser.add_argument("--fast", action="store_true", help="small budgets and subsets (a quick check)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    seeds = list(range(args.seeds))
    started = time.perf_counter()
    rows = [row for task in args.tasks for row in run_task(task, seeds, args.fast, args.device)]
    info = machine_info()
    command = " ".join(["python bench/attention_hypercolumns.py", *map(shlex.quote, sys.argv[1:])])
    header = (f"# Attention (SCAN on digits) and hypercolumns (set-level deep segmenter on mosaic and "
              f"nuclei)\n\n{'Fast budgets and subsets (a check, not a result); ' if args.fast else ''}"
              f"median over seeds {seeds}; device {runtime.device(args.device)}, {info['cpu']}, "
              f"{torch.get_num_threads()} thread(s), torch {info['torch']}; total "
              f"{time.perf_counter() - started:.0f} s. `{command}`. Score: matched accuracy (acc) or "
              f"mIoU; seconds: wall-clock time of the fit on the whole set.")
    md, table = write(rows, args.out_dir, "attention_hypercolumns" + ("_fast" if args.fast else ""), header)
    print(md.read_text())
    print(f"wrote {md} and {table}")


if __name__ == "__main__":
    main()
