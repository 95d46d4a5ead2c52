"""The application panel: the foreground method and threshold, the minimum object size and the number of
classes, a Run button, and one scene's overlay redrawn after each run.

Taught in notebook 05_foreground_background.
"""

from __future__ import annotations

import time

import ipywidgets as widgets

from .panel import RunPanel, figure_png


def application_view(images, masks=None, *, index: int = 0, foreground: str = "flat-contrast",
                     threshold: float = 0.5, min_size: int = 60, n_clusters: int | str = 10,
                     clusterer: str = "pca-kmeans", seed: int = 0, draw: bool = True, **params) -> dict:
    """Fit :class:`tutorial_lib.application.ObjectPipeline` on ``images``, predict them, draw one scene.

    The callback of :func:`application_panel`; call it directly for the same result without widgets.

    Parameters
    ----------
    images : list of Tensor (C, H, W), float in [0, 1]
        The set the pipeline learns from (no labels) and is applied to.
    masks : list of (H, W) int, optional
        Class masks (0 = background, c + 1 = class c): adds the scores to the result and the summary.
    index : int
        The scene drawn.
    foreground, threshold, min_size, n_clusters, clusterer, seed
        Settings of the pipeline (see :class:`~tutorial_lib.application.ObjectPipeline`).
    draw : bool
    **params
        Other settings of the pipeline (``denoise``, ``max_share``...).

    Returns
    -------
    dict with ``model`` (the fitted pipeline), ``parses`` (a SceneParse per image), ``n_objects``,
    ``seconds`` (fit and predict), the scores of
    :func:`tutorial_lib.evaluation.application.score` (with ``masks``: ``foreground_iou``,
    ``object_recall``, ``object_precision``, ``object_acc``...), ``summary`` and ``figure`` (Figure or
    None: the overlay of scene ``index``).
    """
    from ..application import ObjectPipeline
    from ..evaluation.application import overlay, score

    model = ObjectPipeline(foreground=foreground, threshold=float(threshold), min_size=int(min_size),
                           n_clusters=n_clusters if n_clusters == "auto" else int(n_clusters),
                           clusterer=clusterer, seed=int(seed), **params)
    start = time.perf_counter()
    parses = model.fit(images).predict(images)
    out = {"model": model, "parses": parses, "n_objects": int(sum(len(p) for p in parses)),
           "seconds": time.perf_counter() - start}
    out["summary"] = (f"{out['n_objects']} objects in {len(images)} images, {model.n_clusters_} classes "
                      f"({out['seconds']:.1f} s)")
    if masks is not None:
        out.update(score(parses, masks))
        out["summary"] += (f"; foreground IoU {out['foreground_iou']:.3f}, object recall "
                           f"{out['object_recall']:.3f}, precision {out['object_precision']:.3f}, "
                           f"accuracy {out['object_acc']:.3f}")
    out["figure"] = overlay(images[index], parses[index]) if draw else None
    return out


class ApplicationPanel(RunPanel):
    """Settings of the application pipeline, a Run button and a scene's overlay; built by
    :func:`application_panel`.

    Attributes
    ----------
    controls : dict str -> widget
        ``foreground``, ``threshold``, ``min_size``, ``n_clusters``, ``index``.
    button : ipywidgets.Button
    result : dict
        The last :func:`application_view` result; empty before the first run.
    image, status : ipywidgets.Image, ipywidgets.HTML
    """

    def __init__(self, images, masks, controls: dict, params: dict, title: str):
        self.images, self.masks, self.params = images, masks, dict(params)
        super().__init__(controls, title, button="Run")

    def _clicked(self) -> None:
        self.run()

    def run(self) -> dict:
        """What the button does: fit and predict with the current settings, redraw."""
        values = {**self.values(), **self.params}
        self.result = self._guarded(lambda: application_view(self.images, self.masks, **values),
                                    busy="fitting...", failed="the pipeline failed")
        self.image.value = figure_png(self.result["figure"])
        self.status.value = self.result["summary"]
        return self.result


def application_panel(images, masks=None, *, index: int = 0, foreground: str = "flat-contrast",
                      threshold: float = 0.5, min_size: int = 60, n_clusters: int = 10,
                      title: str = "Foreground objects and background regions", **params) -> ApplicationPanel:
    """A panel for the application: foreground method and threshold, minimum object size, number of
    classes, the scene shown, a Run button, and the overlay redrawn after each run.

    Nothing runs until the button is pressed (each run fits the pipeline on ``images``: seconds).

    Parameters
    ----------
    images : list of Tensor (C, H, W), float in [0, 1]
    masks : list of (H, W) int, optional
        Class masks, for the scores in the summary.
    index, foreground, threshold, min_size, n_clusters
        Starting values of the controls (see :func:`application_view`).
    title : str
    **params
        Fixed settings of the pipeline (``clusterer``, ``denoise``, ``seed``...).

    Returns
    -------
    ApplicationPanel
        ``panel.run()`` does what the button does.
    """
    from ..application import FOREGROUND_METHODS

    style = {"description_width": "initial"}
    controls = {
        "foreground": widgets.Dropdown(options=list(FOREGROUND_METHODS), value=foreground,
                                       description="foreground", style=style),
        "threshold": widgets.FloatSlider(value=threshold, min=0.05, max=0.95, step=0.05, style=style,
                                         description="flat posterior ≥", continuous_update=False),
        "min_size": widgets.IntSlider(value=min_size, min=5, max=400, step=5, description="min object px",
                                      style=style, continuous_update=False),
        "n_clusters": widgets.IntSlider(value=n_clusters, min=2, max=20, description="classes", style=style,
                                        continuous_update=False),
        "index": widgets.IntSlider(value=index, min=0, max=max(len(images) - 1, 0), description="scene",
                                   style=style, continuous_update=False),
    }
    return ApplicationPanel(list(images), None if masks is None else list(masks), controls, params, title)
