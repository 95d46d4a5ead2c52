"""The default segmenter: it looks at the images and picks the method that suits them.

Taught in notebook 04_pixel_segmentation (the section "One default for every input").

No method wins everywhere (``bench/results/segmentation_*.md``): the deep-feature method learns a
vocabulary of textures or of two-toned objects shared by the set (mosaics 0.862, nuclei 0.885 mIoU,
against 0.214 and 0.443 for region merging, which merges the small nuclei into the background), while
region merging cuts each photo into its own regions (BSDS500 val covering 0.549 against 0.374; scenes
0.870 against 0.521).
:class:`AutoSegmentation` decides from two label-free statistics of the images themselves, never from
file names or sizes:

* the **colour coherence** ``r`` (:func:`~.descriptors.colour_coherence`): the share of the colour
  variance that survives a Gaussian smoothing of 2 pixels; small for textures whose grey level
  flickers from pixel to pixel;
* the **two-tone ratio** ``rho`` (:func:`two_tone_ratio`): how much of the colour spread (CIE Lab)
  two colour classes leave unexplained, against what they leave on a single Gaussian blob of the same
  covariance, ``rho = W_2 / (T (1 - (2/pi) lambda_1 / sum(lambda)))``, with ``W_2`` the within-class sum
  of squares of 2-means, ``T`` the total sum of squares and ``lambda`` the eigenvalues of the colour
  covariance (2-means on a Gaussian cuts it through its mean along the first principal axis and
  explains ``2/pi`` of the variance along it). ``rho`` near 1: one blob of colours, as in most photos
  (the skimage photos 0.82-1.0); small: objects of one colour on a background of another (cells, coins,
  silhouettes: 0 for a black-and-white picture). Measured against a blob rather than as the share
  2-means explains (Otsu's criterion), the rule reads grey and colour images alike: the share alone is
  0.64 for any grey picture with a bell-shaped histogram, 0.75 for a grey ramp.

The rule, on the means over the images given to ``fit``: textures (mean ``r`` < 0.5) or two-toned
images (mean ``rho`` <= 0.65) go to ``deep_features`` (which itself takes its set scope for textures and
its per-image scope for objects); everything else, photos first, to ``rag-merge``. The thresholds
were read off the development sets (``python bench/segment_choice.py``, 30 images of each, 16 of the
generated ones; mean ``r``: mosaics 0.39, nuclei 0.87, scenes 0.66, BSDS500 val 0.84; mean ``rho``: nuclei
0.54, BSDS500 val 0.77 (0.74 in grey), scenes 0.80, mosaics 1.18); on every set with a benchmark table the
rule picks the method that scores best there (``bench/results/segment_choice.md``).
"""

from __future__ import annotations

import numpy as np

from ..base import reject_labels
from .base import Segmenter, as_images
from .deep_features import COHERENCE_THRESHOLD, DeepFeatureClustering
from .descriptors import colour_coherence, colour_features, kmeans, sample_rows
from .hierarchy import RegionMerging

__all__ = ["CHOICES", "TWO_TONE_THRESHOLD", "AutoSegmentation", "choose_method", "image_statistics",
           "two_tone_ratio"]

CHOICES: dict[str, type[Segmenter]] = {"deep_features": DeepFeatureClustering, "rag-merge": RegionMerging}
"""The methods :class:`AutoSegmentation` chooses between (names as in ``segment.METHODS``)."""

TWO_TONE_THRESHOLD = 0.65
"""Mean two-tone ratio up to which a set counts as objects of one colour on a background of another."""

_SAMPLE = 4096  # pixels per image for the 2-means: milliseconds per image, whatever its size


def two_tone_ratio(image: np.ndarray, seed: int = 0) -> float:
    """How two-toned an image is: what 2-means leaves of its colour spread, against a Gaussian blob's.

    Parameters
    ----------
    image : ndarray, shape (H, W, C), float in [0, 1]
    seed : int
        Seeds the pixel sample and the 2-means (a NumPy generator of its own: global state untouched).

    Returns
    -------
    float >= 0
        ``rho`` of the module docstring on CIE Lab colour: 0 for two flat colours, about 1 for one
        bell-shaped blob of colours; 1 for an image of one colour (nothing to split).
    """
    lab = colour_features(image, "lab").reshape(-1, 3)
    pixels = sample_rows(lab, _SAMPLE, np.random.default_rng(seed)).astype(np.float64)
    centred = pixels - pixels.mean(axis=0)
    total = float((centred**2).sum())
    if total < 1e-8:
        return 1.0
    fitted = kmeans(pixels, 2, seed=seed)
    within = float(((pixels - fitted.cluster_centers_[fitted.labels_]) ** 2).sum())
    spread = np.linalg.eigvalsh(centred.T @ centred)  # sums to total
    blob_within = total - (2 / np.pi) * float(spread.max())
    return within / blob_within


def image_statistics(arrays: list[np.ndarray], seed: int = 0) -> dict[str, list[float]]:
    """The colour coherence and the two-tone ratio of each ``(H, W, C)`` image (lists, in order)."""
    return {"coherence": [colour_coherence(colour_features(a, "sqrt")) for a in arrays],
            "two_tone": [two_tone_ratio(a, seed) for a in arrays]}


def choose_method(stats: dict[str, list[float]], coherence_threshold: float = COHERENCE_THRESHOLD,
                  two_tone_threshold: float = TWO_TONE_THRESHOLD) -> str:
    """The method for images of these statistics (:func:`image_statistics`): a key of :data:`CHOICES`.

    ``deep_features`` when the mean coherence is below ``coherence_threshold`` (textures) or the mean
    two-tone ratio is at most ``two_tone_threshold`` (objects on a background); ``rag-merge`` otherwise.
    """
    textured = float(np.mean(stats["coherence"])) < coherence_threshold
    two_toned = float(np.mean(stats["two_tone"])) <= two_tone_threshold
    return "deep_features" if textured or two_toned else "rag-merge"


class AutoSegmentation(Segmenter):
    """Segment with the method that suits the images, chosen by a label-free rule (module docstring).

    Parameters
    ----------
    coherence_threshold : float
        Below this mean colour coherence the images are textures (``deep_features``).
    two_tone_threshold : float
        Up to this mean two-tone ratio the images are two-toned objects (``deep_features``).
    params : dict, optional
        Constructor parameters for each method it may choose, e.g.
        ``{"deep_features": {"steps": 40}, "rag-merge": {"threshold": 9}}``.
    seed : int
        Seeds the statistics' pixel samples and the chosen method.
    device : str
    progress : bool

    Attributes
    ----------
    method_ : str, the method chosen (a key of :data:`CHOICES`)
    statistics_ : dict, ``coherence`` and ``two_tone`` (one float per image) and their means
    estimator_ : the fitted method
    labels_ : label maps of the images given to :meth:`fit`

    Examples
    --------
    >>> model = AutoSegmentation().fit(photos)
    >>> model.method_, model.statistics_["two_tone_mean"]
    ('rag-merge', 0.85)
    """

    progress_name = "auto"

    def __init__(self, coherence_threshold: float = COHERENCE_THRESHOLD,
                 two_tone_threshold: float = TWO_TONE_THRESHOLD, params: dict | None = None,
                 seed: int = 0, device: str = "auto", progress: bool = False):
        self.coherence_threshold = coherence_threshold
        self.two_tone_threshold = two_tone_threshold
        self.params = params
        self.seed = seed
        self.device = device
        self.progress = progress

    def method(self, name: str) -> Segmenter:
        """An unfitted method of :data:`CHOICES` with this model's seed, device, progress and ``params``."""
        if name not in CHOICES:
            raise ValueError(f"unknown method {name!r}; AutoSegmentation chooses between {list(CHOICES)}")
        extra = dict((self.params or {}).get(name, {}))
        return CHOICES[name](seed=self.seed, device=self.device, progress=self.progress, **extra)

    def choose(self, images) -> tuple[str, dict]:
        """The method these images get and the statistics that decided it; the model is left unchanged.

        Parameters
        ----------
        images : (C, H, W) image or a batch, float in [0, 1]

        Returns
        -------
        (name, statistics) : a key of :data:`CHOICES`; per-image ``coherence`` and ``two_tone`` lists
            with their means ``coherence_mean`` and ``two_tone_mean``
        """
        unknown = set(self.params or {}) - set(CHOICES)
        if unknown:
            raise ValueError(f"params names {sorted(unknown)}, which AutoSegmentation never chooses; "
                             f"give parameters for {list(CHOICES)}")
        stats = image_statistics(as_images(images), self.seed)
        stats.update({f"{key}_mean": float(np.mean(values)) for key, values in list(stats.items())})
        return choose_method(stats, self.coherence_threshold, self.two_tone_threshold), stats

    def fit(self, images, y=None) -> AutoSegmentation:
        """Choose the method on ``images``, then fit it on them (its label maps in ``labels_``).

        Parameters
        ----------
        images : (C, H, W) image or a batch, float in [0, 1]
        y : ignored

        Returns
        -------
        self
        """
        reject_labels(self, y)
        self.method_, self.statistics_ = self.choose(images)
        self.estimator_ = self.method(self.method_).fit(images)
        self.labels_ = self.estimator_.labels_
        return self

    def predict(self, images):
        """Segment new images with the chosen method (the fitted state is left unchanged).

        A method that learns from the set (``deep_features``) labels them with what it learnt; a
        per-image method (``rag-merge``) segments each new image on its own.
        """
        self._check_fitted("estimator_")
        if hasattr(self.estimator_, "predict"):
            return self.estimator_.predict(images)
        return type(self.estimator_)(**self.estimator_.get_params()).fit_predict(images)
