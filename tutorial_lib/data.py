"""Datasets as tensors: bundled sets, torchvision sets, generated sets and the user's own folders.

Every loader ends in one of two small containers:

- :class:`ImageSet` for recognition: ``images`` (float N×C×H×W in [0, 1]), ``labels`` (long N or None),
  ``classes`` and ``name``;
- :class:`SegmentationSet` for segmentation: ``images`` and integer ``masks``.

Two entry points choose the loader from a name: :func:`load` and :func:`load_segmentation`.
:func:`dataset_table` says, without downloading anything, which datasets are available here.

Files that must be downloaded live under the data root (:func:`tutorial_lib.runtime.data_root`: the
``root`` argument, else ``$TUTORIAL_DATA_DIR``, else ``data/`` in the project), in torchvision's layout.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import pickle
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .runtime import data_root

DOWNLOAD_TIMEOUT_S = 30  # per network operation, so that a dead network fails instead of hanging


# ----------------------------------------------------------------------------------------------------
# Containers
# ----------------------------------------------------------------------------------------------------
@dataclass
class ImageSet:
    """Images with optional class labels.

    Attributes
    ----------
    images : Tensor, shape (N, C, H, W), float32 in [0, 1]
    labels : Tensor, shape (N,), int64 in [0, len(classes)), or None when the set has no labels
    classes : list of str
        Class names; ``classes[k]`` names label ``k``. Empty when there are no labels.
    name : str
        Where the set came from, e.g. ``"mnist-test"``.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    classes: list[str] = field(default_factory=list)
    name: str = ""

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        lab = f"{len(self.classes)} classes" if self.labels is not None else "no labels"
        return f"ImageSet({self.name!r}: {n} images of {c}×{h}×{w}, {lab})"


# ----------------------------------------------------------------------------------------------------
# Subsets and conversion (shared by every loader)
# ----------------------------------------------------------------------------------------------------
def subset_indices(n: int, limit: int | None, labels=None, seed: int = 0) -> np.ndarray:
    """Indices of a seeded random subset of ``limit`` items out of ``n``, stratified by label.

    Parameters
    ----------
    n : int
        Number of items.
    limit : int or None
        Subset size; None, or a limit >= n, keeps every item.
    labels : array-like, shape (n,), optional
        When given, each class keeps its share of the subset (largest-remainder rounding).
    seed : int
        Same seed, same subset.

    Returns
    -------
    ndarray, shape (min(n, limit),), int64, sorted ascending (the set keeps its original order).
    """
    if limit is None or limit >= n:
        return np.arange(n)
    if limit < 1:
        raise ValueError(f"limit must be a positive number of items, got {limit}")
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(n, size=limit, replace=False))
    labels = np.asarray(labels)
    values, counts = np.unique(labels, return_counts=True)
    quota = counts * limit / n
    take = np.floor(quota).astype(int)
    # hand the remaining places to the classes with the largest remainders (ties broken at random)
    order = np.lexsort((rng.random(len(values)), -(quota - take)))
    take[order[: limit - take.sum()]] += 1
    chosen = [rng.choice(np.flatnonzero(labels == v), size=k, replace=False)
              for v, k in zip(values, take, strict=True)]
    return np.sort(np.concatenate(chosen))


def _to_float(images: torch.Tensor | np.ndarray, scale: float) -> torch.Tensor:
    """Integer pixel values (0..scale) to float32 in [0, 1]."""
    return (torch.as_tensor(images).to(torch.float32) / scale).clamp_(0.0, 1.0)


def _finish(images, labels, classes, name, limit, seed, scale) -> ImageSet:
    """Take the seeded subset first (cheap on uint8), then convert to float in [0, 1]."""
    labels_np = None if labels is None else np.asarray(labels)
    idx = subset_indices(len(images), limit, labels_np, seed)
    images = torch.as_tensor(np.asarray(images)[idx]) if isinstance(images, np.ndarray) else images[idx]
    out_labels = None if labels_np is None else torch.as_tensor(labels_np[idx], dtype=torch.int64)
    return ImageSet(_to_float(images, scale), out_labels, list(classes), name)


# ----------------------------------------------------------------------------------------------------
# Bundled with scikit-learn
# ----------------------------------------------------------------------------------------------------
def _load_digits(limit, seed) -> ImageSet:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.reshape(-1, 1, 8, 8)  # values 0..16
    return _finish(images, bunch.target, [str(d) for d in range(10)], "digits", limit, seed, scale=16.0)


# ----------------------------------------------------------------------------------------------------
# torchvision datasets: one registry, files read from whatever is on disk
# ----------------------------------------------------------------------------------------------------
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file (MNIST's format), gzipped or not.

    The same parsing as ``torchvision.datasets.mnist.read_sn3_pascalvincent_tensor``, which cannot read
    ``.gz`` files itself; reading them here avoids unpacking into a folder that may be read-only.

    Returns
    -------
    ndarray, shape given by the file header (e.g. (N, 28, 28) uint8 images or (N,) uint8 labels).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim, type_code = data[3], data[2]
    if type_code != 0x08 or not 1 <= ndim <= 3:
        raise ValueError(f"{path} is not an unsigned-byte idx file (type 0x{type_code:02x}, {ndim} dims)")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: header says {shape}, found {array.size} values")
    return array.reshape(shape)


def _idx_header_count(path: Path) -> int:
    """Number of items an idx file holds, from its header only (no full read)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return int.from_bytes(f.read(8)[4:8], "big")


@dataclass(frozen=True)
class _Remote:
    """A dataset torchvision can download: where its files live and how to read one split."""

    title: str
    folder: str  # under the data root, torchvision's layout
    files: dict[str, tuple[str, ...]]  # split -> files that must exist (idx files: with or without .gz)
    url: str  # where to fetch the files by hand
    classes: tuple[str, ...]
    read: Callable[[Path, str], tuple[np.ndarray, np.ndarray | None]]  # (folder, split) -> uint8 NCHW, labels
    fetch: Callable[[Path, str], None]  # (root, split) -> download with torchvision
    count: Callable[[Path, str], int]  # (folder, split) -> number of images, read offline and cheaply
    gz_ok: bool = False  # idx files may be present gzipped


def _find(folder: Path, name: str, gz_ok: bool) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz") if gz_ok else (folder / name,):
        if candidate.is_file():
            return candidate
    return None


_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read_idx_split(folder: Path, split: str):
    image_file, label_file = (_find(folder, f, gz_ok=True) for f in _IDX_FILES[split])
    images = read_idx(image_file)[:, None]
    labels = read_idx(label_file).astype(np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{image_file} holds {len(images)} images but {label_file} {len(labels)} labels")
    return images, labels


def _count_idx_split(folder: Path, split: str) -> int:
    return _idx_header_count(_find(folder, _IDX_FILES[split][0], gz_ok=True))


def _fetch_torchvision(cls_name: str, **kwargs) -> Callable[[Path, str], None]:
    def fetch(root: Path, split: str) -> None:
        import torchvision.datasets as tvd

        split_kwargs = {"split": split} if cls_name == "STL10" else {"train": split == "train"}
        getattr(tvd, cls_name)(str(root), download=True, **split_kwargs, **kwargs)

    return fetch


_CIFAR_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}


def _read_cifar_split(folder: Path, split: str):
    images, labels = [], []
    for name in _CIFAR_FILES[split]:
        with open(folder / name, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch["labels"], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def _count_cifar_split(folder: Path, split: str) -> int:
    return 10000 * len(_CIFAR_FILES[split])  # every CIFAR-10 batch file holds 10,000 images


_STL_FILES = {"train": ("train_X.bin", "train_y.bin"), "test": ("test_X.bin", "test_y.bin"),
              "unlabeled": ("unlabeled_X.bin",)}
_STL_BYTES_PER_IMAGE = 3 * 96 * 96


def _read_stl_split(folder: Path, split: str):
    files = _STL_FILES[split]
    # stored column-major: (N, C, W, H) -> (N, C, H, W), as torchvision does
    images = np.fromfile(folder / files[0], dtype=np.uint8).reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2)
    labels = np.fromfile(folder / files[1], dtype=np.uint8).astype(np.int64) - 1 if len(files) > 1 else None
    return images, labels


def _count_stl_split(folder: Path, split: str) -> int:
    return (folder / _STL_FILES[split][0]).stat().st_size // _STL_BYTES_PER_IMAGE


_REMOTES: dict[str, _Remote] = {
    "mnist": _Remote(
        "MNIST", "MNIST/raw", {s: f for s, f in _IDX_FILES.items()},
        "https://ossci-datasets.s3.amazonaws.com/mnist/", tuple(str(d) for d in range(10)),
        _read_idx_split, _fetch_torchvision("MNIST"), _count_idx_split, gz_ok=True),
    "fashion-mnist": _Remote(
        "Fashion-MNIST", "FashionMNIST/raw", {s: f for s, f in _IDX_FILES.items()},
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
         "Ankle boot"),
        _read_idx_split, _fetch_torchvision("FashionMNIST"), _count_idx_split, gz_ok=True),
    "cifar10": _Remote(
        "CIFAR-10", "cifar-10-batches-py", _CIFAR_FILES,
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (unpack it in the data root)",
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        _read_cifar_split, _fetch_torchvision("CIFAR10"), _count_cifar_split),
    "stl10": _Remote(
        "STL-10", "stl10_binary", _STL_FILES,
        "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz (unpack it in the data root)",
        ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"),
        _read_stl_split, _fetch_torchvision("STL10"), _count_stl_split),
}


def _missing_files(remote: _Remote, folder: Path, split: str) -> list[str]:
    return [f for f in remote.files[split] if _find(folder, f, remote.gz_ok) is None]


def _present_splits(remote: _Remote, folder: Path) -> list[str]:
    return [s for s in remote.files if not _missing_files(remote, folder, s)]


def _missing_message(name: str, remote: _Remote, root: Path, split: str) -> str:
    folder = root / remote.folder
    missing = _missing_files(remote, folder, split)
    shown = [f"{f}(.gz)" if remote.gz_ok else f for f in missing]
    present = _present_splits(remote, folder)
    have = f" Only the {' and '.join(present)} split is there." if present else ""
    return (f"{remote.title} {split} split not found: missing {', '.join(shown)} in {folder}.{have}"
            f" To fix: put these files in {folder} (from {remote.url}), or call "
            f"load({name!r}, split={split!r}, root={str(root)!r}, download=True) on a machine that is "
            "online.")


@contextlib.contextmanager
def _network_timeout(seconds: float) -> Iterator[None]:
    """Bound every socket operation (torchvision's urllib calls have no timeout of their own)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _download(name: str, remote: _Remote, root: Path, split: str) -> None:
    """Fetch with torchvision; any failure becomes a FileNotFoundError that says what to do instead."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with _network_timeout(DOWNLOAD_TIMEOUT_S):
            remote.fetch(root, split)
    except Exception as exc:  # noqa: BLE001 - urllib, tarfile and torchvision raise many kinds
        reason = " ".join(str(exc).split())[:300]
        raise FileNotFoundError(f"{_missing_message(name, remote, root, split)} "
                                f"(The download failed: {type(exc).__name__}: {reason})") from exc


def _load_remote(name: str, split: str, root, download: bool, limit, seed) -> ImageSet:
    remote = _REMOTES[name]
    if split not in remote.files:
        raise ValueError(f"{remote.title} has splits {', '.join(remote.files)}; got split={split!r}")
    root = data_root(root)
    folder = root / remote.folder
    if _missing_files(remote, folder, split):
        if not download:
            raise FileNotFoundError(_missing_message(name, remote, root, split))
        _download(name, remote, root, split)
        if _missing_files(remote, folder, split):
            raise FileNotFoundError(_missing_message(name, remote, root, split))
    images, labels = remote.read(folder, split)
    classes = remote.classes if labels is not None else ()
    return _finish(images, labels, classes, f"{name}-{split}", limit, seed, scale=255.0)


# ----------------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------------
SINGLE_SPLIT = ("digits",)


def load(name: str, split: str = "train", root: str | os.PathLike | None = None, download: bool = True,
         limit: int | None = None, seed: int = 0, **options) -> ImageSet:
    """Load a recognition dataset as tensors.

    Parameters
    ----------
    name : str
        ``digits`` (scikit-learn, 1×8×8), ``mnist`` / ``fashion-mnist`` (1×28×28), ``cifar10`` (3×32×32),
        ``stl10`` (3×96×96; splits train, test, unlabeled).
    split : str
        ``"train"`` or ``"test"`` for torchvision sets; ignored by sets that have a single split
        (digits, generated sets, folders).
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
        Unknown name or split.
    """
    key = name.lower()
    if key == "digits":
        return _load_digits(limit, seed)
    if key in _REMOTES:
        return _load_remote(key, split, root, download, limit, seed)
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(dataset_names())}")


def dataset_names() -> list[str]:
    """Names :func:`load` accepts."""
    return ["digits", *_REMOTES]
