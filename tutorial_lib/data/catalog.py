"""The entry points that choose a loader from a name, :func:`load` and :func:`load_segmentation`, and
what is available here, checked offline (:func:`dataset_status`, :func:`dataset_table`).

Taught in notebook 00_overview (``data.dataset_table()``, ``data.load``, ``data.load_segmentation``)
and used by every notebook.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial

from ..runtime import data_root
from .bsds import BSDS_SPLITS, bsds_status, load_bsds500
from .builtin import (
    imbalanced_status,
    load_digits,
    load_mnist_imbalanced,
    load_remote,
    remote_names,
    remote_status,
)
from .coil import coil20_status, load_coil20
from .folders import load_folder, load_segfolder, segfolders_under
from .generated import (
    MOSAIC_DEFAULTS,
    MOSAIC_TEXTURES,
    SCENES_DEFAULTS,
    SHAPE_NAMES,
    SHAPES_DEFAULTS,
    load_mosaic,
    load_scenes,
    load_shapes,
)
from .nuclei import load_nuclei, nuclei_status
from .objects import OBJECTS_DEFAULTS, load_photo_objects
from .sets import ImageSet, SegmentationSet, segmentation_set, subset_indices

__all__ = ["load", "load_segmentation", "dataset_names", "dataset_status", "dataset_table"]

# Sets that take no options (beyond the torchvision ones).
_NO_OPTIONS = ("digits", "coil20", "mnist-imbalanced")

# Generated segmentation sets by name: loader(seed=..., **options) -> (images, masks, classes, name).
_GENERATED_SEGMENTATION = {"mosaic": load_mosaic, "scenes": load_scenes}


# --- entry points --------------------------------------------------------------------------------
def load(name: str, split: str = "train", root: str | os.PathLike | None = None, download: bool = True,
         limit: int | None = None, seed: int = 0, **options) -> ImageSet:
    """Load a recognition dataset as tensors.

    Parameters
    ----------
    name : str
        ``digits`` (scikit-learn, 1×8×8), ``mnist`` / ``fashion-mnist`` (1×28×28), ``cifar10`` (3×32×32),
        ``stl10`` (3×96×96; splits train, test, unlabeled), all four through torchvision;
        ``shapes``: generated 3×32×32 images of a coloured circle, square, triangle, star or cross (the
        label) at a random position, size (radius 25–45 % of the side), rotation and colour on a tinted
        real texture; options ``n`` (1000, classes balanced) and ``size`` (32);
        ``coil20``: COIL-20, 1,440 grey 1×32×32 photos of 20 objects on a turntable (72 poses each; labels
        0..19, ``classes`` obj01..obj20, ``paths``), read from ``<root>/COIL20/objNN/objNN__PP.png``; the
        official ``coil-20-proc.zip`` (128×128) is downloaded and shrunk (area average) when missing;
        ``mnist-imbalanced``: 3,757 images of MNIST-test whose ten classes have 892, 700, 550, 430, 340,
        260, 200, 160, 125 and 100 images, the sizes given to the digits in an order drawn with ``seed``
        (``data.builtin.load_mnist_imbalanced``);
        ``folder:PATH``: the user's images (PATH as given, else relative to the data root); one subfolder
        per class gives labels and ``classes``, a flat folder gives ``labels=None``; ``paths`` names each
        image's file. Images are turned as a viewer shows them (EXIF orientation) and loaded at their own
        size when they all share one (shrunk, aspect kept, beyond ``folders.MAX_SIDE`` = 512 pixels), else
        scaled to cover ``size`` and centre-cropped (option, int or (H, W); default ``folders.DEFAULT_SIZE``
        = 64; a given ``size`` always wins); one channel when every image is grey, else three (option
        ``channels``: 1 or 3 to force). One line says what was done (option ``report``, default ``print``;
        None keeps quiet; also kept as ``note``). Unreadable, empty and non-image files, empty class
        folders and class folders that link back up the tree are skipped with one warning each.
    split : str
        ``"train"`` or ``"test"`` for torchvision sets; ignored by sets that have a single split
        (digits, coil20, mnist-imbalanced: always from the test split, generated sets, folders).
    root : path, optional
        Data folder; default ``$TUTORIAL_DATA_DIR``, else ``data/`` in the project.
    download : bool
        Fetch missing torchvision files (needs a network; a failure raises the same clear error as
        ``download=False`` with missing files).
    limit : int, optional
        Keep a seeded random subset of this many images, stratified by label when there are labels.
    seed : int
        Seed for the subset (and for generated sets).
    **options
        Options of generated and folder sets (see their loaders).

    Returns
    -------
    ImageSet
        ``images`` float32 (N, C, H, W) in [0, 1], ``labels`` int64 (N,) or None, ``classes``, ``name``.

    Raises
    ------
    FileNotFoundError
        Files missing and not downloadable; the message names the files and the folder to put them in.
    ValueError
        Unknown name or split, an empty folder, or a folder with no readable image.
    TypeError
        Options given to a set that takes none (digits, torchvision sets).
    """
    kind, _, path = name.partition(":")
    key = kind.lower()
    if key == "folder" and path:
        return load_folder(path, root, limit=limit, seed=seed, **options)
    if options and (key in _NO_OPTIONS or key in remote_names()):
        raise TypeError(f"{name} takes no options; got {', '.join(options)}")
    if key == "digits":
        return load_digits(limit, seed)
    if key == "shapes":
        return load_shapes(seed=seed, limit=limit, **options)
    if key == "coil20":
        return load_coil20(root, download, limit, seed)
    if key == "mnist-imbalanced":
        return load_mnist_imbalanced(root, download, limit, seed)
    if key in remote_names():
        return load_remote(key, split, root, download, limit, seed)
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(dataset_names())}")


def dataset_names() -> list[str]:
    """Names :func:`load` accepts."""
    return ["digits", *remote_names(), "mnist-imbalanced", "coil20", "shapes", "folder:PATH"]


def load_segmentation(name: str, root: str | os.PathLike | None = None, limit: int | None = None,
                      seed: int = 0, **options) -> SegmentationSet:
    """Load a segmentation set: images and one integer label per pixel.

    Parameters
    ----------
    name : str
        ``mosaic``: texture mosaics from scikit-image's real texture photos (brick, grass, gravel, moon
        surface, star field) with exact masks; options ``n`` (16), ``size`` (128), ``regions`` ((3, 5)).
        Each image is split into 3–5 cells with wavy boundaries (Voronoi cells of random seeds, in
        coordinates warped by a smooth random field); each cell shows a random crop (shrunk 1.5–2.5×,
        rotated, flipped) of a different texture whose grey-level mean and standard deviation inside the
        cell are set to 0.5 and 0.15, so brightness alone does not separate the regions. Images are grey
        (C = 1); ``masks`` hold the texture index, ``classes`` the texture names.
        ``scenes``: 2–5 non-overlapping coloured shapes (as in ``shapes``) on a tinted real texture,
        3×128×128; ``masks`` 0 = background, k + 1 = shape k, ``classes`` = ["background", *SHAPE_NAMES];
        options ``n`` (16), ``size`` (128), ``objects`` ((2, 5)).
        ``photo-objects``: 3–6 objects of a class-folder ``source`` (default MNIST-test digits, else
        scikit-learn's digits; any ``load`` name such as ``folder:PATH``), 40–80 px, each filled with one
        colour, on crops of real photos, 3×321×481; ``masks`` 0 = background, c + 1 = class c; options
        ``n`` (100), ``source``, ``backgrounds`` (``"bsds500:train"``...), ``size``, ``objects``,
        ``object_size``, ``gap`` (:func:`tutorial_lib.data.objects.load_photo_objects`).
        ``segfolder:PATH``: ``PATH/images/`` and ``PATH/masks/`` with the same file stems (PATH as given,
        else relative to the data root; one file per stem in each, masks saved losslessly, not as JPEG);
        images read as RGB (C = 3), masks relabelled to 0..K-1 with the original values as ``classes``,
        ``paths`` naming each image's file; option ``size`` (int or (H, W)) resizes both, else native sizes.
        ``bsds500:SPLIT`` (train, val, test): BSDS500 photos (3×321×481 or 3×481×321, a list) from the data
        root in the release's layout, ``masks`` the first human segmentation, ``annotations`` all 4-9 of
        them (:func:`tutorial_lib.data.bsds.load_bsds500`); option ``download`` (True: fetch the official
        archive when missing).
        ``nuclei``: the microscopy images of ``ROOT/nuclei`` (BBBC038 subset, masks 0/1;
        :func:`tutorial_lib.data.nuclei.load_nuclei`); option ``size``.
    root : path, optional
        Data root for relative folder paths.
    limit : int, optional
        Keep a seeded random subset of this many images.
    seed : int
        Seed of generated sets and of the subset. Image i of a generated set depends on (seed, i) only.

    Returns
    -------
    SegmentationSet
        ``images`` float32 (N, C, H, W) in [0, 1] (a list of (C, H, W) when sizes differ), ``masks`` int64
        (N, H, W) (or a list), ``classes``, ``name``; ``annotations`` (every human segmentation) for
        ``bsds500``, else None.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing folders or files (for ``bsds500`` and ``nuclei`` the message says what to download and where
        to put it), no readable pair, an image without mask, a mask whose size differs from its image,
        two files with one stem (``a.png`` and ``a.jpg``), a mask saved as JPEG.
    """
    kind, _, path = name.partition(":")
    kind = kind.lower()
    if kind == "segfolder" and path:
        return load_segfolder(path, root, limit=limit, seed=seed, **options)
    if kind == "bsds500":
        return load_bsds500(path or "val", root, limit=limit, seed=seed, **options)
    if kind == "nuclei" and not path:
        return load_nuclei(root, limit=limit, seed=seed, **options)
    if kind in _GENERATED_SEGMENTATION or (kind == "photo-objects" and not path):
        make = _GENERATED_SEGMENTATION.get(kind) or partial(load_photo_objects, root=root)
        images, masks, classes, title = make(seed=seed, **options)
        keep = subset_indices(len(images), limit, None, seed)
        return segmentation_set([images[i] for i in keep], [masks[i] for i in keep], classes, title)
    splits = "|".join(BSDS_SPLITS)
    raise ValueError(f"unknown segmentation set {name!r}; choose one of mosaic, scenes, photo-objects, "
                     f"bsds500:{splits}, "
                     "nuclei, segfolder:PATH")


# --- what is available here (offline: looks at files, downloads nothing) -------------------------
_GENERATED_INFO = {
    "shapes": ("recognition", f"generated: {SHAPES_DEFAULTS['n']} images, 3×{SHAPES_DEFAULTS['size']}×"
               f"{SHAPES_DEFAULTS['size']}, {len(SHAPE_NAMES)} classes (the shape)",
               "built from scikit-image textures"),
    "mosaic": ("segmentation", f"generated: {MOSAIC_DEFAULTS['n']} images, 1×{MOSAIC_DEFAULTS['size']}×"
               f"{MOSAIC_DEFAULTS['size']}, {len(MOSAIC_TEXTURES)} textures", "scikit-image texture photos"),
    "photo-objects": ("segmentation", f"generated: {OBJECTS_DEFAULTS['n']} images, 3×321×481, 3-6 objects "
                      "(MNIST-test digits, else scikit-learn's) in one colour each", "scikit-image photos"),
    "scenes": ("segmentation", f"generated: {SCENES_DEFAULTS['n']} images, 3×{SCENES_DEFAULTS['size']}×"
               f"{SCENES_DEFAULTS['size']}, background + {len(SHAPE_NAMES)} shapes",
               "built from scikit-image textures"),
}


def dataset_status(root: str | os.PathLike | None = None) -> list[dict]:
    """Every dataset, whether it is available here and its size, checked offline from the files.

    Parameters
    ----------
    root : path, optional
        Data root (default ``$TUTORIAL_DATA_DIR``, else ``data/``).

    Returns
    -------
    list of dict
        Keys ``name``, ``task`` (recognition or segmentation), ``available`` (bool, None for the
        folder loaders, which take the user's path), ``details`` (splits and sizes), ``where``.
    """
    root = data_root(root)
    rows = [{"name": "digits", "task": "recognition", "available": True,
             "details": "1797 images, 1×8×8, 10 classes", "where": "bundled with scikit-learn"}]
    rows += [*remote_status(root), imbalanced_status(root), coil20_status(root)]
    for name, (task, details, where) in _GENERATED_INFO.items():
        rows.append({"name": name, "task": task, "available": True, "details": details, "where": where})
    rows.append({"name": "folder:PATH", "task": "recognition", "available": None,
                 "details": "your images; one subfolder per class gives labels", "where": "PATH"})
    rows += [bsds_status(root), nuclei_status(root)]
    rows += segfolders_under(root)
    rows.append({"name": "segfolder:PATH", "task": "segmentation", "available": None,
                 "details": "your images/ and masks/ with the same file stems", "where": "PATH"})
    return rows


def dataset_table(root: str | os.PathLike | None = None) -> Iterator[str]:
    """Printable rows of :func:`dataset_status`, a header first (``python -m tutorial_lib datasets``)."""
    rows = dataset_status(root)
    flag = {True: "yes", False: "no", None: "-"}
    table = [("dataset", "task", "available", "size / splits", "where")]
    table += [(r["name"], r["task"], flag[r["available"]], r["details"], r["where"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    yield f"data root: {data_root(root)}"
    for row in table:
        yield "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
