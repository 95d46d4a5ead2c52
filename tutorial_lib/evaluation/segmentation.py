"""Segmentation methods scored on named sets, compared, timed on photos, tabulated.

Taught in notebook 04_pixel_segmentation (the comparison tables and photo timings) and run by
``python -m tutorial_lib segment`` and ``python -m tutorial_lib bench segmentation|photos``.

The methods (:mod:`tutorial_lib.segment`) take their training budgets as constructor parameters with
the full defaults; the caller chooses smaller ones. ``fast=True`` here applies :data:`FAST_PARAMS`
(what fast mode, ``TUTORIAL_FAST=1``, runs: the CLI passes ``fast=runtime.fast_mode()``).

:func:`evaluate` also segments the user's plain photos (``folder:PATH``, no masks: nothing to score) and
keeps every label map on its result (:class:`SegmentationResult`), at the size of the original picture
through :meth:`SegmentationResult.label_map`; :mod:`tutorial_lib.evaluation.outputs` writes them as PNG
files with overlays.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import runtime
from ..data.folders import MAX_SIDE, _resolve_folder
from ..data.reading import read_image
from ..runtime import progress_bar as tqdm
from ..segment import DEFAULT_METHOD, METHODS, Segmenter
from ..segment.base import relabel_consecutive, to_numpy
from .clustering import training_params

FAST_PARAMS: dict[str, dict] = {
    "otsu": {},
    "kmeans_lab": {},
    "slic_kmeans": {},
    "felzenszwalb": {},
    "kanezaki": {"max_iter": 30},
    "deep_features": {"steps": 40, "refine_steps": 20},
    "rag-merge": {},
}
FAST_PARAMS["auto"] = {"params": {"deep_features": FAST_PARAMS["deep_features"]}}
"""Method name -> the small training budgets of fast mode (those notebook 04 uses in fast mode); the
classic methods have no budget to shrink; ``auto`` passes them to the method it chooses."""


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


# --- the user's plain photos (folder:PATH) -------------------------------------------------------


@dataclass
class Photos:
    """The pictures of a ``folder:PATH`` at their working size, and where each came from.

    Attributes
    ----------
    images : list of Tensor (C, h, w), float32 in [0, 1]; C = 1 when every picture is grey, else 3
    sizes : list of (H, W), the size of each original picture (as a viewer shows it)
    paths : list of str, the absolute path of each picture's file
    folder : str, the folder given (the output names are relative to it)
    note : str, the line that says what was loaded
    """

    images: list[torch.Tensor]
    sizes: list[tuple[int, int]]
    paths: list[str]
    folder: str
    note: str


def list_photos(folder: Path) -> list[Path]:
    """Every file under ``folder`` and its sub-folders (hidden ones left out), sorted folder by folder; a
    link to a folder is not followed (a warning names it: it could loop)."""
    files = []
    for here, subfolders, names in os.walk(folder):
        here = Path(here)
        for name in sorted(subfolders):
            if (here / name).is_symlink():
                warnings.warn(f"skipped {here / name}: a link to a folder, not followed (it could loop); "
                              "give its target as a folder of its own", UserWarning, stacklevel=3)
        subfolders[:] = sorted(n for n in subfolders if not n.startswith(".") and not (here / n).is_symlink())
        files += [here / n for n in sorted(names) if not n.startswith(".")]
    return files


def _working_picture(pixels: np.ndarray, max_side: int) -> torch.Tensor:
    """A picture (H, W, 3) as (C, h, w): one channel when grey, shrunk (aspect kept, antialiased) so that
    its longer side is at most ``max_side``."""
    from ..data.sets import resize

    image = torch.from_numpy(pixels).permute(2, 0, 1)
    if torch.equal(image[0], image[1]) and torch.equal(image[0], image[2]):
        image = image[:1]
    h, w = image.shape[1:]
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        image = resize(image, (max(1, round(h * scale)), max(1, round(w * scale))), "bilinear")
    return image.contiguous()


def load_photos(path: str, root=None, limit: int | None = None, seed: int = 0, max_side: int = MAX_SIDE,
                report: Callable[[str], object] | None = print) -> Photos:
    """The pictures of a folder (and its sub-folders) for segmentation, each at its own working size.

    Each picture is read at full size (the EXIF orientation applied), then kept at its size or, when its
    longer side exceeds ``max_side`` (default the data loader's :data:`tutorial_lib.data.folders.MAX_SIDE`
    = 512 pixels), shrunk to that longer side, aspect kept: the methods work at that size and
    :meth:`SegmentationResult.label_map` brings the labels back to the original size. Unreadable and
    non-image files are skipped with one warning each. One line says what was loaded (``report``).

    Parameters
    ----------
    path : str
        The folder, as given, else relative to the data root ``root``.
    limit, seed : keep a seeded subset of this many files before any is read.
    max_side : int
    report : callable, optional (default ``print``; None keeps quiet)

    Returns
    -------
    Photos
    """
    from ..data.sets import subset_indices

    folder = _resolve_folder(path, root)
    if (folder / "images").is_dir() and (folder / "masks").is_dir():
        warnings.warn(f"{folder} holds images/ and masks/: as folder: both are segmented as photos; use "
                      f"segfolder:{path} to segment images/ and score them against masks/", UserWarning,
                      stacklevel=2)
    files = list_photos(folder)
    if not files:
        raise ValueError(f"{folder} holds no files: put the pictures to segment in it (sub-folders too)")
    images, sizes, paths = [], [], []
    for i in subset_indices(len(files), limit, None, seed):
        pixels = read_image(files[i])
        if pixels is None:
            continue
        sizes.append(pixels.shape[:2])
        images.append(_working_picture(pixels, max_side))
        paths.append(str(files[i].absolute()))
        del pixels
    if not images:
        raise ValueError(f"no readable image in {folder} (every file was skipped, see the warnings)")
    grey = all(len(im) == 1 for im in images)
    if not grey:
        images = [im.expand(3, -1, -1).contiguous() if len(im) == 1 else im for im in images]
    shrunk = sum(tuple(im.shape[1:]) != tuple(size) for im, size in zip(images, sizes, strict=True))
    note = (f"folder:{folder.name}: {len(images)} picture{'s' * (len(images) != 1)}, {shrunk} shrunk to a "
            f"longer side of {max_side} pixels to be segmented (labels written at the original size); "
            f"{'grey, 1 channel' if grey else 'colour, 3 channels'}")
    if report is not None:
        report(note)
    return Photos(images, [(int(h), int(w)) for h, w in sizes], paths, str(folder), note)


class SegmentationResult(dict):
    """What :func:`evaluate` returns: the scores and settings as a dict (what the command line prints and
    writes as JSON), and as attributes, outside the dict, every label map.

    Attributes
    ----------
    labels : list of ndarray (h, w), int64, consecutive: the maps at the size the method worked at
    sizes : list of (H, W): the size of each original picture
    paths : list of str, or None: each picture's file (folder and segfolder sets), None for generated sets
    folder : str or None: the folder the output names are relative to (``folder:`` path, ``images/`` of a
        ``segfolder:``)
    images : list of Tensor (C, H, W), or None: the pictures of a generated set (the others are read again
        from ``paths`` when needed)
    """

    def __init__(self, scores: dict, labels: list, sizes: list, paths=None, folder=None, images=None):
        super().__init__(scores)
        self.labels, self.sizes, self.paths, self.folder, self.images = labels, sizes, paths, folder, images

    def label_map(self, i: int) -> np.ndarray:
        """The labels of picture ``i`` at its original size (nearest neighbour), consecutive ``0..K-1``,
        (H, W) int64."""
        from ..data.sets import resize

        labels, size = self.labels[i], tuple(self.sizes[i])
        if tuple(labels.shape) == size:
            return labels
        up = resize(torch.as_tensor(np.asarray(labels))[None], size, "nearest")[0]
        return relabel_consecutive(up.long().numpy())


def _images_and_masks(data: str, root, limit):
    """(images, original sizes, masks or None, paths or None, folder or None) of a ``folder:`` of photos
    or of a segmentation set."""
    from ..data import load_segmentation

    if data.partition(":")[0].lower() == "folder":
        photos = load_photos(data.partition(":")[2], root=root, limit=limit)
        return photos.images, photos.sizes, None, photos.paths, photos.folder
    ds = load_segmentation(data, root=root, limit=limit)
    images = list(ds.images)
    folder = str(Path(ds.paths[0]).parent) if ds.paths else None
    return images, [tuple(im.shape[1:]) for im in images], [to_numpy(m) for m in ds.masks], ds.paths, folder


def evaluate(data: str, root=None, method: str | None = None, seed: int = 0, limit: int | None = None,
             device: str = "auto", progress: bool = True, fast: bool = False, checkpoint_dir=None,
             resume: bool = False) -> SegmentationResult:
    """Segment every image of a set without labels and score it against its masks when it has them.

    Parameters
    ----------
    data : str
        A name for :func:`tutorial_lib.data.load_segmentation`: ``mosaic``, ``scenes``,
        ``segfolder:PATH``; or ``folder:PATH``, the user's plain pictures, sub-folders included, each at
        its own size or shrunk to a longer side of ``MAX_SIDE`` (see :func:`load_photos`), not scored.
        The set itself is always the one of data seed 0, so seeds change only the method.
    root : path, optional
        Data root for relative ``segfolder`` and ``folder`` paths.
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
    SegmentationResult
        A dict: ``miou``, ``pixel_acc`` (Hungarian-matched per image, mean over images), ``covering``,
        ``pri``, ``voi`` (region scores, mean over images; left out for ``folder:``, which has no masks),
        ``seconds_per_image``, ``n_images``, ``mean_segments`` (segments per image), ``method``,
        ``device``, ``data``, ``seed``; for ``folder:`` also ``max_side`` and ``n_shrunk`` (pictures
        segmented at a smaller size). The label maps are attributes (see :class:`SegmentationResult`).
    """
    from ..metrics import segmentation_report

    name = method or DEFAULT_METHOD
    seg = make_method(name, seed=seed, device=device, progress=progress, fast=fast,
                      checkpoint_dir=checkpoint_dir, resume=resume)
    images, sizes, masks, paths, folder = _images_and_masks(data, root, limit)
    started = time.perf_counter()
    preds = [np.asarray(p) for p in seg.fit_predict(images)]
    seconds = time.perf_counter() - started
    out = {}
    if masks is not None:
        scores = segmentation_report(preds, masks, regions=True)
        out = {key: scores[key] for key in ("miou", "pixel_acc", "covering", "pri", "voi")}
    out.update({"seconds_per_image": seconds / len(images), "n_images": len(images),
                "mean_segments": float(np.mean([int(p.max()) + 1 for p in preds]))})
    if masks is None:
        out.update({"max_side": MAX_SIDE,
                    "n_shrunk": sum(p.shape != tuple(s) for p, s in zip(preds, sizes, strict=True))})
    out.update({"method": name, "device": str(runtime.device(device)), "data": data, "seed": seed})
    if hasattr(seg, "method_"):  # auto: which method it chose, and the statistics that decided
        out.update({"chosen_method": seg.method_, "coherence_mean": seg.statistics_["coherence_mean"],
                    "two_tone_mean": seg.statistics_["two_tone_mean"]})
    return SegmentationResult(out, preds, sizes, paths, folder, None if paths else images)


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
        Keys of ``METHODS`` (default: all but ``auto``, baselines first: ``auto`` would run one of the
        others a second time, with none of the budgets ``params`` gives it).
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
    names = list(methods) if methods else [name for name in METHODS if name != "auto"]
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
