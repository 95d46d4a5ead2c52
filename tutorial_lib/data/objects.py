"""The ``photo-objects`` scenes: objects of a class-folder source (MNIST-test digits by default) pasted,
each filled with one colour, on crops of real photos and textures, with exact masks.

Taught in notebook 05_foreground_background (the application: segment the background, classify the
foreground objects).

* :func:`object_alpha`: an object image (grey or colour, any background) as an alpha map in [0, 1]:
  its distance from the colour of its border, so a white digit on black and a red square on a texture
  both give the object.
* :func:`make_object_scene`: one scene, 3–6 objects of 40–80 pixels, a gap of ``gap`` pixels kept
  between any two objects; ``mask`` 0 = background, c + 1 = an object of class c.
* :func:`true_objects`: the true objects of a class mask: the 8-connected components of each class's
  mask after a closing that bridges gaps of up to 3 pixels (a digit with a broken stroke stays one).
* :func:`load_photo_objects`: ``n`` scenes, image i from ``np.random.default_rng([seed, i])`` only.

The backgrounds are scikit-image's photos and textures (offline) by default, or BSDS500 photos
(``backgrounds="bsds500:train"``) for a check on pictures the defaults were not tuned on.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import torch
from scipy import ndimage as ndi

from .sets import resize

__all__ = ["OBJECTS_DEFAULTS", "PHOTO_BACKGROUNDS", "ALPHA_THRESHOLD", "object_alpha", "make_object_scene",
           "true_objects", "load_photo_objects", "object_source"]

OBJECTS_DEFAULTS = {"n": 100, "size": (321, 481), "objects": (3, 6), "object_size": (40, 80), "gap": 6}
"""Default options of ``load_segmentation("photo-objects")``: scenes, (H, W), objects per scene
(inclusive), the longer side of an object in pixels, and the clear gap between objects in pixels."""

PHOTO_BACKGROUNDS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "immunohistochemistry",
                     "hubble_deep_field", "moon", "stereo_motorcycle", "brick", "grass", "gravel")
"""scikit-image's bundled photos and textures used as backgrounds (all offline)."""

ALPHA_THRESHOLD = 0.35
"""Object pixels are those whose alpha is at least this."""

CLOSING_RADIUS = 2
"""The closing of :func:`true_objects`: a disk of radius 2, which bridges gaps of up to 3 (in fact 4)
pixels; the generator keeps objects ``gap`` >= 6 pixels apart, so two objects are never merged."""


# --- sources -----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def object_source(source: str = "mnist", root: str | None = None):
    """The class-folder set objects are drawn from (cached): ``mnist`` is MNIST's test split, falling back
    to scikit-learn's digits when the MNIST files are absent; any other name is ``data.load(source)``
    (``folder:PATH``, ``shapes``, ``digits``...).

    Returns
    -------
    ImageSet
        ``images`` float32 (N, C, h, w) in [0, 1] with ``labels``.
    """
    from .catalog import load

    if source == "mnist":
        try:
            return load("mnist", split="test", root=root, download=False)
        except FileNotFoundError:
            return load("digits")
    ds = load(source, root=root)
    if ds.labels is None:
        raise ValueError(f"source {source!r} has no labels: give a class-folder set (one subfolder per "
                         "class)")
    return ds


@functools.lru_cache(maxsize=2)
def _backgrounds(name: str | None, root: str | None) -> tuple[np.ndarray, ...]:
    """Background pictures, float32 (H, W, 3) in [0, 1]: scikit-image's (``name`` None) or BSDS500's."""
    if name is None:
        import skimage.data as skd

        pictures = []
        for photo in PHOTO_BACKGROUNDS:
            pixels = getattr(skd, photo)()
            pixels = pixels[0] if isinstance(pixels, tuple) else pixels  # the motorcycle is a stereo pair
            pixels = np.asarray(pixels, np.float32) / 255.0
            pictures.append(np.repeat(pixels[..., None], 3, 2) if pixels.ndim == 2 else pixels[..., :3])
        return tuple(pictures)
    from .catalog import load_segmentation

    ds = load_segmentation(name, root=root)
    return tuple(np.ascontiguousarray(im.permute(1, 2, 0).numpy()) for im in ds.images)


def _background_crop(picture: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A random crop of ``picture`` (H, W, 3) at ``shape``, scaled 1–1.5× beyond covering it, maybe
    mirrored. Returns float32 (shape[0], shape[1], 3)."""
    h, w = picture.shape[:2]
    scale = max(shape[0] / h, shape[1] / w) * rng.uniform(1.0, 1.5)
    size = (max(shape[0], int(np.ceil(h * scale))), max(shape[1], int(np.ceil(w * scale))))
    big = resize(torch.from_numpy(np.ascontiguousarray(picture.transpose(2, 0, 1))), size, "bilinear")
    top = int(rng.integers(0, size[0] - shape[0] + 1))
    left = int(rng.integers(0, size[1] - shape[1] + 1))
    crop = big[:, top:top + shape[0], left:left + shape[1]].permute(1, 2, 0).numpy()
    return np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop, dtype=np.float32)


# --- objects -----------------------------------------------------------------------------------------
def object_alpha(image: np.ndarray) -> np.ndarray:
    """An object image as alpha: each pixel's colour distance from the median colour of the image's
    border, divided by its 99th percentile and clipped to [0, 1].

    A white digit on black gives its grey levels; a coloured shape on a texture gives about 1 on the
    shape and small values on the texture.

    Parameters
    ----------
    image : ndarray, shape (C, h, w), float in [0, 1]

    Returns
    -------
    ndarray, shape (h, w), float32 in [0, 1]
    """
    pixels = np.asarray(image, np.float32).transpose(1, 2, 0)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    distance = np.linalg.norm(pixels - np.median(border, axis=0), axis=2)
    top = float(np.percentile(distance, 99))
    return np.clip(distance / top, 0.0, 1.0).astype(np.float32) if top > 1e-6 else np.zeros_like(distance)


SPECK_SHARE = 0.05
"""A piece of an object's alpha mask smaller than this share of its largest piece is a speck of the source
image's background (a texture pixel that passed the threshold), not part of the object."""


def _without_specks(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` (h, w) bool without its 8-connected pieces smaller than :data:`SPECK_SHARE` of the largest
    (a digit's detached stroke is kept; stray texture pixels of a ``shapes`` image are not)."""
    pieces, n = ndi.label(pixels, structure=np.ones((3, 3), bool))
    if n <= 1:
        return pixels
    sizes = np.bincount(pieces.ravel())[1:]
    keep = np.concatenate([[False], sizes >= SPECK_SHARE * sizes.max()])
    return keep[pieces]


def _object_pixels(image: np.ndarray, side: int) -> np.ndarray | None:
    """The object of ``image`` (C, h, w) as a bool mask whose longer side is ``side`` pixels (the tight
    box of alpha >= :data:`ALPHA_THRESHOLD`, scaled), or None when it has no such pixel."""
    alpha = object_alpha(image)
    kept = _without_specks(alpha >= ALPHA_THRESHOLD)
    alpha = np.where(ndi.binary_dilation(kept), alpha, 0.0)  # the kept pieces with their soft rims
    rows, cols = np.nonzero(kept)
    if len(rows) == 0:
        return None
    alpha = alpha[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = side / max(alpha.shape)
    size = (max(1, round(alpha.shape[0] * scale)), max(1, round(alpha.shape[1] * scale)))
    big = resize(torch.from_numpy(np.ascontiguousarray(alpha))[None], size, "bilinear")[0].numpy()
    pixels = _without_specks(big >= ALPHA_THRESHOLD)
    return pixels if pixels.any() else None


def _contrasting_colour(local: np.ndarray, rng: np.random.Generator, min_distance: float = 0.35):
    """A random RGB colour at least ``min_distance`` from the mean colour of ``local`` (N, 3)."""
    mean = local.mean(axis=0)
    for _ in range(100):
        colour = rng.uniform(0.0, 1.0, size=3)
        if np.linalg.norm(colour - mean) >= min_distance:
            return colour.astype(np.float32)
    return (1.0 - mean).astype(np.float32)


def _place(pixels: np.ndarray, blocked: np.ndarray, rng: np.random.Generator) -> tuple[int, int] | None:
    """A random top-left corner where ``pixels`` (h, w) avoid ``blocked`` (H, W); None after 50 tries."""
    h, w = pixels.shape
    for _ in range(50):
        top = int(rng.integers(0, blocked.shape[0] - h + 1))
        left = int(rng.integers(0, blocked.shape[1] - w + 1))
        if not (blocked[top:top + h, left:left + w] & pixels).any():
            return top, left
    return None


def make_object_scene(shape: tuple[int, int], rng: np.random.Generator, images, labels: np.ndarray,
                      pictures, objects: tuple[int, int] = (3, 6), object_size: tuple[int, int] = (40, 80),
                      gap: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """One scene: ``objects`` objects drawn from ``images`` pasted on a crop of one of ``pictures``.

    Each object is the part of its source image with alpha >= :data:`ALPHA_THRESHOLD`
    (:func:`object_alpha`), scaled so its longer side is drawn from ``object_size``, filled with one
    random colour that contrasts with the background under it, and placed at least ``gap`` pixels from
    every other object (an object that finds no place after 50 tries is left out).

    Parameters
    ----------
    shape : (int, int)
        (H, W) of the scene.
    rng : numpy Generator
    images : Tensor or ndarray, shape (N, C, h, w), float in [0, 1]
        The object source.
    labels : ndarray, shape (N,), int
    pictures : sequence of ndarray (H', W', 3), float in [0, 1]
        Background pictures (each at least as large as ``shape`` after scaling).

    Returns
    -------
    image : ndarray, shape (H, W, 3), float32 in [0, 1]
    mask : ndarray, shape (H, W), int64; 0 = background, c + 1 = an object of class c
    """
    image = _background_crop(pictures[int(rng.integers(len(pictures)))], shape, rng)
    mask = np.zeros(shape, np.int64)
    blocked = np.zeros(shape, bool)  # objects dilated by the gap: no new object pixel may fall there
    for _ in range(int(rng.integers(objects[0], objects[1] + 1))):
        index = int(rng.integers(len(labels)))
        side = int(rng.integers(object_size[0], object_size[1] + 1))
        pixels = _object_pixels(np.asarray(images[index]), side)
        if pixels is None or pixels.shape[0] > shape[0] or pixels.shape[1] > shape[1]:
            continue
        corner = _place(pixels, blocked, rng)
        if corner is None:
            continue
        box = (slice(corner[0], corner[0] + pixels.shape[0]), slice(corner[1], corner[1] + pixels.shape[1]))
        region = image[box]
        region[pixels] = _contrasting_colour(region.reshape(-1, 3), rng)
        mask[box][pixels] = int(labels[index]) + 1
        placed = np.zeros(shape, bool)
        placed[box] = pixels
        blocked |= ndi.binary_dilation(placed, iterations=gap)
    return image, mask


def true_objects(mask) -> tuple[np.ndarray, np.ndarray]:
    """The true objects of a class mask: 8-connected components of each class after a closing.

    Each class's pixels are closed with a disk of radius :data:`CLOSING_RADIUS` (bridging gaps of up to
    3 pixels, so a digit with a broken stroke stays one object), split into 8-connected components, and
    each object keeps the class's own pixels inside its component.

    Parameters
    ----------
    mask : ndarray or Tensor, shape (H, W), int; 0 = background, c + 1 = class c

    Returns
    -------
    objects : ndarray, shape (H, W), int64; 0 = background, k = object k (1..K)
    classes : ndarray, shape (K,), int64; the class c of object k at ``classes[k - 1]``
    """
    mask = np.asarray(mask.numpy() if isinstance(mask, torch.Tensor) else mask, np.int64)
    objects, classes = np.zeros(mask.shape, np.int64), []
    r = CLOSING_RADIUS
    disk = np.hypot(*np.mgrid[-r:r + 1, -r:r + 1]) <= r
    for value in np.unique(mask[mask > 0]):
        own = mask == value
        closed = ndi.binary_closing(np.pad(own, r + 1), structure=disk)[r + 1:-r - 1, r + 1:-r - 1]
        components, k = ndi.label(closed | own, structure=np.ones((3, 3), bool))
        for j in range(1, k + 1):
            pixels = own & (components == j)
            if pixels.any():
                classes.append(int(value) - 1)
                objects[pixels] = len(classes)
    return objects, np.asarray(classes, np.int64)


def load_photo_objects(n: int = OBJECTS_DEFAULTS["n"], source: str = "mnist",
                       size: tuple[int, int] = OBJECTS_DEFAULTS["size"],
                       objects: tuple[int, int] = OBJECTS_DEFAULTS["objects"],
                       object_size: tuple[int, int] = OBJECTS_DEFAULTS["object_size"],
                       gap: int = OBJECTS_DEFAULTS["gap"], backgrounds: str | None = None, seed: int = 0,
                       root: str | os.PathLike | None = None) -> tuple[list, list, list[str], str]:
    """``n`` scenes (:func:`make_object_scene`), image i from ``np.random.default_rng([seed, i])``.

    Parameters
    ----------
    n : int
    source : str
        Where the objects come from: ``mnist`` (the test split; scikit-learn's digits when MNIST is absent)
        or any class-folder name of ``data.load`` (``shapes``, ``digits``, ``folder:PATH``).
    size : (int, int)
        (H, W) of each scene.
    objects, object_size, gap
        See :data:`OBJECTS_DEFAULTS`.
    backgrounds : str, optional
        None: scikit-image's photos and textures (:data:`PHOTO_BACKGROUNDS`); or a segmentation set whose
        pictures serve as backgrounds, e.g. ``"bsds500:train"``.
    seed : int
    root : path, optional
        Data root for the source and the backgrounds.

    Returns
    -------
    images : list of n Tensor (3, H, W), float32 in [0, 1]
    masks : list of n Tensor (H, W), int64; 0 = background, c + 1 = class c
    classes : list of str, ``["background", *source classes]``
    name : str
    """
    root_key = None if root is None else str(root)
    ds = object_source(source, root_key)
    pictures = _backgrounds(backgrounds, root_key)
    labels = ds.labels.numpy()
    images, masks = [], []
    for i in range(n):
        image, mask = make_object_scene(tuple(size), np.random.default_rng([seed, i]), ds.images, labels,
                                        pictures, tuple(objects), tuple(object_size), gap)
        images.append(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))))
        masks.append(torch.from_numpy(mask))
    name = "photo-objects" + ("" if source == "mnist" else f"-{source}")
    name += f"-{backgrounds}" if backgrounds else ""
    return images, masks, ["background", *ds.classes], name
