"""Recognition sets that come from elsewhere: scikit-learn's bundled digits, and MNIST,
Fashion-MNIST, CIFAR-10 and STL-10 read from torchvision's file layout (downloaded on request), and
``mnist-imbalanced``, a subset of MNIST-test with unequal class sizes (:func:`load_mnist_imbalanced`).

Taught in notebook 00_overview (digits), 01_preprocessing and 02_feature_learning (digits and the
MNIST test split) and 03_clustering_classification (digits). Files live under the data root
(:func:`tutorial_lib.runtime.data_root`); when they are missing and cannot be downloaded, the
``FileNotFoundError`` names the files, the folder to put them in and where to get them.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import pickle
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..runtime import data_root
from .sets import ImageSet, finish, subset_indices

__all__ = ["DOWNLOAD_TIMEOUT_S", "IMBALANCED_SIZES", "imbalanced_status", "read_idx", "load_digits",
           "load_mnist_imbalanced", "load_remote", "remote_names", "remote_status"]

DOWNLOAD_TIMEOUT_S = 30  # per network operation, so that a dead network fails instead of hanging


# --- bundled with scikit-learn -------------------------------------------------------------------
def load_digits(limit: int | None = None, seed: int = 0) -> ImageSet:
    """scikit-learn's 1,797 handwritten digits, 1×8×8 (values 0..16 scaled to [0, 1]), labels 0-9.

    ``limit`` keeps a seeded subset stratified by label (:func:`tutorial_lib.data.subset_indices`).
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = bunch.images.reshape(-1, 1, 8, 8)  # values 0..16
    return finish(images, bunch.target, [str(d) for d in range(10)], "digits", limit, seed, scale=16.0)


# --- torchvision datasets: one registry, files read from whatever is on disk ---------------------
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


def remote_names() -> list[str]:
    """Names of the torchvision sets :func:`load_remote` reads, in table order."""
    return list(_REMOTES)


def load_remote(name: str, split: str = "train", root: str | os.PathLike | None = None, download: bool = True,
                limit: int | None = None, seed: int = 0) -> ImageSet:
    """One split of a torchvision set (``mnist``, ``fashion-mnist``, ``cifar10``, ``stl10``) as an ImageSet.

    Parameters and errors as :func:`tutorial_lib.data.load`; images float32 (N, C, H, W) in [0, 1]
    (uint8 / 255), labels int64 (N,) or None (STL-10's unlabeled split).
    """
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
    return finish(images, labels, classes, f"{name}-{split}", limit, seed, scale=255.0)


# --- an imbalanced subset of MNIST-test -----------------------------------------------------------
IMBALANCED_SIZES = (892, 700, 550, 430, 340, 260, 200, 160, 125, 100)
"""Class sizes of ``mnist-imbalanced`` (3,757 images): the largest class is 8.9 times the smallest,
and 892 is the size of MNIST-test's smallest class (digit 5), so every digit can take every size."""


def load_mnist_imbalanced(root: str | os.PathLike | None = None, download: bool = True,
                          limit: int | None = None, seed: int = 0) -> ImageSet:
    """``mnist-imbalanced``: a subset of MNIST-test whose ten classes have the sizes
    :data:`IMBALANCED_SIZES` (892, 700, 550, 430, 340, 260, 200, 160, 125, 100; 3,757 images).

    ``np.random.default_rng(seed)`` draws a permutation of the digits (digit ``order[i]`` gets
    ``IMBALANCED_SIZES[i]`` images), then, from the same generator, which images of each digit are taken;
    the images keep MNIST-test's order. A benchmark of clustering when classes are not equally frequent.

    Parameters
    ----------
    root, download
        As :func:`load_remote` for MNIST's test split (downloaded when missing and ``download``).
    limit : int, optional
        Keep a seeded subset of this many of the 3,757 images, stratified by label (the sizes' ratios kept).
    seed : int
        Seed of the digit order, of the images taken and of the subset.

    Returns
    -------
    ImageSet
        ``images`` float32 (N, 1, 28, 28) in [0, 1], ``labels`` int64 (N,) in 0..9, ``classes`` "0".."9",
        name ``"mnist-imbalanced"``, ``paths`` None.
    """
    full = load_remote("mnist", "test", root, download)
    labels = full.labels.numpy()
    rng = np.random.default_rng(seed)
    order = rng.permutation(10)
    chosen = [rng.choice(np.flatnonzero(labels == digit), size=size, replace=False)
              for digit, size in zip(order, IMBALANCED_SIZES, strict=True)]
    keep = np.sort(np.concatenate(chosen))
    keep = keep[subset_indices(len(keep), limit, labels[keep], seed)]
    return replace(full.subset(keep), name="mnist-imbalanced")


def imbalanced_status(root: Path) -> dict:
    """The :func:`tutorial_lib.data.dataset_status` row of ``mnist-imbalanced`` (MNIST's test split
    looked for under ``root``; nothing is read or downloaded)."""
    remote = _REMOTES["mnist"]
    folder = root / remote.folder
    here = not _missing_files(remote, folder, "test")
    details = (f"{sum(IMBALANCED_SIZES)} images of MNIST-test, 1×28×28, 10 classes of "
               f"{IMBALANCED_SIZES[0]} down to {IMBALANCED_SIZES[-1]} images" if here
               else "needs MNIST's test split; load(..., download=True) fetches it when online")
    return {"name": "mnist-imbalanced", "task": "recognition", "available": here, "details": details,
            "where": str(folder)}


def remote_status(root: Path) -> list[dict]:
    """One :func:`tutorial_lib.data.dataset_status` row per torchvision set, from the files under ``root``
    (header reads and file sizes only: nothing is downloaded or unpacked)."""
    return [_status(name, remote, root) for name, remote in _REMOTES.items()]


def _status(name: str, remote: _Remote, root: Path) -> dict:
    folder = root / remote.folder
    present = _present_splits(remote, folder)
    parts = [f"{s} split, {remote.count(folder, s)} images" for s in present]
    parts += [f"{s} split missing" for s in remote.files if s not in present]
    details = "; ".join(parts) if present else "not here; load(..., download=True) fetches it when online"
    return {"name": name, "task": "recognition", "available": bool(present), "details": details,
            "where": str(folder)}
