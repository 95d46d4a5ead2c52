"""Interactive panels for the notebooks, one module per lesson.

Each panel only wires ipywidgets controls to a plain, tested function (``*_view``) that returns
what it computed, a ``summary`` and a ``figure``; see :mod:`.panel` for how to write one.

* :mod:`.panel`: :class:`Panel` (recompute on every change), :class:`RunPanel` (a button) and helpers.
* :mod:`.overview`: the dataset browser (notebook 00).
* :mod:`.preprocessing`: noise/denoise and contrast explorers (01).
* :mod:`.training`: the training panel (02, 03).
* :mod:`.clustering`: the cluster explorer and :func:`train_scan` (03).
* :mod:`.segmentation`: the Kanezaki segmentation panel (04).
* :mod:`.application`: the application panel (05).
* :mod:`.scaling`: the precision panel (06).

Old import paths keep working: ``from tutorial_lib import widgets; widgets.denoise_panel(image)``.
"""

from .application import ApplicationPanel, application_panel, application_view
from .clustering import CLUSTER_METHODS, cluster_panel, cluster_view, train_scan
from .overview import BROWSABLE, dataset_panel, dataset_view
from .panel import Panel, RunPanel, control_rows, figure_png, param_follows_method
from .preprocessing import (
    CONTRAST_PARAMS,
    DENOISE_PARAMS,
    contrast_panel,
    contrast_view,
    denoise_panel,
    denoise_view,
)
from .scaling import precision_panel, precision_view
from .segmentation import SegmentationPanel, segmentation_panel, segmentation_view
from .training import ACTIVATION_CHOICES, TrainingPanel, train_view, training_panel

__all__ = [
    "ACTIVATION_CHOICES",
    "ApplicationPanel",
    "BROWSABLE",
    "CLUSTER_METHODS",
    "CONTRAST_PARAMS",
    "DENOISE_PARAMS",
    "Panel",
    "RunPanel",
    "SegmentationPanel",
    "TrainingPanel",
    "application_panel",
    "application_view",
    "cluster_panel",
    "cluster_view",
    "contrast_panel",
    "contrast_view",
    "control_rows",
    "dataset_panel",
    "dataset_view",
    "denoise_panel",
    "denoise_view",
    "figure_png",
    "param_follows_method",
    "precision_panel",
    "precision_view",
    "segmentation_panel",
    "segmentation_view",
    "train_scan",
    "train_view",
    "training_panel",
]
