"""Reading the user's files one at a time: :func:`read_image` and :func:`read_mask` (robust to odd formats
and bad files, and showing each picture as a viewer does: the EXIF orientation is applied), the cheap
header look-up the folder loaders plan with (:func:`image_header`), and the checks on file formats.

Taught in notebook 00_overview (``folder:``) and 04_pixel_segmentation (``segfolder:``, the nuclei images).
Empty, corrupt and non-image files are skipped with one ``UserWarning`` each, naming the file.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["LOSSY_FORMATS", "ImageHeader", "image_header", "is_lossy", "list_files", "read_image",
           "read_mask", "skip"]

_ORIENTATION = 0x0112  # the EXIF tag of the orientation
_QUARTER_TURNS = {5, 6, 7, 8}  # orientations shown turned by 90°: the viewer swaps width and height
LOSSY_FORMATS = ("JPEG", "MPO")  # Pillow's names of the lossy formats (MPO: JPEG with several frames)
_LOSSY_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")


def skip(path: Path, why: str, stacklevel: int = 4) -> None:
    """The one warning a skipped file gets: ``skipped PATH: WHY``."""
    warnings.warn(f"skipped {path}: {why}", UserWarning, stacklevel=stacklevel)


def list_files(folder: Path) -> list[Path]:
    """Files of a folder, sorted, hidden ones (``.DS_Store``, ``._x``) left out."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _open(path: Path, decode: bool):
    """Open an image with Pillow (and decode it when ``decode``); None, after one warning, if it can't be."""
    from PIL import Image

    try:
        if path.stat().st_size == 0:
            skip(path, "empty file", stacklevel=5)
            return None
        image = Image.open(path)
        if decode:
            image.load()
        return image
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, ValueError, SyntaxError, ... on bad files
        skip(path, f"not a readable image ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})",
             stacklevel=5)
        return None


def _decode(path: Path):
    """The decoded Pillow image, turned as a viewer shows it (EXIF orientation applied); None if unreadable
    (after one warning)."""
    from PIL import ImageOps

    image = _open(path, decode=True)
    if image is not None:
        try:
            ImageOps.exif_transpose(image, in_place=True)
        except Exception as exc:  # noqa: BLE001 - a damaged EXIF block must not cost the picture
            warnings.warn(f"{path}: its EXIF orientation could not be read ({type(exc).__name__}); read as "
                          "stored, without turning it", UserWarning, stacklevel=4)
    return image


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header says, without decoding its pixels.

    Attributes
    ----------
    format : str
        Pillow's format name (``"PNG"``, ``"JPEG"``...).
    size : (int, int)
        (H, W) in pixels as a viewer shows the picture (EXIF quarter turns swap the stored sides).
    """

    format: str
    size: tuple[int, int]


def _header_orientation(image) -> int:
    """The EXIF orientation known from the header (1 when there is none, or when finding it would mean
    decoding the file, as for a PNG whose EXIF block follows the pixels)."""
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    try:
        return int(image.getexif().get(_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - a damaged EXIF block: the decode step warns about it
        return 1


def image_header(path: str | os.PathLike) -> ImageHeader | None:
    """Format and displayed size of an image file from its header only (cheap: no pixel is decoded).

    Returns
    -------
    ImageHeader, or None for an empty or non-image file, after one ``UserWarning`` naming it.
    """
    image = _open(Path(path), decode=False)
    if image is None:
        return None
    with image:
        h, w = image.height, image.width
        if _header_orientation(image) in _QUARTER_TURNS:
            h, w = w, h
        return ImageHeader(str(image.format), (int(h), int(w)))


def is_lossy(path: str | os.PathLike) -> bool:
    """Whether a file is stored in a lossy format (JPEG), by its content or, if unreadable, its suffix.

    Silent: a file that cannot be read is reported when it is read.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.format in LOSSY_FORMATS
    except Exception:  # noqa: BLE001 - unreadable: judge by the name
        return Path(path).suffix.lower() in _LOSSY_SUFFIXES


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
    """Read one image file as RGB, turned as a viewer shows it (the EXIF orientation applied).

    Parameters
    ----------
    path : path
        Any format Pillow reads: grey, palette, RGB(A), 16-bit grey, float TIFF.

    Returns
    -------
    ndarray, shape (H, W, 3), float32 in [0, 1], or None
        None for an empty, corrupt or non-image file, after one ``UserWarning`` naming it.
    """
    image = _decode(Path(path))
    return None if image is None else _pil_to_rgb(image)


def read_mask(path: str | os.PathLike) -> np.ndarray | None:
    """Read one label mask: one integer label per pixel (the EXIF orientation applied, as for images).

    Grey, palette (the palette index is the label) and 16-bit masks keep their values; a colour mask whose
    channels differ gets one label per distinct colour (sorted, so black is 0).

    Returns
    -------
    ndarray, shape (H, W), int64, or None
        None for an empty, corrupt or non-image file, after one ``UserWarning`` naming it.
    """
    image = _decode(Path(path))
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
