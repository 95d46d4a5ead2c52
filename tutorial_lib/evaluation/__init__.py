"""The evaluation layer: methods scored on named sets, comparisons, timing and tables.

What ``python -m tutorial_lib cluster|segment|bench``, the demo and the notebooks call to measure a
method. Methods never import this package; it imports them.

* :mod:`~tutorial_lib.evaluation.clustering`: the split rules, ``make_estimator``, ``evaluate`` (notebook 03).
* :mod:`~tutorial_lib.evaluation.segmentation`: ``make_method``, ``evaluate``, ``compare_methods``, photos
  and their timing (notebook 04).
* :mod:`~tutorial_lib.evaluation.regions`: ``evaluate_regions``, the BSDS500 region benchmark of a method
  over a sweep of its scale, at ODS and OIS (notebook 04).
* :mod:`~tutorial_lib.evaluation.preprocessing`: ``compare_on_kmeans`` (notebook 01).
* :mod:`~tutorial_lib.evaluation.tables`: medians over seeds and Markdown tables (the benchmarks).
* :mod:`~tutorial_lib.evaluation.outputs`: the files a user keeps (assignments.csv, clusters.png,
  summary.json, label maps and overlays).

Each takes ``fast=True`` for the small training budgets the tests and fast mode use; none reads the
environment.
"""

from . import clustering, preprocessing, regions, segmentation, tables

__all__ = ["clustering", "preprocessing", "regions", "segmentation", "tables"]
