"""Unsupervised segmentation: split an image into regions with no labels.

Every method is an estimator, ``Method(params, seed=0).fit_predict(image)``, that takes an image
(``(C, H, W)`` float in [0, 1], a torch tensor or a NumPy array; ``(H, W)`` is read as grey) or a batch
(``(N, C, H, W)`` or a list of ``(C, H, W)``) and returns an integer label map ``(H, W)`` with
consecutive labels ``0..K-1`` (a list of maps, or an ``(N, H, W)`` array, for a batch).

Methods, baselines first (``METHODS``):

* ``otsu``: Otsu's threshold on the grey level; always two regions (the classic for two-region data).
* ``kmeans_lab``: k-means on the CIE Lab colour of each pixel.
* ``slic_kmeans``: SLIC superpixels, then k-means on their mean Lab colour.
* ``felzenszwalb``: Felzenszwalb and Huttenlocher's graph-based merging (scikit-image).
* ``kanezaki``: differentiable feature clustering (Kanezaki 2018; Kim, Kanezaki and Tanaka 2020): a
  small CNN is trained *on the one image* so that its own argmax labels become both consistent in
  feature space and spatially continuous; optional user scribbles guide it.
* ``deep_features``: per-pixel features from a CNN trained without labels on the whole image set
  (pseudo-labels from k-means on colour and texture descriptors, trained with
  :func:`tutorial_lib.train.fit`), clustered with k-means over the set (textures) or per image
  (flat-coloured objects), refined by a majority vote in SLIC superpixels.

The number of regions
---------------------
The benchmark is unsupervised: no method is told how many regions an image has. Methods that need
a number ``k`` take ``n_segments="auto"`` by default, which picks ``k`` in ``2..max_segments`` by the
silhouette score of the clustering (:func:`estimate_n_segments`); a fixed integer may be given
instead. Otsu always gives two regions, Felzenszwalb and the Kanezaki method decide by themselves.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi
from torch import nn
from tqdm.auto import tqdm

from . import runtime

MIN_SIDE = 4
"""Images smaller than this (height or width, in pixels) are refused with a clear error."""

# --------------------------------------------------------------------------------------------
# input checks, label maps
# --------------------------------------------------------------------------------------------


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def as_image(image) -> np.ndarray:
    """Check one image and return it as an ``(H, W, C)`` float32 NumPy array in [0, 1].

    Parameters
    ----------
    image : Tensor or ndarray, shape (C, H, W) with C in {1, 3, 4}, or (H, W); float in [0, 1]
        A fourth (alpha) channel is dropped; integer images of 8 bits are divided by 255.

    Raises
    ------
    ValueError
        Wrong number of dimensions or channels, fewer than ``MIN_SIDE`` pixels a side, NaN or
        infinite values, values far outside [0, 1].
    """
    arr = _to_numpy(image)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ValueError(f"image must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"image must have shape (C, H, W) or (H, W), got shape {arr.shape}; "
                         "for several images pass an (N, C, H, W) batch or a list")
    if arr.shape[0] not in (1, 3, 4):
        raise ValueError(f"image must have 1, 3 or 4 channels first (C, H, W), got shape {arr.shape}; "
                         "an (H, W, C) array needs .transpose(2, 0, 1)")
    if min(arr.shape[1:]) < MIN_SIDE:
        raise ValueError(f"image is {arr.shape[2]}×{arr.shape[1]} pixels; segmentation needs at least "
                         f"{MIN_SIDE}×{MIN_SIDE}")
    if arr.dtype.kind in "iu":
        arr = arr / (255.0 if arr.max() > 1 else 1.0)
    arr = arr[:3].astype(np.float32)
    if not np.isfinite(arr).all():
        raise ValueError("image contains NaN or infinite values")
    if arr.min() < -0.01 or arr.max() > 1.01:
        raise ValueError(f"image values must lie in [0, 1], got [{arr.min():.3g}, {arr.max():.3g}]; "
                         "divide 8-bit images by 255")
    return np.ascontiguousarray(np.clip(arr, 0.0, 1.0).transpose(1, 2, 0))


def _is_batch(images) -> bool:
    if isinstance(images, (list, tuple)):
        return True
    return getattr(images, "ndim", 0) == 4


def as_images(images) -> list[np.ndarray]:
    """A batch (``(N, C, H, W)`` or a list of ``(C, H, W)``) or one image, as a list of ``(H, W, C)``
    arrays (see :func:`as_image`)."""
    if not _is_batch(images):
        return [as_image(images)]
    if len(images) == 0:
        raise ValueError("the batch of images is empty")
    return [as_image(im) for im in images]


def relabel_consecutive(labels) -> np.ndarray:
    """Rename the labels of a map to ``0..K-1`` in order of first appearance in sorted label order.

    Parameters
    ----------
    labels : array-like, shape (H, W), int

    Returns
    -------
    ndarray, shape (H, W), int64, values ``0..K-1`` (K = number of distinct labels)
    """
    arr = _to_numpy(labels)
    _, inverse = np.unique(arr, return_inverse=True)
    return inverse.reshape(arr.shape).astype(np.int64)


def grey(image: np.ndarray) -> np.ndarray:
    """Grey level (ITU-R 601 luma) of an ``(H, W, C)`` image, ``(H, W)`` float32 in [0, 1]."""
    if image.shape[2] == 1:
        return image[..., 0]
    return (image[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


# --------------------------------------------------------------------------------------------
# per-pixel descriptors
# --------------------------------------------------------------------------------------------


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
    rgb = _rgb(image)
    if space == "lab":
        from skimage.color import rgb2lab

        return (rgb2lab(rgb) / 100.0).astype(np.float32)
    if space == "sqrt":
        return np.sqrt(rgb).astype(np.float32)
    raise ValueError(f"unknown colour space {space!r}; choose 'lab' or 'sqrt'")


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
    scale : float

    Returns
    -------
    ndarray, shape (H, W, 3), float32
    """
    colour = colour_features(image, "sqrt")
    colour = colour - colour.mean(axis=(0, 1))
    r = colour_coherence(colour, scale)
    total = float(colour.var(axis=(0, 1)).sum())
    return (colour / np.sqrt(max(total, 1e-10)) * r).astype(np.float32)


def colour_coherence(colour: np.ndarray, scale: float = 2.0) -> float:
    """Share of an ``(H, W, 3)`` colour map's variance that survives Gaussian smoothing of ``scale``
    pixels, in [0, 1] (0 for a constant image): near 1 for regions of flat colour, small for fine
    textures whose grey level flickers from pixel to pixel."""
    total = float(colour.var(axis=(0, 1)).sum())
    if total < 1e-10:
        return 0.0
    return float(smooth_features(colour, scale).var(axis=(0, 1)).sum()) / total


def smooth_features(features: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of each channel of an ``(H, W, D)`` feature map (no-op for sigma <= 0)."""
    if sigma <= 0:
        return features
    return ndi.gaussian_filter(features, sigma=(sigma, sigma, 0)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# clustering helpers
# --------------------------------------------------------------------------------------------


def _kmeans(x: np.ndarray, k: int, seed: int, n_init: int = 3):
    """k-means (k-means++ seeding, best of ``n_init``) of the rows of ``x`` (n, d) with the library's
    :class:`tutorial_lib.cluster.KMeans`, on the CPU (these problems are small). Returns a fitted
    object with NumPy ``labels_`` and ``cluster_centers_`` and a NumPy ``predict``."""
    from .cluster import KMeans

    km = KMeans(n_clusters=k, n_init=n_init, seed=seed, device="cpu").fit(np.asarray(x, np.float32))
    return _FittedKMeans(km)


class _FittedKMeans:
    """NumPy view of a fitted :class:`tutorial_lib.cluster.KMeans`."""

    def __init__(self, km):
        self.km = km
        self.labels_ = km.labels_.numpy()
        self.cluster_centers_ = km.cluster_centers_.numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.km.predict(np.asarray(x, np.float32)).numpy()


def _sample_rows(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
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
    x = _sample_rows(np.asarray(features, dtype=np.float32), sample, rng)
    if len(x) < 3 or float(x.std(axis=0).max()) < 1e-6:
        return 1, {}
    scores = {}
    for k in range(2, max(2, min(max_segments, len(x) - 1)) + 1):
        labels = _kmeans(x, k, seed, n_init=2).labels_
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
    fit_on = _sample_rows(x, sample, np.random.default_rng(seed))
    k = min(k, len(np.unique(fit_on, axis=0)))
    if k <= 1:
        return np.zeros((h, w), np.int64)
    return _kmeans(fit_on, k, seed).predict(x).reshape(h, w).astype(np.int64)


def superpixels(image: np.ndarray, n_superpixels: int = 400, compactness: float = 10.0,
                slic_zero: bool = False) -> np.ndarray:
    """SLIC superpixels (Achanta et al. 2012, scikit-image) of an ``(H, W, C)`` image.

    ``slic_zero=True`` runs the parameter-free SLICO variant.

    Returns
    -------
    ndarray, shape (H, W), int64, labels 0..S-1
    """
    from skimage.segmentation import slic

    n = int(max(1, min(n_superpixels, image.shape[0] * image.shape[1] // 4)))
    # SLICO (slic_zero) adapts the compactness to each superpixel's own colour spread, so the
    # superpixels follow faint edges too (dim nuclei) instead of becoming a square grid.
    labels = slic(_rgb(image), n_segments=n, compactness=compactness, start_label=0,
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


# --------------------------------------------------------------------------------------------
# the estimator shape
# --------------------------------------------------------------------------------------------


class Segmenter:
    """Base class: a per-image method implements ``_segment(image (H, W, C)) -> labels (H, W)``.

    ``fit_predict`` accepts one image or a batch and returns consecutive labels of each image's
    size; ``labels_`` holds the last result.
    """

    def __init__(self, seed: int = 0):
        self.seed = seed

    def get_params(self) -> dict:
        """The constructor's parameters and their values (as scikit-learn estimators have)."""
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _segment(self, image: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _finish(self, labels: np.ndarray) -> np.ndarray:
        return relabel_consecutive(labels)

    def fit(self, images, progress: bool = False):
        """Segment ``images`` (one ``(C, H, W)`` image or a batch); results in ``labels_``."""
        batch = _is_batch(images)
        arrays = as_images(images)
        items = tqdm(arrays, desc=type(self).__name__, leave=False) if progress and batch else arrays
        out = [self._finish(self._segment(im)) for im in items]
        self.labels_ = _pack(out, images)
        return self

    def fit_predict(self, images, progress: bool = False):
        """Segment ``images`` and return the label maps.

        Parameters
        ----------
        images : Tensor or ndarray (C, H, W) or (H, W), float in [0, 1]; or a batch (N, C, H, W) or list
        progress : bool
            Show a progress bar over the images of a batch.

        Returns
        -------
        ndarray, shape (H, W), int64, labels 0..K-1 for one image; for a batch, an (N, H, W) array
        (an (N, C, H, W) input) or a list of (H_i, W_i) arrays (a list input).
        """
        return self.fit(images, progress=progress).labels_


def _pack(maps: list[np.ndarray], images):
    """Return one map for one image, a stack for an array/tensor batch, a list for a list."""
    if not _is_batch(images):
        return maps[0]
    if isinstance(images, (list, tuple)):
        return maps
    return np.stack(maps)


# --------------------------------------------------------------------------------------------
# classic baselines
# --------------------------------------------------------------------------------------------


class OtsuThreshold(Segmenter):
    """Two regions: pixels brighter or darker than Otsu's threshold on the grey level (Otsu 1979).

    Otsu's threshold maximises the between-class variance of the two groups of grey levels, which
    is exactly 2-means on the grey level. A constant image gives one region.
    """

    def _segment(self, image: np.ndarray) -> np.ndarray:
        from skimage.filters import threshold_otsu

        g = grey(image)
        if float(g.max() - g.min()) < 1e-6:
            return np.zeros(g.shape, np.int64)
        return (g > threshold_otsu(g)).astype(np.int64)


class ColourKMeans(Segmenter):
    """k-means on the colour of each pixel.

    Parameters
    ----------
    n_segments : int or "auto"
        Number of clusters; ``"auto"`` picks it by the silhouette score (see the module notes).
    max_segments : int
        Largest number tried by ``"auto"``.
    colour_space : {"lab", "sqrt"}
        See :func:`colour_features`.
    seed : int
    """

    def __init__(self, n_segments: int | str = "auto", max_segments: int = 8, colour_space: str = "lab",
                 seed: int = 0):
        super().__init__(seed)
        self.n_segments = n_segments
        self.max_segments = max_segments
        self.colour_space = colour_space

    def _segment(self, image: np.ndarray) -> np.ndarray:
        feats = colour_features(image, self.colour_space)
        return cluster_pixels(feats, self.n_segments, self.max_segments, self.seed)


class SlicKMeans(Segmenter):
    """SLIC superpixels, then k-means on the mean Lab colour of each superpixel.

    Parameters
    ----------
    n_superpixels : int
        About this many SLIC superpixels per image.
    compactness : float
        SLIC's balance of colour against position (higher: squarer superpixels).
    n_segments, max_segments : as in :class:`ColourKMeans`
    seed : int
    """

    def __init__(self, n_superpixels: int = 400, compactness: float = 10.0, n_segments: int | str = "auto",
                 max_segments: int = 8, seed: int = 0):
        super().__init__(seed)
        self.n_superpixels = n_superpixels
        self.compactness = compactness
        self.n_segments = n_segments
        self.max_segments = max_segments

    def _segment(self, image: np.ndarray) -> np.ndarray:
        sp = superpixels(image, self.n_superpixels, self.compactness)
        lab = colour_features(image, "lab").reshape(-1, 3)
        n = int(sp.max()) + 1
        sizes = np.bincount(sp.ravel(), minlength=n)[:, None]
        means = np.stack([np.bincount(sp.ravel(), weights=lab[:, c], minlength=n) for c in range(3)], 1)
        means = means / np.maximum(sizes, 1)
        labels = cluster_pixels(means[:, None, :].astype(np.float32), self.n_segments, self.max_segments,
                                self.seed)[:, 0]
        return labels[sp]


class Felzenszwalb(Segmenter):
    """Felzenszwalb and Huttenlocher's (2004) graph-based segmentation (scikit-image).

    Regions grow by merging neighbouring pixels while the edge between them is weaker than the
    variation inside each region plus ``scale / size``; the number of regions follows.

    Parameters
    ----------
    scale : float
        Larger: fewer, larger regions.
    sigma : float
        Gaussian smoothing before the graph is built.
    min_share : float
        Regions smaller than this share of the image are merged into a neighbour.
    seed : int
        Unused (the method is deterministic); kept for the common estimator shape.
    """

    def __init__(self, scale: float = 300.0, sigma: float = 0.8, min_share: float = 0.01, seed: int = 0):
        super().__init__(seed)
        self.scale = scale
        self.sigma = sigma
        self.min_share = min_share

    def _segment(self, image: np.ndarray) -> np.ndarray:
        from skimage.segmentation import felzenszwalb

        min_size = max(1, int(self.min_share * image.shape[0] * image.shape[1]))
        return felzenszwalb(_rgb(image), scale=self.scale, sigma=self.sigma, min_size=min_size,
                            channel_axis=-1)


# --------------------------------------------------------------------------------------------
# differentiable feature clustering (Kanezaki 2018; Kim, Kanezaki and Tanaka 2020)
# --------------------------------------------------------------------------------------------


class PixelNet(nn.Module):
    """The per-image network of Kim, Kanezaki and Tanaka (2020).

    ``n_conv`` blocks of 3×3 convolution, ReLU and batch norm, then a 1×1 convolution and batch
    norm giving ``channels`` responses per pixel; the argmax over them is the pixel's label, so
    ``channels`` is also the largest possible number of segments.

    Parameters
    ----------
    in_channels : int
    channels : int
    n_conv : int, >= 1
    """

    def __init__(self, in_channels: int, channels: int = 32, n_conv: int = 2):
        super().__init__()
        if n_conv < 1 or channels < 2:
            raise ValueError(f"need n_conv >= 1 and channels >= 2, got {n_conv=}, {channels=}")
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(n_conv):
            layers += [nn.Conv2d(c, channels, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(channels)]
            c = channels
        layers += [nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` -> responses ``(N, channels, H, W)``."""
        return self.body(x)


def similarity_loss(response: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None):
    """Feature-similarity loss: cross-entropy between the responses and their own argmax labels.

    Parameters
    ----------
    response : Tensor, shape (N, q, H, W)
    target : Tensor, shape (N, H, W), long, the argmax labels (no gradient flows through them)
    mask : Tensor, shape (N, H, W), bool, optional; only these pixels count

    Returns
    -------
    Tensor, scalar
    """
    logits = response.permute(0, 2, 3, 1).reshape(-1, response.shape[1])
    target = target.reshape(-1)
    if mask is not None:
        keep = mask.reshape(-1)
        if not bool(keep.any()):
            return response.sum() * 0.0
        logits, target = logits[keep], target[keep]
    return F.cross_entropy(logits, target)


def continuity_loss(response: torch.Tensor) -> torch.Tensor:
    """Spatial-continuity loss: mean absolute difference of vertically and of horizontally adjacent
    responses (an L1 total variation), which favours labels that form connected regions.

    Parameters
    ----------
    response : Tensor, shape (N, q, H, W)

    Returns
    -------
    Tensor, scalar
    """
    dy = (response[:, :, 1:, :] - response[:, :, :-1, :]).abs().mean()
    dx = (response[:, :, :, 1:] - response[:, :, :, :-1]).abs().mean()
    return dy + dx


def standardise_channels(x: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit standard deviation per image and channel of an ``(N, C, H, W)`` tensor
    (constant channels become 0), so the network sees contrast, not absolute brightness."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = x.std(dim=(2, 3), keepdim=True) if x.shape[2] * x.shape[3] > 1 else torch.ones_like(mean)
    return (x - mean) / (std + 1e-3)


def working_size(height: int, width: int, max_pixels: int | None) -> tuple[int, int]:
    """The size ``(h, w)`` with the same aspect ratio and at most ``max_pixels`` pixels (no upscaling)."""
    if not max_pixels or height * width <= max_pixels:
        return height, width
    s = (max_pixels / (height * width)) ** 0.5
    return max(MIN_SIDE, int(round(height * s))), max(MIN_SIDE, int(round(width * s)))


def _scribbles_at(scribbles: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """Move scribble pixels to a smaller grid; each keeps its class (thin strokes survive, unlike
    nearest-neighbour resizing). Returns ``(h, w)`` long, -1 where unlabelled."""
    h, w = size
    out = torch.full((h, w), -1, dtype=torch.long)
    ys, xs = np.nonzero(scribbles >= 0)
    if len(ys):
        H, W = scribbles.shape
        yi = torch.as_tensor(ys * h // H)
        xi = torch.as_tensor(xs * w // W)
        out[yi, xi] = torch.as_tensor(scribbles[ys, xs], dtype=torch.long)
    return out


def check_scribbles(scribbles, shape: tuple[int, int], n_channels: int) -> np.ndarray:
    """Validate a scribble map: ``(H, W)`` ints, -1 = unlabelled, class ids ``0..n_channels-1`` elsewhere.

    Raises
    ------
    ValueError
        Wrong size, non-integer values, or class ids out of range.
    """
    arr = _to_numpy(scribbles)
    if arr.shape != tuple(shape):
        raise ValueError(f"scribbles have shape {arr.shape} but the image is {shape[0]}×{shape[1]} "
                         "(H×W); draw them on the image's own grid")
    if arr.dtype.kind not in "iub":
        raise ValueError(f"scribbles must be integers (-1 unlabelled, class ids elsewhere), got {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.min() < -1 or arr.max() >= n_channels:
        raise ValueError(f"scribble values must lie in -1..{n_channels - 1} (-1 = unlabelled), got "
                         f"{arr.min()}..{arr.max()}")
    return arr


class DifferentiableFeatureClustering(Segmenter):
    """Unsupervised segmentation of one image by differentiable feature clustering.

    A small CNN (:class:`PixelNet`) maps the image to ``n_channels`` responses per pixel. Each
    iteration takes the argmax labels as targets and minimises

        loss = similarity_loss(r, argmax r) + mu * continuity_loss(r)
               [+ scribble_weight * cross-entropy on the scribbled pixels]

    so pixels with similar features share a label and labels form connected regions. The number of
    distinct labels shrinks as training goes on; training stops when it is at most ``min_labels``
    or after ``max_iter`` iterations (Kim, Kanezaki and Tanaka, IEEE TIP 2020).

    Speed-ups over the published setting (100 channels, up to 1000 iterations on a GPU at full
    resolution): fewer channels, and the network runs on a copy of the image with at most
    ``max_pixels`` pixels; its responses are upsampled bilinearly to full size before the argmax.
    Segments smaller than ``min_share`` of the image are then dropped (their pixels take their
    next-best label).

    Parameters
    ----------
    n_channels : int
        Feature channels of the network (and the largest number of segments).
    n_conv : int
        Number of 3×3 convolution blocks.
    max_iter : int
        Most iterations.
    min_labels : int
        Stop as soon as the argmax uses this many labels or fewer.
    mu : float
        Weight of the continuity loss: larger gives fewer, smoother regions.
    lr : float
        SGD learning rate (momentum 0.9), as in the paper.
    max_pixels : int or None
        Working resolution (None: full resolution).
    min_share : float
        Drop segments smaller than this share of the image.
    scribble_weight : float
        Weight of the scribble cross-entropy when scribbles are given to :meth:`fit`.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"``.
    seed : int

    Attributes
    ----------
    labels_ : ndarray (H, W) or list
    n_iter_ : list of int, iterations used per image
    history_ : list of dict per image: ``loss`` and ``n_labels`` per iteration
    model_ : PixelNet, the network of the last image
    """

    def __init__(self, n_channels: int = 32, n_conv: int = 2, max_iter: int = 100, min_labels: int = 3,
                 mu: float = 5.0, lr: float = 0.1, max_pixels: int | None = 20000, min_share: float = 0.01,
                 scribble_weight: float = 1.0, device: str = "auto", seed: int = 0):
        super().__init__(seed)
        self.n_channels = n_channels
        self.n_conv = n_conv
        self.max_iter = max_iter
        self.min_labels = min_labels
        self.mu = mu
        self.lr = lr
        self.max_pixels = max_pixels
        self.min_share = min_share
        self.scribble_weight = scribble_weight
        self.device = device

    def fit(self, images, scribbles=None, progress: bool = False):
        """Segment each image (its own network, trained from scratch with the same seed).

        Parameters
        ----------
        images : (C, H, W) image or a batch, float in [0, 1]
        scribbles : array-like (H, W) of int for one image, or a list of them (None entries allowed)
            -1 marks unlabelled pixels; ``0..n_channels-1`` marks pixels the user assigned to that
            class. Scribbled pixels are pulled to their class by an extra cross-entropy term.
        progress : bool
        """
        batch = _is_batch(images)
        arrays = as_images(images)
        if scribbles is None:
            scribbles = [None] * len(arrays)
        elif not batch:
            scribbles = [scribbles]
        if len(scribbles) != len(arrays):
            raise ValueError(f"got {len(scribbles)} scribble maps for {len(arrays)} images")
        self.n_iter_, self.history_ = [], []
        items = zip(arrays, scribbles, strict=True)
        if progress and batch:
            items = tqdm(items, total=len(arrays), desc="kanezaki", leave=False)
        out = [relabel_consecutive(self._segment(im, scr)) for im, scr in items]
        self.labels_ = _pack(out, images)
        return self

    def fit_predict(self, images, scribbles=None, progress: bool = False):
        """Segment and return the label maps (see :meth:`fit` and :meth:`Segmenter.fit_predict`)."""
        return self.fit(images, scribbles=scribbles, progress=progress).labels_

    def _segment(self, image: np.ndarray, scribbles=None) -> np.ndarray:
        dev = runtime.device(self.device)
        H, W = image.shape[:2]
        scr_full = None if scribbles is None else check_scribbles(scribbles, (H, W), self.n_channels)
        torch.manual_seed(self.seed)
        x = standardise_channels(torch.from_numpy(image.transpose(2, 0, 1).copy())[None])
        h, w = working_size(H, W, self.max_pixels)
        if (h, w) != (H, W):
            x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        x = x.to(dev)
        scr = None if scr_full is None else _scribbles_at(scr_full, (h, w)).to(dev)[None]
        net = PixelNet(x.shape[1], self.n_channels, self.n_conv).to(dev)
        # Its own small loop rather than train.fit: one "batch" (the whole image) seen again at every
        # iteration, targets recomputed from the network's own argmax each time, and a stopping rule
        # on the number of labels checked after every step. train.fit's epochs over a dataset,
        # shuffling, checkpoints and DDP have nothing to act on in a few-second fit of one image.
        opt = torch.optim.SGD(net.parameters(), lr=self.lr, momentum=0.9)
        history = {"loss": [], "n_labels": []}
        net.train()
        for _ in range(self.max_iter):
            response = net(x)
            target = response.detach().argmax(dim=1)
            n_labels = int(torch.unique(target).numel())
            if scr is None:
                loss = similarity_loss(response, target)
            else:
                labelled = scr >= 0
                loss = similarity_loss(response, target, ~labelled)
                loss = loss + self.scribble_weight * similarity_loss(response, scr.clamp(min=0), labelled)
            loss = loss + self.mu * continuity_loss(response)
            opt.zero_grad()
            loss.backward()
            opt.step()
            history["loss"].append(float(loss.detach()))
            history["n_labels"].append(n_labels)
            if n_labels <= self.min_labels:
                break
        self.model_ = net
        self.n_iter_.append(len(history["loss"]))
        self.history_.append(history)
        with torch.no_grad():
            # Same batch-norm mode as in training: the statistics of this one image.
            response = net(x)
            if (h, w) != (H, W):
                response = F.interpolate(response, size=(H, W), mode="bilinear", align_corners=False)
        scores = response[0].permute(1, 2, 0).cpu().numpy()
        labels = scores.argmax(axis=2)
        if scr_full is not None:  # the user's strokes are kept as drawn
            labels = np.where(scr_full >= 0, scr_full, labels)
            return labels
        return drop_small_segments(scores, labels, self.min_share)



# --------------------------------------------------------------------------------------------
# deep-feature clustering: a CNN trained without labels on the image set
# --------------------------------------------------------------------------------------------


class FeatureNet(nn.Module):
    """Fully convolutional per-pixel feature network for :class:`DeepFeatureClustering`.

    Three 3×3 convolution blocks with dilations 1, 2 and 4 (a 15-pixel receptive field at full
    resolution, without pooling so the map keeps the image's size), a 1×1 projection to
    ``embed_dim`` unit-length features, and a 1×1 classifier over the pseudo-classes.

    Parameters
    ----------
    in_channels : int
    n_classes : int
        Number of pseudo-classes the head predicts during training.
    width : int
    embed_dim : int
    """

    def __init__(self, in_channels: int, n_classes: int, width: int = 32, embed_dim: int = 16):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for dilation in (1, 2, 4):
            layers += [nn.Conv2d(c, width, 3, padding=dilation, dilation=dilation, padding_mode="reflect"),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            c = width
        layers.append(nn.Conv2d(width, embed_dim, 1))
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(embed_dim, n_classes, 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` -> unit-length features ``(N, embed_dim, H, W)``."""
        return F.normalize(self.body(x), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pseudo-class logits ``(N, n_classes, H, W)``; a fixed scale of 5 on the unit features acts
        as a softmax temperature of 0.2."""
        return self.head(self.embed(x) * 5.0)


def _random_crops(inputs: list[np.ndarray], targets: list[np.ndarray], n: int, size: int,
                  rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random ``size``×``size`` crops of (C, H, W) inputs and their (H, W) targets, images
    picked in proportion to their area; images smaller than ``size`` are reflect-padded first."""
    areas = np.array([t.size for t in targets], dtype=np.float64)
    picks = rng.choice(len(inputs), size=n, p=areas / areas.sum())
    xs, ys = [], []
    for i in picks:
        x, y = inputs[i], targets[i]
        ph, pw = max(0, size - y.shape[0]), max(0, size - y.shape[1])
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="reflect")
            y = np.pad(y, ((0, ph), (0, pw)), mode="reflect")
        top = rng.integers(0, y.shape[0] - size + 1)
        left = rng.integers(0, y.shape[1] - size + 1)
        xs.append(x[:, top:top + size, left:left + size])
        ys.append(y[top:top + size, left:left + size])
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)).long()


class PseudoLabelStep:
    """The training objective of :class:`DeepFeatureClustering`, a ``step(model, batch)`` for
    :func:`tutorial_lib.train.fit`: cross-entropy against the pseudo-labels plus ``mu`` times the
    spatial-continuity loss of the logits (the same term as the Kanezaki method).

    Parameters
    ----------
    mu : float
    """

    def __init__(self, mu: float = 1.0):
        self.mu = mu

    def __call__(self, model: nn.Module, batch):
        x, y = batch
        logits = model(x)
        ce = F.cross_entropy(logits, y)
        cont = continuity_loss(logits)
        return ce + self.mu * cont, {"cross_entropy": ce.detach(), "continuity": cont.detach()}


class PatchNet(nn.Module):
    """Texture encoder of :class:`DeepFeatureClustering` for sets of textures (``scope="set"``).

    Five 3×3 convolution blocks with two 2× max-poolings (a receptive field of about 24 pixels) map
    a ``patch``×``patch`` crop of the image to a feature map; its mean is the patch's feature
    (``2 * width`` values) and a linear head classifies it. :meth:`dense` gives every pixel the
    mean feature of the ``window``-pixel square around it, so a whole image is described at once.

    Parameters
    ----------
    in_channels : int
    n_classes : int
        Pseudo-classes of the head (replaced by :meth:`new_head` between rounds).
    width : int
    """

    def __init__(self, in_channels: int, n_classes: int, width: int = 32):
        super().__init__()

        def block(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="reflect"),
                                 nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))

        w = width
        self.body = nn.Sequential(block(in_channels, w), block(w, w), nn.MaxPool2d(2), block(w, 2 * w),
                                  block(2 * w, 2 * w), nn.MaxPool2d(2), block(2 * w, 2 * w))
        self.head = nn.Linear(2 * w, n_classes)

    def new_head(self, n_classes: int) -> None:
        """A fresh classifier for a new set of pseudo-classes (DeepCluster re-initialises it)."""
        self.head = nn.Linear(self.head.in_features, n_classes).to(self.head.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, P, P)`` patches -> pseudo-class logits ``(N, n_classes)``."""
        return self.head(self.body(x).mean(dim=(2, 3)))

    def dense(self, x: torch.Tensor, window: int) -> torch.Tensor:
        """``(N, C, H, W)`` images -> unit-length features ``(N, 2 * width, H, W)``, each the mean of
        the feature map over the ``window``×``window`` square around the pixel."""
        f = self.body(x)
        k = max(1, window // 4)  # the map is at a quarter of the resolution
        f = F.avg_pool2d(f, k, stride=1, padding=k // 2, count_include_pad=False)
        f = F.interpolate(f, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return F.normalize(f, dim=1)


def standardise_image(image: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` image -> ``(C, H, W)`` float32, each channel with mean 0 and standard deviation 1
    (texture, not brightness or contrast, is what :class:`PatchNet` should see)."""
    x = image.transpose(2, 0, 1).astype(np.float32)
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = x.std(axis=(1, 2), keepdims=True)
    return np.ascontiguousarray((x - mean) / np.maximum(std, 1e-6))


def pure_patches(inputs: list[np.ndarray], pseudo: list[np.ndarray], size: int, purity: float = 0.9,
                 stride: int = 4, limit: int = 8192, rng: np.random.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Square patches whose pseudo-labels mostly agree, with that label: the training set of
    :class:`PatchNet`.

    Pseudo-labels from k-means on smoothed descriptors are wrong mostly near region boundaries;
    a patch where one label holds ``purity`` of the pixels is far from them, so its label is
    usually right (and a network trained on such patches learns the textures, not the errors).

    Parameters
    ----------
    inputs : list of (C, H, W) float arrays
    pseudo : list of (H, W) int arrays, labels 0..K-1
    size : int
        Patch side in pixels (at most the smallest image side).
    purity : float in (0, 1]
    stride : int
        Spacing of the candidate patch centres.
    limit : int
        At most this many patches (a random subset).
    rng : numpy Generator

    Returns
    -------
    patches : Tensor, shape (M, C, size, size), float32 (M = 0 when no patch is pure enough)
    labels : Tensor, shape (M,), int64
    """
    rng = rng or np.random.default_rng(0)
    k = int(max(int(p.max()) for p in pseudo)) + 1
    found = []
    for i, p in enumerate(pseudo):
        h, w = p.shape
        shares = np.stack([ndi.uniform_filter((p == c).astype(np.float32), size, mode="constant")
                           for c in range(k)])
        half = size // 2
        ys, xs = np.mgrid[half:h - size + half + 1:stride, half:w - size + half + 1:stride]
        best = shares[:, ys, xs]
        keep = best.max(axis=0) >= purity
        for y, x, c in zip(ys[keep], xs[keep], best.argmax(axis=0)[keep], strict=True):
            found.append((i, y - half, x - half, c))
    if not found:
        c = inputs[0].shape[0]
        return torch.zeros(0, c, size, size), torch.zeros(0, dtype=torch.int64)
    picks = rng.permutation(len(found))[:limit]
    patches = np.stack([inputs[found[j][0]][:, found[j][1]:found[j][1] + size, found[j][2]:found[j][2] + size]
                        for j in picks])
    labels = np.array([found[j][3] for j in picks], dtype=np.int64)
    return torch.from_numpy(patches), torch.from_numpy(labels)


class PatchStep:
    """The objective of :class:`PatchNet`, a ``step(model, batch)`` for :func:`tutorial_lib.train.fit`:
    cross-entropy (with label smoothing, since pseudo-labels are noisy) on randomly rotated (by a
    multiple of 90°), flipped and contrast-scaled patches, so the features ignore orientation and
    contrast.

    Parameters
    ----------
    label_smoothing : float
    """

    def __init__(self, label_smoothing: float = 0.1):
        self.label_smoothing = label_smoothing

    def __call__(self, model: nn.Module, batch):
        x, y = batch
        x = torch.rot90(x, int(torch.randint(4, ())), dims=(2, 3))
        if bool(torch.rand(()) < 0.5):
            x = x.flip(3)
        x = x * torch.empty(len(x), 1, 1, 1, device=x.device).uniform_(0.8, 1.25)
        return F.cross_entropy(model(x), y, label_smoothing=self.label_smoothing)


class DeepFeatureClustering(Segmenter):
    """k-means on per-pixel features of a CNN trained without labels on the whole image set.

    1. Describe each pixel by its colour (:func:`coherent_colour`: square-root RGB standardised per
       image, weighted by its spatial coherence) and its local texture (:func:`texture_features`:
       local binary pattern histograms and detail energies, PCA-whitened over the set).
    2. Cluster the pixels of the whole set with k-means into ``n_pseudo`` groups (by default
       ``max_segments`` for sets of textures, as many as the silhouette score picks otherwise) and
       use the groups as pseudo-labels.
    3. Train a network to predict the pseudo-labels (DeepCluster, Caron et al. 2018, at the pixel
       level; :func:`tutorial_lib.train.fit` runs it), then cluster its features with k-means
       (:class:`tutorial_lib.cluster.KMeans`). ``scope="auto"`` takes "set" when the colour of the
       set is mostly incoherent (mean ``r`` < 0.5: textures, whose descriptors are invariant to
       lighting and so comparable across images) and "image" otherwise (flat-coloured objects under
       lighting or staining that changes from image to image: nuclei, photos).

       * ``scope="set"`` (textures): :class:`PatchNet` learns from the *raw* pixels (standardised
         per image) to classify ``patch``-pixel squares where one pseudo-label holds ``purity`` of
         the pixels (:func:`pure_patches`: far from the descriptors' blurred boundaries, so mostly
         right), with random rotations, flips and contrast. Its dense features (the mean over the
         square around each pixel) are clustered over the whole set, so a cluster means the same
         texture in every image; ``n_segments="auto"`` picks k by the silhouette, preferring the
         smaller k within ``tolerance``. ``rounds`` times more, the clusters become the new
         pseudo-labels and the network trains ``refine_steps`` batches with a fresh head.
       * ``scope="image"``: :class:`FeatureNet` on random crops of the descriptors, with the
         continuity loss of the Kanezaki method; k-means per image on the descriptors plus the
         network's features, texture and network features weighted by ``1 - r``, with ``r`` the
         colour's coherence (``n_segments="auto"``: k by the silhouette for each image).
    5. Refine with a majority vote inside SLICO superpixels (only where the majority is clear) and
       drop segments smaller than ``min_share``.

    Parameters
    ----------
    n_segments : int or "auto"
    max_segments : int
        Largest number of clusters tried by "auto".
    scope : {"auto", "set", "image"}
    n_pseudo : int or "auto"
        Pseudo-classes of step 2; "auto": ``max_segments`` with ``scope="set"`` (over-clustering: the
        network's features are clustered again afterwards), else picked by the silhouette score on
        the descriptors of the set.
    colour_weight, texture_weight : float
        Weights of the colour block (:func:`coherent_colour`) and of the whitened texture block (its
        total standard deviation) in the descriptors.
    embed_weight : float
        Weight of the network's features beside the descriptors (``scope="image"``).
    texture_sigma : float
        Window of the texture statistics in pixels (0 disables texture descriptors).
    n_components : int
        PCA components kept of the texture descriptors.
    width, embed_dim : int
        Size of :class:`FeatureNet`.
    steps : int
        Training batches (rounded to whole epochs over a fixed pool of crops or patches).
    crop, batch_size : int
        Crops of :class:`FeatureNet` (image scope).
    patch, patch_batch : int
        Patch side in pixels and patches per batch of :class:`PatchNet` (set scope).
    window : int
        Side of the square the set scope's features are averaged over when each pixel is labelled:
        the clusters are found with ``patch``-pixel squares (steadier), pixels are assigned with
        ``window``-pixel squares (boundaries drawn closer to where they are).
    purity : float
        Share of one pseudo-label a training patch needs (set scope).
    rounds, refine_steps : int
        Re-clustering rounds of the set scope and the training batches of each.
    tolerance : float
        Silhouette tolerance of the set scope's ``n_segments="auto"`` (see :func:`estimate_n_segments`).
    lr : float
        Adam learning rate.
    mu : float
        Weight of the continuity loss.
    n_superpixels : int
        SLIC superpixels per 100,000 pixels for the vote (0: no vote).
    compactness : float
        SLIC compactness.
    slic_zero : bool
        Use SLICO, which adapts the compactness to each superpixel.
    min_majority : float
        Vote only in superpixels whose majority holds this share (see :func:`superpixel_vote`).
    min_share : float
    device : str
    seed : int

    Attributes
    ----------
    model_ : PatchNet (set scope) or FeatureNet (image scope)
    history_ : tutorial_lib.train.History of the (last) training
    histories_ : list of History, one per training round
    kmeans_ : the fitted k-means of step 4 (``scope="set"``)
    scope_ : str, the scope used ("set" or "image")
    colour_coherence_ : float, mean colour coherence ``r`` of the images
    n_pseudo_ : int, the number of pseudo-classes
    n_segments_ : int, the number of clusters used (set scope) or a list per image
    labels_ : label maps of the images given to :meth:`fit`
    """

    def __init__(self, n_segments: int | str = "auto", max_segments: int = 8, scope: str = "auto",
                 n_pseudo: int | str = "auto", colour_weight: float = 1.0, texture_weight: float = 1.0,
                 embed_weight: float = 1.0, texture_sigma: float = 10.0, n_components: int = 16,
                 width: int = 32, embed_dim: int = 16, steps: int = 300, crop: int = 64, batch_size: int = 8,
                 patch: int = 32, window: int = 12, patch_batch: int = 128, purity: float = 0.9,
                 rounds: int = 2, refine_steps: int = 200, tolerance: float = 0.02, lr: float = 3e-3,
                 mu: float = 1.0, n_superpixels: int = 1500, compactness: float = 10.0,
                 slic_zero: bool = True, min_majority: float = 0.85, min_share: float = 0.01,
                 device: str = "auto", seed: int = 0):
        super().__init__(seed)
        self.n_segments = n_segments
        self.max_segments = max_segments
        self.scope = scope
        self.n_pseudo = n_pseudo
        self.colour_weight = colour_weight
        self.texture_weight = texture_weight
        self.embed_weight = embed_weight
        self.texture_sigma = texture_sigma
        self.n_components = n_components
        self.width = width
        self.embed_dim = embed_dim
        self.steps = steps
        self.crop = crop
        self.batch_size = batch_size
        self.patch = patch
        self.window = window
        self.patch_batch = patch_batch
        self.purity = purity
        self.rounds = rounds
        self.refine_steps = refine_steps
        self.tolerance = tolerance
        self.lr = lr
        self.mu = mu
        self.n_superpixels = n_superpixels
        self.compactness = compactness
        self.slic_zero = slic_zero
        self.min_majority = min_majority
        self.min_share = min_share
        self.device = device

    # -- descriptors --------------------------------------------------------------------------
    def _raw_descriptors(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        colour = coherent_colour(image) * self.colour_weight
        texture = texture_features(image, self.texture_sigma) if self.texture_sigma > 0 else None
        return colour, texture

    def _fit_whitening(self, textures: list[np.ndarray], rng: np.random.Generator) -> None:
        from sklearn.decomposition import PCA

        sample = np.concatenate([_sample_rows(t.reshape(-1, t.shape[2]), 5000, rng) for t in textures])
        n = int(min(self.n_components, sample.shape[1], len(sample)))
        self.pca_ = PCA(n, whiten=True, random_state=self.seed).fit(sample)

    def _descriptors(self, image: np.ndarray) -> np.ndarray:
        """``(H, W, 3 + n_components)`` descriptors of one image, with the fitted whitening."""
        colour, texture = self._raw_descriptors(image)
        if texture is None:
            return colour
        h, w, d = texture.shape
        tex = self.pca_.transform(texture.reshape(-1, d)).reshape(h, w, -1).astype(np.float32)
        tex *= self.texture_weight / np.sqrt(tex.shape[2])
        return np.concatenate([colour, tex], axis=2)

    # -- training -----------------------------------------------------------------------------
    def _pseudo_labels(self, descs: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        sample = np.concatenate([_sample_rows(d.reshape(-1, d.shape[2]), 4000, rng) for d in descs])
        k = self.n_pseudo
        if k == "auto" and self.scope_ == "set":
            # Over-cluster, as DeepCluster does: with as many pseudo-classes as textures, k-means on
            # weak descriptors often puts two textures in one class, and the network then never
            # learns to tell them apart; finer classes are merged again when its features are clustered.
            k = self.max_segments
        elif k == "auto":
            k = max(2, estimate_n_segments(sample, self.max_segments, sample=4000, seed=self.seed)[0])
        self.n_pseudo_ = int(min(k, len(sample)))
        km = _kmeans(sample, self.n_pseudo_, self.seed)
        return [km.predict(d.reshape(-1, d.shape[2])).reshape(d.shape[:2]) for d in descs]

    def _train(self, inputs: list[np.ndarray], pseudo: list[np.ndarray], rng: np.random.Generator,
               progress: bool = False):
        from .train import fit

        n_classes = int(max(p.max() for p in pseudo)) + 1
        pool = max(self.batch_size, min(512, self.steps * self.batch_size // 4))
        x, y = _random_crops(inputs, pseudo, pool, self.crop, rng)
        epochs = max(1, round(self.steps * self.batch_size / pool))
        torch.manual_seed(self.seed)
        net = FeatureNet(x.shape[1], n_classes, self.width, self.embed_dim)
        self.history_ = fit(net, PseudoLabelStep(self.mu), (x, y), epochs=epochs, lr=self.lr,
                            batch_size=self.batch_size, device=self.device, seed=self.seed,
                            progress=progress, drop_last=True)
        self.histories_ = [self.history_]
        return net.eval()

    def _patch_size(self, arrays: list[np.ndarray]) -> int:
        """The patch side: ``patch``, shrunk to the smallest image, a multiple of 4 (two poolings)."""
        side = min(self.patch, *(min(a.shape[:2]) for a in arrays))
        return max(4, side // 4 * 4)

    def _dense(self, image: np.ndarray, window: int) -> np.ndarray:
        """``(H, W, 2 * width)`` unit-length :class:`PatchNet` features of one image, averaged over
        ``window``-pixel squares."""
        dev = next(self.model_.parameters()).device
        with torch.no_grad():
            f = self.model_.dense(torch.from_numpy(standardise_image(image))[None].to(dev), window)
        return f[0].permute(1, 2, 0).cpu().numpy()

    def _cluster_set(self, feats: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        """k-means over the features of the whole set (k fixed or by the silhouette); the label maps."""
        sample = np.concatenate([_sample_rows(f.reshape(-1, f.shape[2]), 3000, rng) for f in feats])
        k = self.n_segments
        if k == "auto":
            k = estimate_n_segments(sample, self.max_segments, seed=self.seed, tolerance=self.tolerance)[0]
        self.n_segments_ = int(max(1, k))
        self.kmeans_ = _kmeans(sample, self.n_segments_, self.seed) if self.n_segments_ > 1 else None
        if self.kmeans_ is None:
            return [np.zeros(f.shape[:2], np.int64) for f in feats]
        return [self.kmeans_.predict(f.reshape(-1, f.shape[2])).reshape(f.shape[:2]) for f in feats]

    def _training_patches(self, raw: list[np.ndarray], pseudo: list[np.ndarray],
                          rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Pure patches of side ``patch_``, halved (down to 8 pixels) while regions are too small to
        give ``patch_batch`` of them; at the smallest side any patch, with its majority label."""
        while True:
            x, y = pure_patches(raw, pseudo, self.patch_, self.purity, rng=rng)
            if len(x) >= self.patch_batch:
                return x, y
            if self.patch_ <= 8:
                return (x, y) if len(x) else pure_patches(raw, pseudo, self.patch_, 0.0, rng=rng)
            self.patch_ = max(8, self.patch_ // 8 * 4)

    def _fit_textures(self, arrays: list[np.ndarray], pseudo: list[np.ndarray],
                      rng: np.random.Generator, progress: bool = False) -> list[np.ndarray]:
        """The set scope: train :class:`PatchNet` on pure patches, cluster, re-train on the clusters."""
        from .train import fit

        self.patch_ = self._patch_size(arrays)
        raw = [standardise_image(im) for im in arrays]
        torch.manual_seed(self.seed)
        self.model_ = PatchNet(raw[0].shape[0], int(max(p.max() for p in pseudo)) + 1, self.width)
        self.histories_ = []
        for r in range(self.rounds + 1):
            x, y = self._training_patches(raw, pseudo, rng)
            if r > 0:
                self.model_.new_head(int(y.max()) + 1)
            steps = self.steps if r == 0 else self.refine_steps
            epochs = max(1, round(steps * self.patch_batch / len(x)))
            self.histories_.append(fit(self.model_, PatchStep(), (x, y), epochs=epochs, lr=self.lr,
                                       batch_size=min(self.patch_batch, len(x)), device=self.device,
                                       seed=self.seed + r, progress=progress, drop_last=True))
            self.model_.eval()
            pseudo = self._cluster_set([self._dense(im, self.patch_) for im in arrays], rng)
            if self.n_segments_ <= 1:
                break
        self.history_ = self.histories_[-1]
        return [self._features(im) for im in arrays]

    def _embed(self, inputs: np.ndarray) -> np.ndarray:
        dev = next(self.model_.parameters()).device
        with torch.no_grad():
            e = self.model_.embed(torch.from_numpy(inputs)[None].to(dev))[0]
        return e.permute(1, 2, 0).cpu().numpy()

    def _inputs(self, image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self._descriptors(image).transpose(2, 0, 1))

    def _features(self, image: np.ndarray) -> np.ndarray:
        """What is clustered. Set scope: the network's dense features, trained to mean the same
        texture in every image. Image scope: the descriptors, plus the network's features weighted
        like texture."""
        if self.scope_ == "set":
            return self._dense(image, min(self.window, self.patch_))
        inputs = self._inputs(image)
        emb = self._embed(inputs)
        # Per image, texture and learnt features count where colour does not: weight 1 - r, with r
        # the colour's coherence (an image of flat-coloured objects is split by colour).
        r = colour_coherence(colour_features(image, "sqrt"))
        desc = inputs.transpose(1, 2, 0).copy()
        desc[..., 3:] *= 1.0 - r
        return np.concatenate([desc, emb * (self.embed_weight * (1.0 - r))], axis=2)

    def fit(self, images, progress: bool = False):
        """Train the feature network on ``images`` (one image or a set) and segment them.

        Parameters
        ----------
        images : (C, H, W) image or a batch, float in [0, 1]
        progress : bool
            Progress bars for the network's training (tens of seconds on a CPU, each round of the
            set scope) and, for a batch, over the images labelled.
        """
        if self.scope not in ("auto", "set", "image"):
            raise ValueError(f"scope must be 'auto', 'set' or 'image', got {self.scope!r}")
        arrays = as_images(images)
        coherence = [colour_coherence(colour_features(im, "sqrt")) for im in arrays]
        self.colour_coherence_ = float(np.mean(coherence))
        self.scope_ = self.scope
        if self.scope == "auto":
            self.scope_ = "set" if self.colour_coherence_ < 0.5 else "image"
        rng = np.random.default_rng(self.seed)
        runtime.seed_everything(self.seed)
        if self.texture_sigma > 0:
            self._fit_whitening([texture_features(im, self.texture_sigma) for im in arrays], rng)
        inputs = [self._inputs(im) for im in arrays]
        pseudo = self._pseudo_labels([x.transpose(1, 2, 0) for x in inputs], rng)
        if self.scope_ == "set":
            feats = self._fit_textures(arrays, pseudo, rng, progress)
        else:
            self.model_ = self._train(inputs, pseudo, rng, progress)
            feats = [self._features(im) for im in arrays]
            self.n_segments_ = []
        items = zip(arrays, feats, strict=True)
        if progress and len(arrays) > 1:
            items = tqdm(items, total=len(arrays), desc="deep_features", leave=False)
        self.labels_ = _pack([self._label(im, f) for im, f in items], images)
        return self

    def predict(self, images):
        """Segment new images with the trained network and, for ``scope="set"``, the fitted clusters."""
        if not hasattr(self, "model_"):
            raise RuntimeError("DeepFeatureClustering is not fitted yet; call fit(images) first")
        arrays = as_images(images)
        return _pack([self._label(im, self._features(im)) for im in arrays], images)

    def _label(self, image: np.ndarray, feats: np.ndarray) -> np.ndarray:
        h, w, d = feats.shape
        x = feats.reshape(-1, d)
        if self.scope_ == "set":
            if self.kmeans_ is None:
                return np.zeros((h, w), np.int64)
            centres = self.kmeans_.cluster_centers_
        else:
            k = self.n_segments
            if k == "auto":
                k = estimate_n_segments(x, self.max_segments, seed=self.seed)[0]
            self.n_segments_.append(int(k))
            if k <= 1:
                return np.zeros((h, w), np.int64)
            centres = _kmeans(_sample_rows(x, 20000, np.random.default_rng(self.seed)), k,
                              self.seed).cluster_centers_
        scores = -((x[:, None, :] - centres[None]) ** 2).sum(axis=2).reshape(h, w, -1)
        labels = scores.argmax(axis=2)
        if self.n_superpixels > 0:
            n = max(1, int(self.n_superpixels * h * w / 1e5))
            labels = superpixel_vote(labels, superpixels(image, n, self.compactness, self.slic_zero),
                                    self.min_majority)
        return relabel_consecutive(drop_small_segments(scores, labels, self.min_share))


# --------------------------------------------------------------------------------------------
# registry, evaluation, timing
# --------------------------------------------------------------------------------------------

METHODS = {
    "otsu": OtsuThreshold,
    "kmeans_lab": ColourKMeans,
    "slic_kmeans": SlicKMeans,
    "felzenszwalb": Felzenszwalb,
    "kanezaki": DifferentiableFeatureClustering,
    "deep_features": DeepFeatureClustering,
}
"""Method name -> estimator class, baselines first (the order of the benchmark tables)."""

DEFAULT_METHOD = "deep_features"
"""The method with the best benchmark results (see bench/results/segmentation_*.md)."""


def make_method(name: str | None = None, seed: int = 0, device: str = "auto", **params) -> Segmenter:
    """Build a method of ``METHODS`` by name (default: ``DEFAULT_METHOD``) with its default settings.

    Parameters
    ----------
    name : str or None
    seed : int
    device : str
        Passed to the methods that train a network.
    **params
        Override constructor parameters.
    """
    name = name or DEFAULT_METHOD
    if name not in METHODS:
        raise ValueError(f"unknown segmentation method {name!r}; choose one of {list(METHODS)}")
    cls = METHODS[name]
    import inspect

    if "device" in inspect.signature(cls.__init__).parameters:
        params.setdefault("device", device)
    return cls(seed=seed, **params)


def evaluate(data: str, root=None, method: str | None = None, seed: int = 0, limit: int | None = None,
             device: str = "auto", progress: bool = True) -> dict:
    """Segment every image of a segmentation set without labels and score it against its masks.

    Parameters
    ----------
    data : str
        A name for :func:`tutorial_lib.data.load_segmentation`: ``mosaic``, ``scenes``,
        ``segfolder:PATH``. The set itself is always the one of data seed 0, so seeds change only
        the method.
    root : path, optional
        Data root for relative ``segfolder`` paths.
    method : str, optional
        A key of ``METHODS`` (default ``DEFAULT_METHOD``).
    seed : int
        Seed of the method (k-means initialisation, network weights).
    limit : int, optional
        Use at most this many images (a seeded subset).
    device : str
    progress : bool

    Returns
    -------
    dict
        ``miou``, ``pixel_acc`` (Hungarian-matched per image, mean over images), ``covering``,
        ``pri``, ``voi`` (region scores, mean over images), ``seconds_per_image``, ``n_images``,
        ``mean_segments`` (segments per image), ``method``, ``device``, ``data``, ``seed``.
    """
    from .data import load_segmentation
    from .metrics import segmentation_report

    name = method or DEFAULT_METHOD
    seg = make_method(name, seed=seed, device=device)
    ds = load_segmentation(data, root=root, limit=limit)
    images, masks = list(ds.images), [_to_numpy(m) for m in ds.masks]
    started = time.perf_counter()
    preds = seg.fit_predict(images, progress=progress)
    seconds = time.perf_counter() - started
    scores = segmentation_report(preds, masks, regions=True)
    return {
        "miou": scores["miou"], "pixel_acc": scores["pixel_acc"], "covering": scores["covering"],
        "pri": scores["pri"], "voi": scores["voi"], "seconds_per_image": seconds / len(images),
        "n_images": len(images), "mean_segments": float(np.mean([int(p.max()) + 1 for p in preds])),
        "method": name, "device": str(runtime.device(device)), "data": data, "seed": seed,
    }


PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
"""scikit-image sample photos used as "real photos" (they ship with scikit-image, so work offline)."""

BSDS_SIZE = (321, 481)
"""Height and width of a landscape photo of the Berkeley Segmentation Dataset (BSDS500)."""


def photo(name: str = "chelsea", size: tuple[int, int] | None = BSDS_SIZE) -> torch.Tensor:
    """A scikit-image sample photo as a ``(3, H, W)`` float tensor in [0, 1].

    Parameters
    ----------
    name : str
        A function of ``skimage.data`` returning an image, e.g. one of ``PHOTOS``.
    size : (int, int) or None
        Resize so the photo covers ``size``, then crop its centre to exactly that size
        (default: the BSDS size 321×481); None keeps the original.
    """
    import skimage.data
    from skimage.transform import resize

    loader = getattr(skimage.data, name, None)
    if loader is None or not callable(loader):
        raise ValueError(f"skimage.data has no image {name!r}; try one of {PHOTOS}")
    img = np.asarray(loader())
    img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
    img = img.astype(np.float32) / (255.0 if img.dtype.kind in "iu" or img.max() > 1 else 1.0)
    if size is not None:
        h, w = img.shape[:2]
        s = max(size[0] / h, size[1] / w)
        img = resize(img, (max(size[0], int(np.ceil(h * s))), max(size[1], int(np.ceil(w * s)))),
                     anti_aliasing=True)
        top, left = (img.shape[0] - size[0]) // 2, (img.shape[1] - size[1]) // 2
        img = img[top:top + size[0], left:left + size[1]]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()


def time_photo(name: str = "chelsea", size: tuple[int, int] = BSDS_SIZE, method: str = "kanezaki",
               seed: int = 0, device: str = "auto", **params) -> dict:
    """Time one method on one photo of BSDS size: the per-image cost a user waits for.

    ``python -c "from tutorial_lib.segment import time_photo; print(time_photo('chelsea'))"``

    Parameters
    ----------
    name : str
        A scikit-image photo (see :func:`photo`).
    size : (int, int)
    method : str
        A key of ``METHODS``.
    seed : int
    device : str
    **params
        Override the method's settings.

    Returns
    -------
    dict
        ``photo``, ``shape``, ``method``, ``seconds`` (wall clock, including the network's training),
        ``n_segments``, ``iterations`` (Kanezaki method only), ``threads`` (torch CPU threads),
        ``device``.
    """
    image = photo(name, size)
    seg = make_method(method, seed=seed, device=device, **params)
    started = time.perf_counter()
    labels = seg.fit_predict(image)
    seconds = time.perf_counter() - started
    out = {"photo": name, "shape": list(labels.shape), "method": method, "seconds": seconds,
           "n_segments": int(labels.max()) + 1, "threads": torch.get_num_threads(),
           "device": str(runtime.device(device))}
    if hasattr(seg, "n_iter_"):
        out["iterations"] = int(seg.n_iter_[0])
    return out


def compare_methods(images, masks=None, methods: Sequence[str] | None = None, params: dict | None = None,
                    seed: int = 0, device: str = "auto", progress: bool = True) -> dict:
    """Run several methods on the same images and score each against the masks (for notebooks).

    Parameters
    ----------
    images : batch (N, C, H, W) or list of (C, H, W), float in [0, 1]
    masks : list or (N, H, W) of int label maps, optional
        Ground truth; without it only the label maps and the time are returned.
    methods : sequence of str, optional
        Keys of ``METHODS`` (default: all, baselines first).
    params : dict method -> dict of settings, optional
        Overrides of each method's defaults (e.g. fewer iterations in fast mode).
    seed, device, progress

    Returns
    -------
    dict method -> dict
        ``labels`` (list of (H, W) arrays), ``seconds_per_image``, and with masks ``miou``,
        ``pixel_acc`` (mean over images), ``per_image_miou`` (list).
    """
    from .metrics import segmentation_report, segmentation_scores

    images = list(images)
    names = list(methods) if methods else list(METHODS)
    out = {}
    for name in tqdm(names, desc="methods", disable=not progress):
        seg = make_method(name, seed=seed, device=device, **(params or {}).get(name, {}))
        started = time.perf_counter()
        labels = seg.fit_predict(images)
        row = {"labels": labels, "seconds_per_image": (time.perf_counter() - started) / len(images)}
        if masks is not None:
            gts = [_to_numpy(m) for m in masks]
            row.update({k: v for k, v in segmentation_report(labels, gts).items() if k != "n_images"})
            row["per_image_miou"] = [segmentation_scores(p, g)["miou"]
                                     for p, g in zip(labels, gts, strict=True)]
        out[name] = row
    return out


def results_table(results: dict, columns=("miou", "pixel_acc", "seconds_per_image")) -> str:
    """A Markdown table of :func:`compare_methods` (or :func:`evaluate`) results, one row per method."""
    from .bench import markdown_table

    rows = [{"method": name, **{c: float(r[c]) for c in columns if c in r}} for name, r in results.items()]
    return markdown_table(rows, tuple(columns))
