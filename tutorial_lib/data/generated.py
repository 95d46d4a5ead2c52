"""Generated sets with exact ground truth, built offline from scikit-image's texture photos:
``shapes`` (recognition: a coloured shape on a textured background), ``mosaic`` (texture mosaics
with wavy region boundaries) and ``scenes`` (several shapes per image, one mask label per shape).

Taught in notebook 00_overview (shapes and mosaic) and 04_pixel_segmentation (mosaic and scenes).
Image ``i`` of a set depends on ``(seed, i)`` only, through ``np.random.default_rng([seed, i])``.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .sets import ImageSet, finish, resize

__all__ = ["MOSAIC_TEXTURES", "MOSAIC_DEFAULTS", "make_mosaic", "SHAPE_NAMES", "SHAPES_DEFAULTS",
           "SCENES_DEFAULTS", "shape_mask", "make_shape_image", "make_scene", "load_shapes", "load_mosaic",
           "load_scenes"]


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
    crop = np.rot90(resize(crop[None], (size, size), "bilinear")[0].numpy(), k=int(rng.integers(4)))
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


def load_mosaic(n: int = MOSAIC_DEFAULTS["n"], size: int = MOSAIC_DEFAULTS["size"],
                regions: tuple[int, int] = (3, 5), seed: int = 0) -> tuple[list, list, list[str], str]:
    """``n`` mosaics (:func:`make_mosaic`), image i from ``(seed, i)``.

    Returns
    -------
    images : list of n Tensor (1, size, size), float32 in [0, 1]
    masks : list of n Tensor (size, size), int64
    classes : list of str, :data:`MOSAIC_TEXTURES`
    name : str
    """
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


def load_shapes(n: int = SHAPES_DEFAULTS["n"], size: int = SHAPES_DEFAULTS["size"], seed: int = 0,
                limit: int | None = None) -> ImageSet:
    """The ``shapes`` set: ``n`` images (:func:`make_shape_image`), classes balanced and shuffled.

    Image i depends on (seed, i) only; ``limit`` then keeps a seeded subset stratified by label.

    Returns
    -------
    ImageSet
        ``images`` float32 (N, 3, size, size) in [0, 1], ``labels`` int64 (N,), ``classes``
        :data:`SHAPE_NAMES`.
    """
    labels = np.random.default_rng(seed).permutation(np.arange(n) % len(SHAPE_NAMES))
    images = np.stack([make_shape_image(int(lab), size, np.random.default_rng([seed, i]))
                       for i, lab in enumerate(labels)])
    return finish(images.transpose(0, 3, 1, 2), labels, SHAPE_NAMES, "shapes", limit, seed, scale=1.0)


def load_scenes(n: int = SCENES_DEFAULTS["n"], size: int = SCENES_DEFAULTS["size"],
                objects: tuple[int, int] = (2, 5), seed: int = 0) -> tuple[list, list, list[str], str]:
    """``n`` scenes (:func:`make_scene`), image i from ``(seed, i)``.

    Returns
    -------
    images : list of n Tensor (3, size, size), float32 in [0, 1]
    masks : list of n Tensor (size, size), int64; 0 = background, k + 1 = ``SHAPE_NAMES[k]``
    classes : list of str, ``["background", *SHAPE_NAMES]``
    name : str
    """
    images, masks = [], []
    for i in range(n):
        image, mask = make_scene(size, np.random.default_rng([seed, i]), objects)
        images.append(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))))
        masks.append(torch.from_numpy(mask))
    return images, masks, ["background", *SHAPE_NAMES], "scenes"
