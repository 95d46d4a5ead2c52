"""The deep-feature segmenter before and after the redesign on the same machine and threads (issue 13).

The mosaic table before the redesign (commit fdc23b5) and after it were made on different machines and
thread counts. This runs both versions of the code on one seed here, each in its own process with one
thread, and writes ``bench/results/redesign_parity.md``: the same mIoU from both means the redesign
changed no behaviour and the tables differ by machine::

    git worktree add /tmp/old fdc23b5
    OMP_NUM_THREADS=1 python bench/redesign_parity.py --old /tmp/old --seed 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results" / "redesign_parity.md"

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


def run(root: Path, seed: int) -> dict:
    """``deep_features`` on the mosaics with the code at ``root``, in a fresh process."""
    done = subprocess.run([sys.executable, "-c", RUN.format(root=str(root), seed=seed)], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="a checkout of the code before the redesign (fdc23b5)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rows = {"before (fdc23b5)": run(Path(args.old).resolve(), args.seed), "now": run(ROOT, args.seed)}
    lines = [f"`OMP_NUM_THREADS=1 python bench/redesign_parity.py --old OLD --seed {args.seed}`: "
             "`deep_features` on the 16 mosaics, the same seed, machine and thread count for both versions.",
             "", "| code | seed | miou | seconds_per_image | wall_s | cpu_s | threads |", "|---" * 7 + "|"]
    lines += [f"| {name} | {args.seed} | {r['miou']:.4f} | {r['seconds_per_image']:.1f} | {r['wall']:.0f} | "
              f"{r['cpu']:.0f} | {r['threads']} |" for name, r in rows.items()]
    OUT.write_text("\n".join(lines) + "\n")
    print(OUT.read_text())


if __name__ == "__main__":
    main()
