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
import functools
import gzip
import os
import pickle
import socket
import warnings
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
# Reading the user's files: one robust reader for images, one for masks
# ----------------------------------------------------------------------------------------------------
def _skip(path: Path, why: str) -> None:
    warnings.warn(f"skipped {path}: {why}", UserWarning, stacklevel=4)


def _open_image(path: Path):
    """Open and decode an image with Pillow; None (after one warning naming the file) if it can't be."""
    from PIL import Image

    try:
        if path.stat().st_size == 0:
            _skip(path, "empty file")
            return None
        image = Image.open(path)
        image.load()
        return image
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, ValueError, SyntaxError, ... on bad files
        _skip(path, f"not a readable image ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})")
        return None


def _pil_to_rgb(image) -> np.ndarray:
    """Any Pillow image (grey, palette, RGBA, 16-bit, float) to float32 (H, W, 3) in [0, 1].

    Transparent pixels are composited on white, which is how a viewer shows them.
    """
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        grey = np.asarray(image, dtype=np.float32)
        # 16-bit files use the full 0..65535 range; 32-bit "I" and float files have no fixed range
        scale = 65535.0 if mode.startswith("I;16") or grey.max() > 255 else 255.0
        scale = max(float(grey.max()), 1.0) if mode == "F" else scale
        return np.repeat(np.clip(grey / scale, 0, 1)[..., None], 3, axis=2)
    if "A" in mode or "a" in mode or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3:]
        return rgba[..., :3] * alpha + (1.0 - alpha)
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def read_image(path: str | os.PathLike) -> np.ndarray | None:
    """Read one image file as RGB.

    Parameters
    ----------
    path : path
        Any format Pillow reads: grey, palette, RGB(A), 16-bit grey, float TIFF.

    Returns
    -------
    ndarray, shape (H, W, 3), float32 in [0, 1], or None
        None for an empty, corrupt or non-image file, after one ``UserWarning`` naming it.
    """
    image = _open_image(Path(path))
    return None if image is None else _pil_to_rgb(image)


def read_mask(path: str | os.PathLike) -> np.ndarray | None:
    """Read one label mask: one integer label per pixel.

    Grey, palette (the palette index is the label) and 16-bit masks keep their values; a colour mask whose
    channels differ gets one label per distinct colour (sorted, so black is 0).

    Returns
    -------
    ndarray, shape (H, W), int64, or None
        None for an empty, corrupt or non-image file, after one ``UserWarning`` naming it.
    """
    image = _open_image(Path(path))
    if image is None:
        return None
    if image.mode in ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr"):
        rgb = np.asarray(image.convert("RGB"), dtype=np.int64)
        if (rgb == rgb[..., :1]).all():
            return rgb[..., 0]
        _, codes = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True)
        return codes.reshape(rgb.shape[:2])
    if image.mode in ("LA", "PA"):
        image = image.getchannel(0)
    return np.rint(np.asarray(image)).astype(np.int64)


def _image_files(folder: Path) -> list[Path]:
    """Files of a folder, sorted, hidden ones (``.DS_Store``, ``._x``) left out."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _resolve_folder(path: str, root) -> Path:
    """A folder given as ``folder:PATH``: as given, else relative to the data root."""
    folder = Path(path).expanduser()
    if not folder.is_dir() and not folder.is_absolute() and (data_root(root) / folder).is_dir():
        folder = data_root(root) / folder
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {folder} does not exist (nor under the data root {data_root(root)})")
    return folder


def _resize(image: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize a (C, H, W) tensor: antialiased bilinear for images, nearest for masks."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    if mode == "nearest":
        return torch.nn.functional.interpolate(image[None].float(), size=size, mode="nearest-exact")[0]
    out = torch.nn.functional.interpolate(image[None], size=size, mode="bilinear", antialias=True,
                                          align_corners=False)
    return out[0].clamp_(0.0, 1.0)


def _as_size(size) -> tuple[int, int] | None:
    if size is None:
        return None
    return (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))


# ----------------------------------------------------------------------------------------------------
# Segmentation sets
# ----------------------------------------------------------------------------------------------------
@dataclass
class SegmentationSet:
    """Images with one integer label per pixel.

    Attributes
    ----------
    images : Tensor, shape (N, C, H, W), float32 in [0, 1]; or a list of N (C, H, W) tensors when sizes differ
    masks : Tensor, shape (N, H, W), int64; or a list of N (H, W) tensors. Value k means ``classes[k]``.
    classes : list of str
    name : str

    Iterate over pairs with ``zip(ds.images, ds.masks)``.
    """

    images: torch.Tensor | list[torch.Tensor]
    masks: torch.Tensor | list[torch.Tensor]
    classes: list[str] = field(default_factory=list)
    name: str = ""

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        sizes = {tuple(im.shape) for im in self.images}
        shape = "×".join(map(str, sizes.pop())) if len(sizes) == 1 else f"{len(sizes)} sizes"
        return f"SegmentationSet({self.name!r}: {len(self)} images of {shape}, {len(self.classes)} classes)"


def _segmentation_set(images: list[torch.Tensor], masks: list[torch.Tensor], classes,
                      name: str) -> SegmentationSet:
    """Stack into tensors when every image has the same size, else keep lists."""
    if len({tuple(im.shape) for im in images}) == 1:
        return SegmentationSet(torch.stack(images), torch.stack(masks), list(classes), name)
    return SegmentationSet(list(images), list(masks), list(classes), name)


# --- texture mosaics -----------------------------------------------------------------------------------
MOSAIC_TEXTURES = ("brick", "grass", "gravel", "moon", "stars")
_TEXTURE_MEAN, _TEXTURE_STD = 0.5, 0.15


@functools.lru_cache(maxsize=1)
def _texture_sources() -> dict[str, np.ndarray]:
    """scikit-image's bundled photos of stationary textures, grey float32 in [0, 1] (offline)."""
    import skimage.data as skd
    from skimage.color import rgb2gray

    return {
        "brick": skd.brick() / 255.0,
        "grass": skd.grass() / 255.0,
        "gravel": skd.gravel() / 255.0,
        "moon": skd.moon() / 255.0,  # lunar surface: craters and ridges
        "stars": rgb2gray(skd.hubble_deep_field()),  # a star field
    }


def _texture_crop(source: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random square crop, shrunk 1.5–2.5× (so a crop shows several bricks, stones, craters), rotated by a
    multiple of 90° and maybe flipped.

    Returns
    -------
    ndarray, shape (size, size), float32
    """
    side = min(int(round(size * rng.uniform(1.5, 2.5))), *source.shape)
    top = rng.integers(0, source.shape[0] - side + 1)
    left = rng.integers(0, source.shape[1] - side + 1)
    crop = torch.from_numpy(np.ascontiguousarray(source[top:top + side, left:left + side], np.float32))
    crop = np.rot90(_resize(crop[None], (size, size), "bilinear")[0].numpy(), k=int(rng.integers(4)))
    return (crop[:, ::-1] if rng.random() < 0.5 else crop).astype(np.float32)


def _warped_voronoi(size: int, k: int, rng: np.random.Generator, min_share: float = 0.05) -> np.ndarray:
    """Partition a square into ``k`` cells with wavy boundaries: Voronoi cells of random seeds in
    coordinates displaced by a smooth random field. Redrawn until every cell holds ``min_share`` of pixels.

    Returns
    -------
    ndarray, shape (size, size), int64 in [0, k)
    """
    from scipy.ndimage import gaussian_filter

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for _ in range(100):
        warp = [gaussian_filter(rng.standard_normal((size, size)), sigma=size / 10) for _ in range(2)]
        warp = [w / (np.abs(w).max() + 1e-8) * size / 6 for w in warp]
        seeds = rng.uniform(0, size, size=(k, 2))
        dist = [(yy + warp[0] - sy) ** 2 + (xx + warp[1] - sx) ** 2 for sy, sx in seeds]
        cells = np.argmin(np.stack(dist), axis=0)
        if np.bincount(cells.ravel(), minlength=k).min() >= min_share * size * size:
            return cells
    raise RuntimeError(f"could not split a {size}×{size} image into {k} cells of >= {min_share:.0%} each")


def _equalised(texture: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Give the texture's pixels inside ``region`` a common mean and standard deviation of grey level,
    so that regions cannot be told apart by brightness or contrast alone."""
    values = texture[region]
    for _ in range(5):  # clipping to [0, 1] moves mean and std a little; a few rounds bring them back
        values = (values - values.mean()) / (values.std() + 1e-6) * _TEXTURE_STD + _TEXTURE_MEAN
        values = np.clip(values, 0.0, 1.0)
    return values


def make_mosaic(size: int, rng: np.random.Generator, regions: tuple[int, int] = (3, 5)) -> tuple[np.ndarray,
                                                                                                     np.ndarray]:
    """One texture mosaic and its exact mask.

    Parameters
    ----------
    size : int
        Side in pixels.
    rng : numpy Generator
    regions : (int, int)
        Inclusive range of the number of regions; each region gets a different texture.

    Returns
    -------
    image : ndarray, shape (size, size), float32 in [0, 1]
    mask : ndarray, shape (size, size), int64, the index in ``MOSAIC_TEXTURES`` of each pixel's texture
    """
    sources = _texture_sources()
    k = int(rng.integers(regions[0], regions[1] + 1))
    if not 1 <= k <= len(MOSAIC_TEXTURES):
        raise ValueError(f"regions must lie in 1..{len(MOSAIC_TEXTURES)}, got {regions}")
    chosen = rng.choice(len(MOSAIC_TEXTURES), size=k, replace=False)
    cells = _warped_voronoi(size, k, rng)
    image = np.zeros((size, size), np.float32)
    mask = np.zeros((size, size), np.int64)
    for cell, tex in enumerate(chosen):
        region = cells == cell
        image[region] = _equalised(_texture_crop(sources[MOSAIC_TEXTURES[tex]], size, rng), region)
        mask[region] = tex
    return image, mask


MOSAIC_DEFAULTS = {"n": 16, "size": 128}


def _load_mosaic(n: int = MOSAIC_DEFAULTS["n"], size: int = MOSAIC_DEFAULTS["size"],
                 regions: tuple[int, int] = (3, 5), seed: int = 0):
    images, masks = [], []
    for i in range(n):
        image, mask = make_mosaic(size, np.random.default_rng([seed, i]), regions)
        images.append(torch.from_numpy(image)[None])
        masks.append(torch.from_numpy(mask))
    return images, masks, list(MOSAIC_TEXTURES), "mosaic"


# --- coloured shapes on textured backgrounds (the classification set `shapes` and the scenes) -----------
SHAPE_NAMES = ("circle", "square", "triangle", "star", "cross")
_CROSS = np.array([(-1, -1), (-1, -3), (1, -3), (1, -1), (3, -1), (3, 1), (1, 1), (1, 3), (-1, 3), (-1, 1),
                   (-3, 1), (-3, -1)], dtype=np.float64) / 3.0  # a plus sign, arms a third as wide as long


def _shape_outline(kind: str) -> np.ndarray:
    """Vertices of a shape of radius 1 centred on 0, shape (V, 2) as (y, x)."""
    if kind == "cross":
        return _CROSS
    corners = {"circle": 48, "square": 4, "triangle": 3, "star": 10}[kind]
    angles = 2 * np.pi * np.arange(corners) / corners + (np.pi / 4 if kind == "square" else 0.0)
    radius = np.where(np.arange(corners) % 2 == 1, 0.45, 1.0) if kind == "star" else np.ones(corners)
    return np.stack([radius * np.sin(angles), radius * np.cos(angles)], axis=1)


def shape_mask(kind: str, shape: tuple[int, int], center: tuple[float, float], radius: float,
               angle: float = 0.0) -> np.ndarray:
    """Pixels covered by one shape.

    Parameters
    ----------
    kind : str
        One of ``SHAPE_NAMES``.
    shape : (int, int)
        Canvas (H, W).
    center : (float, float)
        (y, x) in pixels.
    radius : float
        Distance from the centre to the outermost vertex, in pixels.
    angle : float
        Rotation in radians.

    Returns
    -------
    ndarray, shape (H, W), bool
    """
    from skimage.draw import polygon2mask

    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    vertices = _shape_outline(kind) @ rot.T * radius + np.asarray(center)
    return polygon2mask(shape, vertices)


def _textured_background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A tinted crop of a real texture, float32 (size, size, 3) in [0, 1], fairly dull so shapes stand out."""
    sources = _texture_sources()
    texture = _texture_crop(sources[MOSAIC_TEXTURES[rng.integers(len(MOSAIC_TEXTURES))]], size, rng)
    texture = (texture - texture.mean()) / (texture.std() + 1e-6) * 0.12 + 0.5
    tint = rng.uniform(0.35, 1.0, size=3)
    return np.clip(texture[..., None] * tint, 0.0, 1.0).astype(np.float32)


def _contrasting_colour(background: np.ndarray, rng: np.random.Generator, min_distance: float = 0.4):
    """A random RGB colour at least ``min_distance`` (Euclidean) from the background's mean colour."""
    mean = background.reshape(-1, 3).mean(axis=0)
    for _ in range(100):
        colour = rng.uniform(0.0, 1.0, size=3)
        if np.linalg.norm(colour - mean) >= min_distance:
            return colour
    return 1.0 - mean


def _paint_shape(image: np.ndarray, kind: str, radius: float, rng: np.random.Generator,
                 avoid: np.ndarray | None = None) -> np.ndarray | None:
    """Paint one shape of random position, rotation and colour onto ``image`` (H, W, 3) in place.

    Returns the painted pixels (H, W) bool, or None when no position clear of ``avoid`` was found.
    """
    h, w = image.shape[:2]
    for _ in range(30):
        center = (rng.uniform(radius, h - radius), rng.uniform(radius, w - radius))
        pixels = shape_mask(kind, (h, w), center, radius, rng.uniform(0, 2 * np.pi))
        if pixels.any() and (avoid is None or not (pixels & avoid).any()):
            colour = _contrasting_colour(image, rng)
            shading = rng.normal(0.0, 0.03, size=(int(pixels.sum()), 1))  # a little grain, not flat paint
            image[pixels] = np.clip(colour + shading, 0.0, 1.0)
            return pixels
    return None


def make_shape_image(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One image of the ``shapes`` set: shape ``SHAPE_NAMES[label]`` (radius 25–45 % of the side) on a
    textured background.

    Returns
    -------
    ndarray, shape (size, size, 3), float32 in [0, 1]
    """
    image = _textured_background(size, rng)
    _paint_shape(image, SHAPE_NAMES[label], rng.uniform(0.25, 0.45) * size, rng)
    return image


def make_scene(size: int, rng: np.random.Generator, objects: tuple[int, int] = (2, 5)) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
    """A scene of non-overlapping shapes (radius 8–18 % of the side) on a textured background.

    Returns
    -------
    image : ndarray, shape (size, size, 3), float32 in [0, 1]
    mask : ndarray, shape (size, size), int64; 0 = background, k + 1 = ``SHAPE_NAMES[k]``
    """
    image = _textured_background(size, rng)
    mask = np.zeros((size, size), np.int64)
    for _ in range(int(rng.integers(objects[0], objects[1] + 1))):
        label = int(rng.integers(len(SHAPE_NAMES)))
        pixels = _paint_shape(image, SHAPE_NAMES[label], rng.uniform(0.08, 0.18) * size, rng, avoid=mask > 0)
        if pixels is not None:
            mask[pixels] = label + 1
    return image, mask


SHAPES_DEFAULTS = {"n": 1000, "size": 32}
SCENES_DEFAULTS = {"n": 16, "size": 128}


def _load_shapes(n: int = SHAPES_DEFAULTS["n"], size: int = SHAPES_DEFAULTS["size"], seed: int = 0):
    """``n`` images, classes balanced and shuffled; image i depends on (seed, i) only."""
    labels = np.random.default_rng(seed).permutation(np.arange(n) % len(SHAPE_NAMES))
    images = np.stack([make_shape_image(int(lab), size, np.random.default_rng([seed, i]))
                       for i, lab in enumerate(labels)])
    return images.transpose(0, 3, 1, 2), labels


def _load_scenes(n: int = SCENES_DEFAULTS["n"], size: int = SCENES_DEFAULTS["size"],
                 objects: tuple[int, int] = (2, 5), seed: int = 0):
    images, masks = [], []
    for i in range(n):
        image, mask = make_scene(size, np.random.default_rng([seed, i]), objects)
        images.append(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))))
        masks.append(torch.from_numpy(mask))
    return images, masks, ["background", *SHAPE_NAMES], "scenes"


# --- the user's folder of images and masks ----------------------------------------------------------------
def _index_by_stem(files: list[Path]) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for f in files:
        index.setdefault(f.stem, f)
    return index


def _pair_tensors(image: np.ndarray, mask: np.ndarray, image_path: Path, mask_path: Path, size):
    """An (image, mask) pair as tensors, (3, H, W) float and (H, W) int64, resized to ``size`` if given."""
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {mask_path} is {mask.shape[1]}×{mask.shape[0]} pixels but its image "
                         f"{image_path} is {image.shape[1]}×{image.shape[0]}: save the mask at the image's "
                         "size")
    image_t = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    mask_t = torch.from_numpy(mask)
    if size is not None:
        image_t = _resize(image_t, size, "bilinear")
        mask_t = _resize(mask_t[None], size, "nearest")[0].long()
    return image_t, mask_t


def _consecutive_labels(masks: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
    """Relabel mask values to 0..K-1 (in sorted order); the original values become the class names."""
    values = torch.unique(torch.cat([m.flatten() for m in masks]))
    lookup = values.tolist()
    if lookup == list(range(len(lookup))):
        return masks, [str(v) for v in lookup]
    return [torch.searchsorted(values, m) for m in masks], [str(v) for v in lookup]


def _load_segfolder(path: str, root=None, size=None, limit=None, seed=0):
    folder = _resolve_folder(path, root)
    image_dir, mask_dir = folder / "images", folder / "masks"
    if not image_dir.is_dir() or not mask_dir.is_dir():
        raise FileNotFoundError(f"{folder} needs two subfolders, images/ and masks/, with the same file "
                                "stems (images/a.png with masks/a.png)")
    image_files = _image_files(image_dir)
    if not image_files:
        raise ValueError(f"{image_dir} is empty: put the images there and their masks in {mask_dir}")
    image_files = [image_files[i] for i in subset_indices(len(image_files), limit, None, seed)]
    masks_by_stem = _index_by_stem(_image_files(mask_dir))
    pairs, unmatched = [], []
    for image_path in image_files:
        mask_path = masks_by_stem.get(image_path.stem)
        image = read_image(image_path)
        if image is None:
            continue
        if mask_path is None:
            unmatched.append(image_path.name)
            continue
        mask = read_mask(mask_path)
        if mask is not None:
            pairs.append(_pair_tensors(image, mask, image_path, mask_path, _as_size(size)))
    if unmatched:
        raise ValueError(f"no mask in {mask_dir} for {len(unmatched)} image(s): {', '.join(unmatched[:10])}"
                         f"{' ...' if len(unmatched) > 10 else ''}; add masks with the same file stems "
                         "or remove those images")
    if not pairs:
        raise ValueError(f"no readable image/mask pair in {folder} (every file was skipped, see the "
                         "warnings)")
    masks, classes = _consecutive_labels([m for _, m in pairs])
    return [im for im, _ in pairs], masks, classes, f"segfolder:{folder.name}"


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
        ``segfolder:PATH``: ``PATH/images/`` and ``PATH/masks/`` with the same file stems (PATH as given,
        else relative to the data root); images read as RGB (C = 3), masks relabelled to 0..K-1 with the
        original values as ``classes``; option ``size`` (int or (H, W)) resizes both, else native sizes.
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
        (N, H, W) (or a list), ``classes``, ``name``.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing folders, no readable pair, an image without mask, a mask whose size differs from its image.
    """
    kind, _, path = name.partition(":")
    kind = kind.lower()
    if kind == "segfolder" and path:
        images, masks, classes, title = _load_segfolder(path, root, limit=limit, seed=seed, **options)
        return _segmentation_set(images, masks, classes, title)
    if kind in _GENERATED_SEGMENTATION:
        images, masks, classes, title = _GENERATED_SEGMENTATION[kind](seed=seed, **options)
        keep = subset_indices(len(images), limit, None, seed)
        return _segmentation_set([images[i] for i in keep], [masks[i] for i in keep], classes, title)
    raise ValueError(f"unknown segmentation set {name!r}; choose one of mosaic, scenes, segfolder:PATH")


_GENERATED_SEGMENTATION = {"mosaic": _load_mosaic, "scenes": _load_scenes}


# ----------------------------------------------------------------------------------------------------
# The user's folder of images (recognition)
# ----------------------------------------------------------------------------------------------------
def _fit(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Scale (C, H, W) so that it covers ``size``, keeping its aspect ratio, then crop the centre."""
    h, w = image.shape[-2:]
    scale = max(size[0] / h, size[1] / w)
    scaled = _resize(image, (max(size[0], round(h * scale)), max(size[1], round(w * scale))), "bilinear")
    top, left = (scaled.shape[1] - size[0]) // 2, (scaled.shape[2] - size[1]) // 2
    return scaled[:, top:top + size[0], left:left + size[1]]


def _folder_listing(folder: Path) -> tuple[list[Path], np.ndarray | None, list[str]]:
    """Files and labels: one class per subfolder (sorted names), or a flat folder without labels."""
    class_dirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        return _image_files(folder), None, []
    stray = _image_files(folder)
    if stray:
        warnings.warn(f"{len(stray)} file(s) directly in {folder} ignored (e.g. {stray[0].name}): with class "
                      "subfolders, every image must sit in its class's subfolder", UserWarning, stacklevel=3)
    per_class = [_image_files(d) for d in class_dirs]
    files = [f for group in per_class for f in group]
    labels = np.concatenate([np.full(len(g), k, np.int64) for k, g in enumerate(per_class)])
    return files, labels, [d.name for d in class_dirs]


def _load_folder(path: str, root=None, size=64, limit=None, seed=0) -> ImageSet:
    folder = _resolve_folder(path, root)
    files, labels, classes = _folder_listing(folder)
    if not files:
        raise ValueError(f"{folder} holds no files: put images in it, or in one subfolder per class")
    keep = subset_indices(len(files), limit, labels, seed)
    size = _as_size(size)
    images, kept_labels = [], []
    for i in keep:
        image = read_image(files[i])
        if image is not None:
            images.append(_fit(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), size))
            kept_labels.append(None if labels is None else labels[i])
    if not images:
        raise ValueError(f"no readable image in {folder} ({len(keep)} file(s) skipped, see the warnings)")
    out_labels = None if labels is None else torch.tensor(kept_labels, dtype=torch.int64)
    return ImageSet(torch.stack(images), out_labels, classes, f"folder:{folder.name}")


# ----------------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------------
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
        ``folder:PATH``: the user's images (PATH as given, else relative to the data root); one subfolder
        per class gives labels and ``classes``, a flat folder gives ``labels=None``; every image is read as
        RGB, scaled to cover ``size`` (option, default 64, int or (H, W)) and centre-cropped. Unreadable,
        empty and non-image files are skipped with one warning each.
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
        Unknown name or split, an empty folder, or a folder with no readable image.
    TypeError
        Options given to a set that takes none (digits, torchvision sets).
    """
    kind, _, path = name.partition(":")
    key = kind.lower()
    if key == "folder" and path:
        return _load_folder(path, root, limit=limit, seed=seed, **options)
    if options and (key == "digits" or key in _REMOTES):
        raise TypeError(f"{name} takes no options; got {', '.join(options)}")
    if key == "digits":
        return _load_digits(limit, seed)
    if key == "shapes":
        images, labels = _load_shapes(seed=seed, **options)
        return _finish(images, labels, SHAPE_NAMES, "shapes", limit, seed, scale=1.0)
    if key in _REMOTES:
        return _load_remote(key, split, root, download, limit, seed)
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(dataset_names())}")


def dataset_names() -> list[str]:
    """Names :func:`load` accepts."""
    return ["digits", *_REMOTES, "shapes", "folder:PATH"]


# ----------------------------------------------------------------------------------------------------
# What is available here (offline: looks at files, downloads nothing)
# ----------------------------------------------------------------------------------------------------
_GENERATED_INFO = {
    "shapes": ("recognition", f"generated: {SHAPES_DEFAULTS['n']} images, 3×{SHAPES_DEFAULTS['size']}×"
               f"{SHAPES_DEFAULTS['size']}, {len(SHAPE_NAMES)} classes (the shape)",
               "built from scikit-image textures"),
    "mosaic": ("segmentation", f"generated: {MOSAIC_DEFAULTS['n']} images, 1×{MOSAIC_DEFAULTS['size']}×"
               f"{MOSAIC_DEFAULTS['size']}, {len(MOSAIC_TEXTURES)} textures", "scikit-image texture photos"),
    "scenes": ("segmentation", f"generated: {SCENES_DEFAULTS['n']} images, 3×{SCENES_DEFAULTS['size']}×"
               f"{SCENES_DEFAULTS['size']}, background + {len(SHAPE_NAMES)} shapes",
               "built from scikit-image textures"),
}


def _remote_status(name: str, remote: _Remote, root: Path) -> dict:
    folder = root / remote.folder
    present = _present_splits(remote, folder)
    parts = [f"{s} split, {remote.count(folder, s)} images" for s in present]
    parts += [f"{s} split missing" for s in remote.files if s not in present]
    details = "; ".join(parts) if present else "not here; load(..., download=True) fetches it when online"
    return {"name": name, "task": "recognition", "available": bool(present), "details": details,
            "where": str(folder)}


def _segfolders_under(root: Path) -> list[dict]:
    """Folders of the data root laid out as images/ + masks/ (e.g. ``nuclei``), usable as segfolder:NAME."""
    if not root.is_dir():
        return []
    rows = []
    for folder in sorted(d for d in root.iterdir() if (d / "images").is_dir() and (d / "masks").is_dir()):
        count = len(_image_files(folder / "images"))
        rows.append({"name": f"segfolder:{folder.name}", "task": "segmentation", "available": count > 0,
                     "details": f"{count} image files with masks", "where": str(folder)})
    return rows


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
    rows += [_remote_status(name, remote, root) for name, remote in _REMOTES.items()]
    for name, (task, details, where) in _GENERATED_INFO.items():
        rows.append({"name": name, "task": task, "available": True, "details": details, "where": where})
    rows.append({"name": "folder:PATH", "task": "recognition", "available": None,
                 "details": "your images; one subfolder per class gives labels", "where": "PATH"})
    rows += _segfolders_under(root)
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
