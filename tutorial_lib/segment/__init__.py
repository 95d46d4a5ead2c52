"""Unsupervised segmentation: split an image into regions with no labels.

Taught in notebook 04_pixel_segmentation.

Every method is an estimator (:class:`tutorial_lib.base.Estimator`),
``Method(params, seed=0, device="auto", progress=False).fit_predict(image)``, that takes an image
(``(C, H, W)`` float in [0, 1], a torch tensor or a NumPy array; ``(H, W)`` is read as grey) or a batch
(``(N, C, H, W)`` or a list of ``(C, H, W)``) and returns an integer NumPy label map ``(H, W)`` with
consecutive labels ``0..K-1`` (a list of maps, or an ``(N, H, W)`` array, for a batch).

Methods, baselines first (``METHODS``), one module each:

* ``otsu``, ``kmeans_lab``, ``slic_kmeans``, ``felzenszwalb`` (:mod:`.classic`): Otsu's threshold,
  k-means on Lab colour, SLIC superpixels + k-means, Felzenszwalb and Huttenlocher's graph merging.
* ``kanezaki`` (:mod:`.kanezaki`): differentiable feature clustering (Kanezaki 2018; Kim, Kanezaki and
  Tanaka 2020): a small CNN trained *on the one image* so that its own argmax labels become both
  consistent in feature space and spatially continuous; optional user scribbles guide it.
* ``deep_features`` (:mod:`.deep_features`): per-pixel features from a CNN trained without labels on
  the whole image set (pseudo-labels from k-means on colour and texture descriptors), clustered over
  the set (textures, :class:`SetFeatureClustering` in :mod:`.deep_set`) or per image (flat-coloured
  objects, :class:`ImageFeatureClustering` in :mod:`.deep_image`), refined by a majority vote in SLIC
  superpixels.
* ``auto`` (:mod:`.auto`), the default: ``deep_features`` for textures and two-toned objects,
  ``rag-merge`` for everything else (photos first), chosen by the colour coherence and the two-tone ratio
  of the images themselves (:class:`AutoSegmentation`).
* ``rag-merge`` (:mod:`.hierarchy`): greedy region merging on the adjacency graph of an
  over-segmentation (Felzenszwalb's segments by default), by boundary and colour contrast; one merge
  threshold goes from fine to coarse, and :meth:`RegionMerging.labels_at` cuts one merge tree at several
  thresholds (the sweeps of the BSDS500 region benchmark).

The shared pieces: :mod:`.base` (image checks, :class:`Segmenter`), :mod:`.descriptors` (colour and
texture descriptors, k-means helpers, superpixels), :mod:`.deep_base` (what both deep variants share).
Scoring methods on named sets, timing and comparison tables live in
:mod:`tutorial_lib.evaluation.segmentation`.

The number of regions
---------------------
The benchmark is unsupervised: no method is told how many regions an image has. Methods that need
a number ``k`` take ``n_segments="auto"`` by default, which picks ``k`` in ``2..max_segments`` by the
silhouette score of the clustering (:func:`estimate_n_segments`); a fixed integer may be given
instead. Otsu always gives two regions, Felzenszwalb and the Kanezaki method decide by themselves.
"""

from __future__ import annotations

import warnings

from .auto import AutoSegmentation, choose_method, image_statistics, two_tone_ratio
from .base import MIN_SIDE, Segmenter, as_image, as_images, is_batch, pack_maps, relabel_consecutive
from .classic import ColourKMeans, Felzenszwalb, OtsuThreshold, SlicKMeans
from .deep_base import DeepFeatureBase
from .deep_features import DeepFeatureClustering, choose_scope
from .deep_image import FeatureNet, ImageFeatureClustering, PseudoLabelStep, random_crops
from .deep_set import PatchNet, PatchStep, SetFeatureClustering, pure_patches, standardise_image
from .descriptors import (
    LBP_SETTINGS,
    PixelDescriptors,
    cluster_pixels,
    coherent_colour,
    colour_coherence,
    colour_features,
    describe_pixels,
    drop_small_segments,
    estimate_n_segments,
    grey,
    kmeans,
    smooth_features,
    superpixel_vote,
    superpixels,
    texture_features,
)
from .hierarchy import MergeTree, RegionMerging, merge_tree
from .kanezaki import (
    DifferentiableFeatureClustering,
    PixelNet,
    check_scribbles,
    continuity_loss,
    scribbles_at,
    similarity_loss,
    standardise_channels,
    working_size,
)

METHODS: dict[str, type[Segmenter]] = {
    "otsu": OtsuThreshold,
    "kmeans_lab": ColourKMeans,
    "slic_kmeans": SlicKMeans,
    "felzenszwalb": Felzenszwalb,
    "kanezaki": DifferentiableFeatureClustering,
    "deep_features": DeepFeatureClustering,
    "rag-merge": RegionMerging,
    "auto": AutoSegmentation,
}
"""Method name -> estimator class, baselines first (the order of the benchmark tables). Every class
takes ``seed``, ``device`` and ``progress``."""

DEFAULT_METHOD = "auto"
"""The default: :class:`AutoSegmentation`, which picks ``deep_features`` or ``rag-merge`` by a label-free rule
on the images (the best method of each kind of set in bench/results/segmentation_*.md)."""

_MOVED = ("evaluate", "make_method", "PHOTOS", "BSDS_SIZE", "photo", "time_photo", "compare_methods",
          "results_table")
"""Names that moved to :mod:`tutorial_lib.evaluation.segmentation` (still readable here, with a warning)."""


def __getattr__(name: str):
    """The evaluation helpers that used to live here, imported lazily from their new home.

    Methods never import the evaluation layer; old code such as ``segment.evaluate(...)`` keeps
    working, with a ``DeprecationWarning`` naming the new import.
    """
    if name in _MOVED:
        warnings.warn(f"tutorial_lib.segment.{name} moved to tutorial_lib.evaluation.segmentation.{name}; "
                      "import it from there", DeprecationWarning, stacklevel=2)
        from ..evaluation import segmentation

        return getattr(segmentation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [  # the moved evaluation names are left out: a star import must not warn
    "AutoSegmentation", "ColourKMeans", "DEFAULT_METHOD", "DeepFeatureBase", "DeepFeatureClustering",
    "DifferentiableFeatureClustering", "FeatureNet", "Felzenszwalb", "ImageFeatureClustering",
    "LBP_SETTINGS", "METHODS", "MIN_SIDE", "MergeTree", "OtsuThreshold", "PatchNet", "PatchStep",
    "PixelDescriptors", "PixelNet", "PseudoLabelStep", "RegionMerging", "Segmenter", "SetFeatureClustering",
    "SlicKMeans", "as_image", "as_images", "check_scribbles", "choose_method", "choose_scope",
    "cluster_pixels", "coherent_colour", "colour_coherence", "colour_features", "continuity_loss",
    "describe_pixels", "drop_small_segments", "estimate_n_segments", "grey", "image_statistics", "is_batch",
    "kmeans", "merge_tree", "pack_maps",
    "pure_patches", "random_crops", "relabel_consecutive", "scribbles_at", "similarity_loss",
    "smooth_features", "standardise_channels", "standardise_image", "superpixel_vote", "superpixels",
    "texture_features", "two_tone_ratio", "working_size",
]
