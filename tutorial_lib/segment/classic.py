"""The classic baselines of unsupervised segmentation: threshold, colour k-means, superpixels, graphs.

Taught in notebook 04_pixel_segmentation (the baselines every learnt method is compared with).

* :class:`OtsuThreshold`: Otsu's threshold on the grey level; always two regions.
* :class:`ColourKMeans`: k-means on the CIE Lab colour of each pixel.
* :class:`SlicKMeans`: SLIC superpixels, then k-means on their mean Lab colour.
* :class:`Felzenszwalb`: Felzenszwalb and Huttenlocher's graph-based merging (scikit-image).

None of them uses torch: their ``device`` parameter is accepted (so every method of
``tutorial_lib.segment.METHODS`` is built the same way) and ignored.
"""

from __future__ import annotations

import numpy as np

from .base import Segmenter
from .descriptors import as_rgb, cluster_pixels, colour_features, grey, superpixels


class OtsuThreshold(Segmenter):
    """Two regions: pixels brighter or darker than Otsu's threshold on the grey level (Otsu 1979).

    Otsu's threshold maximises the between-class variance of the two groups of grey levels, which
    is exactly 2-means on the grey level. A constant image gives one region.

    Parameters
    ----------
    seed : int
        Unused (the method is deterministic); kept for the common estimator shape.
    device : str
        Ignored (NumPy only).
    progress : bool
        Progress bar over the images of a batch.
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
        Number of clusters; ``"auto"`` picks it by the silhouette score
        (:func:`tutorial_lib.segment.descriptors.estimate_n_segments`).
    max_segments : int
        Largest number tried by ``"auto"``.
    colour_space : {"lab", "sqrt"}
        See :func:`tutorial_lib.segment.descriptors.colour_features`.
    seed : int
        Seed of the k-means initialisation and of the pixel sample.
    device : str
        Ignored (k-means of these small problems runs on the CPU).
    progress : bool
        Progress bar over the images of a batch.
    """

    def __init__(self, n_segments: int | str = "auto", max_segments: int = 8, colour_space: str = "lab",
                 seed: int = 0, device: str = "auto", progress: bool = False):
        self.n_segments = n_segments
        self.max_segments = max_segments
        self.colour_space = colour_space
        self.seed = seed
        self.device = device
        self.progress = progress

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
    device : str
        Ignored (NumPy only).
    progress : bool
        Progress bar over the images of a batch.
    """

    def __init__(self, n_superpixels: int = 400, compactness: float = 10.0, n_segments: int | str = "auto",
                 max_segments: int = 8, seed: int = 0, device: str = "auto", progress: bool = False):
        self.n_superpixels = n_superpixels
        self.compactness = compactness
        self.n_segments = n_segments
        self.max_segments = max_segments
        self.seed = seed
        self.device = device
        self.progress = progress

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
        Gaussian smoothing before the graph is built, in pixels.
    min_share : float
        Regions smaller than this share of the image are merged into a neighbour.
    seed : int
        Unused (the method is deterministic); kept for the common estimator shape.
    device : str
        Ignored (NumPy only).
    progress : bool
        Progress bar over the images of a batch.
    """

    def __init__(self, scale: float = 300.0, sigma: float = 0.8, min_share: float = 0.01, seed: int = 0,
                 device: str = "auto", progress: bool = False):
        self.scale = scale
        self.sigma = sigma
        self.min_share = min_share
        self.seed = seed
        self.device = device
        self.progress = progress

    def _segment(self, image: np.ndarray) -> np.ndarray:
        from skimage.segmentation import felzenszwalb

        min_size = max(1, int(self.min_share * image.shape[0] * image.shape[1]))
        return felzenszwalb(as_rgb(image), scale=self.scale, sigma=self.sigma, min_size=min_size,
                            channel_axis=-1)
