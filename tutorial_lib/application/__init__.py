"""The application: segment the background, find the foreground objects and classify them, with no labels.

Taught in notebook 05_foreground_background.

* :mod:`.foreground`: pixel flatness, the two mixtures learnt over the set (flat pixels, contrasting
  regions), region growing and the objects as connected components.
* :mod:`.crops`: each object's mask as a normalised grey crop for the recogniser.
* :mod:`.pipeline`: :class:`ObjectPipeline`, the estimator that chains them (``fit(images)`` on a set,
  ``predict(image)`` on a new one, ``save`` / ``tutorial_lib.load_model``), and :class:`SceneParse`,
  what it finds in one image.

Scoring the pipeline on a named set and writing its outputs live in
:mod:`tutorial_lib.evaluation.application`.
"""

from .crops import bounding_boxes, normalise_crop, object_crops
from .foreground import (
    Mixture1D,
    find_objects,
    flat_regions,
    flatness,
    grow_regions,
    keep_regions,
    region_contrast,
    region_spread,
    standout,
)
from .pipeline import FOREGROUND_METHODS, ObjectPipeline, SceneParse

__all__ = [
    "FOREGROUND_METHODS", "Mixture1D", "ObjectPipeline", "SceneParse", "bounding_boxes", "find_objects",
    "flat_regions", "flatness", "grow_regions", "keep_regions", "normalise_crop", "object_crops",
    "region_contrast", "region_spread", "standout",
]
