"""The headless pipeline behind ``make demo`` / ``python -m tutorial_lib demo``.

It runs the series' two results end to end on built-in data, with no notebook: images classified
with no labels (the default deep clustering method on scikit-learn's digits), and images segmented
with no labels (the default segmentation method on generated texture mosaics). Labels and masks are
used only to score. Figures, a Markdown summary and a JSON file go to one folder. It is a caller
(like the notebooks): it picks the fast budgets in fast mode and hands them to the evaluation layer.
The README's quick start runs it (``make demo``); notebooks 03 and 04 teach what it runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files only

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from . import cluster, data, metrics, runtime, segment, viz  # noqa: E402
from .evaluation import clustering, segmentation  # noqa: E402


def _save(fig, path: Path) -> str:
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path.name


def classify_without_labels(out: Path, seed: int = 0, data_name: str = "digits") -> dict:
    """Cluster ``data_name`` with the default method; write its gallery and confusion matrix.

    Returns
    -------
    dict with ``acc``, ``nmi``, ``ari``, ``seconds``, ``n_samples``, ``method`` and ``figures``.
    """
    ds = clustering.load_for_clustering(data_name, limit=runtime.pick(None, 300))
    k = len(ds.classes)
    estimator = clustering.make_estimator(None, k, seed, fast=runtime.fast_mode())
    started = time.perf_counter()
    predicted = estimator.fit_predict(ds.images)
    seconds = time.perf_counter() - started
    scores = metrics.clustering_scores(ds.labels, predicted)
    figures = [
        _save(viz.plot_cluster_gallery(ds.images, predicted, labels=ds.labels, classes=ds.classes,
                                       seed=seed, title=f"clusters of {data_name}"),
              out / "clusters_gallery.png"),
        _save(viz.plot_confusion_matrix(ds.labels, predicted, classes=ds.classes),
              out / "clusters_confusion.png"),
    ]
    return {**scores, "seconds": round(seconds, 1), "n_samples": len(ds),
            "method": cluster.DEFAULT_METHOD, "data": data_name, "figures": figures}


def segment_without_labels(out: Path, seed: int = 0, data_name: str = "mosaic") -> dict:
    """Segment ``data_name`` with the default method; write image / segmentation / truth panels.

    Returns
    -------
    dict with ``miou``, ``pixel_acc``, ``seconds_per_image``, ``n_images``, ``method`` and ``figures``.
    """
    ds = data.load_segmentation(data_name, limit=runtime.pick(8, 2), seed=seed)
    method = segmentation.make_method(None, seed=seed, fast=runtime.fast_mode())
    started = time.perf_counter()
    preds = [method.fit_predict(image) for image in ds.images]
    seconds = (time.perf_counter() - started) / len(preds)
    report = metrics.segmentation_report(preds, [m.numpy() for m in ds.masks])
    panels, titles = [], []
    for image, pred, mask in list(zip(ds.images, preds, ds.masks, strict=True))[:4]:
        panels += [image, torch.as_tensor(pred)[None].float(), mask[None].float()]
        titles += ["image", "found (no labels)", "ground truth"]
    figures = [_save(viz.image_grid(panels, ncols=3, titles=titles, rescale=True, panel_size=2.0),
                     out / "segmentation.png")]
    return {"miou": report["miou"], "pixel_acc": report["pixel_acc"],
            "seconds_per_image": round(seconds, 2), "n_images": len(preds),
            "method": segment.DEFAULT_METHOD, "data": data_name, "figures": figures}


def run_demo(out_dir: str | Path = "reports", seed: int = 0) -> str:
    """Run both halves of the pipeline and write ``summary.md``, ``summary.json`` and the figures.

    Returns
    -------
    str
        The Markdown summary (also written to ``out_dir/summary.md``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runtime.seed_everything(seed)
    results = {"classification": classify_without_labels(out, seed),
               "segmentation": segment_without_labels(out, seed),
               "device": str(runtime.device("auto")), "seed": seed, "fast_mode": runtime.fast_mode()}
    c, s = results["classification"], results["segmentation"]
    summary = "\n".join([
        "# Unsupervised recognition and segmentation: demo run", "",
        f"Device `{results['device']}`, seed {seed}, fast mode {results['fast_mode']}.", "",
        f"## Classification with no labels: `{c['data']}` ({c['n_samples']} images), method `{c['method']}`",
        "", f"Matched accuracy {c['acc']:.3f}, NMI {c['nmi']:.3f}, ARI {c['ari']:.3f} "
        f"in {c['seconds']:.0f} s.", "",
        *[f"![{f}]({f})" for f in c["figures"]], "",
        f"## Segmentation with no labels: `{s['data']}` ({s['n_images']} images), method `{s['method']}`",
        "", f"Hungarian-matched mIoU {s['miou']:.3f}, pixel accuracy {s['pixel_acc']:.3f}, "
        f"{s['seconds_per_image']:.1f} s per image.", "",
        *[f"![{f}]({f})" for f in s["figures"]], ""])
    (out / "summary.md").write_text(summary)
    (out / "summary.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    return summary
