"""Scores for unsupervised results: clusterings of images and segmentations of pixels.

Taught in notebooks 03_clustering_classification (:mod:`.clustering`) and 04_pixel_segmentation
(:mod:`.segmentation`; :mod:`.regions`, the BSDS500 region benchmark at ODS and OIS), and
05_foreground_background (:mod:`.objects`: foreground IoU, object recall, precision and accuracy).

Every score is invariant to a renaming of the predicted labels: accuracy-type scores first match
predicted clusters (or segments) to true classes with the Hungarian algorithm, the others (NMI,
ARI, Rand, VOI) ignore names. See the two modules for the matching protocols. Old import paths
keep working: ``from tutorial_lib import metrics; metrics.cluster_acc(...)``.
"""

from .clustering import (
    UNMATCHED,
    ari,
    cluster_acc,
    clustering_scores,
    format_precision_recall,
    match_clusters,
    matched_confusion,
    neighbour_purity,
    nmi,
    per_class_precision_recall,
    relabel,
)
from .objects import foreground_iou, match_objects, object_scores
from .regions import BENCHMARK_KEYS, RegionScorer, RegionSweep, region_benchmark, region_scores, region_sweep
from .segmentation import (
    probabilistic_rand_index,
    segmentation_covering,
    segmentation_report,
    segmentation_scores,
    variation_of_information,
)

__all__ = [
    "BENCHMARK_KEYS",
    "RegionScorer",
    "RegionSweep",
    "UNMATCHED",
    "ari",
    "cluster_acc",
    "clustering_scores",
    "neighbour_purity",
    "foreground_iou",
    "format_precision_recall",
    "match_clusters",
    "match_objects",
    "matched_confusion",
    "nmi",
    "object_scores",
    "per_class_precision_recall",
    "probabilistic_rand_index",
    "region_benchmark",
    "region_scores",
    "region_sweep",
    "relabel",
    "segmentation_covering",
    "segmentation_report",
    "segmentation_scores",
    "variation_of_information",
]
