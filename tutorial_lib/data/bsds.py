"""BSDS500, the Berkeley Segmentation Data Set: natural photos with 4-9 human segmentations each.

Taught in notebook 04_pixel_segmentation (the BSDS500 section: a photo beside its human segmentations,
and the region benchmark of :mod:`tutorial_lib.metrics.regions`). ``load_segmentation("bsds500:val")``
(also ``train``, ``test``) reads the release's own layout (Arbeláez, Maire, Fowlkes and Malik, TPAMI 2011)
under the data root (:func:`tutorial_lib.runtime.data_root`)::

    ROOT/BSDS500/data/images/SPLIT/NAME.jpg         (or ROOT/BSR/BSDS500/data/..., as the archive unpacks)
    ROOT/BSDS500/data/groundTruth/SPLIT/NAME.mat    a cell array groundTruth{k}.Segmentation (uint16, from 1)

When the split is missing, the official archive :data:`BSDS_ARCHIVE` is downloaded from :data:`BSDS_URL`
into the data root and its ``BSR/BSDS500/data/`` part unpacked there (``download=True``, the default; an
archive already in the data root is unpacked without going online); offline, the ``FileNotFoundError``
says which archive to unpack where. The pictures are read as stored, with no EXIF turn, so that they stay
aligned with the human maps.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import torch

from ..runtime import data_root
from .builtin import DOWNLOAD_TIMEOUT_S
from .sets import SegmentationSet, subset_indices

__all__ = ["BSDS_ARCHIVE", "BSDS_SPLITS", "BSDS_URL", "bsds_folder", "bsds_status", "load_bsds500",
           "read_ground_truth"]

BSDS_URL = "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz"
"""Where the official release is published (about 70 MB)."""
BSDS_ARCHIVE = "BSR_bsds500.tgz"
BSDS_SPLITS = ("train", "val", "test")
_LAYOUTS = ("BSDS500/data", "BSR/BSDS500/data")  # the data folder as kept here, and as the archive unpacks
_ARCHIVE_DATA = "BSR/BSDS500/data/"  # the only part of the archive unpacked (it also holds the bench code)


def bsds_folder(root: str | os.PathLike | None = None, split: str | None = None) -> Path:
    """The release's ``data`` folder under the data root: the first of ``BSDS500/data`` and
    ``BSR/BSDS500/data`` that has photos (of ``split``, when given), else where the archive unpacks."""
    base = data_root(root)
    for layout in _LAYOUTS:
        if (base / layout / "images" / (split or "")).is_dir():
            return base / layout
    return base / _LAYOUTS[1]


def _split_pairs(folder: Path, split: str) -> list[tuple[Path, Path]]:
    """(photo, ground-truth file) pairs of a split, sorted by name; [] when the split's photos are absent.

    Raises FileNotFoundError when a photo has no ``.mat`` file (a half-copied release)."""
    image_dir, truth_dir = folder / "images" / split, folder / "groundTruth" / split
    photos = sorted(image_dir.glob("*.jpg")) if image_dir.is_dir() else []
    missing = [p.stem for p in photos if not (truth_dir / f"{p.stem}.mat").is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} BSDS500 {split} photo(s) have no human segmentations in "
                                f"{truth_dir}: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}; "
                                f"unpack {BSDS_ARCHIVE} again (from {BSDS_URL})")
    return [(p, truth_dir / f"{p.stem}.mat") for p in photos]


def _split_counts(root: Path) -> dict[str, int]:
    """Photos with their ground truth in each split (0 for a missing or half-copied split)."""
    counts = {}
    for split in BSDS_SPLITS:
        try:
            counts[split] = len(_split_pairs(bsds_folder(root, split), split))
        except FileNotFoundError:
            counts[split] = 0
    return counts


def _missing_message(split: str, root: Path, why: str = "") -> str:
    present = [s for s, n in _split_counts(root).items() if n]
    have = f" The data root has the {' and '.join(present)} split(s)." if present else ""
    places = " nor ".join(str(root / layout / "images" / split) for layout in _LAYOUTS)
    return (f"BSDS500 {split} split not found: no photos in {places}.{have} "
            f"To fix: download {BSDS_ARCHIVE} from {BSDS_URL} and put it in {root} (the next call unpacks "
            f"it), or unpack it there yourself (tar xzf {BSDS_ARCHIVE} -C {root}: it holds "
            f"{_ARCHIVE_DATA}images/ and groundTruth/), or call load_segmentation('bsds500:{split}', "
            f"root={str(root)!r}) on a machine that is online.{why}")


def _fetch_archive(root: Path) -> Path:
    """Download the archive into ``root`` (a partial file is renamed only once complete)."""
    archive = root / BSDS_ARCHIVE
    partial = archive.with_name(archive.name + ".part")
    root.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(BSDS_URL, timeout=DOWNLOAD_TIMEOUT_S) as response:
            with open(partial, "wb") as f:
                shutil.copyfileobj(response, f, length=1 << 20)
    except BaseException:
        partial.unlink(missing_ok=True)  # a broken download leaves nothing behind to be mistaken for data
        raise
    partial.replace(archive)
    return archive


def _unpack(archive: Path, root: Path) -> None:
    """Unpack the ``BSR/BSDS500/data/`` part of the archive into ``root``, refusing unsafe names."""
    with tarfile.open(archive, "r:*") as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(_ARCHIVE_DATA)
                   and (m.isfile() or m.isdir()) and ".." not in Path(m.name).parts]
        if not members:
            raise ValueError(f"{archive} holds no {_ARCHIVE_DATA} folder: it is not {BSDS_ARCHIVE}")
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(root, members=members, **safe)


def _ensure_split(split: str, root: Path, download: bool) -> list[tuple[Path, Path]]:
    """The split's file pairs, unpacking (and, if allowed, downloading) the archive when they are missing."""
    pairs = _split_pairs(bsds_folder(root, split), split)
    if pairs:
        return pairs
    archive = root / BSDS_ARCHIVE
    if not archive.is_file() and not download:
        raise FileNotFoundError(_missing_message(split, root))
    try:
        _unpack(archive if archive.is_file() else _fetch_archive(root), root)
    except Exception as exc:  # noqa: BLE001 - urllib, sockets and tarfile raise many kinds
        reason = " ".join(str(exc).split())[:300]
        raise FileNotFoundError(_missing_message(split, root, f" (Getting the archive failed: "
                                                              f"{type(exc).__name__}: {reason})")) from exc
    pairs = _split_pairs(bsds_folder(root, split), split)
    if not pairs:
        raise FileNotFoundError(_missing_message(split, root, f" ({archive} holds no {split} photos.)"))
    return pairs


def read_ground_truth(path: str | os.PathLike) -> np.ndarray:
    """Every annotator's label map from one BSDS500 ``.mat`` file.

    Returns
    -------
    ndarray, shape (A, H, W), int64
        A = the number of human segmentations (4-9); labels as stored (from 1).
    """
    from scipy.io import loadmat

    cells = loadmat(str(path))["groundTruth"][0]
    maps = [np.asarray(cell["Segmentation"][0, 0], dtype=np.int64) for cell in cells]
    if not maps or len({m.shape for m in maps}) != 1:
        raise ValueError(f"{path}: expected 1 or more human segmentations of one size, got "
                         f"{[m.shape for m in maps]}")
    return np.stack(maps)


def _consecutive(maps: np.ndarray) -> torch.Tensor:
    """Each (H, W) map of an (A, H, W) stack relabelled 0..K_a-1 (sorted order kept)."""
    out = [np.unique(m, return_inverse=True)[1].reshape(m.shape) for m in maps]
    return torch.from_numpy(np.stack(out).astype(np.int64))


def _read_photo(path: Path) -> torch.Tensor:
    from PIL import Image

    with Image.open(path) as image:  # no EXIF turn: the human maps are aligned with the stored pixels
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


def load_bsds500(split: str = "val", root: str | os.PathLike | None = None, download: bool = True,
                 limit: int | None = None, seed: int = 0) -> SegmentationSet:
    """One split of BSDS500 (``load_segmentation("bsds500:SPLIT")``).

    Parameters
    ----------
    split : {"train", "val", "test"}
        200, 100 and 200 photos in the release.
    root : path, optional
        Data root (default ``$TUTORIAL_DATA_DIR``, else ``data/``).
    download : bool
        Fetch and unpack the official archive when the split is missing (needs a network).
    limit : int, optional
        Keep a seeded random subset of this many photos (the files are sorted by name first).
    seed : int

    Returns
    -------
    SegmentationSet
        ``images``: list of (3, H, W) float32 in [0, 1] (321×481 or 481×321); ``masks``: list of (H, W)
        int64, the first annotator's map relabelled 0..K-1; ``annotations``: list of (A, H, W) int64, every
        annotator's map, each relabelled 0..K_a-1 (the region benchmark scores against all of them);
        ``classes``: region numbers as strings (BSDS regions have no names, and region k of one photo is
        unrelated to region k of another); ``paths``: the photos' files; ``name`` ``bsds500-SPLIT``.

    Raises
    ------
    ValueError
        An unknown split.
    FileNotFoundError
        The split is missing and cannot be downloaded (the message says which archive to unpack where), or a
        photo has no ground-truth file.
    """
    if split not in BSDS_SPLITS:
        raise ValueError(f"BSDS500 has splits {', '.join(BSDS_SPLITS)}; got {split!r} (use bsds500:val)")
    root = data_root(root)
    pairs = _ensure_split(split, root, download)
    pairs = [pairs[i] for i in subset_indices(len(pairs), limit, None, seed)]
    images, annotations = [], []
    for photo, truth in pairs:
        image, maps = _read_photo(photo), read_ground_truth(truth)
        if tuple(maps.shape[1:]) != tuple(image.shape[1:]):
            raise ValueError(f"{truth} holds {maps.shape[2]}×{maps.shape[1]} maps but {photo} is "
                             f"{image.shape[2]}×{image.shape[1]} pixels")
        images.append(image)
        annotations.append(_consecutive(maps))
    masks = [a[0] for a in annotations]
    n_regions = max(int(m.max()) + 1 for m in masks)
    return SegmentationSet(images, masks, [str(k) for k in range(n_regions)], f"bsds500-{split}",
                           [str(p.absolute()) for p, _ in pairs], annotations)


def bsds_status(root: Path) -> dict:
    """The :func:`tutorial_lib.data.dataset_status` row of BSDS500 (file names only; nothing is read)."""
    folder = bsds_folder(root)
    counts = _split_counts(root)
    present = [s for s in BSDS_SPLITS if counts[s]]
    parts = [f"{s} {counts[s]} photos" for s in present] + [f"{s} split missing" for s in BSDS_SPLITS
                                                          if s not in present]
    details = ("; ".join(parts) + "; 4-9 human segmentations each" if present
               else f"not here; load_segmentation('bsds500:val') fetches {BSDS_ARCHIVE} when online")
    return {"name": "bsds500:SPLIT", "task": "segmentation", "available": bool(present), "details": details,
            "where": str(folder)}
