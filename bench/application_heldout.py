"""The application's foreground on scenes it was not tuned on (issue 17's held-out check).

Objects of other sources on BSDS500 photos instead of MNIST digits on scikit-image's pictures:
``shapes`` on the val photos and scikit-learn's digits on the train photos, 100 scenes each, seed 0.
The recogniser is ``pca-kmeans`` (the foreground and object scores do not depend on it), with the true
number of classes. ``--rule contrast`` keeps candidates by their plain contrast with their ring (the rule
before the standout ratio) for comparison. Writes ``bench/results/application_heldout.md``::

    python bench/application_heldout.py --root ../shared/data
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tutorial_lib.application import ObjectPipeline, region_contrast
from tutorial_lib.data import load_segmentation
from tutorial_lib.evaluation.application import score
from tutorial_lib.evaluation.tables import markdown_table

OUT = Path(__file__).parent / "results" / "application_heldout.md"
SETS = (("shapes", "bsds500:val"), ("digits", "bsds500:train"))
SCORES = ("foreground_iou", "object_recall", "object_precision", "object_acc")


class ContrastOnly(ObjectPipeline):
    """The pipeline with candidates kept by plain contrast (no spread)."""

    @staticmethod
    def standouts(pixels, regions):
        return region_contrast(pixels, regions)


def run(source: str, backgrounds: str, rule: str, root: str | None, n: int, seed: int) -> dict:
    """Fit and score the pipeline on ``n`` scenes of ``source`` objects on ``backgrounds``."""
    ds = load_segmentation("photo-objects", n=n, seed=seed, root=root, source=source,
                           backgrounds=backgrounds)
    k = len(np.unique(np.concatenate([np.unique(np.asarray(m)) for m in ds.masks]))) - 1
    cls = ContrastOnly if rule == "contrast" else ObjectPipeline
    started = time.perf_counter()
    model = cls(clusterer="pca-kmeans", n_clusters=k, seed=seed).fit(ds.images)
    scores = score([model.predict(im) for im in ds.images], ds.masks)
    return {"objects": source, "backgrounds": backgrounds, "rule": rule,
            **{s: round(float(scores[s]), 3) for s in SCORES},
            "seconds": round(time.perf_counter() - started)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="data folder holding BSDS500")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rules", nargs="+", default=["standout", "contrast"],
                        choices=["standout", "contrast"])
    args = parser.parse_args()
    rows = [run(src, bg, rule, args.root, args.n, args.seed) for src, bg in SETS for rule in args.rules]
    text = (f"`python bench/application_heldout.py` ({args.n} scenes, seed {args.seed}; pca-kmeans with the "
            "true number of classes): the application's foreground on object sources and backgrounds it was "
            "not tuned on.\n\n" + markdown_table(rows, ["objects", "backgrounds", *SCORES, "seconds"],
                                                  first="rule") + "\n")
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
