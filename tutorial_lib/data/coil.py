"""COIL-20 (Columbia Object Image Library): 1,440 grey photos of 20 objects on a turntable, 32×32.

Taught in notebook 03_clustering_classification: a clustering set of another kind than digits (objects
seen from 72 poses 5° apart, not strokes), one of the development sets of the generalisation table
(``python -m tutorial_lib bench generalisation``).

The layout read is ``<data root>/COIL20/objNN/objNN__PP.png`` (NN = 01..20 the object, PP = 00..71 the
pose), one class folder per object, grey PNGs of 32×32 pixels: the same layout ``folder:PATH`` reads.
The official release (Nene, Nayar and Murase, Columbia University, 1996), ``coil-20-proc.zip``, holds
``coil-20-proc/objN__P.png`` at 128×128; :func:`convert_coil20` turns it into the layout above by
averaging each 4×4 block of pixels (area-average shrink). :func:`load_coil20` downloads and converts it
when the files are missing and ``download=True``; offline, its ``FileNotFoundError`` says what to fetch
and where to put it.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..runtime import data_root
from .builtin import DOWNLOAD_TIMEOUT_S
from .sets import ImageSet, subset_indices

__all__ = ["COIL20_CLASSES", "COIL20_FOLDER", "COIL20_POSES", "COIL20_SIDE", "COIL20_URL", "COIL20_ZIP",
           "coil20_status", "convert_coil20", "load_coil20"]

COIL20_URL = ("https://www.cs.columbia.edu/CAVE/databases/SLAM_coil-20_coil-100/coil-20/"
              "coil-20-proc.zip")
"""Where the official processed release of COIL-20 (128×128 grey PNGs) is downloaded from."""

COIL20_ZIP = "coil-20-proc.zip"
COIL20_FOLDER = "COIL20"  # under the data root
COIL20_CLASSES = [f"obj{k:02d}" for k in range(1, 21)]
COIL20_POSES = 72  # per object, 5° apart
COIL20_SIDE = 32  # pixels a side of the converted images

_RELEASE_NAME = re.compile(r"obj(\d+)__(\d+)\.png", re.IGNORECASE)  # obj1__0.png in the zip (fullmatch)


def _expected(folder: Path) -> list[Path]:
    """The 1,440 files of the converted layout, in class then pose order."""
    return [folder / name / f"{name}__{pose:02d}.png"
            for name in COIL20_CLASSES for pose in range(COIL20_POSES)]


def _missing(folder: Path) -> list[Path]:
    return [p for p in _expected(folder) if not p.is_file()]


def _shrink(image: np.ndarray, side: int) -> np.ndarray:
    """A grey uint8 image (H, W) shrunk to (side, side) by area averaging, rounded to uint8: the exact mean of
    each block of pixels when H and W are multiples of ``side`` (128 -> 32: 4×4 blocks), else Pillow's box
    filter (the same average, with fractional blocks)."""
    from PIL import Image

    h, w = image.shape
    if (h, w) == (side, side):
        return image
    if h % side == 0 and w % side == 0:
        blocks = image.reshape(side, h // side, side, w // side).astype(np.float64).mean(axis=(1, 3))
        return np.clip(np.rint(blocks), 0, 255).astype(np.uint8)
    small = Image.fromarray(image).resize((side, side), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.uint8)


def convert_coil20(source: str | os.PathLike, root: str | os.PathLike | None = None,
                   side: int = COIL20_SIDE) -> Path:
    """Convert the official release (``coil-20-proc.zip``, or the folder it unpacks to) to the layout
    :func:`load_coil20` reads.

    Parameters
    ----------
    source : path
        ``coil-20-proc.zip`` or a folder holding its ``objN__P.png`` files (grey, any size, usually 128×128;
        N = 1..20 the object, P = 0..71 the pose; other files are ignored).
    root : path, optional
        Data root; the images are written to ``root/COIL20/objNN/objNN__PP.png``.
    side : int
        Side of the written images in pixels (32): each image is shrunk by area averaging.

    Returns
    -------
    Path
        The folder written, ``root/COIL20``.

    Raises
    ------
    FileNotFoundError
        ``source`` does not exist, or holds none of the 1,440 expected images (the message says which).
    """
    from PIL import Image

    source = Path(source).expanduser()
    out = data_root(root) / COIL20_FOLDER
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist: give coil-20-proc.zip or the folder it unpacks to")
    written = 0
    for name, read in _release_files(source):
        match = _RELEASE_NAME.fullmatch(name)
        obj, pose = int(match.group(1)), int(match.group(2))
        if not (1 <= obj <= len(COIL20_CLASSES) and 0 <= pose < COIL20_POSES):
            continue
        with Image.open(io.BytesIO(read())) as image:
            grey = np.asarray(image.convert("L"), dtype=np.uint8)
        target = out / COIL20_CLASSES[obj - 1] / f"{COIL20_CLASSES[obj - 1]}__{pose:02d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_shrink(grey, side)).save(target)
        written += 1
    if written == 0:
        raise FileNotFoundError(f"{source} holds no COIL-20 image named objN__P.png (N = 1..20, P = 0..71): "
                                f"is it {COIL20_ZIP} from {COIL20_URL}?")
    return out


def _release_files(source: Path):
    """(name, read) of every ``objN__P.png`` of a zip file or a folder; ``read()`` gives its bytes."""
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file() and _RELEASE_NAME.fullmatch(path.name):
                yield path.name, path.read_bytes
        return
    try:
        archive = zipfile.ZipFile(source)
    except zipfile.BadZipFile:
        raise ValueError(f"{source} is not a complete zip file (an interrupted download?): delete it and "
                         f"download {COIL20_ZIP} again from {COIL20_URL}") from None
    with archive:
        for info in archive.infolist():
            base = info.filename.rsplit("/", 1)[-1]
            if not info.is_dir() and _RELEASE_NAME.fullmatch(base):
                yield base, (lambda info=info: archive.read(info))


def _fetch(url: str, target: Path) -> None:
    """Download ``url`` to ``target`` (via a temporary file in the same folder, renamed when complete)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(handle)
    part = Path(name)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def _missing_message(root: Path, missing: list[Path]) -> str:
    folder = root / COIL20_FOLDER
    total = len(_expected(folder))
    found = total - len(missing)
    have = f" ({found} of the {total} images are there; first missing: {missing[0]})" if found else ""
    side = f"{COIL20_SIDE}×{COIL20_SIDE}"
    return (f"COIL-20 not found: expected {total} grey PNGs as objNN/objNN__PP.png in {folder}{have}. "
            f"To fix: download {COIL20_ZIP} from {COIL20_URL} and put it in {root} (or unpack it there, "
            f"giving {root / 'coil-20-proc'}/obj1__0.png ...): the next load converts it to {side}; or call "
            f"load('coil20', root={str(root)!r}, download=True) on a machine that is online.")


def _local_release(root: Path) -> Path | None:
    """The official release already in the data root (the zip, or the folder it unpacks to), if any."""
    for candidate in (root / COIL20_ZIP, root / "coil-20-proc"):
        if candidate.exists():
            return candidate
    return None


def _ensure_files(root: Path, download: bool) -> None:
    """Make the converted layout complete: from a release in ``root``, else downloaded when allowed;
    raises the ``FileNotFoundError`` that says what to do when neither is possible."""
    folder = root / COIL20_FOLDER
    if not _missing(folder):
        return
    release = _local_release(root)
    if release is None:
        if not download:
            raise FileNotFoundError(_missing_message(root, _missing(folder)))
        try:
            root.mkdir(parents=True, exist_ok=True)
            _fetch(COIL20_URL, root / COIL20_ZIP)
        except Exception as exc:  # noqa: BLE001 - urllib raises URLError, timeouts, HTTP errors, OSError
            reason = " ".join(str(exc).split())[:300]
            raise FileNotFoundError(f"{_missing_message(root, _missing(folder))} (The download failed: "
                                    f"{type(exc).__name__}: {reason})") from exc
        release = root / COIL20_ZIP
    convert_coil20(release, root)
    missing = _missing(folder)
    if missing:
        raise FileNotFoundError(_missing_message(root, missing))


def load_coil20(root: str | os.PathLike | None = None, download: bool = True, limit: int | None = None,
                seed: int = 0) -> ImageSet:
    """COIL-20: 1,440 grey images of 1×32×32, 20 objects (labels 0..19) at 72 poses each.

    Parameters
    ----------
    root : path, optional
        Data root; the images are read from ``root/COIL20/objNN/objNN__PP.png``.
    download : bool
        When files are missing and no release (``coil-20-proc.zip`` or its unpacked folder) is in the data
        root to convert, download it from :data:`COIL20_URL` and convert it (:func:`convert_coil20`).
    limit : int, optional
        Keep a seeded subset of this many images, stratified by object.
    seed : int
        Seed of the subset.

    Returns
    -------
    ImageSet
        ``images`` float32 (N, 1, 32, 32) in [0, 1] (uint8 / 255), ``labels`` int64 (N,) in 0..19 (object
        order, then pose), ``classes`` ``["obj01", ..., "obj20"]``, ``paths`` (each image's file, absolute),
        name ``"coil20"``.

    Raises
    ------
    FileNotFoundError
        Files missing and not obtainable (offline, or ``download=False`` with no release in the data root):
        the message says what to download and where to put it.
    ValueError
        An image that is not 32×32 (a folder converted at another side).
    """
    from PIL import Image

    root = data_root(root)
    folder = root / COIL20_FOLDER
    _ensure_files(root, download)
    files = _expected(folder)
    all_labels = np.repeat(np.arange(len(COIL20_CLASSES)), COIL20_POSES)
    keep = subset_indices(len(files), limit, all_labels, seed)
    images = np.empty((len(keep), 1, COIL20_SIDE, COIL20_SIDE), np.uint8)
    for row, i in enumerate(keep):
        with Image.open(files[i]) as image:
            grey = np.asarray(image.convert("L"), dtype=np.uint8)
        if grey.shape != (COIL20_SIDE, COIL20_SIDE):
            raise ValueError(f"{files[i]} is {grey.shape[0]}×{grey.shape[1]}, not {COIL20_SIDE}×"
                             f"{COIL20_SIDE}: remove {folder} and convert the release again (convert_coil20)")
        images[row, 0] = grey
    labels = torch.as_tensor(all_labels[keep], dtype=torch.int64)
    return ImageSet(torch.from_numpy(images).float() / 255.0, labels, list(COIL20_CLASSES), "coil20",
                    [str(files[i].resolve()) for i in keep])


def coil20_status(root: Path) -> dict:
    """The :func:`tutorial_lib.data.dataset_status` row of COIL-20, from the files under ``root`` (nothing
    is downloaded or converted)."""
    folder = root / COIL20_FOLDER
    total = len(_expected(folder))
    found = total - len(_missing(folder))
    release = _local_release(root)
    if found == total:
        details = f"{found} images, 1×{COIL20_SIDE}×{COIL20_SIDE}, {len(COIL20_CLASSES)} classes"
    elif release is not None:
        details = f"{release.name} here; converted to {COIL20_SIDE}×{COIL20_SIDE} on first load"
    else:
        details = f"{found} of {total} images here; load(..., download=True) fetches it when online"
    return {"name": "coil20", "task": "recognition", "available": found == total or release is not None,
            "details": details, "where": str(folder)}
