"""Figures: image grids, before/after comparisons, cluster galleries, embeddings, confusion
matrices, segmentation overlays and training curves. Every function returns the matplotlib
Figure it drew, so notebooks can ``plt.show()`` it and tests can inspect it."""

from __future__ import annotations

import matplotlib.pyplot as plt  # noqa: F401

# --- images and preprocessing ------------------------------------------------------------------

# --- feature learning and clustering -----------------------------------------------------------

# --- segmentation ------------------------------------------------------------------------------
