"""The default methods before and after the redesign on the same machine and threads (issue 13).

The mosaic table before the redesign (commit fdc23b5) and after it were made on different machines and
thread counts. This runs both versions of the code on one seed here, each in its own process with one
thread, and writes ``bench/results/redesign_parity.md``: the same mIoU from both means the redesign
changed no behaviour and the tables differ by machine::

    git worktree add /tmp/old fdc23b5
    OMP_NUM_THREADS=1 python bench/redesign_parity.py --old /tmp/old --seed 1
    OMP_NUM_THREADS=1 python bench/redesign_parity.py --old /tmp/old --task digits --seed 0

``--task digits`` does the same for SCAN on scikit-learn's digits
(``bench/results/redesign_parity_digits.md``): the code before the redesign against today's SCAN
with ``overcluster=1`` (the fit the redesign moved; the default ``"auto"`` adds the over-clustered
fit after it and keeps one of the two).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"

RUN = """
import json, sys, time
sys.path.insert(0, {root!r})
import torch, tutorial_lib
assert tutorial_lib.__file__.startswith({root!r}), tutorial_lib.__file__
try:
    from tutorial_lib.evaluation.segmentation import evaluate
except ImportError:  # before the redesign the evaluation lived in the method module
    from tutorial_lib.segment import evaluate
wall, cpu = time.perf_counter(), time.process_time()
r = evaluate("mosaic", method="deep_features", seed={seed}, progress=False)
print(json.dumps({{"miou": r["miou"], "seconds_per_image": r["seconds_per_image"],
                  "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                  "threads": torch.get_num_threads()}}))
"""

RUN_DIGITS = """
import inspect, json, sys, time
sys.path.insert(0, {root!r})
import torch, tutorial_lib
assert tutorial_lib.__file__.startswith({root!r}), tutorial_lib.__file__
try:
    from tutorial_lib.evaluation.clustering import load_for_clustering
except ImportError:  # before the redesign
    from tutorial_lib.cluster import load_for_clustering
from tutorial_lib.cluster import SCAN
from tutorial_lib.metrics import cluster_acc
ds = load_for_clustering("digits")
kw = dict(n_clusters=10, seed={seed}, device="cpu")
if "overcluster" in inspect.signature(SCAN).parameters:
    kw["overcluster"] = 1
wall, cpu = time.perf_counter(), time.process_time()
pred = SCAN(**kw).fit_predict(ds.images)
print(json.dumps({{"acc": cluster_acc(ds.labels, pred), "wall": time.perf_counter() - wall,
                  "cpu": time.process_time() - cpu, "threads": torch.get_num_threads()}}))
"""
TASKS = {"mosaic": (RUN, "miou", "`deep_features` on the 16 mosaics", "redesign_parity.md"),
         "digits": (RUN_DIGITS, "acc", "SCAN on the 1,797 digits (`overcluster=1` today)",
                    "redesign_parity_digits.md")}


def run(root: Path, seed: int, code: str = RUN) -> dict:
    """The task's ``code`` (``RUN``: ``deep_features`` on the mosaics) with the library at ``root``, in a
    fresh process."""
    done = subprocess.run([sys.executable, "-c", code.format(root=str(root), seed=seed)], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="a checkout of the code before the redesign (fdc23b5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--task", choices=sorted(TASKS), default="mosaic")
    args = parser.parse_args()
    code, score, what, name = TASKS[args.task]
    rows = {"before (fdc23b5)": run(Path(args.old).resolve(), args.seed, code),
            "now": run(ROOT, args.seed, code)}
    command = ("OMP_NUM_THREADS=1 python bench/redesign_parity.py --old OLD "
               f"--task {args.task} --seed {args.seed}")
    lines = [f"`{command}`: {what}, the same seed, machine and thread count for both versions.",
             "", f"| code | seed | {score} | wall_s | cpu_s | threads |", "|---" * 6 + "|"]
    lines += [f"| {label} | {args.seed} | {r[score]:.4f} | {r['wall']:.0f} | {r['cpu']:.0f} | "
              f"{r['threads']} |" for label, r in rows.items()]
    out = RESULTS / name
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
