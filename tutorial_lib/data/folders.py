"""The user's own folders: ``folder:PATH`` (recognition: one subfolder per class, or a flat folder) and
``segfolder:PATH`` (segmentation: ``images/`` and ``masks/`` paired by file stem).

Taught in notebook 00_overview (``folder:``) and 04_pixel_segmentation (``segfolder:``, the nuclei
images). Files are read one at a time by :mod:`.reading`; empty, corrupt and non-image files are skipped
with one ``UserWarning`` each. What would mislead is left out with a warning naming it (an empty class
folder, a class folder that links back up the tree or repeats another) or refused with the fix (two files
with one stem, masks saved as JPEG).

How ``folder:`` chooses what it loads, reported once in one line (``report=``, default ``print``) and kept
as ``ImageSet.note``:

- ``size=`` given: every image is scaled to cover that size and centre-cropped (an explicit size wins);
- else, every image of the same size: loaded at that size, shrunk (aspect kept) when its longer side
  exceeds :data:`MAX_SIDE`;
- else (mixed sizes): fitted to :data:`DEFAULT_SIZE` × :data:`DEFAULT_SIZE` as with ``size=``;
- one channel when every image is grey (its three channels equal everywhere), else three; ``channels=``
  forces 1 (luma, as Pillow's ``convert("L")``) or 3.

Images are decoded one at a time and copied into the result at the working size before the next is read,
so a folder too large for memory at full size loads whenever the result fits.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..runtime import data_root
from .reading import image_header, is_lossy, list_files, read_image, read_mask
from .sets import ImageSet, SegmentationSet, as_size, resize, segmentation_set, subset_indices

__all__ = ["DEFAULT_SIZE", "MAX_SIDE", "load_folder", "load_segfolder", "segfolders_under"]

MAX_SIDE = 512  # largest working side of a folder of same-size images; larger ones are shrunk to it
DEFAULT_SIZE = 64  # the side mixed-size folders are fitted to when no size= is given
_LUMA = torch.tensor([0.299, 0.587, 0.114])[:, None, None]  # ITU-R 601 weights, as Pillow's convert("L")


def _warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=4)


def _resolve_folder(path: str, root: str | os.PathLike | None) -> Path:
    """A folder given as ``folder:PATH``: as given, else relative to the data root."""
    folder = Path(path).expanduser()
    if not folder.is_dir() and not folder.is_absolute() and (data_root(root) / folder).is_dir():
        folder = data_root(root) / folder
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {folder} does not exist (nor under the data root {data_root(root)})")
    return folder


# --- the user's folder of images (recognition): listing ------------------------------------------
def _class_dirs(folder: Path) -> list[Path]:
    """Subfolders of ``folder``, sorted, hidden ones left out; a link that loops or points nowhere, one
    that leads back to the folder or above it, and a second name for a folder already listed are left out
    with one warning each."""
    base = folder.resolve()
    seen: dict[Path, Path] = {}
    for entry in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        try:
            target = entry.resolve(strict=True)
        except (OSError, RuntimeError):  # ELOOP or a dangling link (RuntimeError before Python 3.13)
            _warn(f"skipped {entry}: a symbolic link that loops or points nowhere")
            continue
        if not target.is_dir():
            continue
        if target == base or target in base.parents:
            _warn(f"skipped {entry}: it links to {target}, the folder itself or one above it (a loop), so it "
                  "is not a class")
        elif target in seen:
            _warn(f"skipped {entry}: the same folder ({target}) as the class {seen[target].name!r}; one "
                  "class per folder")
        else:
            seen[target] = entry
    return list(seen.values())


def _classes_with_files(class_dirs: list[Path]) -> list[tuple[Path, list[Path]]]:
    """(class folder, its files) for each class folder that holds files; an empty one is left out with a
    warning naming it."""
    kept = []
    for d in class_dirs:
        files = list_files(d)
        if files:
            kept.append((d, files))
            continue
        nested = any(p.is_dir() for p in d.iterdir())
        why = " (it holds only subfolders: images must sit directly in their class folder)" if nested else ""
        _warn(f"class folder {d} is empty{why}: it is not counted as a class")
    return kept


def _folder_listing(folder: Path) -> tuple[list[Path], np.ndarray | None, list[str]]:
    """Files and labels: one class per subfolder that holds files (sorted names), or a flat folder without
    labels."""
    per_class = _classes_with_files(_class_dirs(folder))
    if not per_class:
        return list_files(folder), None, []
    stray = list_files(folder)
    if stray:
        warnings.warn(f"{len(stray)} file(s) directly in {folder} ignored (e.g. {stray[0].name}): with class "
                      "subfolders, every image must sit in its class's subfolder", UserWarning, stacklevel=3)
    files = [f for _, group in per_class for f in group]
    labels = np.concatenate([np.full(len(g), k, np.int64) for k, (_, g) in enumerate(per_class)])
    return files, labels, [d.name for d, _ in per_class]


# --- the user's folder of images (recognition): sizes, channels, reading ------------------------------
def _fit(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Scale (C, H, W) so that it covers ``size``, keeping its aspect ratio, then crop the centre."""
    h, w = image.shape[-2:]
    scale = max(size[0] / h, size[1] / w)
    scaled = resize(image, (max(size[0], round(h * scale)), max(size[1], round(w * scale))), "bilinear")
    top, left = (scaled.shape[1] - size[0]) // 2, (scaled.shape[2] - size[1]) // 2
    return scaled[:, top:top + size[0], left:left + size[1]]


def _working_size(sizes: list[tuple[int, int]], size) -> tuple[tuple[int, int], str]:
    """The (H, W) every image is fitted to, from the displayed sizes (H, W) of the files and ``size=``, and
    the words that say why."""
    if size is not None:
        work = as_size(size)
        return work, f", fitted to {work[0]}×{work[1]} (size={size!r}: each scaled to cover, centre-cropped)"
    distinct = sorted(set(sizes))
    if len(distinct) > 1:
        return ((DEFAULT_SIZE, DEFAULT_SIZE),
                f" of {len(distinct)} sizes, fitted to {DEFAULT_SIZE}×{DEFAULT_SIZE} (the default size="
                f"{DEFAULT_SIZE}: each scaled to cover, centre-cropped; pass size= to choose)")
    h, w = distinct[0]
    if max(h, w) <= MAX_SIDE:
        return (h, w), f", all {h}×{w}, kept at their size"
    scale = MAX_SIDE / max(h, w)
    work = (max(1, round(h * scale)), max(1, round(w * scale)))
    return work, (f", all {h}×{w}, shrunk to {work[0]}×{work[1]} (aspect kept; the largest working side "
                  f"is MAX_SIDE = {MAX_SIDE}; pass size= to choose)")


def _read_at(files: list[Path], size: tuple[int, int], channels: int | None) -> tuple[torch.Tensor, list[int],
                                                                                       bool]:
    """Decode ``files`` one at a time, each fitted to ``size`` (H, W) and copied into one (N, C, H, W)
    result before the next file is read: at most one full-size picture is alive at any time.

    Returns
    -------
    images : Tensor (N, C, H, W), float32 in [0, 1]; one row per readable file, C as ``channels`` or, when
        None, 1 while every image read is grey and 3 from the first colour one on
    rows : list of int, the position in ``files`` of each row
    all_grey : bool, whether every readable file was grey
    """
    out = torch.empty(len(files), 3 if channels == 3 else 1, *size)
    rows, all_grey = [], True
    for j, path in enumerate(files):
        pixels = read_image(path)  # (H, W, 3) at full size
        if pixels is None:
            continue
        image = torch.from_numpy(pixels).permute(2, 0, 1)
        grey = bool(torch.equal(image[0], image[1]) and torch.equal(image[0], image[2]))
        all_grey = all_grey and grey
        if not grey and out.shape[1] == 1 and channels is None:
            out = out.expand(-1, 3, -1, -1).clone()  # the first colour image: the grey rows so far get 3
        if out.shape[1] == 1:
            image = image[:1] if grey else (image * _LUMA).sum(0, keepdim=True)
        out[len(rows)] = _fit(image, size)
        rows.append(j)
        del pixels, image  # before the next file is decoded
    return (out if len(rows) == len(files) else out[:len(rows)].clone()), rows, all_grey


def _kept_labels(labels: np.ndarray | None, chosen: list[int], tried: np.ndarray, classes: list[str],
                 folder: Path) -> tuple[torch.Tensor | None, list[str]]:
    """Labels of the files read (``chosen``, indices into the listing); a class none of whose files could be
    read (all of them tried) is left out with a warning, and the labels renumbered to stay consecutive."""
    if labels is None:
        return None, []
    k = len(classes)
    total, attempted = np.bincount(labels, minlength=k), np.bincount(labels[tried], minlength=k)
    read = np.bincount(labels[chosen], minlength=k)
    dropped = (read == 0) & (attempted == total)
    for c in np.flatnonzero(dropped):
        _warn(f"class folder {folder / classes[c]} left out: none of its {total[c]} file(s) could be read "
              "(see the warnings above), so it is not counted as a class")
    renumber = np.cumsum(~dropped) - 1
    kept = torch.as_tensor(renumber[labels[chosen]], dtype=torch.int64)
    return kept, [name for name, gone in zip(classes, dropped, strict=True) if not gone]


def _channels_words(all_grey: bool, channels: int | None) -> str:
    if channels is None:
        return "grey, 1 channel" if all_grey else "colour, 3 channels"
    if channels == 1:
        return "grey, 1 channel" if all_grey else "colour made grey (channels=1)"
    return "grey given 3 channels (channels=3)" if all_grey else "colour, 3 channels"


def load_folder(path: str, root: str | os.PathLike | None = None, size: int | tuple[int, int] | None = None,
                limit: int | None = None, seed: int = 0, channels: int | None = None,
                report: Callable[[str], object] | None = print) -> ImageSet:
    """The ``folder:PATH`` set: every readable image, at a size and channel count chosen as the module
    docstring says, reported once.

    Parameters
    ----------
    path : str
        The folder, as given, else relative to the data root ``root``. One subfolder per class gives
        labels and ``classes``; a flat folder gives ``labels=None``.
    size : int or (int, int), optional
        Fit every image to this size (H, W) in pixels: scaled to cover it, centre-cropped. Default: the
        images' own size when they all share one (longer side at most :data:`MAX_SIDE`), else
        :data:`DEFAULT_SIZE`.
    limit, seed
        Keep a seeded subset (stratified by label) of this many files before any is read.
    channels : {None, 1, 3}
        None: 1 when every image is grey, else 3.
    report : callable, optional
        Called once with the line that says what was loaded (default ``print``); None keeps quiet.

    Returns
    -------
    ImageSet
        ``images`` float32 (N, C, H, W) in [0, 1], ``labels`` int64 (N,) or None, ``classes``, ``paths``
        (the absolute path of each image's file) and ``note`` (the reported line).
    """
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be None (as the images are), 1 or 3; got {channels!r}")
    folder = _resolve_folder(path, root)
    files, labels, classes = _folder_listing(folder)
    if not files:
        raise ValueError(f"{folder} holds no files: put images in it, or in one subfolder per class")
    keep = subset_indices(len(files), limit, labels, seed)
    headers = [(int(i), image_header(files[i])) for i in keep]  # header only: nothing decoded yet
    readable = [(i, h) for i, h in headers if h is not None]
    rows = []
    if readable:
        work, how = _working_size([h.size for _, h in readable], size)
        images, rows, all_grey = _read_at([files[i] for i, _ in readable], work, channels)
    if not rows:
        raise ValueError(f"no readable image in {folder} ({len(keep)} file(s) skipped, see the warnings)")
    chosen = [readable[r][0] for r in rows]
    out_labels, classes = _kept_labels(labels, chosen, keep, classes, folder)
    name = f"folder:{folder.name}"
    note = (f"{name}: {len(rows)} image{'s' * (len(rows) != 1)}{how}; {_channels_words(all_grey, channels)}: "
            f"{'×'.join(map(str, images.shape))}")
    if report is not None:
        report(note)
    return ImageSet(images, out_labels, classes, name, [str(files[i].absolute()) for i in chosen], note)


# --- the user's folder of images and masks (segmentation) ----------------------------------------
def _by_stem(files: list[Path], folder: Path) -> dict[str, Path]:
    """``files`` by stem; two files with one stem (``a.png`` and ``a.jpg``) are refused, naming both."""
    index: dict[str, Path] = {}
    clashes = []
    for f in files:
        if f.stem in index:
            clashes.append(f"{index[f.stem].name} and {f.name}")
        else:
            index[f.stem] = f
    if clashes:
        raise ValueError(f"{folder} has {len(clashes)} file stem(s) used twice ({'; '.join(clashes[:5])}"
                         f"{' ...' if len(clashes) > 5 else ''}): images and masks are paired by stem, so "
                         "keep one file per stem (rename or remove the others)")
    return index


def _refuse_lossy_masks(masks: list[Path], mask_dir: Path) -> None:
    """Masks stored as JPEG are refused: compression changes label values near every edge."""
    lossy = [m.name for m in masks if is_lossy(m)]
    if lossy:
        raise ValueError(f"{len(lossy)} mask(s) in {mask_dir} saved as JPEG, a lossy format: "
                         f"{', '.join(lossy[:10])}{' ...' if len(lossy) > 10 else ''}. JPEG compression "
                         "changes label values near every edge, and each changed value would count as a "
                         "class. Save masks losslessly (PNG or TIFF) from the original labels (converting "
                         "these JPEG files to PNG keeps the damage)")


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
                   seed: int = 0) -> SegmentationSet:
    """The ``segfolder:PATH`` set: ``PATH/images/`` and ``PATH/masks/`` paired by file stem.

    Images are read as RGB at their own size (resized to ``size`` (H, W) if given, masks by nearest
    neighbour); two files with one stem in either folder, and masks saved as JPEG, are refused.

    Returns
    -------
    SegmentationSet
        ``images`` (3, H, W) float32 in [0, 1] (stacked when the sizes agree), ``masks`` (H, W) int64
        relabelled to 0..K-1, ``classes`` (the original mask values), ``paths`` (each image's file).
    """
    folder = _resolve_folder(path, root)
    image_dir, mask_dir = folder / "images", folder / "masks"
    if not image_dir.is_dir() or not mask_dir.is_dir():
        raise FileNotFoundError(f"{folder} needs two subfolders, images/ and masks/, with the same file "
                                "stems (images/a.png with masks/a.png)")
    image_files = list(_by_stem(list_files(image_dir), image_dir).values())
    if not image_files:
        raise ValueError(f"{image_dir} is empty: put the images there and their masks in {mask_dir}")
    image_files = [image_files[i] for i in subset_indices(len(image_files), limit, None, seed)]
    masks_by_stem = _by_stem(list_files(mask_dir), mask_dir)
    _refuse_lossy_masks([masks_by_stem[f.stem] for f in image_files if f.stem in masks_by_stem], mask_dir)
    pairs, paths, unmatched = [], [], []
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
            paths.append(str(image_path.absolute()))
    if unmatched:
        raise ValueError(f"no mask in {mask_dir} for {len(unmatched)} image(s): {', '.join(unmatched[:10])}"
                         f"{' ...' if len(unmatched) > 10 else ''}; add masks with the same file stems "
                         "or remove those images")
    if not pairs:
        raise ValueError(f"no readable image/mask pair in {folder} (every file was skipped, see the "
                         "warnings)")
    masks, classes = _consecutive_labels([m for _, m in pairs])
    return segmentation_set([im for im, _ in pairs], masks, classes, f"segfolder:{folder.name}", paths)


def segfolders_under(root: Path) -> list[dict]:
    """Folders of the data root laid out as images/ + masks/ (e.g. ``nuclei``), usable as segfolder:NAME."""
    if not root.is_dir():
        return []
    rows = []
    for folder in sorted(d for d in root.iterdir() if (d / "images").is_dir() and (d / "masks").is_dir()):
        count = len(list_files(folder / "images"))
        rows.append({"name": f"segfolder:{folder.name}", "task": "segmentation", "available": count > 0,
                     "details": f"{count} image files with masks", "where": str(folder)})
    return rows
