"""The user's own files: :func:`read_image` and :func:`read_mask` (robust to odd formats and bad
files), and the ``folder:PATH`` (recognition) and ``segfolder:PATH`` (segmentation) loaders.

Taught in notebook 00_overview (``folder:``) and 04_pixel_segmentation (``segfolder:``, the nuclei
images). Empty, corrupt and non-image files are skipped with one ``UserWarning`` each.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..runtime import data_root
from .sets import ImageSet, as_size, resize, subset_indices

__all__ = ["read_image", "read_mask", "load_folder", "load_segfolder", "segfolders_under"]


# --- reading one file: one robust reader for images, one for masks -------------------------------
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


def _resolve_folder(path: str, root: str | os.PathLike | None) -> Path:
    """A folder given as ``folder:PATH``: as given, else relative to the data root."""
    folder = Path(path).expanduser()
    if not folder.is_dir() and not folder.is_absolute() and (data_root(root) / folder).is_dir():
        folder = data_root(root) / folder
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {folder} does not exist (nor under the data root {data_root(root)})")
    return folder



# --- the user's folder of images (recognition) ---------------------------------------------------
def _fit(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Scale (C, H, W) so that it covers ``size``, keeping its aspect ratio, then crop the centre."""
    h, w = image.shape[-2:]
    scale = max(size[0] / h, size[1] / w)
    scaled = resize(image, (max(size[0], round(h * scale)), max(size[1], round(w * scale))), "bilinear")
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


def load_folder(path: str, root: str | os.PathLike | None = None, size: int | tuple[int, int] = 64,
                limit: int | None = None, seed: int = 0) -> ImageSet:
    """The ``folder:PATH`` set: every readable image as RGB, scaled to cover ``size`` and centre-cropped.

    One subfolder per class gives labels and ``classes``; a flat folder gives ``labels=None``.
    ``limit`` keeps a seeded subset (stratified by label) before the files are read.

    Returns
    -------
    ImageSet
        ``images`` float32 (N, 3, H, W) in [0, 1], ``labels`` int64 (N,) or None, ``classes``.
    """
    folder = _resolve_folder(path, root)
    files, labels, classes = _folder_listing(folder)
    if not files:
        raise ValueError(f"{folder} holds no files: put images in it, or in one subfolder per class")
    keep = subset_indices(len(files), limit, labels, seed)
    size = as_size(size)
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


# --- the user's folder of images and masks (segmentation) ----------------------------------------
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
        image_t = resize(image_t, size, "bilinear")
        mask_t = resize(mask_t[None], size, "nearest")[0].long()
    return image_t, mask_t


def _consecutive_labels(masks: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
    """Relabel mask values to 0..K-1 (in sorted order); the original values become the class names."""
    values = torch.unique(torch.cat([m.flatten() for m in masks]))
    lookup = values.tolist()
    if lookup == list(range(len(lookup))):
        return masks, [str(v) for v in lookup]
    return [torch.searchsorted(values, m) for m in masks], [str(v) for v in lookup]


def load_segfolder(path: str, root: str | os.PathLike | None = None,
                   size: int | tuple[int, int] | None = None, limit: int | None = None,
                   seed: int = 0) -> tuple[list, list, list[str], str]:
    """The ``segfolder:PATH`` set: ``PATH/images/`` and ``PATH/masks/`` paired by file stem.

    Returns
    -------
    images : list of Tensor (3, H, W), float32 in [0, 1] (resized to ``size`` if given)
    masks : list of Tensor (H, W), int64, relabelled to 0..K-1
    classes : list of str, the original mask values
    name : str
    """
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
            pairs.append(_pair_tensors(image, mask, image_path, mask_path, as_size(size)))
    if unmatched:
        raise ValueError(f"no mask in {mask_dir} for {len(unmatched)} image(s): {', '.join(unmatched[:10])}"
                         f"{' ...' if len(unmatched) > 10 else ''}; add masks with the same file stems "
                         "or remove those images")
    if not pairs:
        raise ValueError(f"no readable image/mask pair in {folder} (every file was skipped, see the "
                         "warnings)")
    masks, classes = _consecutive_labels([m for _, m in pairs])
    return [im for im, _ in pairs], masks, classes, f"segfolder:{folder.name}"


def segfolders_under(root: Path) -> list[dict]:
    """Folders of the data root laid out as images/ + masks/ (e.g. ``nuclei``), usable as segfolder:NAME."""
    if not root.is_dir():
        return []
    rows = []
    for folder in sorted(d for d in root.iterdir() if (d / "images").is_dir() and (d / "masks").is_dir()):
        count = len(_image_files(folder / "images"))
        rows.append({"name": f"segfolder:{folder.name}", "task": "segmentation", "available": count > 0,
                     "details": f"{count} image files with masks", "where": str(folder)})
    return rows
