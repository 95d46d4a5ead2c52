"""SCAN on MNIST-test on a GPU: float32, mixed precision, ``torch.compile`` (issue 18).

Needs a CUDA GPU (exits saying so otherwise). Each variant fits ``SCAN(10)`` at its default settings on
the 10,000 MNIST-test images, seed 0, and records matched accuracy, NMI, wall and CPU seconds. Writes
``bench/results/gpu.md`` and ``.csv``, labelled with the GPU's name, which notebook 06 prints::

    python bench/gpu_amp.py                         # the four variants
    python bench/gpu_amp.py --variants fp32 amp     # a subset
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import torch

from tutorial_lib import data, metrics
from tutorial_lib.cluster import SCAN

VARIANTS = {"fp32": {}, "amp": {"amp": True}, "compile": {"compile": True},
            "amp+compile": {"amp": True, "compile": True}}
OUT = Path(__file__).parent / "results" / "gpu"


def run(variant: str, seed: int = 0) -> dict:
    """One fit of SCAN on MNIST-test on the GPU: scores and seconds."""
    ds = data.load("mnist", split="test")
    torch.cuda.synchronize()
    started, cpu = time.perf_counter(), time.process_time()
    labels = SCAN(n_clusters=10, seed=seed, device="cuda", **VARIANTS[variant]).fit_predict(ds.images)
    torch.cuda.synchronize()
    scores = metrics.clustering_scores(ds.labels, labels)
    return {"variant": variant, "acc": round(scores["acc"], 4), "nmi": round(scores["nmi"], 4),
            "seconds": round(time.perf_counter() - started, 1),
            "cpu_seconds": round(time.process_time() - cpu, 1),
            "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU here: this benchmark needs one (the CPU path of the same flags is tested by "
              "tests/test_scaling.py)")
        return 1
    name = torch.cuda.get_device_name()
    rows = []
    for variant in args.variants:
        torch.cuda.reset_peak_memory_stats()
        rows.append(run(variant))
        print(rows[-1], flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    bf16 = "bfloat16" if torch.cuda.is_bf16_supported() else "float16 with a gradient scaler"
    lines = ["# SCAN on MNIST-test on a GPU: mixed precision and torch.compile", "",
             f"`python bench/gpu_amp.py`; machine: {name}, torch {torch.__version__}, CUDA "
             f"{torch.version.cuda}; amp=True used {bf16}; seed 0, default settings.", "",
             "| variant | acc | nmi | seconds | CPU seconds | peak GiB |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['variant']} | {r['acc']:.4f} | {r['nmi']:.4f} | {r['seconds']:.1f} "
              f"| {r['cpu_seconds']:.1f} | {r['peak_gib']:.2f} |" for r in rows]
    OUT.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
