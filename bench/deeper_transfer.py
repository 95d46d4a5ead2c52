"""Deeper models and transfer without labels (issue 18, item 3), printed by notebook 06_scaling_up.

Two tables, seed 0, each written as Markdown and CSV:

* ``bench/results/deeper_models``: the small CNN against the ResNet-18 for small images
  (``models.resnet18_small``), in SCAN (``SCAN(encoder=...)``) and in SimCLR + k-means
  (``features.train_simclr`` then k-means on the L2-normalised embeddings), on scikit-learn's digits
  (1,797 images, 8×8) and a 2,000-image MNIST-test subset (28×28, data seed 0). Accuracy
  (Hungarian-matched), NMI, ARI and wall seconds, with the same budget for both encoders.
* ``bench/results/transfer``: a SimCLR encoder learnt on MNIST-test reused on the digits resized to
  28×28, frozen / fine-tuned / from scratch (``scaling.transfer_experiment``).

Rows already in a CSV are kept unless the run recomputes them, so the grid can be filled in parts::

    python bench/deeper_transfer.py                       # everything, the default budgets
    python bench/deeper_transfer.py --only deeper --sets digits --encoders resnet18
    python bench/deeper_transfer.py --only transfer
    python bench/deeper_transfer.py --fast                # tiny budgets, in a temporary folder: a check

MNIST-test is read through ``tutorial_lib.data`` (``TUTORIAL_DATA_DIR``). The ResNet-18 costs 190
times SCAN's CNN's FLOPs on 28×28 images (0.91 GFLOPs against 4.8 MFLOPs per forward pass). On one
CPU thread (AMD EPYC, measured throughputs), the default run takes about 9 hours: the two
``mnist2000``/``resnet18`` cells about 7.5 (SCAN 5.5, SimCLR 2), every other deeper cell together
about 45 minutes, the transfer table about 30 minutes. Run the ResNet-18 cells on a GPU where one is
available (``--device cuda``).
"""

from __future__ import annotations

import argparse
import csv
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from tutorial_lib import data, metrics, runtime
from tutorial_lib.cluster import SCAN, KMeans
from tutorial_lib.features import embed, train_simclr
from tutorial_lib.models import count_parameters
from tutorial_lib.scaling import resize_images, transfer_experiment

RESULTS = Path(__file__).parent / "results"
SETS = ("digits", "mnist2000")
ENCODERS = ("cnn", "resnet18")
METHODS = ("scan", "simclr-kmeans")

DEFAULT = {"limit": None, "scan": {}, "simclr_epochs": 30,
           "transfer": {"source_limit": None, "target_limit": None, "epochs": 15, "fine_tune_epochs": 10}}
"""The default budgets: SCAN's own defaults (60 / 600 / 200 steps), SimCLR 30 epochs; transfer: all
of MNIST-test for 15 epochs, all the digits for 10."""
FAST = {"limit": 200, "scan": {"warm_steps": 2, "steps": 4, "self_label_steps": 2, "batch_size": 64},
        "simclr_epochs": 1,
        "transfer": {"source_limit": 300, "target_limit": 300, "epochs": 1, "fine_tune_epochs": 1}}
"""Tiny budgets and subsets for ``--fast``: a smoke check of the script, not results."""

DEEPER_COLUMNS = ("set", "n", "method", "encoder", "params_m", "acc", "nmi", "ari", "seconds", "budget",
                  "threads", "device")
TRANSFER_COLUMNS = ("arch", "encoder", "kmeans_acc", "nmi", "knn_acc", "seconds", "source_seconds",
                    "epochs", "source_n", "target_n", "threads", "device")


DEEPER_TITLE = "Small CNN against ResNet-18: SCAN and SimCLR + k-means"
DEEPER_NOTE = ("Same budget for both encoders; `cnn` is each method's own small CNN (SCAN: `scan_encoder`; "
               "SimCLR: `ConvEncoder`, 3 stages of width 32). `seconds`: wall time of the fit (SimCLR: "
               "training, embedding and k-means).")
TRANSFER_TITLE = "Transfer without labels: MNIST-test to digits (28×28)"
TRANSFER_NOTE = ("Digits resized to 28×28 (bilinear, pad {pad}). `seconds`: time spent on the target "
                 "(training and embedding); `source_seconds`: the SimCLR run on MNIST-test the row reuses. "
                 "Labels only score: k-means accuracy and NMI on the L2-normalised embeddings, 5-NN accuracy "
                 "(5-fold).")


def load_set(name: str, limit: int | None):
    """``digits`` or ``mnist2000`` (a fixed 2,000-image subset of MNIST-test), optionally cut to ``limit``."""
    if name == "mnist2000":
        return data.load("mnist", split="test", limit=limit or 2000, seed=0)
    return data.load(name, limit=limit, seed=0)


def run_deeper(set_name: str, method: str, encoder: str, budget: dict, device: str, seed: int = 0) -> dict:
    """One cell of the deeper-models table: fit, score against the hidden labels, time."""
    ds = load_set(set_name, budget["limit"])
    started = time.perf_counter()
    if method == "scan":
        scan = SCAN(n_clusters=10, encoder=encoder, seed=seed, device=device, **budget["scan"])
        labels = scan.fit_predict(ds.images)
        params = count_parameters(scan.model_.encoder)
        given = scan.get_params()
        label = "steps " + "/".join(str(given[k]) for k in ("warm_steps", "steps", "self_label_steps"))
    else:
        model, _ = train_simclr(ds.images, encoder=encoder, epochs=budget["simclr_epochs"], seed=seed,
                                device=device, progress=False)
        feats = embed(model, ds.images, device=device)
        # k-means on directions: the contrastive loss ignores the features' lengths.
        labels = KMeans(10, seed=seed).fit_predict(F.normalize(feats, dim=1))
        params = count_parameters(model.encoder)
        label = f"epochs {budget['simclr_epochs']}"
    seconds = time.perf_counter() - started
    scores = metrics.clustering_scores(ds.labels, labels)
    return {"set": set_name, "n": len(ds.images), "method": method, "encoder": encoder,
            "params_m": round(params / 1e6, 2), **{k: round(float(v), 4) for k, v in scores.items()},
            "seconds": round(seconds, 1), "budget": label, "threads": torch.get_num_threads(),
            "device": str(runtime.device(device))}


def run_transfer(arch: str, budget: dict, device: str, seed: int = 0, pad: int = 0) -> list[dict]:
    """The transfer table: MNIST-test -> digits resized to 28×28, three encoders."""
    settings = budget["transfer"]
    source = data.load("mnist", split="test", limit=settings["source_limit"], seed=0)
    target = data.load("digits", limit=settings["target_limit"], seed=0)
    target_images = resize_images(target.images, source.images.shape[-2:], pad=pad)
    result = transfer_experiment(source.images, target_images, target.labels, encoder=arch,
                                 epochs=settings["epochs"], fine_tune_epochs=settings["fine_tune_epochs"],
                                 seed=seed, device=device)
    common = {"arch": arch, "source_n": len(source.images), "target_n": len(target.images),
              "threads": torch.get_num_threads(), "device": str(runtime.device(device))}
    return [{**common, "encoder": name, **{k: round(float(v), 4) if isinstance(v, float) else v
                                           for k, v in row.items()}} for name, row in result.items()]


def merge(path: Path, rows: list[dict], key: tuple[str, ...], columns: tuple[str, ...]) -> list[dict]:
    """The rows of the CSV at ``path`` with ``rows`` replacing those of the same ``key``; written back."""
    old = list(csv.DictReader(path.open())) if path.exists() else []
    new_keys = {tuple(str(r[k]) for k in key) for r in rows}
    merged = [r for r in old if tuple(r[k] for k in key) not in new_keys] + rows
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(merged)
    return merged


def _cell(column: str, value) -> str:
    # Rows read back from the CSV hold strings: decimals are recognised by their point.
    text = str(value)
    if not re.fullmatch(r"-?\d+\.\d*", text):
        return text
    return f"{float(text):.1f}" if column.endswith("seconds") else f"{float(text):.3f}"


def write_markdown(path: Path, title: str, notes: list[str], rows: list[dict], columns) -> None:
    """A Markdown page: title, notes, then one table of ``rows``."""
    lines = [f"# {title}", "", *notes, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(c, r.get(c, "")) for c in columns) + " |" for r in rows]
    path.write_text("\n".join(lines) + "\n")


def machine() -> str:
    """CPU model, threads, torch version and the accelerator, for the tables' notes."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines()
                 if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return f"Machine: {cpu}; torch threads: {torch.get_num_threads()}; torch {torch.__version__}; GPU: {gpu}."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny budgets and subsets (a smoke check)")
    parser.add_argument("--only", choices=("deeper", "transfer"), help="run one of the two tables")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=ENCODERS)
    parser.add_argument("--transfer-encoder", default="cnn", choices=ENCODERS)
    parser.add_argument("--pad", type=int, default=0,
                        help="border of the resized digits (4: MNIST's 20×20 box)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help=f"default {RESULTS}; with --fast, a temporary folder")
    args = parser.parse_args(argv)
    budget = FAST if args.fast else DEFAULT
    if args.out is None:  # smoke-check rows must never replace real ones in bench/results
        args.out = Path(tempfile.gettempdir()) / "deeper_transfer_fast" if args.fast else RESULTS
    print(f"writing to {args.out}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python bench/deeper_transfer.py " + " ".join(argv if argv is not None else sys.argv[1:])
    fast_note = " (FAST budgets and subsets: a smoke check, not results)" if args.fast else ""
    notes = [f"Command: `{command.strip()}`; seed {args.seed}{fast_note}.", "", machine()]
    if args.only in (None, "deeper"):
        for set_name in args.sets:
            for method in args.methods:
                for encoder in args.encoders:
                    row = run_deeper(set_name, method, encoder, budget, args.device, args.seed)
                    print(row, flush=True)
                    rows = merge(args.out / "deeper_models.csv", [row], ("set", "method", "encoder"),
                                 DEEPER_COLUMNS)
                    write_markdown(args.out / "deeper_models.md", DEEPER_TITLE, notes + ["", DEEPER_NOTE],
                                   rows, DEEPER_COLUMNS)
    if args.only in (None, "transfer"):
        rows = run_transfer(args.transfer_encoder, budget, args.device, args.seed, args.pad)
        for row in rows:
            print(row, flush=True)
        rows = merge(args.out / "transfer.csv", rows, ("arch", "encoder"), TRANSFER_COLUMNS)
        write_markdown(args.out / "transfer.md", TRANSFER_TITLE,
                       notes + ["", TRANSFER_NOTE.format(pad=args.pad)], rows, TRANSFER_COLUMNS)


if __name__ == "__main__":
    main()
