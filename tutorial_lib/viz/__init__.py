"""Figures for the notebooks, one module per lesson; every function returns the matplotlib Figure it drew.

Notebooks ``plt.show()`` the figure and tests inspect it.

* :mod:`.images`: image grids, before/after comparisons, labelled image rows (notebooks 00, 01).
* :mod:`.preprocessing`: histograms, pixel correlations, k-means scores per preprocessing (01).
* :mod:`.features`: training curves, reconstructions, views, embeddings, feature quality (02).
* :mod:`.clustering`: cluster gallery, matched confusion matrix, method scores (03).
* :mod:`.segmentation`: segment colours, overlays, segmentation grids and scores (04).

Old import paths keep working: ``from tutorial_lib import viz; viz.image_grid(...)``.
"""

from .clustering import plot_cluster_gallery, plot_confusion_matrix, plot_method_scores
from .features import (
    plot_embedding,
    plot_embeddings,
    plot_feature_quality,
    plot_history,
    plot_reconstructions,
    plot_views,
)
from .images import before_after, compare_grid, image_grid, image_rows
from .preprocessing import (
    compare_with_histograms,
    plot_histograms,
    plot_kmeans_comparison,
    plot_pixel_correlation,
)
from .scaling import plot_precision
from .segmentation import (
    match_to_truth,
    overlay_segments,
    plot_label_history,
    plot_segmentation,
    plot_segmentation_scores,
    plot_segmentations,
    segment_colours,
)

__all__ = [
    "before_after",
    "compare_grid",
    "compare_with_histograms",
    "image_grid",
    "image_rows",
    "match_to_truth",
    "overlay_segments",
    "plot_cluster_gallery",
    "plot_precision",
    "plot_confusion_matrix",
    "plot_embedding",
    "plot_embeddings",
    "plot_feature_quality",
    "plot_histograms",
    "plot_history",
    "plot_kmeans_comparison",
    "plot_label_history",
    "plot_method_scores",
    "plot_pixel_correlation",
    "plot_reconstructions",
    "plot_segmentation",
    "plot_segmentation_scores",
    "plot_segmentations",
    "plot_views",
    "segment_colours",
]
