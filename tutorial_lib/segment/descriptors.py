"""Per-pixel descriptors and the clustering helpers every segmentation method builds on.

Taught in notebook 04_pixel_segmentation.

* Colour: :func:`grey`, :func:`colour_features` (CIE Lab or square-root RGB), :func:`coherent_colour`
  and :func:`colour_coherence` (how much of the colour survives smoothing: objects versus textures).
* Texture: :func:`texture_features` (local binary pattern histograms and detail energies).
* :func:`describe_pixels`: colour, coherence and texture of one image at once, so a method that needs
  them several times (the deep-feature methods) computes each image's descriptors once.
* Clustering: :func:`kmeans` (the library's :class:`tutorial_lib.cluster.KMeans` on NumPy arrays),
  :func:`estimate_n_segments` (k by the silhouette score), :func:`cluster_pixels`.
* Regions: :func:`superpixels` (SLIC), :func:`superpixel_vote`, :func:`drop_small_segments`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .base import relabel_consecutive, to_numpy

# --- colour ------------------------------------------------------------------------------------


def grey(image: np.ndarray) -> np.ndarray:
    """Grey level (ITU-R 601 luma) of an ``(H, W, C)`` image, ``(H, W)`` float32 in [0, 1]."""
    if image.shape[2] == 1:
        return image[..., 0]
    return (image[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """An ``(H, W, 1)`` grey image repeated to ``(H, W, 3)``; a colour image unchanged."""
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def colour_features(image: np.ndarray, space: str = "lab") -> np.ndarray:
    """Colour of each pixel, in a space where Euclidean distances are meaningful.

    Parameters
    ----------
    image : ndarray, shape (H, W, C), float in [0, 1]
    space : {"lab", "sqrt"}
        ``"lab"``: CIE L*a*b* divided by 100 (perceptual; L* is about the cube root of luminance).
        ``"sqrt"``: the square root of RGB, a gamma that spreads dark tones (dim fluorescent nuclei)
        and compresses bright ones.

    Returns
    -------
    ndarray, shape (H, W, 3), float32
    """
    rgb = as_rgb(image)
    if space == "lab":
        from skimage.color import rgb2lab

        return (rgb2lab(rgb) / 100.0).astype(np.float32)
    if space == "sqrt":
        return np.sqrt(rgb).astype(np.float32)
    raise ValueError(f"unknown colour space {space!r}; choose 'lab' or 'sqrt'")


def smooth_features(features: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of each channel of an ``(H, W, D)`` feature map (no-op for sigma <= 0);
    ``sigma`` in pixels."""
    if sigma <= 0:
        return features
    return ndi.gaussian_filter(features, sigma=(sigma, sigma, 0)).astype(np.float32)


def colour_coherence(colour: np.ndarray, scale: float = 2.0) -> float:
    """Share of an ``(H, W, 3)`` colour map's variance that survives Gaussian smoothing of ``scale``
    pixels, in [0, 1] (0 for a constant image): near 1 for regions of flat colour, small for fine
    textures whose grey level flickers from pixel to pixel."""
    total = float(colour.var(axis=(0, 1)).sum())
    if total < 1e-10:
        return 0.0
    return float(smooth_features(colour, scale).var(axis=(0, 1)).sum()) / total


def _coherent(sqrt_colour: np.ndarray, scale: float) -> np.ndarray:
    colour = sqrt_colour - sqrt_colour.mean(axis=(0, 1))
    r = colour_coherence(colour, scale)
    total = float(colour.var(axis=(0, 1)).sum())
    return (colour / np.sqrt(max(total, 1e-10)) * r).astype(np.float32)


def coherent_colour(image: np.ndarray, scale: float = 2.0) -> np.ndarray:
    """Colour standardised per image and weighted by how much of it is spatially coherent.

    The square-root RGB colour (:func:`colour_features`) minus its mean, divided by its total
    standard deviation, times ``r = var(smoothed colour) / var(colour)`` with a Gaussian of
    ``scale`` pixels. Objects (nuclei, sky) keep most of their colour variance when smoothed
    (r close to 1), fine textures lose most of it (r small): a texture's pixel-to-pixel flicker
    then counts little, an object's colour counts fully.

    Parameters
    ----------
    image : ndarray, shape (H, W, C), float in [0, 1]
    scale : float, pixels

    Returns
    -------
    ndarray, shape (H, W, 3), float32
    """
    return _coherent(colour_features(image, "sqrt"), scale)


# --- texture -----------------------------------------------------------------------------------

LBP_SETTINGS = ((8, 1.0), (16, 2.0), (24, 3.0))
"""(points, radius) of the rotation-invariant uniform local binary patterns in :func:`texture_features`."""


def texture_features(image: np.ndarray, sigma: float = 10.0) -> np.ndarray:
    """Local texture statistics of each pixel, invariant to brightness, contrast and rotation.

    Local histograms of rotation-invariant uniform local binary patterns (Ojala, Pietikäinen and
    Mäenpää 2002) at radii 1, 2 and 3, plus the log energy of the image's fine, middle and coarse
    detail and the share of bright outliers, all averaged in a Gaussian window of ``sigma`` pixels.
    Histograms enter as their square roots (the Hellinger embedding), so Euclidean distance compares
    distributions sensibly.

    Parameters
    ----------
    image : ndarray, shape (H, W, C), float in [0, 1]
    sigma : float
        Window of the local statistics, in pixels: larger is steadier inside a texture but blurs
        boundaries.

    Returns
    -------
    ndarray, shape (H, W, 60), float32
    """
    from skimage.feature import local_binary_pattern

    g = grey(image)
    g8 = np.round(g * 255).astype(np.uint8)
    maps = []
    for points, radius in LBP_SETTINGS:
        codes = local_binary_pattern(g8, points, radius, "uniform").astype(np.int64)
        for c in range(points + 2):
            maps.append(np.sqrt(ndi.gaussian_filter((codes == c).astype(np.float32), sigma)))
    local_mean = ndi.gaussian_filter(g, sigma)
    energies = [ndi.gaussian_filter((g - ndi.gaussian_filter(g, s)) ** 2, sigma) for s in (0.7, 1.5, 3.0)]
    energies.append(ndi.gaussian_filter((g - local_mean) ** 2, sigma))
    spread = np.sqrt(energies[-1].mean()) + 1e-6  # the image's own contrast, so the scale is relative
    maps += [np.log(e / spread**2 + 1e-4) / 5 for e in energies]
    for k in (0.6, 1.2):  # star fields and specks: a few pixels far above their neighbourhood
        maps.append(ndi.gaussian_filter((g > local_mean + k * spread).astype(np.float32), sigma))
    return np.stack(maps, axis=-1).astype(np.float32)


@dataclass
class PixelDescriptors:
    """The descriptors of one image (see :func:`describe_pixels`).

    Attributes
    ----------
    colour : ndarray, shape (H, W, 3), float32
        :func:`coherent_colour` of the image.
    coherence : float in [0, 1]
        :func:`colour_coherence` of the image's square-root RGB colour.
    texture : ndarray, shape (H, W, 60), float32, or None
        :func:`texture_features`, or None when texture was not asked for.
    """

    colour: np.ndarray
    coherence: float
    texture: np.ndarray | None


def describe_pixels(image: np.ndarray, texture_sigma: float = 10.0) -> PixelDescriptors:
    """Colour, colour coherence and texture of one image, each computed once.

    Parameters
    ----------
    image : ndarray, shape (H, W, C), float in [0, 1]
    texture_sigma : float
        Window of :func:`texture_features` in pixels; 0 or less: no texture (``texture`` is None).

    Returns
    -------
    PixelDescriptors
    """
    sqrt_colour = colour_features(image, "sqrt")
    texture = texture_features(image, texture_sigma) if texture_sigma > 0 else None
    return PixelDescriptors(_coherent(sqrt_colour, 2.0), colour_coherence(sqrt_colour), texture)


# --- clustering --------------------------------------------------------------------------------


class FittedKMeans:
    """NumPy view of a fitted :class:`tutorial_lib.cluster.KMeans`: ``labels_`` (n,) int64,
    ``cluster_centers_`` (k, d) float32 and a NumPy ``predict``."""

    def __init__(self, km):
        self.km = km
        self.labels_ = to_numpy(km.labels_).astype(np.int64)
        self.cluster_centers_ = to_numpy(km.cluster_centers_)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Index ``(n,)`` of the nearest centre of each row of ``x`` (n, d)."""
        return to_numpy(self.km.predict(np.asarray(x, np.float32)))


def kmeans(x: np.ndarray, k: int, seed: int, n_init: int = 3) -> FittedKMeans:
    """k-means (k-means++ seeding, best of ``n_init``) of the rows of ``x`` (n, d) with the library's
    :class:`tutorial_lib.cluster.KMeans`, on the CPU (these problems are small)."""
    from ..cluster import KMeans

    return FittedKMeans(KMeans(n_clusters=k, n_init=n_init, seed=seed, device="cpu")
                        .fit(np.asarray(x, np.float32)))


def sample_rows(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``n`` rows of ``x``, a random subset without repetition drawn with ``rng``."""
    return x if len(x) <= n else x[rng.choice(len(x), size=n, replace=False)]


def estimate_n_segments(features: np.ndarray, max_segments: int = 8, sample: int = 2000,
                        seed: int = 0, tolerance: float = 0.0) -> tuple[int, dict[int, float]]:
    """Pick the number of clusters ``k`` in ``2..max_segments`` with the best silhouette score.

    The silhouette of a sample compares its mean distance to its own cluster with that to the
    nearest other cluster; its mean over samples is high when clusters are compact and apart
    (Rousseeuw 1987). It is computed on a random sample of pixels (the score is quadratic in the
    number of points).

    Parameters
    ----------
    features : ndarray, shape (n, d), float
        One row per pixel (or superpixel).
    max_segments : int
        Largest ``k`` tried.
    sample : int
        Rows used for the k-means fits and the scores.
    seed : int
    tolerance : float
        Take the smallest ``k`` whose score is within ``tolerance`` of the best (two nearly equal
        scores: the simpler split).

    Returns
    -------
    k : int
        1 when the features are constant (one region), else the best ``k``.
    scores : dict[int, float]
        Silhouette score of each ``k`` tried.
    """
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    x = sample_rows(np.asarray(features, dtype=np.float32), sample, rng)
    if len(x) < 3 or float(x.std(axis=0).max()) < 1e-6:
        return 1, {}
    scores = {}
    for k in range(2, max(2, min(max_segments, len(x) - 1)) + 1):
        labels = kmeans(x, k, seed, n_init=2).labels_
        if len(np.unique(labels)) < 2:
            break
        scores[k] = float(silhouette_score(x, labels, random_state=seed))
    if not scores:
        return 1, {}
    best = max(scores.values())
    return min(k for k, v in scores.items() if v >= best - tolerance), scores


def cluster_pixels(features: np.ndarray, n_segments: int | str = "auto", max_segments: int = 8,
                   seed: int = 0, sample: int = 20000) -> np.ndarray:
    """k-means labels of an ``(H, W, D)`` feature map, ``k`` fixed or estimated.

    Parameters
    ----------
    features : ndarray, shape (H, W, D)
    n_segments : int or "auto"
        ``"auto"``: :func:`estimate_n_segments`.
    max_segments : int
    seed : int
    sample : int
        k-means is fitted on at most this many random pixels, then every pixel takes its nearest
        centre.

    Returns
    -------
    ndarray, shape (H, W), int64
    """
    h, w, d = features.shape
    x = features.reshape(-1, d)
    k = estimate_n_segments(x, max_segments, seed=seed)[0] if n_segments == "auto" else int(n_segments)
    if k <= 1:
        return np.zeros((h, w), np.int64)
    fit_on = sample_rows(x, sample, np.random.default_rng(seed))
    k = min(k, len(np.unique(fit_on, axis=0)))
    if k <= 1:
        return np.zeros((h, w), np.int64)
    return kmeans(fit_on, k, seed).predict(x).reshape(h, w).astype(np.int64)


# --- regions -----------------------------------------------------------------------------------


def superpixels(image: np.ndarray, n_superpixels: int = 400, compactness: float = 10.0,
                slic_zero: bool = False) -> np.ndarray:
    """SLIC superpixels (Achanta et al. 2012, scikit-image) of an ``(H, W, C)`` image in [0, 1].

    ``slic_zero=True`` runs the parameter-free SLICO variant.

    Returns
    -------
    ndarray, shape (H, W), int64, labels 0..S-1
    """
    from skimage.segmentation import slic

    n = int(max(1, min(n_superpixels, image.shape[0] * image.shape[1] // 4)))
    # SLICO (slic_zero) adapts the compactness to each superpixel's own colour spread, so the
    # superpixels follow faint edges too (dim nuclei) instead of becoming a square grid.
    labels = slic(as_rgb(image), n_segments=n, compactness=compactness, start_label=0,
                  convert2lab=True, channel_axis=-1, slic_zero=slic_zero)
    return relabel_consecutive(labels)


def superpixel_vote(labels: np.ndarray, segments: np.ndarray, min_majority: float = 0.0) -> np.ndarray:
    """Give every pixel of a superpixel the label most of its pixels have (majority vote).

    Parameters
    ----------
    labels : ndarray, shape (H, W), int, values 0..K-1
    segments : ndarray, shape (H, W), int, superpixel index 0..S-1
    min_majority : float in [0, 1]
        Vote only in superpixels whose majority label holds at least this share of their pixels;
        the others keep their pixels' labels (a superpixel that straddles a small object is then
        left alone instead of swallowing it).

    Returns
    -------
    ndarray, shape (H, W), int64
    """
    k = int(labels.max()) + 1
    counts = np.bincount(segments.ravel() * k + labels.ravel(),
                         minlength=(int(segments.max()) + 1) * k).reshape(-1, k)
    winner = counts.argmax(axis=1)
    decisive = counts.max(axis=1) >= min_majority * np.maximum(counts.sum(axis=1), 1)
    return np.where(decisive[segments], winner[segments], labels).astype(np.int64)


def drop_small_segments(scores: np.ndarray, labels: np.ndarray, min_share: float) -> np.ndarray:
    """Remove segments smaller than ``min_share`` of the image: their pixels take their next-best label.

    Parameters
    ----------
    scores : ndarray, shape (H, W, K)
        Per-pixel score of each label, higher is better (logits, or minus a distance).
    labels : ndarray, shape (H, W), int, the argmax of ``scores``
    min_share : float in [0, 1)

    Returns
    -------
    ndarray, shape (H, W), int64
    """
    if min_share <= 0:
        return labels
    share = np.bincount(labels.ravel(), minlength=scores.shape[2]) / labels.size
    keep = share >= min_share
    if keep.all() or not keep.any():
        return labels
    masked = np.where(keep[None, None, :], scores, -np.inf)
    return masked.argmax(axis=2).astype(np.int64)
