"""Result files a user can open: which image went to which cluster, a gallery of the clusters, a summary,
and for segmentation one label map and one overlay per picture.

Taught in notebook 03_clustering_classification (section "your own folder": read ``assignments.csv``)
and 04_pixel_segmentation; written by ``python -m tutorial_lib cluster|predict|segment --out DIR``.

Clustering (:func:`write_clustering`), in ``DIR``:

- ``assignments.csv``: one row per image clustered (skipped files are absent), columns ``path`` (the
  image's file; ``NAME[i]`` for the i-th item of a built-in set), ``cluster`` (0..k-1), ``confidence``
  (see :func:`tutorial_lib.evaluation.clustering.assign`: the model's probability for the cluster, or
  ``1 - d1/d2`` for k-means; 4 decimals, empty when there is none) and, when the folder has class
  subfolders, ``true_class`` (the subfolder's name);
- ``clusters.png``: a gallery, one row of sample images per cluster, captioned with its size (and, with
  labels, its matched class and purity; wrongly clustered images framed red);
- ``summary.json``: the result dict, the same as ``--json`` (scores, ``cluster_sizes``, ``k_selection``...).

Segmentation (:func:`write_segmentation`), in ``DIR``:

- ``labels/NAME.png``: the label map of each picture at the picture's original size, consecutive labels
  ``0..K-1`` as grey values (8-bit PNG, 16-bit beyond 255 labels: read it back with
  ``tutorial_lib.data.read_mask`` or ``numpy.asarray(PIL.Image.open(path))``);
- ``overlays/NAME.png``: the picture with its segments tinted and their boundaries drawn in yellow;
- ``summary.json``: the result dict.

``NAME`` is the picture's path under the folder given, its suffix replaced by ``.png``: sub-folders are
mirrored (``a/001.jpg`` -> ``labels/a/001.png``), and when two files of a folder share a stem
(``x.jpg``, ``x.png``) each keeps its whole name (``x.jpg.png``, ``x.png.png``). Generated sets have no
files: ``0000.png``, ``0001.png``... Files of an earlier run that this one does not write are left as they
are.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np
import torch

ASSIGNMENTS, GALLERY, SUMMARY = "assignments.csv", "clusters.png", "summary.json"
"""The file names of the clustering outputs (and the summary of a segmentation)."""

LABELS, OVERLAYS = "labels", "overlays"
"""The sub-folders of the segmentation outputs."""

__all__ = ["ASSIGNMENTS", "GALLERY", "LABELS", "OVERLAYS", "SUMMARY", "label_image", "output_names",
           "write_assignments", "write_clustering", "write_gallery", "write_segmentation", "write_summary"]


# --- clustering ----------------------------------------------------------------------------------


def write_assignments(path, assignments, set_name: str = "item") -> Path:
    """Write ``assignments.csv``: ``path, cluster, confidence[, true_class]``, one row per image.

    Parameters
    ----------
    path : path of the CSV file
    assignments : evaluation.clustering.Assignments
    set_name : str
        Names the items of a set without files: ``NAME[i]``.
    """
    path = Path(path)
    sources = assignments.paths or [f"{set_name}[{i}]" for i in range(len(assignments))]
    truth = assignments.true_classes()
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "cluster", "confidence", *(["true_class"] if truth is not None else [])])
        for i, (source, cluster, conf) in enumerate(zip(sources, assignments.clusters.tolist(),
                                                        assignments.confidence.tolist(), strict=True)):
            row = [source, int(cluster), "" if math.isnan(conf) else f"{conf:.4f}"]
            writer.writerow(row + ([truth[i]] if truth is not None else []))
    return path


def write_gallery(path, images, assignments, title: str | None = None, n_per_cluster: int = 10) -> Path:
    """Write ``clusters.png``: :func:`tutorial_lib.viz.plot_cluster_gallery`, one row per cluster with its
    size (with labels: its matched class and purity).

    Parameters
    ----------
    path : path of the PNG file
    images : Tensor (N, C, H, W), float in [0, 1], the images of ``assignments`` in the same order
    assignments : evaluation.clustering.Assignments
    title : str, optional
    n_per_cluster : int, sample images per row
    """
    import matplotlib.pyplot as plt

    from .. import viz

    fig = viz.plot_cluster_gallery(images, assignments.clusters, n_per_cluster=n_per_cluster,
                                   labels=assignments.labels, classes=assignments.classes or None,
                                   title=title)
    try:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return Path(path)


def write_summary(path, result: dict) -> Path:
    """Write ``summary.json``: the result dict as JSON (what ``--json`` writes)."""
    path = Path(path)
    path.write_text(json.dumps(dict(result), indent=2) + "\n", encoding="utf-8")
    return path


def write_clustering(out_dir, result, images, set_name: str = "item") -> list[Path]:
    """Write ``assignments.csv``, ``clusters.png`` and ``summary.json`` of a clustering into ``out_dir``
    (created if needed).

    Parameters
    ----------
    out_dir : path
    result : evaluation.clustering.ClusteringResult (its ``assignments`` in the order of ``images``)
    images : Tensor (N, C, H, W), float in [0, 1]
    set_name : str, names the items of a set without files in the CSV

    Returns
    -------
    list of Path, the files written
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    title = (f"{result.get('method', '')} on {result.get('data', set_name)}: "
             f"{result.get('n_clusters')} clusters")
    return [write_assignments(out / ASSIGNMENTS, result.assignments, set_name),
            write_gallery(out / GALLERY, images, result.assignments, title),
            write_summary(out / SUMMARY, result)]


# --- segmentation --------------------------------------------------------------------------------


def output_names(paths: list[str] | None, folder: str | None, n: int) -> list[PurePosixPath]:
    """The name under ``labels/`` and ``overlays/`` of each picture (see the module notes).

    Parameters
    ----------
    paths : list of str, or None (a generated set: ``0000.png``...)
    folder : str, the folder the names are relative to
    n : int, the number of pictures when ``paths`` is None
    """
    if not paths:
        return [PurePosixPath(f"{i:04d}.png") for i in range(n)]
    base = Path(folder).absolute() if folder else None
    relative = []
    for p in paths:
        p = Path(p)
        try:
            relative.append(PurePosixPath(p.relative_to(base).as_posix()) if base else PurePosixPath(p.name))
        except ValueError:  # not under the folder (a link): its name alone
            relative.append(PurePosixPath(p.name))
    stems = Counter(r.with_suffix(".png") for r in relative)
    return [r.with_suffix(".png") if stems[r.with_suffix(".png")] == 1 else r.with_name(r.name + ".png")
            for r in relative]


def label_image(labels: np.ndarray):
    """A label map (H, W) of integers 0..K-1 as a Pillow grey image: 8-bit while K <= 256, else 16-bit.

    Raises
    ------
    ValueError
        Negative labels, or more than 65,536 of them (a PNG holds at most 16 bits per grey pixel).
    """
    from PIL import Image

    lab = np.asarray(labels)
    if lab.size and (lab.min() < 0 or lab.max() > 65535):
        raise ValueError(f"labels must lie in 0..65535 to be saved as PNG, got {lab.min()}..{lab.max()}")
    dtype = np.uint8 if lab.size == 0 or lab.max() < 256 else np.uint16
    return Image.fromarray(np.ascontiguousarray(lab.astype(dtype)))


def _picture(result, i: int) -> torch.Tensor:
    """Picture ``i`` of a segmentation result at its original size, (C, H, W) float in [0, 1]."""
    from ..data import read_image

    if result.images is not None:
        return torch.as_tensor(result.images[i])
    pixels = read_image(result.paths[i])
    if pixels is None:
        raise OSError(f"{result.paths[i]} can no longer be read: it changed since it was segmented")
    return torch.from_numpy(pixels).permute(2, 0, 1)


def write_segmentation(out_dir, result, alpha: float = 0.3) -> dict:
    """Write ``labels/NAME.png``, ``overlays/NAME.png`` (one pair per picture, at its original size) and
    ``summary.json`` of a segmentation into ``out_dir``; pictures are read again one at a time.

    Parameters
    ----------
    out_dir : path
    result : evaluation.segmentation.SegmentationResult
    alpha : float, the weight of the segment colours in the overlays

    Returns
    -------
    dict
        ``labels`` and ``overlays`` (the folders written) and ``n`` (pictures).
    """
    from PIL import Image

    from ..viz import overlay_segments

    out = Path(out_dir)
    names = output_names(result.paths, result.folder, len(result.labels))
    for i, name in enumerate(names):
        labels = result.label_map(i)
        for sub in (LABELS, OVERLAYS):
            (out / sub / name).parent.mkdir(parents=True, exist_ok=True)
        label_image(labels).save(out / LABELS / name)
        overlay = overlay_segments(_picture(result, i), labels, alpha=alpha)
        Image.fromarray(np.round(overlay * 255).astype(np.uint8)).save(out / OVERLAYS / name)
    write_summary(out / SUMMARY, result)
    return {"labels": out / LABELS, "overlays": out / OVERLAYS, "n": len(names)}
