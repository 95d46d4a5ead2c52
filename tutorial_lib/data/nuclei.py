"""The nuclei set: microscopy images with nucleus masks, ``load_segmentation("nuclei")``.

Taught in notebook 04_pixel_segmentation (the deep-feature method on flat-coloured objects). A subset of
the 2018 Data Science Bowl stage-1 training set (BBBC038, CC0) kept as a ``segfolder`` under the data
root (:func:`tutorial_lib.runtime.data_root`)::

    ROOT/nuclei/images/NAME.png    RGB microscopy images of several sizes and stainings
    ROOT/nuclei/masks/NAME.png     same size, 0 = background, 1 = nucleus (all instance masks merged)

It is not downloaded here: the release (``stage1_train.zip``) stores one PNG per nucleus instance in
``ID/masks/`` and needs converting, so when the folder is missing the ``FileNotFoundError`` says where to
get the release and which layout to put it in, instead of a notebook skipping the set in silence.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..runtime import data_root
from .folders import load_segfolder
from .reading import list_files
from .sets import SegmentationSet

__all__ = ["NUCLEI_FOLDER", "NUCLEI_URL", "load_nuclei", "nuclei_status"]

NUCLEI_FOLDER = "nuclei"
NUCLEI_URL = "https://bbbc.broadinstitute.org/BBBC038"
"""The Broad Bioimage Benchmark Collection's page of the 2018 Data Science Bowl images (stage1_train)."""


def _missing_message(folder: Path) -> str:
    return (f"the nuclei set is not in {folder}: it needs {folder / 'images'}/NAME.png and "
            f"{folder / 'masks'}/NAME.png with the same file stems (masks: 0 = background, 1 = nucleus). "
            f"To fix: download stage1_train of the 2018 Data Science Bowl (BBBC038) from {NUCLEI_URL}; for "
            f"each image ID copy ID/images/ID.png to images/ID.png and merge the instance masks "
            "ID/masks/*.png (any value > 0) into one masks/ID.png; or point the data root "
            "($TUTORIAL_DATA_DIR or root=) at a folder that already holds nuclei/.")


def load_nuclei(root: str | os.PathLike | None = None, size: int | tuple[int, int] | None = None,
                limit: int | None = None, seed: int = 0) -> SegmentationSet:
    """The nuclei images and their foreground masks (``load_segmentation("nuclei")``).

    Parameters
    ----------
    root : path, optional
        Data root (default ``$TUTORIAL_DATA_DIR``, else ``data/``); the set is ``ROOT/nuclei``.
    size, limit, seed
        As for ``segfolder:`` (:func:`tutorial_lib.data.folders.load_segfolder`).

    Returns
    -------
    SegmentationSet
        ``images`` (3, H, W) float32 in [0, 1] (a list: sizes differ), ``masks`` (H, W) int64 in {0, 1},
        ``classes`` ``["0", "1"]``, ``paths``; ``name`` ``segfolder:nuclei``.

    Raises
    ------
    FileNotFoundError
        The folder (or its images/ or masks/) is missing; the message names BBBC038 and the layout.
    """
    folder = data_root(root) / NUCLEI_FOLDER
    if not (folder / "images").is_dir() or not (folder / "masks").is_dir():
        raise FileNotFoundError(_missing_message(folder))
    return load_segfolder(str(folder), root, size=size, limit=limit, seed=seed)


def nuclei_status(root: Path) -> dict:
    """The :func:`tutorial_lib.data.dataset_status` row of the nuclei set (file names only)."""
    folder = root / NUCLEI_FOLDER
    here = (folder / "images").is_dir() and (folder / "masks").is_dir()
    count = len(list_files(folder / "images")) if here else 0
    details = (f"{count} microscopy images with nucleus masks (BBBC038 subset)" if count
               else f"not here; get BBBC038 stage1_train from {NUCLEI_URL} (images/ + masks/)")
    return {"name": "nuclei", "task": "segmentation", "available": count > 0, "details": details,
            "where": str(folder)}
