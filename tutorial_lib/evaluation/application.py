"""The application on a named set: fit :class:`tutorial_lib.application.ObjectPipeline` on the images,
predict each one, score against the masks when there are any, and write the outputs a user opens.

Taught in notebook 05_foreground_background; what ``python -m tutorial_lib application`` and
``bench application`` call.

Sets: ``photo-objects`` (and any ``load_segmentation`` name), ``segfolder:PATH`` whose masks follow the
layout of ``photo-objects`` (0 = background, c + 1 = class c: scored), ``folder:PATH`` (plain pictures:
outputs only). Outputs of :func:`write_outputs`, in ``DIR``: ``overlays/NAME.png`` (background regions
tinted, each object outlined and labelled ``class confidence``), ``objects.csv`` (image, object,
top, left, bottom, right, area, class, confidence) and ``gallery/class_K.png`` (the crops of each class).
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np
import torch

from ..application import ObjectPipeline, object_crops
from ..data.objects import true_objects
from ..metrics.objects import foreground_iou, object_scores
from ..runtime import device as resolve_device
from .outputs import output_names

DEFAULT_DATA = "photo-objects"
OBJECTS_CSV, OVERLAYS, GALLERY = "objects.csv", "overlays", "gallery"
FAST_SCENES = 12
"""Scenes of ``photo-objects`` in fast mode (default 100)."""


def load_application_set(data: str, root=None, limit: int | None = None, seed: int = 0,
                         source: str | None = None, fast: bool = False):
    """Images, true masks (or None) and names of a set. Returns (list of (C, H, W), list of (H, W) or None,
    list of str paths or None, folder or None)."""
    from ..data import load_segmentation

    kind, _, path = data.partition(":")
    if kind.lower() == "folder":
        from .segmentation import load_photos

        photos = load_photos(path, root=root, limit=limit, seed=seed)
        return photos.images, None, photos.paths, photos.folder
    options = {"source": source} if source else {}
    if kind.lower() == "photo-objects":
        options.setdefault("n", FAST_SCENES if fast else 100)
    elif source:
        raise ValueError(f"--source is for photo-objects, not {data}")
    ds = load_segmentation(data, root=root, limit=limit, seed=seed, **options)
    return list(ds.images), list(ds.masks), ds.paths, path or None


def evaluate(data: str = DEFAULT_DATA, root=None, seed: int = 0, limit: int | None = None,
             device: str = "auto", n_clusters="auto", source: str | None = None, fast: bool = False,
             progress: bool = False, method: str | None = None, **params) -> dict:
    """Fit the pipeline on ``data``, predict every image, score when masks exist.

    Parameters
    ----------
    data : str
        ``photo-objects``, ``segfolder:PATH``, ``folder:PATH``...
    n_clusters : int or "auto"
    source : str, optional
        The object source of ``photo-objects`` (``shapes``, ``digits``, ``folder:PATH``).
    fast : bool
        :data:`FAST_SCENES` scenes instead of 100.
    method : str, optional
        The recogniser (a ``cluster.METHODS`` name); default the pipeline's.
    **params
        Other :class:`ObjectPipeline` parameters.

    Returns
    -------
    dict
        ``foreground_iou``, ``object_recall``, ``object_precision``, ``object_acc``, ``per_class`` (None
        without masks), ``n_images``, ``n_objects``, ``seconds_per_image`` (predict), ``fit_seconds``,
        ``cpu_seconds``, ``method``, ``device``, ``data``, ``seed``; and, not in the JSON, ``parses``
        (each image's :class:`SceneParse`), ``images``, ``names``, ``model``.
    """
    images, masks, paths, folder = load_application_set(data, root, limit, seed, source, fast)
    if method:
        params["clusterer"] = method
    model = ObjectPipeline(n_clusters=n_clusters, seed=seed, device=device, progress=progress, **params)
    cpu, wall = time.process_time(), time.perf_counter()
    auto = None
    if n_clusters == "auto":
        # the library's label-free choice (as `cluster --clusters auto`), on the crops the recogniser sees
        from .clustering import choose_n_clusters

        auto = choose_n_clusters(model.training_crops(images), device=device, seed=0)
        model.n_clusters = auto["chosen"]
    model.fit(images)
    fit_seconds = time.perf_counter() - wall
    start = time.perf_counter()
    parses = [model.predict(im) for im in images]
    per_image = (time.perf_counter() - start) / len(images)
    result = {"data": data, "method": f"{model.foreground}+{model.clusterer}", "seed": seed,
              "device": str(resolve_device(device)), "n_images": len(images),
              "n_objects": int(sum(len(p) for p in parses)), "n_clusters": int(model.n_clusters_),
              "seconds_per_image": round(per_image, 3), "fit_seconds": round(fit_seconds, 2),
              "cpu_seconds": round(time.process_time() - cpu, 2)}
    if auto is not None:
        result["auto_clusters"] = {"criterion": auto["criterion"], "values": auto["values"]}
    result.update(score(parses, masks))
    if source:
        result["source"] = source
    names = [str(n) for n in output_names(paths, folder, len(images))]
    result.update(parses=parses, images=images, names=names, model=model)
    return result


def score(parses, masks) -> dict:
    """The scores of predicted scenes against class masks (0 = background, c + 1 = class c); None
    values without masks."""
    keys = ("foreground_iou", "object_recall", "object_precision", "object_acc", "per_class")
    if masks is None:
        return dict.fromkeys(keys)
    return _scores([p.objects for p in parses], [p.classes for p in parses], masks, keys)


def foreground_scores(object_maps, masks) -> dict:
    """The foreground stage's scores alone, before any recogniser: what :meth:`ObjectPipeline.object_maps`
    found against the masks.

    Parameters
    ----------
    object_maps : list of ndarray (H, W), int; 0 = background, 1..K the objects found
    masks : list of ndarray or Tensor (H, W), int; 0 = background, c + 1 = class c

    Returns
    -------
    dict
        ``foreground_iou`` (pixels), ``object_recall``, ``object_precision`` (a match: mask IoU >= 0.5,
        one-to-one), ``n_objects`` (found), ``n_true_objects``.
    """
    no_classes = [np.zeros(int(np.max(o, initial=0)), np.int64) for o in object_maps]
    out = _scores(object_maps, no_classes, masks, ("foreground_iou", "object_recall", "object_precision"))
    out["n_objects"] = int(sum(len(c) for c in no_classes))
    return out


def _scores(object_maps, classes, masks, keys) -> dict:
    truth = [true_objects(m) for m in masks]
    objects = object_scores(object_maps, classes, [t[0] for t in truth], [t[1] for t in truth])
    out = {"foreground_iou": foreground_iou([np.asarray(o, np.int64) for o in object_maps],
                                            [np.asarray(m) for m in masks])}
    out.update({k: objects[k] for k in keys[1:]})
    out["n_true_objects"] = objects["n_true"]
    return {k: (round(v, 4) if isinstance(v, float) and not math.isnan(v) else v) for k, v in out.items()}


def matched_crops(parses, masks) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """The crops of the predicted objects that match a true one (mask IoU >= 0.5), with the true class and
    the pipeline's class of each: what a recogniser is compared on, the foreground's errors left out.

    Parameters
    ----------
    parses : list of SceneParse
    masks : list of ndarray (H, W), int; 0 = background, c + 1 = class c

    Returns
    -------
    crops : Tensor, shape (M, 1, 28, 28), float32 in [0, 1]
    truth, predicted : ndarray, shape (M,), int64
    """
    from ..metrics.objects import match_objects

    crops, truth, predicted = [], [], []
    for parse, mask in zip(parses, masks, strict=True):
        objects, classes = true_objects(mask)
        mine = object_crops(parse.objects)
        for pred_id, true_id, _ in match_objects(parse.objects, objects):
            crops.append(mine[pred_id - 1])
            truth.append(int(classes[true_id - 1]))
            predicted.append(int(parse.classes[pred_id - 1]))
    if not crops:
        return torch.zeros(0, 1, 28, 28), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return torch.stack(crops), np.asarray(truth, np.int64), np.asarray(predicted, np.int64)


JSON_KEYS = ("foreground_iou", "object_recall", "object_precision", "object_acc", "per_class", "n_images",
             "n_objects", "n_true_objects", "n_clusters", "auto_clusters", "seconds_per_image", "fit_seconds",
             "cpu_seconds", "method", "device", "data", "seed", "source")


def summary(result: dict) -> dict:
    """The JSON-ready part of an :func:`evaluate` result."""
    return {k: result[k] for k in JSON_KEYS if k in result}


# --- outputs ---------------------------------------------------------------------------------------
def overlay(image: torch.Tensor, parse, ax=None):
    """Draw one scene: background regions tinted, objects outlined and labelled ``class conf``.

    Parameters
    ----------
    image : Tensor (C, H, W), float in [0, 1]
    parse : SceneParse
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib.pyplot as plt

    from ..viz.segmentation import overlay_segments

    if ax is None:
        h, w = image.shape[-2:]
        fig, ax = plt.subplots(figsize=(w / 80, h / 80))
    tinted = overlay_segments(image, parse.regions, alpha=0.35, boundary_colour=(1.0, 1.0, 1.0))
    tinted[parse.foreground] = image.permute(1, 2, 0).numpy()[parse.foreground].mean(-1, keepdims=True) \
        if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()[parse.foreground]
    ax.imshow(tinted)
    if len(parse):
        ax.contour(parse.foreground.astype(float), levels=[0.5], colors="red", linewidths=1.0)
    for (top, left, _, _), c, conf in zip(parse.boxes, parse.classes, parse.confidence, strict=True):
        ax.text(left, top - 2, f"{c} {conf:.2f}", color="white", fontsize=7,
                bbox={"facecolor": "red", "alpha": 0.7, "pad": 1, "linewidth": 0})
    ax.set_axis_off()
    return ax.figure


def write_outputs(out_dir, result: dict, per_class: int = 24) -> dict:
    """Write ``overlays/NAME.png``, ``objects.csv`` and ``gallery/class_K.png`` (see the module notes).

    Returns
    -------
    dict
        ``overlays`` (folder), ``csv`` (path), ``gallery`` (folder), ``n_objects`` (rows written).
    """
    import matplotlib.pyplot as plt

    from ..viz.images import image_grid

    out = Path(out_dir)
    (out / OVERLAYS).mkdir(parents=True, exist_ok=True)
    rows, crops, classes = [], [], []
    for name, image, parse in zip(result["names"], result["images"], result["parses"], strict=True):
        target = out / OVERLAYS / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fig = overlay(image, parse)
        fig.savefig(target, dpi=80, bbox_inches="tight", pad_inches=0)
        plt.close(fig)
        found = zip(parse.boxes, parse.areas, parse.classes, parse.confidence, strict=True)
        for k, (box, area, c, conf) in enumerate(found):
            rows.append([name, k + 1, *map(int, box), int(area), int(c), f"{conf:.4f}"])
        crops.append(object_crops(parse.objects))
        classes.append(parse.classes)
    with open(out / OBJECTS_CSV, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "object", "top", "left", "bottom", "right", "area", "class", "confidence"])
        writer.writerows(rows)
    (out / GALLERY).mkdir(exist_ok=True)
    crops, classes = torch.cat(crops) if crops else torch.zeros(0), np.concatenate(classes) if classes else []
    for c in np.unique(classes):
        fig = image_grid(crops[classes == c][:per_class], ncols=8, title=f"class {c}")
        fig.savefig(out / GALLERY / f"class_{int(c):02d}.png", dpi=72)
        plt.close(fig)
    return {"overlays": out / OVERLAYS, "csv": out / OBJECTS_CSV, "gallery": out / GALLERY,
            "n_objects": len(rows)}


def run_command(args) -> int:
    """The body of ``python -m tutorial_lib application`` (args from its parser)."""
    import json

    from ..runtime import fast_mode

    result = evaluate(args.data, root=args.root, seed=args.seed, limit=args.limit, device=args.device,
                      n_clusters=args.clusters or "auto", source=args.source, fast=fast_mode(),
                      method=args.method)
    table = summary(result)
    width = max(map(len, table))
    for key, value in table.items():
        print(f"{key:<{width}}  {json.dumps(value) if isinstance(value, dict) else value}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(table, indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.out:
        written = write_outputs(args.out, result)
        print(f"wrote {len(result['names'])} overlays to {written['overlays']}, {written['n_objects']} rows "
              f"to {written['csv']} and the class galleries to {written['gallery']}")
    return 0
