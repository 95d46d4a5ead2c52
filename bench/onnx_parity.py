"""ONNX export: do onnxruntime's labels match torch's, and how fast is each on the CPU (issue 18, item 5).

Fits a small SCAN on scikit-learn's digits (1,797 images, 1×8×8) and a set-scope deep segmenter on
texture mosaics, exports both (:func:`tutorial_lib.scaling.export_onnx`), and measures on the same
images the share of identical labels (images for SCAN, pixels for the segmenter, the network's argmax),
the largest logit difference, and seconds per batch (the whole set in one batch) in torch and in
onnxruntime with the same number of threads. Writes ``bench/results/onnx_parity.md`` and ``.csv``::

    OMP_NUM_THREADS=1 .venv/bin/python bench/onnx_parity.py

(``--out PATH`` writes ``PATH.md`` / ``PATH.csv`` instead, e.g. for a run with more threads.)

Taught in notebook 06_scaling_up (section "another runtime"), which prints the table.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import torch

from tutorial_lib import data
from tutorial_lib.cluster import SCAN
from tutorial_lib.scaling import OnnxModel, export_onnx, parity, time_inference
from tutorial_lib.segment import DeepFeatureClustering

OUT = Path(__file__).parent / "results" / "onnx_parity"
SCAN_PARAMS = {"n_clusters": 10, "warm_steps": 30, "steps": 150, "self_label_steps": 50}
SEGMENTER_PARAMS = {"scope": "set", "steps": 40, "refine_steps": 20}  # notebook 04's fast-mode budgets
MOSAIC = {"n": 8, "size": 128}
COLUMNS = ["model", "images", "image_shape", "labels_compared", "label_agreement", "max_abs_diff",
           "torch_ms_median", "torch_ms_min", "onnx_ms_median", "onnx_ms_min", "speedup", "fit_s", "export_s",
           "onnx_kb", "torch_threads", "onnx_threads", "machine", "cpus", "load_1min", "torch", "onnxruntime",
           "seed"]


def machine() -> str:
    """The processor's name: ``platform.processor()``, which on Linux is often empty or only the
    architecture, so there the first ``model name`` of ``/proc/cpuinfo``; else the architecture."""
    name = platform.processor()
    if name and name != platform.machine():
        return name
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return name or platform.machine()


def measure(name: str, model, images: torch.Tensor, folder: Path, fit_s: float, repeats: int,
            image_shape=None, seed: int = 0) -> dict:
    """Export ``model``, then its parity and timing on ``images``; one row of the table."""
    import onnxruntime

    started = time.perf_counter()
    path = export_onnx(model, folder / f"{name}.onnx", image_shape=image_shape)
    export_s = time.perf_counter() - started
    om = OnnxModel(path)
    same = parity(model, om, images)
    timing = time_inference(model, om, images, repeats=repeats)
    return {"model": name, "images": len(images), "image_shape": "×".join(map(str, om.image_shape)),
            "labels_compared": same["n_labels"], "label_agreement": same["label_agreement"],
            "max_abs_diff": same["max_abs_diff"],
            **{f"{rt}_ms_{stat}": 1000 * timing[f"{rt}_{stat}_s"]
               for rt in ("torch", "onnx") for stat in ("median", "min")},
            "speedup": timing["speedup"], "fit_s": fit_s, "export_s": export_s,
            "onnx_kb": path.stat().st_size / 1024, "torch_threads": timing["torch_threads"],
            "onnx_threads": timing["onnx_threads"], "machine": machine(), "cpus": os.cpu_count(),
            "load_1min": os.getloadavg()[0],
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "seed": seed}


def fit_timed(make, images):
    """``make().fit(images)`` and its wall seconds (collapse warnings of the short budgets kept quiet)."""
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = make().fit(images)
    return model, time.perf_counter() - started


def run(repeats: int = 10, seed: int = 0) -> list[dict]:
    """Both models' rows: SCAN on digits, the set-scope deep segmenter on mosaics."""
    digits = data.load("digits").images
    mosaics = data.load_segmentation("mosaic", seed=seed, **MOSAIC).images
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        scan, fit_s = fit_timed(lambda: SCAN(seed=seed, device="cpu", **SCAN_PARAMS), digits)
        rows.append(measure("SCAN (digits)", scan, digits, Path(tmp), fit_s, repeats, image_shape=(1, 8, 8),
                            seed=seed))
        seg, fit_s = fit_timed(lambda: DeepFeatureClustering(seed=seed, device="cpu", **SEGMENTER_PARAMS),
                               mosaics)
        rows.append(measure("DeepFeatureClustering set (mosaic)", seg, mosaics, Path(tmp), fit_s, repeats,
                            seed=seed))
    return rows


def write(rows: list[dict], out: Path, repeats: int) -> None:
    """``out.csv`` (every column) and ``out.md`` (the table notebook 06 prints)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    first = rows[0]
    lines = ["# ONNX export: torch against onnxruntime on the CPU", "",
             f"`OMP_NUM_THREADS={first['torch_threads']} .venv/bin/python bench/onnx_parity.py`; machine: "
             f"{first['machine']}, {first['cpus']} CPUs (1-minute load average {first['load_1min']:.1f} when "
             f"timed: other work shares the machine); torch {first['torch']}, onnxruntime "
             f"{first['onnxruntime']}; {first['torch_threads']} thread(s) in each runtime; "
             f"seed {first['seed']}.", "",
             f"SCAN {SCAN_PARAMS} on all of scikit-learn's digits; the set-scope deep segmenter "
             f"{SEGMENTER_PARAMS} on {MOSAIC['n']} mosaics of {MOSAIC['size']}×{MOSAIC['size']} pixels (its "
             "exported network ends in the nearest k-means centre: labels before the superpixel vote). "
             "Agreement: the share of identical argmax labels (images, or pixels), onnxruntime against "
             f"torch on the same network; times: the whole set in one batch, median and minimum of {repeats} "
             "runs after one warm-up.", "",
             "| model | images | shape | labels compared | agreement | max logit diff "
             "| torch ms (median / min) | onnxruntime ms (median / min) | speedup | export s | file KB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['images']} | {r['image_shape']} | {r['labels_compared']} | "
                     f"{100 * r['label_agreement']:.2f} % | {r['max_abs_diff']:.1e} | "
                     f"{r['torch_ms_median']:.1f} / {r['torch_ms_min']:.1f} | "
                     f"{r['onnx_ms_median']:.1f} / {r['onnx_ms_min']:.1f} | {r['speedup']:.2f}× | "
                     f"{r['export_s']:.1f} | {r['onnx_kb']:.0f} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per runtime (after a warm-up)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT, help="result files without suffix")
    args = parser.parse_args()
    rows = run(args.repeats, args.seed)
    write(rows, args.out, args.repeats)
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
