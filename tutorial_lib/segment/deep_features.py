"""The deep-feature method: one name for the set and the per-image variants, chosen by the data.

Taught in notebook 04_pixel_segmentation (``METHODS["deep_features"]``, the library's best method).

:class:`DeepFeatureClustering` looks at how coherent the colour of the images is and delegates to
:class:`~.deep_set.SetFeatureClustering` (textures: clusters shared by the set) or
:class:`~.deep_image.ImageFeatureClustering` (flat-coloured objects: clusters per image).
"""

from __future__ import annotations

import numpy as np

from .. import runtime
from ..base import reject_labels, seeded
from .base import Segmenter, as_images
from .deep_base import DeepFeatureBase
from .deep_image import ImageFeatureClustering
from .deep_set import SetFeatureClustering
from .descriptors import describe_pixels

SCOPES: dict[str, type[DeepFeatureBase]] = {"set": SetFeatureClustering, "image": ImageFeatureClustering}
"""Scope name -> the class that implements it."""

COHERENCE_THRESHOLD = 0.5
"""``scope="auto"`` takes "set" below this mean colour coherence, "image" from it on."""


def choose_scope(coherences) -> str:
    """The scope ``scope="auto"`` takes for images of these colour coherences (floats in [0, 1]).

    "set" when the colour of the set is mostly incoherent (mean ``r`` < 0.5: textures, whose
    descriptors are invariant to lighting and so comparable across images), "image" otherwise
    (flat-coloured objects under lighting or staining that changes from image to image).
    """
    return "set" if float(np.mean(coherences)) < COHERENCE_THRESHOLD else "image"


class DeepFeatureClustering(Segmenter):
    """k-means on per-pixel features of a CNN trained without labels on the whole image set.

    A facade: ``scope="set"`` runs :class:`SetFeatureClustering` (a patch network whose dense features
    are clustered over the whole set, for textures), ``scope="image"`` runs
    :class:`ImageFeatureClustering` (a pixel network on the descriptors, k-means per image, for
    flat-coloured objects), and ``scope="auto"`` chooses by the mean colour coherence of the images
    (:func:`choose_scope`). Each parameter goes to the variant that uses it; see those classes for
    the steps and the parameters.

    Parameters
    ----------
    n_segments, max_segments, n_pseudo, colour_weight, texture_weight, texture_sigma, n_components,
    width, steps, lr, hypercolumns, n_superpixels, compactness, slic_zero, min_majority, min_share
        Shared by both variants.
    embed_weight, embed_dim, crop, batch_size, mu
        Image scope only.
    patch, window, patch_batch, purity, rounds, refine_steps, tolerance
        Set scope only.
    scope : {"auto", "set", "image"}
    seed : int
    device : str
    progress : bool
        Progress bars for the network's training (tens of seconds on a CPU, each round of the set
        scope) and, for a batch, over the images labelled.

    Attributes
    ----------
    estimator_ : SetFeatureClustering or ImageFeatureClustering, the fitted variant; its fitted
        attributes (``model_``, ``history_``, ``histories_``, ``n_pseudo_``, ``n_segments_`` (a list,
        one int per image), ``kmeans_`` and ``n_clusters_`` (set scope)...) are readable here too.
    scope_ : str, the scope used ("set" or "image")
    colour_coherence_ : float, mean colour coherence ``r`` of the images
    labels_ : label maps of the images given to :meth:`fit`
    """

    def __init__(self, n_segments: int | str = "auto", max_segments: int = 8, scope: str = "auto",
                 n_pseudo: int | str = "auto", colour_weight: float = 1.0, texture_weight: float = 1.0,
                 embed_weight: float = 1.0, texture_sigma: float = 10.0, n_components: int = 16,
                 width: int = 32, embed_dim: int = 16, steps: int = 300, crop: int = 64, batch_size: int = 8,
                 patch: int = 32, window: int = 12, patch_batch: int = 128, purity: float = 0.9,
                 rounds: int = 2, refine_steps: int = 200, tolerance: float = 0.02, lr: float = 3e-3,
                 mu: float = 1.0, hypercolumns: bool = False, n_superpixels: int = 1500,
                 compactness: float = 10.0,
                 slic_zero: bool = True, min_majority: float = 0.85, min_share: float = 0.01,
                 seed: int = 0, device: str = "auto", progress: bool = False):
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
        self.hypercolumns = hypercolumns
        self.n_superpixels = n_superpixels
        self.compactness = compactness
        self.slic_zero = slic_zero
        self.min_majority = min_majority
        self.min_share = min_share
        self.seed = seed
        self.device = device
        self.progress = progress

    def variant(self, scope: str) -> DeepFeatureBase:
        """An unfitted :class:`SetFeatureClustering` or :class:`ImageFeatureClustering` with this
        facade's parameters that it takes."""
        cls = SCOPES[scope]
        return cls(**{name: getattr(self, name) for name in cls._param_names()})

    def fit(self, images, y=None) -> DeepFeatureClustering:
        """Choose the scope, then train the feature network on ``images`` and segment them.

        Parameters
        ----------
        images : (C, H, W) image or a batch, float in [0, 1]
        y : ignored

        Returns
        -------
        self
        """
        reject_labels(self, y)
        if self.scope not in ("auto", *SCOPES):
            raise ValueError(f"scope must be 'auto', 'set' or 'image', got {self.scope!r}")
        arrays = as_images(images)
        # One seeded stream from the descriptors on, as in the variants' own fit.
        with seeded(self.seed, runtime.device(self.device)):
            # The descriptors decide the scope and are then what the variant clusters: computed once.
            descs = [describe_pixels(im, self.texture_sigma) for im in arrays]
            self.scope_ = choose_scope([d.coherence for d in descs]) if self.scope == "auto" else self.scope
            self.estimator_ = self.variant(self.scope_)._fit_described(images, arrays, descs)
        self.colour_coherence_ = self.estimator_.colour_coherence_
        self.labels_ = self.estimator_.labels_
        return self

    def predict(self, images):
        """Segment new images with the fitted variant (see :meth:`DeepFeatureBase.predict`)."""
        self._check_fitted("estimator_")
        return self.estimator_.predict(images)

    def __getattr__(self, name: str):
        # Only called for attributes not found normally: the fitted variant's own results.
        if name.endswith("_") and not name.startswith("__") and "estimator_" in self.__dict__:
            return getattr(self.__dict__["estimator_"], name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
