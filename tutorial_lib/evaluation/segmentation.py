"""Segmentation methods scored on named sets, compared, timed on photos, tabulated.

Taught in notebook 04_pixel_segmentation (the comparison tables and photo timings) and run by
``python -m tutorial_lib segment`` and ``python -m tutorial_lib bench segmentation|photos``.

The methods (:mod:`tutorial_lib.segment`) take their training budgets as constructor parameters with
the full defaults; the caller chooses smaller ones. ``fast=True`` here applies :data:`FAST_PARAMS`
(what fast mode, ``TUTORIAL_FAST=1``, runs: the CLI passes ``fast=runtime.fast_mode()``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import runtime
from ..segment import DEFAULT_METHOD, METHODS, Segmenter
from ..segment.base import to_numpy
from .clustering import training_params

FAST_PARAMS: dict[str, dict] = {
    "otsu": {},
    "kmeans_lab": {},
    "slic_kmeans": {},
    "felzenszwalb": {},
    "kanezaki": {"max_iter": 30},
    "deep_features": {"steps": 40, "refine_steps": 20},
}
"""Method name -> the small training budgets of fast mode (those notebook 04 uses in fast mode); the
classic methods have no budget to shrink."""


def make_method(name: str | None = None, seed: int = 0, device: str = "auto", progress: bool = False,
                fast: bool = False, checkpoint_dir=None, resume: bool = False, **params) -> Segmenter:
    """Build a method of ``tutorial_lib.segment.METHODS`` by name with its default settings.

    Parameters
    ----------
    name : str or None
        A key of ``METHODS`` (default: ``DEFAULT_METHOD``).
    seed : int
    device : str
        Where the methods that train a network run (the classic ones ignore it).
    progress : bool
        The method's progress bars (training, images of a batch).
    fast : bool
        Start from :data:`FAST_PARAMS` (small training budgets) instead of the full defaults.
    checkpoint_dir, resume
        Passed to a method whose constructor takes them (none does yet: each trains for seconds).
    **params
        Override constructor parameters (they win over ``fast``).

    Raises
    ------
    ValueError
        An unknown method name.
    """
    name = name or DEFAULT_METHOD
    if name not in METHODS:
        raise ValueError(f"unknown segmentation method {name!r}; choose one of {list(METHODS)}")
    settings = {**(FAST_PARAMS.get(name, {}) if fast else {}),
                **training_params(METHODS[name], checkpoint_dir, resume), **params}
    return METHODS[name](seed=seed, device=device, progress=progress, **settings)


def evaluate(data: str, root=None, method: str | None = None, seed: int = 0, limit: int | None = None,
             device: str = "auto", progress: bool = True, fast: bool = False, checkpoint_dir=None,
             resume: bool = False) -> dict:
    """Segment every image of a segmentation set without labels and score it against its masks.

    Parameters
    ----------
    data : str
        A name for :func:`tutorial_lib.data.load_segmentation`: ``mosaic``, ``scenes``,
        ``segfolder:PATH``. The set itself is always the one of data seed 0, so seeds change only
        the method.
    root : path, optional
        Data root for relative ``segfolder`` paths.
    method : str, optional
        A key of ``METHODS`` (default ``DEFAULT_METHOD``).
    seed : int
        Seed of the method (k-means initialisation, network weights).
    limit : int, optional
        Use at most this many images (a seeded subset).
    device : str
    progress : bool
    fast : bool
        Small training budgets (:data:`FAST_PARAMS`).
    checkpoint_dir, resume
        Passed to the method if it takes them (see :func:`make_method`).

    Returns
    -------
    dict
        ``miou``, ``pixel_acc`` (Hungarian-matched per image, mean over images), ``covering``,
        ``pri``, ``voi`` (region scores, mean over images), ``seconds_per_image``, ``n_images``,
        ``mean_segments`` (segments per image), ``method``, ``device``, ``data``, ``seed``.
    """
    from ..data import load_segmentation
    from ..metrics import segmentation_report

    name = method or DEFAULT_METHOD
    seg = make_method(name, seed=seed, device=device, progress=progress, fast=fast,
                      checkpoint_dir=checkpoint_dir, resume=resume)
    ds = load_segmentation(data, root=root, limit=limit)
    images, masks = list(ds.images), [to_numpy(m) for m in ds.masks]
    started = time.perf_counter()
    preds = seg.fit_predict(images)
    seconds = time.perf_counter() - started
    scores = segmentation_report(preds, masks, regions=True)
    return {
        "miou": scores["miou"], "pixel_acc": scores["pixel_acc"], "covering": scores["covering"],
        "pri": scores["pri"], "voi": scores["voi"], "seconds_per_image": seconds / len(images),
        "n_images": len(images), "mean_segments": float(np.mean([int(p.max()) + 1 for p in preds])),
        "method": name, "device": str(runtime.device(device)), "data": data, "seed": seed,
    }


PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
"""scikit-image sample photos used as "real photos" (they ship with scikit-image, so work offline)."""

BSDS_SIZE = (321, 481)
"""Height and width of a landscape photo of the Berkeley Segmentation Dataset (BSDS500)."""


def photo(name: str = "chelsea", size: tuple[int, int] | None = BSDS_SIZE) -> torch.Tensor:
    """A scikit-image sample photo as a ``(3, H, W)`` float tensor in [0, 1].

    Parameters
    ----------
    name : str
        A function of ``skimage.data`` returning an image, e.g. one of ``PHOTOS``.
    size : (int, int) or None
        Resize so the photo covers ``size`` (height, width in pixels), then crop its centre to exactly
        that size (default: the BSDS size 321×481); None keeps the original.
    """
    import skimage.data
    from skimage.transform import resize

    loader = getattr(skimage.data, name, None)
    if loader is None or not callable(loader):
        raise ValueError(f"skimage.data has no image {name!r}; try one of {PHOTOS}")
    img = np.asarray(loader())
    img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
    img = img.astype(np.float32) / (255.0 if img.dtype.kind in "iu" or img.max() > 1 else 1.0)
    if size is not None:
        h, w = img.shape[:2]
        s = max(size[0] / h, size[1] / w)
        img = resize(img, (max(size[0], int(np.ceil(h * s))), max(size[1], int(np.ceil(w * s)))),
                     anti_aliasing=True)
        top, left = (img.shape[0] - size[0]) // 2, (img.shape[1] - size[1]) // 2
        img = img[top:top + size[0], left:left + size[1]]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()


def time_photo(name: str = "chelsea", size: tuple[int, int] = BSDS_SIZE, method: str = "kanezaki",
               seed: int = 0, device: str = "auto", fast: bool = False, **params) -> dict:
    """Time one method on one photo of BSDS size: the per-image cost a user waits for.

    ``python -c "from tutorial_lib.evaluation.segmentation import time_photo; print(time_photo())"``

    Parameters
    ----------
    name : str
        A scikit-image photo (see :func:`photo`).
    size : (int, int)
    method : str
        A key of ``METHODS``.
    seed : int
    device : str
    fast : bool
        Small training budgets (:data:`FAST_PARAMS`).
    **params
        Override the method's settings.

    Returns
    -------
    dict
        ``photo``, ``shape``, ``method``, ``seconds`` (wall clock, including the network's training),
        ``n_segments``, ``iterations`` (Kanezaki method only), ``threads`` (torch CPU threads),
        ``device``.
    """
    image = photo(name, size)
    seg = make_method(method, seed=seed, device=device, fast=fast, **params)
    started = time.perf_counter()
    labels = seg.fit_predict(image)
    seconds = time.perf_counter() - started
    out = {"photo": name, "shape": list(labels.shape), "method": method, "seconds": seconds,
           "n_segments": int(labels.max()) + 1, "threads": torch.get_num_threads(),
           "device": str(runtime.device(device))}
    if hasattr(seg, "n_iter_"):
        out["iterations"] = int(seg.n_iter_[0])
    return out


def compare_methods(images, masks=None, methods: Sequence[str] | None = None, params: dict | None = None,
                    seed: int = 0, device: str = "auto", progress: bool = True, fast: bool = False) -> dict:
    """Run several methods on the same images and score each against the masks (for notebooks).

    Parameters
    ----------
    images : batch (N, C, H, W) or list of (C, H, W), float in [0, 1]
    masks : list or (N, H, W) of int label maps, optional
        Ground truth; without it only the label maps and the time are returned.
    methods : sequence of str, optional
        Keys of ``METHODS`` (default: all, baselines first).
    params : dict method -> dict of settings, optional
        Overrides of each method's defaults (e.g. fewer iterations in fast mode).
    seed, device
    progress : bool
        A progress bar over the methods.
    fast : bool
        Start each method from :data:`FAST_PARAMS`.

    Returns
    -------
    dict method -> dict
        ``labels`` (list of (H, W) arrays), ``seconds_per_image``, and with masks ``miou``,
        ``pixel_acc`` (mean over images), ``per_image_miou`` (list).
    """
    from ..metrics import segmentation_report, segmentation_scores

    images = list(images)
    names = list(methods) if methods else list(METHODS)
    out = {}
    for name in tqdm(names, desc="methods", disable=not progress):
        seg = make_method(name, seed=seed, device=device, fast=fast, **(params or {}).get(name, {}))
        started = time.perf_counter()
        labels = seg.fit_predict(images)
        row = {"labels": labels, "seconds_per_image": (time.perf_counter() - started) / len(images)}
        if masks is not None:
            gts = [to_numpy(m) for m in masks]
            row.update({k: v for k, v in segmentation_report(labels, gts).items() if k != "n_images"})
            row["per_image_miou"] = [segmentation_scores(p, g)["miou"]
                                     for p, g in zip(labels, gts, strict=True)]
        out[name] = row
    return out


def results_table(results: dict, columns: Sequence[str] = ("miou", "pixel_acc", "seconds_per_image")) -> str:
    """A Markdown table of :func:`compare_methods` (or :func:`evaluate`) results, one row per method.

    Parameters
    ----------
    results : dict method -> dict of scores
    columns : sequence of str
        Score keys shown, in order (floats with 3 decimals).
    """
    from .tables import markdown_table

    rows = [{"method": name, **{c: float(r[c]) for c in columns if c in r}} for name, r in results.items()]
    return markdown_table(rows, tuple(columns))
