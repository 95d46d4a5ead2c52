"""The segmentation panel: the Kanezaki method's settings, a Run button, the segmentation and its curves.

Taught in notebook 04_pixel_segmentation.
"""

from __future__ import annotations

import time

import ipywidgets as widgets

from .. import viz
from ..metrics import segmentation_scores
from .panel import RunPanel, figure_png


def segmentation_view(image, gt=None, *, max_iter: int = 100, min_labels: int = 3, mu: float = 5.0,
                      n_channels: int = 32, seed: int = 0, draw: bool = True, **params) -> dict:
    """Segment one image with the Kanezaki method (differentiable feature clustering) and show it.

    The callback of :func:`segmentation_panel`; call it directly for the same result without widgets.

    Parameters
    ----------
    image : Tensor or array, shape (C, H, W), float in [0, 1]
    gt : array or Tensor, shape (H, W), int, optional
        Ground truth: adds the matched mIoU and pixel accuracy and a ground-truth panel.
    max_iter, min_labels, mu, n_channels, seed
        The settings of :class:`tutorial_lib.segment.DifferentiableFeatureClustering`.
    draw : bool
    **params
        Other settings of the method (e.g. ``max_pixels``).

    Returns
    -------
    dict with ``labels`` (ndarray (H, W)), ``n_segments``, ``n_iter``, ``seconds``, ``history``
    (loss and number of labels per iteration), ``miou`` and ``pixel_acc`` (with ``gt``), ``summary``,
    ``figure`` (Figure or None).
    """
    from .. import segment  # lazily: importing the widgets does not load the segmentation methods

    seg = segment.DifferentiableFeatureClustering(n_channels=int(n_channels), max_iter=int(max_iter),
                                                  min_labels=int(min_labels), mu=float(mu), seed=int(seed),
                                                  **params)
    start = time.perf_counter()
    labels = seg.fit_predict(image)
    seconds = time.perf_counter() - start
    out = {"labels": labels, "n_segments": int(labels.max()) + 1, "n_iter": seg.n_iter_[0],
           "seconds": seconds, "history": seg.history_[0]}
    out["summary"] = (f"{out['n_segments']} segments after {out['n_iter']} iterations "
                      f"({seconds:.1f} s)")
    if gt is not None:
        out.update(segmentation_scores(labels, gt))
        out["summary"] += f"; mIoU {out['miou']:.3f}, pixel accuracy {out['pixel_acc']:.3f}"
    out["figure"] = viz.plot_segmentation(image, labels, gt, out["history"]) if draw else None
    return out


class SegmentationPanel(RunPanel):
    """Settings of the Kanezaki method, a Run button and the segmentation; built by
    :func:`segmentation_panel`.

    Attributes
    ----------
    controls : dict str -> widget
        ``max_iter``, ``min_labels``, ``mu``, ``n_channels``, ``seed``.
    button : ipywidgets.Button
    result : dict
        The last :func:`segmentation_view` result; empty before the first run.
    image, status : ipywidgets.Image, ipywidgets.HTML
    """

    def __init__(self, image, gt, controls: dict, params: dict, title: str):
        self.source, self.gt, self.params = image, gt, dict(params)
        super().__init__(controls, title, button="Run")

    def _clicked(self) -> None:
        self.run()

    def run(self) -> dict:
        """What the button does: segment with the current settings and redraw."""
        values = self.values()
        self.result = self._guarded(lambda: segmentation_view(self.source, self.gt, **values, **self.params),
                                    busy="running...", failed="segmentation failed")
        self.image.value = figure_png(self.result["figure"])
        self.status.value = self.result["summary"]
        return self.result


def segmentation_panel(image, gt=None, *, max_iter: int = 100, min_labels: int = 3, mu: float = 5.0,
                       n_channels: int = 32, seed: int = 0, title: str = "Differentiable feature clustering",
                       **params) -> SegmentationPanel:
    """A panel for the Kanezaki method: iterations, minimum number of labels, continuity weight,
    feature channels, seed, a Run button, and the segmentation redrawn after each run.

    Nothing runs until the button is pressed (each run trains a network, a few seconds).

    Parameters
    ----------
    image : Tensor or array, shape (C, H, W), float in [0, 1]
    gt : array or Tensor, shape (H, W), int, optional
        Ground truth, for the mIoU in the summary.
    max_iter, min_labels, mu, n_channels, seed
        Starting values of the controls (see :func:`segmentation_view`).
    title : str
    **params
        Fixed settings of the method.

    Returns
    -------
    SegmentationPanel
        ``panel.run()`` does what the button does.
    """
    style = {"description_width": "initial"}
    controls = {
        "max_iter": widgets.IntSlider(value=max_iter, min=5, max=500, step=5, description="iterations",
                                      style=style, continuous_update=False),
        "min_labels": widgets.IntSlider(value=min_labels, min=1, max=12, description="min labels",
                                        style=style, continuous_update=False),
        "mu": widgets.FloatSlider(value=mu, min=0.0, max=20.0, step=0.5, description="continuity μ",
                                  style=style, continuous_update=False),
        "n_channels": widgets.IntSlider(value=n_channels, min=4, max=100, step=4, style=style,
                                        description="feature channels", continuous_update=False),
        "seed": widgets.IntText(value=seed, description="seed"),
    }
    return SegmentationPanel(image, gt, controls, params, title)
