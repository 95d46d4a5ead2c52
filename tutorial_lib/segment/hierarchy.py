"""Region merging on a region adjacency graph: a hierarchy of segmentations cut by ONE merge threshold.

Taught in notebook 04_pixel_segmentation (the BSDS500 section: one photo at three scales, and why a
method needs a scale parameter for ODS and OIS).

:class:`RegionMerging` starts from an over-segmentation (Felzenszwalb's graph segments or SLIC
superpixels, or the segments of any other method, split into connected pieces), builds the region
adjacency graph (``skimage.graph.RAG``: a node per region, an edge per pair of touching regions) and
merges greedily with ``skimage.graph.merge_hierarchical``: always the pair joined by the weakest edge,
recording each merge, until one region is left. The recorded order is a merge tree: cutting it at a
threshold ``t`` applies every merge whose height is at most ``t``. Heights are the running maximum of
the merge weights, so a larger ``t`` only merges more (the partitions are nested, from fine to coarse),
and one tree gives any number of cuts for the price of one (:meth:`RegionMerging.labels_at`).

The weight of the edge between regions A and B is a contrast in CIE Lab units (ΔE), discounted for
small regions::

    w(A, B) = sqrt(boundary(A, B) * |mean_Lab(A) - mean_Lab(B)|) * (min(|A|, |B|) / N) ** (1/8)

``boundary`` is the mean colour gradient (Sobel on the Lab image smoothed by 1 pixel) along the pixels
where A and B touch: two regions of different mean colour are kept apart only when an edge separates them
(a sky with a smooth gradient has no such edge), and a faint edge between two regions of one colour does
not keep them apart either. The size factor makes small fragments merge first whatever their contrast
(N is the number of pixels, so the threshold means the same on any image size). The weight's form and
its exponent were chosen on BSDS500 train images (a product of boundary and colour terms beat either
alone, colour Ward-style merging and local-binary-pattern texture histograms); the default threshold is
the covering-ODS setting on train.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .base import Segmenter, as_image, relabel_consecutive
from .descriptors import as_rgb, superpixels

__all__ = ["MergeTree", "RegionMerging", "merge_tree"]

_SIZE_POWER = 0.125  # of the smaller region's share of the image, in the weight (chosen on BSDS500 train)
_GRADIENT_SIGMA = 1.0  # pixels of Gaussian smoothing before the Sobel gradient


@dataclass
class MergeTree:
    """The merge order of one image's regions, from its over-segmentation to a single region.

    Attributes
    ----------
    base : ndarray (H, W), int64
        The over-segmentation, connected regions labelled ``0..R-1``.
    merges : ndarray (R - 1, 2), int64
        ``(src, dst)`` of each merge in order: region ``src`` joins region ``dst`` (which keeps its name).
    heights : ndarray (R - 1,), float
        Non-decreasing: the largest merge weight so far, in the weight's ΔE units.
    """

    base: np.ndarray
    merges: np.ndarray
    heights: np.ndarray

    def n_merges(self, threshold: float) -> int:
        """How many merges a cut at ``threshold`` applies (those with height <= threshold)."""
        return int(np.searchsorted(self.heights, threshold, side="right"))

    def cut(self, threshold: float) -> np.ndarray:
        """The segmentation at ``threshold``: (H, W) int64, consecutive labels ``0..K-1``."""
        parent = np.arange(int(self.base.max()) + 1)
        for src, dst in self.merges[: self.n_merges(threshold)]:
            parent[src] = dst
        while True:  # follow each region to the one it finally joined
            up = parent[parent]
            if np.array_equal(up, parent):
                break
            parent = up
        return relabel_consecutive(parent[self.base])


def _gradient(lab: np.ndarray) -> np.ndarray:
    """Colour gradient magnitude (H, W) of an (H, W, 3) Lab image, in ΔE per pixel."""
    from scipy import ndimage as ndi

    smooth = ndi.gaussian_filter(lab, (_GRADIENT_SIGMA, _GRADIENT_SIGMA, 0))
    # a Sobel kernel sums 8 differences of one pixel apart: /8 gives ΔE per pixel
    squared = sum(ndi.sobel(smooth[..., c], a) ** 2 for c in range(3) for a in (0, 1))
    return np.sqrt(squared) / 8.0


def _touching(labels: np.ndarray, gradient: np.ndarray):
    """Every pair of 4-connected touching regions (a < b) with its boundary length and summed gradient."""
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    g = np.concatenate([np.maximum(gradient[:, :-1], gradient[:, 1:]).ravel(),
                        np.maximum(gradient[:-1, :], gradient[1:, :]).ravel()])
    cross = a != b
    lo, hi, g = np.minimum(a, b)[cross], np.maximum(a, b)[cross], g[cross]
    n = int(labels.max()) + 1
    codes, inverse = np.unique(lo * n + hi, return_inverse=True)
    return codes // n, codes % n, np.bincount(inverse).astype(np.float64), np.bincount(inverse, weights=g)


def _weight(graph, a: int, b: int, length: float, gradient_sum: float, n_pixels: float) -> float:
    """The merge weight of touching regions ``a`` and ``b`` (see the module notes)."""
    na, nb = graph.nodes[a], graph.nodes[b]
    diff = na["lab"] / na["count"] - nb["lab"] / nb["count"]
    colour = math.sqrt(float(diff @ diff))
    share = min(na["count"], nb["count"]) / n_pixels
    return math.sqrt(gradient_sum / length * colour) * share ** _SIZE_POWER


def merge_tree(image: np.ndarray, base: np.ndarray) -> MergeTree:
    """Merge the regions of ``base`` greedily on its region adjacency graph, recording the order.

    Parameters
    ----------
    image : ndarray, shape (H, W, C), float32 in [0, 1] (C = 1 or 3)
    base : ndarray, shape (H, W), int
        The over-segmentation; disconnected pieces of one label become separate regions.

    Returns
    -------
    MergeTree
    """
    from skimage.color import rgb2lab
    from skimage.graph import RAG, merge_hierarchical
    from skimage.measure import label

    regions = relabel_consecutive(label(base, background=-1, connectivity=2))
    lab = rgb2lab(as_rgb(image)).astype(np.float64)
    n_pixels = float(regions.size)
    n = int(regions.max()) + 1
    counts = np.bincount(regions.ravel(), minlength=n).astype(np.float64)
    sums = np.stack([np.bincount(regions.ravel(), weights=lab[..., c].ravel(), minlength=n)
                     for c in range(3)], axis=1)
    graph = RAG()
    for r in range(n):
        graph.add_node(r, labels=[r], count=counts[r], lab=sums[r].copy())
    for a, b, length, grad in zip(*_touching(regions, _gradient(lab)), strict=True):
        graph.add_edge(int(a), int(b), length=length, gradient=grad)
    for a, b, edge in graph.edges(data=True):
        edge["weight"] = _weight(graph, a, b, edge["length"], edge["gradient"], n_pixels)
    merges: list[tuple[int, int, float]] = []

    def merge(g, src, dst):  # called before src joins dst: record it, pool the region statistics
        merges.append((src, dst, g[src][dst]["weight"]))
        g.nodes[dst]["count"] += g.nodes[src]["count"]
        g.nodes[dst]["lab"] = g.nodes[dst]["lab"] + g.nodes[src]["lab"]

    def reweigh(g, src, dst, other):  # the merged region's edge to a neighbour pools both boundaries
        length = sum(g[x][other]["length"] for x in (src, dst) if g.has_edge(x, other))
        grad = sum(g[x][other]["gradient"] for x in (src, dst) if g.has_edge(x, other))
        return {"length": length, "gradient": grad, "weight": _weight(g, dst, other, length, grad, n_pixels)}

    if graph.number_of_edges():
        merge_hierarchical(regions, graph, thresh=np.inf, rag_copy=False, in_place_merge=True,
                           merge_func=merge, weight_func=reweigh)
    pairs = np.array([(s, d) for s, d, _ in merges], dtype=np.int64).reshape(-1, 2)
    heights = np.maximum.accumulate(np.array([w for *_, w in merges], dtype=np.float64))
    return MergeTree(regions, pairs, heights)


class RegionMerging(Segmenter):
    """Greedy region merging on an over-segmentation's adjacency graph, cut at one merge threshold.

    Parameters
    ----------
    threshold : float
        The scale: merges of weight up to this many ΔE units (see the module notes) are applied. Larger
        gives fewer, larger regions; 0 keeps the over-segmentation. The default is the covering-ODS
        threshold on BSDS500 train.
    base : {"felzenszwalb", "slic"} or a Segmenter
        The over-segmentation merged: Felzenszwalb's graph segments (``base_scale``), SLIC superpixels
        (``n_superpixels``), or the label maps of any method's ``fit_predict`` (e.g. a
        :class:`~tutorial_lib.segment.DifferentiableFeatureClustering`; a copy with the same parameters is
        fitted on each image, the one given stays unfitted).
    base_scale : float
        Felzenszwalb's ``scale`` for ``base="felzenszwalb"`` (small: an over-segmentation).
    base_min_share : float
        Felzenszwalb's smallest segment, as a share of the image.
    n_superpixels : int
        About this many SLIC superpixels for ``base="slic"``.
    seed : int
        Unused (the method is deterministic); kept for the common estimator shape.
    device : str
        Ignored (NumPy only).
    progress : bool
        Progress bar over the images of a batch.

    Examples
    --------
    >>> model = RegionMerging()
    >>> labels = model.fit_predict(image)  # (H, W) int64, consecutive
    >>> fine, middle, coarse = model.labels_at(image, [4.0, 8.0, 16.0])  # one merge tree, three cuts
    """

    progress_name = "region merging"

    def __init__(self, threshold: float = 6.5, base="felzenszwalb", base_scale: float = 100.0,
                 base_min_share: float = 0.001, n_superpixels: int = 800, seed: int = 0,
                 device: str = "auto", progress: bool = False):
        self.threshold = threshold
        self.base = base
        self.base_scale = base_scale
        self.base_min_share = base_min_share
        self.n_superpixels = n_superpixels
        self.seed = seed
        self.device = device
        self.progress = progress

    def _over_segment(self, image: np.ndarray) -> np.ndarray:
        """The base over-segmentation of an (H, W, C) image, (H, W) int."""
        if self.base == "felzenszwalb":
            from skimage.segmentation import felzenszwalb

            min_size = max(1, int(self.base_min_share * image.shape[0] * image.shape[1]))
            return felzenszwalb(as_rgb(image), scale=self.base_scale, sigma=0.8, min_size=min_size,
                                channel_axis=-1)
        if self.base == "slic":
            return superpixels(image, self.n_superpixels)
        if hasattr(self.base, "fit_predict") and hasattr(self.base, "get_params"):
            method = type(self.base)(**self.base.get_params())  # a fresh copy: the parameter stays unfitted
            return np.asarray(method.fit_predict(np.ascontiguousarray(image.transpose(2, 0, 1))))
        raise ValueError(f"base must be 'felzenszwalb', 'slic' or a segmentation method, got {self.base!r}")

    def hierarchy(self, image) -> MergeTree:
        """The merge tree of one image (``(C, H, W)`` or ``(H, W)``, float in [0, 1]); state unchanged."""
        array = as_image(image)
        return merge_tree(array, self._over_segment(array))

    def labels_at(self, image, thresholds: Sequence[float]) -> list[np.ndarray]:
        """Segmentations of one image at several thresholds, from one merge tree.

        Parameters
        ----------
        image : Tensor or ndarray, shape (C, H, W) or (H, W), float in [0, 1]
        thresholds : sequence of float
            Merge thresholds (ΔE units), any order.

        Returns
        -------
        list of ndarray (H, W), int64, consecutive labels; one per threshold, in the order given. The fitted
        state is unchanged.
        """
        tree = self.hierarchy(image)
        return [tree.cut(float(t)) for t in thresholds]

    def _segment(self, image: np.ndarray) -> np.ndarray:
        if not float(self.threshold) >= 0:  # also refuses NaN
            raise ValueError(f"threshold must be a number >= 0, got {self.threshold}")
        return merge_tree(image, self._over_segment(image)).cut(self.threshold)
