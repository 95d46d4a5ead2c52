"""What the default segmenter (``auto``) chooses on each set, and the statistics behind it (issue 16, item 5).

For every set: the mean colour coherence and the mean two-tone ratio of its images
(:func:`tutorial_lib.segment.image_statistics`), the method :func:`tutorial_lib.segment.choose_method`
picks, and the best method of that set's benchmark table (``bench/results/segmentation_*.json``), so the
table shows whether the label-free rule picks the method that scores best. The grey rows are the same
photos in grey, which must not change the choice. Writes ``bench/results/segment_choice.md`` and
``.json``::

    python bench/segment_choice.py            # 30 images of each set (seeded subsets)
    python bench/segment_choice.py --limit 0  # every image
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tutorial_lib.data import load_segmentation
from tutorial_lib.evaluation.tables import markdown_table
from tutorial_lib.segment import choose_method, image_statistics
from tutorial_lib.segment.base import as_images

SETS = ("mosaic", "scenes", "segfolder:nuclei", "bsds500:val", "bsds500:train", "photo-objects")
OUT = Path(__file__).parent / "results" / "segment_choice"
RESULTS = Path(__file__).parent / "results"
TABLES = {"mosaic": "segmentation_mosaic.json", "scenes": "segmentation_scenes.json",
          "segfolder:nuclei": "segmentation_segfolder__shared_data_nuclei.json",
          "bsds500:val": "segmentation_bsds500_val.json"}


def best_in_table(name: str) -> str:
    """The best method of a set's stored benchmark table (mIoU, or covering at ODS), or '-' if none."""
    path = RESULTS / TABLES.get(name, "none")
    if not path.exists():
        return "-"
    rows = json.loads(path.read_text())["median"]
    key = "covering_ods" if name.startswith("bsds500") else "miou"
    scored = {r["method"]: r[key] for r in rows if r.get(key) is not None and r["method"] != "auto"}
    return max(scored, key=scored.get) if scored else "-"


def row(name: str, images: list, grey: bool) -> dict:
    """The statistics and the choice on one set (its images made grey when ``grey``)."""
    arrays = as_images(images)
    if grey:
        arrays = [a.mean(axis=2, keepdims=True) for a in arrays]
    started = time.process_time()
    stats = image_statistics(arrays)
    return {"set": name + (" (grey)" if grey else ""), "n_images": len(arrays),
            "coherence_mean": round(float(np.mean(stats["coherence"])), 3),
            "two_tone_mean": round(float(np.mean(stats["two_tone"])), 3),
            "two_tone_p10_p90": [round(float(v), 3) for v in np.percentile(stats["two_tone"], [10, 90])],
            "chosen": choose_method(stats), "best_in_table": "-" if grey else best_in_table(name),
            "cpu_seconds_per_image": round((time.process_time() - started) / len(arrays), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=30, help="images per set (0: all)")
    args = parser.parse_args()
    rows = []
    for name in SETS:
        ds = load_segmentation(name, limit=args.limit or None)
        rows.append(row(name, list(ds.images), grey=False))
        if name.startswith("bsds500"):
            rows.append(row(name, list(ds.images), grey=True))
        print(rows[-1], flush=True)
    payload = {"command": "python bench/segment_choice.py", "rows": rows}
    OUT.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
    head = ["set", "n_images", "coherence_mean", "two_tone_mean", "two_tone_p10_p90", "chosen",
            "best_in_table", "cpu_seconds_per_image"]
    lines = ["`python bench/segment_choice.py`: the default segmenter's choice on each set. Textures (mean "
             "coherence < 0.5) or two-toned images (mean two-tone ratio <= 0.65) go to `deep_features`, the "
             "rest to `rag-merge`; `best_in_table`: the set's best method in `bench/results/segmentation_*`.",
             "", markdown_table(rows, head[1:], first="set")]
    OUT.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
