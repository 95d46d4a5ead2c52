"""The foreground/background split of the application: objects are regions of flat colour, learnt without
labels over the image set, then cut into objects (connected components with a minimum size).

Taught in notebook 05_foreground_background.

* :func:`flatness`: per pixel, how far from flat its colour is, ``log(r + eps)`` with ``r`` the smallest
  colour range (max - min over the pixels and channels) of the 2×2 windows that hold the pixel. A
  pixel inside a region of one colour has ``r = 0`` even on a stroke two pixels wide; photo textures,
  noise and edges give ``r > 0``.
* :class:`Mixture1D`: a 2-component Gaussian mixture learnt over the whole set: of pixel flatness (the
  flatter component holds the candidates) and of region contrast (the contrasting component holds
  the objects).
* :func:`flat_regions`: 4-connected components of the foreground pixels whose neighbours also agree in
  colour (so a flat object touching a flat sky is cut from it), regions larger than ``max_share`` of the
  image (flat sky, a wall) dropped as background.
* :func:`region_contrast`: how much each candidate region's colour differs from the ring of pixels just
  outside it; a flat patch of a photo continues its surroundings, a pasted object stands out.
* :func:`region_spread` and :func:`standout`: the contrast against the region's own colour spread, a
  contrast-to-noise ratio ``log(contrast + eps) - log(spread + eps)``: a flat patch of a photo that happens
  to contrast still varies inside by a few grey levels, an object of one colour does not (the mixture of
  the application is fitted on this ratio).
* :func:`grow_regions`: each region grows by up to ``grow`` pixels into neighbours of its own colour (the
  rim that no flat 2×2 window covers).
* :func:`find_objects`: a closing that bridges gaps of up to 3 pixels, 8-connected components, those of
  fewer than ``min_size`` pixels dropped.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

EPS = 1.0 / 255
"""Added to the colour range before the log: one 8-bit grey level."""

CLOSING_RADIUS = 2
"""Radius of the disk that closes the foreground before the objects are labelled (bridges gaps <= 3 px)."""


def _disk(radius: int) -> np.ndarray:
    return np.hypot(*np.mgrid[-radius:radius + 1, -radius:radius + 1]) <= radius


def flatness(image: np.ndarray) -> np.ndarray:
    """``log(r + EPS)`` per pixel, ``r`` the smallest colour range of the four 2×2 windows holding it.

    Parameters
    ----------
    image : ndarray, shape (H, W, C), float in [0, 1]

    Returns
    -------
    ndarray, shape (H, W), float32; ``log(EPS)`` (about -5.5) on flat colour, up to about 0 on edges
    """
    pad = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    corners = [pad[:-1, :-1], pad[:-1, 1:], pad[1:, :-1], pad[1:, 1:]]
    window = (np.max(corners, axis=0) - np.min(corners, axis=0)).max(axis=2)  # (H+1, W+1): window ranges
    r = np.minimum.reduce([window[:-1, :-1], window[:-1, 1:], window[1:, :-1], window[1:, 1:]])
    return np.log(r + EPS).astype(np.float32)


class Mixture1D:
    """A 1-D two-component Gaussian mixture, components sorted by mean (0 the lower).

    Fitted by EM on values gathered over the set (pixel flatness: the foreground is the flatter, lower
    component; region contrast: the foreground is the higher one). Its state is three pairs of numbers
    (``means``, ``variances``, ``weights``), kept in model files.
    """

    def __init__(self, means, variances, weights):
        order = np.argsort(np.asarray(means, np.float64))
        self.means = np.asarray(means, np.float64)[order]
        self.variances = np.maximum(np.asarray(variances, np.float64)[order], 1e-6)
        self.weights = np.asarray(weights, np.float64)[order]

    @classmethod
    def fit(cls, values: np.ndarray, seed: int = 0, need_two: bool = False,
            n_effective: float | None = None) -> Mixture1D | None:
        """EM on ``values`` (N,) float (sklearn's ``GaussianMixture``, 3 starts).

        With ``need_two``, None is returned when one Gaussian explains the values better (a lower BIC,
        the Bayesian information criterion, ``-2 n mean_log_likelihood + params log n``): there is then
        no second population to separate. ``n_effective`` is the ``n`` of the BIC when the values are
        draws that repeat fewer independent observations (weighted draws of a few regions: BIC with
        ``n = N`` would find two populations in any spread of 20 000 copies of 18 numbers); default N."""
        from sklearn.mixture import GaussianMixture

        x = np.asarray(values, np.float64).reshape(-1, 1)
        gmm = GaussianMixture(2, covariance_type="full", n_init=3, random_state=seed, reg_covar=1e-4).fit(x)
        if need_two:
            one = GaussianMixture(1, reg_covar=1e-4, random_state=seed).fit(x)
            n = float(n_effective or len(x))
            # 1-D: two components have 5 free parameters, one has 2
            gain = 2 * n * (gmm.score(x) - one.score(x)) - 3 * np.log(n)
            if gain <= 0:
                return None
        return cls(gmm.means_[:, 0], gmm.covariances_[:, 0, 0], gmm.weights_)

    def posterior(self, values: np.ndarray, component: int = 0) -> np.ndarray:
        """Posterior of ``component`` (0 the lower mean, 1 the higher) for each of ``values`` (any shape),
        float32 in [0, 1], same shape."""
        v = np.asarray(values, np.float64)[..., None]
        log_p = (np.log(self.weights) - 0.5 * np.log(2 * np.pi * self.variances)
                 - 0.5 * (v - self.means) ** 2 / self.variances)
        log_p -= log_p.max(axis=-1, keepdims=True)
        p = np.exp(log_p)
        return (p[..., component] / p.sum(axis=-1)).astype(np.float32)


def _colour_components(core: np.ndarray, image: np.ndarray, tolerance: float) -> tuple[np.ndarray, int]:
    """4-connected components of ``core`` (H, W) bool linking only neighbours whose colours differ by at
    most ``tolerance`` (max over channels). Returns labels (H, W) int64 (0 outside core, 1..K) and K."""
    h, w = core.shape
    index = np.arange(h * w).reshape(h, w)
    rows, cols = [], []
    pairs = ((image[:, :-1], image[:, 1:], core[:, :-1] & core[:, 1:], index[:, :-1], index[:, 1:]),
             (image[:-1], image[1:], core[:-1] & core[1:], index[:-1], index[1:]))
    for a, b, both, ia, ib in pairs:
        keep = both & (np.abs(a - b).max(axis=2) <= tolerance)
        rows.append(ia[keep])
        cols.append(ib[keep])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(h * w, h * w))
    _, labels = connected_components(graph, directed=False)
    labels = labels.reshape(h, w)
    out = np.zeros((h, w), np.int64)
    _, dense = np.unique(labels[core], return_inverse=True)
    out[core] = dense.reshape(-1) + 1
    return out, int(dense.max() + 1) if core.any() else 0


def flat_regions(image: np.ndarray, posterior: np.ndarray, threshold: float = 0.5, max_share: float = 0.1,
                 tolerance: float = 0.04) -> np.ndarray:
    """Regions of flat colour that may be objects.

    Parameters
    ----------
    image : ndarray, shape (H, W, C), float in [0, 1]
    posterior : ndarray, shape (H, W), float in [0, 1]
        :meth:`Mixture1D.posterior` of the image's flatness.
    threshold : float
        Pixels whose posterior is at least this are candidates.
    max_share : float
        Regions larger than this share of the image are background (a flat sky or wall).
    tolerance : float
        Neighbours differing by more than this (in [0, 1], max over channels) are not linked.

    Returns
    -------
    ndarray, shape (H, W), int64; 0 = background, 1..K the regions
    """
    labels, k = _colour_components(posterior >= threshold, image, tolerance)
    if k == 0:
        return labels
    sizes = np.bincount(labels.ravel(), minlength=k + 1)
    big = sizes > max_share * labels.size
    big[0] = True
    keep = np.cumsum(~big) * ~big  # surviving regions renumbered 1..K'
    return keep[labels]


def region_contrast(image: np.ndarray, regions: np.ndarray, ring: int = 3) -> np.ndarray:
    """Colour contrast of each region with the background ring around it.

    The ring is the pixels 2..``ring`` pixels outside the region that belong to no region; the contrast is
    the largest channel difference between the region's median colour and the ring's.

    Parameters
    ----------
    image : ndarray, shape (H, W, C), float in [0, 1]
    regions : ndarray, shape (H, W), int; 0 = background, 1..K
    ring : int
        Outer width of the ring in pixels.

    Returns
    -------
    ndarray, shape (K,), float32 in [0, 1] (0 for a region with no ring)
    """
    k = int(regions.max()) if regions.size else 0
    out = np.zeros(k, np.float32)
    for j, box in enumerate(ndi.find_objects(regions, max_label=k)):
        if box is None:
            continue
        box = tuple(slice(max(b.start - ring - 1, 0), b.stop + ring + 1) for b in box)
        own = regions[box] == j + 1
        around = (ndi.binary_dilation(own, iterations=ring) & ~ndi.binary_dilation(own, iterations=1)
                  & (regions[box] == 0))
        if around.any():
            out[j] = np.abs(np.median(image[box][own], axis=0) - np.median(image[box][around], axis=0)).max()
    return out


def region_spread(image: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """How much each region's colour varies inside it: the largest channel range between its 10th and 90th
    percentiles (robust to the few rim pixels a region may hold).

    Parameters
    ----------
    image : ndarray, shape (H, W, C), float in [0, 1]
    regions : ndarray, shape (H, W), int; 0 = background, 1..K

    Returns
    -------
    ndarray, shape (K,), float32 in [0, 1] (0 for a region of one colour)
    """
    k = int(regions.max()) if regions.size else 0
    out = np.zeros(k, np.float32)
    for j, box in enumerate(ndi.find_objects(regions, max_label=k)):
        if box is not None:
            lo, hi = np.percentile(image[box][regions[box] == j + 1], [10, 90], axis=0)
            out[j] = (hi - lo).max()
    return out


def standout(contrast: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """``log(contrast + EPS) - log(spread + EPS)`` per region: its contrast with the ring around it against
    its own colour spread, in natural-log units (on ``photo-objects`` the set mixture's two components sit
    near 0.7, the flat patches of photos, and 4.8, the objects of one colour: notebook 05 prints them).

    Parameters
    ----------
    contrast, spread : ndarray, shape (K,), float in [0, 1] (:func:`region_contrast`, :func:`region_spread`)

    Returns
    -------
    ndarray, shape (K,), float64
    """
    return np.log(np.asarray(contrast, np.float64) + EPS) - np.log(np.asarray(spread, np.float64) + EPS)


def keep_regions(regions: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The regions whose ``keep[k - 1]`` is true, renumbered 1..K' in order; the others become 0.

    Parameters
    ----------
    regions : ndarray, shape (H, W), int; 0 = background, 1..K
    keep : ndarray, shape (K,), bool

    Returns
    -------
    ndarray, shape (H, W), int64
    """
    flags = np.concatenate([[False], np.asarray(keep, bool)])
    table = np.cumsum(flags) * flags
    return table[regions].astype(np.int64)


def grow_regions(image: np.ndarray, regions: np.ndarray, grow: int = 2,
                 tolerance: float = 0.12) -> np.ndarray:
    """Grow each region by up to ``grow`` pixels into pixels whose colour is within ``tolerance`` (max over
    channels) of the region's median colour; the first region to reach a pixel keeps it.

    Parameters
    ----------
    image : ndarray, shape (H, W, C), float in [0, 1]
    regions : ndarray, shape (H, W), int; 0 = background
    grow : int
        Pixels of growth (one 3×3 dilation each).
    tolerance : float

    Returns
    -------
    ndarray, shape (H, W), int64, the grown regions
    """
    out = np.asarray(regions, np.int64).copy()
    k = int(out.max())
    if k == 0:
        return out
    colours = np.stack([np.median(image[out == j], axis=0) for j in range(1, k + 1)])
    for _ in range(grow):
        # a background pixel takes the largest label among its 3×3 neighbours, if its colour fits it
        near = ndi.grey_dilation(out, size=(3, 3))
        candidate = (out == 0) & (near > 0)
        fits = np.abs(image[candidate] - colours[near[candidate] - 1]).max(axis=1) <= tolerance
        idx = np.nonzero(candidate)
        out[idx[0][fits], idx[1][fits]] = near[candidate][fits]
    return out


def find_objects(foreground: np.ndarray, min_size: int = 60) -> np.ndarray:
    """Objects of a foreground mask: closed by a disk of radius :data:`CLOSING_RADIUS`, 8-connected
    components, those with fewer than ``min_size`` foreground pixels dropped.

    Parameters
    ----------
    foreground : ndarray, shape (H, W), bool
    min_size : int
        Fewest pixels an object has.

    Returns
    -------
    ndarray, shape (H, W), int64; 0 = background, 1..K the objects (each keeps only its own foreground
    pixels, not the ones the closing added)
    """
    r = CLOSING_RADIUS
    foreground = np.asarray(foreground, bool)
    closed = ndi.binary_closing(np.pad(foreground, r + 1), structure=_disk(r))[r + 1:-r - 1, r + 1:-r - 1]
    labels, k = ndi.label(closed | foreground, structure=np.ones((3, 3), bool))
    labels = np.where(foreground, labels, 0)
    sizes = np.bincount(labels.ravel(), minlength=k + 1)
    small = sizes < min_size
    small[0] = True
    keep = np.cumsum(~small) * ~small
    return keep[labels].astype(np.int64)
