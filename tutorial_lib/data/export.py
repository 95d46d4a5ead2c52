"""Writing a set out as a folder of PNG files, the layout ``folder:PATH`` reads back.

Taught in notebook 03_clustering_classification (the section "your own folder", which writes digits
out as a folder a user could have made, clusters it and predicts new images), and used by the
benchmark that checks a folder of MNIST-test clusters as ``--data mnist`` does.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..runtime import progress_bar
from .sets import ImageSet

__all__ = ["write_folder"]


def _safe_name(name: str) -> str:
    """A class name as a folder name: path separators and leading dots replaced."""
    cleaned = "".join("_" if ch in '/\\:*?"<>|' else ch for ch in str(name)).strip().lstrip(".")
    return cleaned or "class"


def write_folder(ds: ImageSet, path: str | os.PathLike, class_folders: bool = True,
                 progress: bool = False) -> list[Path]:
    """Write every image of ``ds`` as an 8-bit PNG: ``PATH/CLASS/NNNNN.png`` (or ``PATH/NNNNN.png``).

    Grey sets (C = 1) are written as grey PNGs, colour sets (C = 3) as RGB, so ``load("folder:PATH")``
    reads back the same shape (values rounded to 1/255).

    Parameters
    ----------
    ds : ImageSet
        ``images`` (N, C, H, W) float in [0, 1], C = 1 or 3.
    path : path
        The folder to write (created; existing files with the same names are replaced).
    class_folders : bool
        One subfolder per class, named after ``ds.classes`` (the labels ``folder:`` finds again);
        False, or a set without labels: one flat folder.
    progress : bool
        A progress bar over the files.

    Returns
    -------
    list of Path, the files written, in the order of ``ds.images``

    Raises
    ------
    ValueError
        Images with a channel count other than 1 or 3.
    """
    from PIL import Image

    images = ds.images
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"write_folder needs images (N, 1 or 3, H, W); got {tuple(images.shape)}")
    root = Path(path)
    by_class = class_folders and ds.labels is not None
    names = [_safe_name(c) for c in ds.classes] if by_class else []
    pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    digits = max(5, len(str(len(ds))))
    written = []
    for i in progress_bar(range(len(ds)), desc="writing PNGs", disable=not progress):
        folder = root / names[int(ds.labels[i])] if by_class else root
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{i:0{digits}d}.png"
        array = pixels[i, :, :, 0] if pixels.shape[3] == 1 else pixels[i]
        Image.fromarray(np.ascontiguousarray(array)).save(target)
        written.append(target)
    return written
