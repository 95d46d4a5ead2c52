"""The training panel: learning rate, epochs, encoder depth and activation, a Train button, live curves.

Taught in notebook 02_feature_learning (SimCLR and the autoencoder) and reused in
03_clustering_classification (SCAN, through :func:`tutorial_lib.widgets.train_scan`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import ipywidgets as widgets
import torch

from .. import viz
from ..train import TrainingInterrupted
from .panel import RunPanel, figure_png

ACTIVATION_CHOICES = ("relu", "leaky_relu", "gelu", "silu", "elu", "tanh")


def _history_summary(history, seconds: float) -> str:
    """One line on a finished training: epochs, time, first and last loss, last monitored values."""
    if not len(history):
        return "no epoch trained"
    last = history.records[-1]
    extras = "".join(f", {k} {last[k]:.3f}" for k in history.keys()
                     if k not in ("epoch", "loss", "lr", "seconds") and k in last)
    flag = " (interrupted)" if history.interrupted else ""
    return (f"{len(history)} epochs in {seconds:.1f} s{flag}: loss {history.losses[0]:.4g} → "
            f"{history.losses[-1]:.4g}{extras}")


def train_view(train_fn: Callable, images: torch.Tensor, *, lr: float = 1e-3, epochs: int = 10,
               depth: int = 3, activation: str = "relu", plot_keys=("loss",),
               on_epoch: Callable | None = None, draw: bool = True, **train_kwargs) -> dict:
    """Train a model with the given settings and return it with its curves (the training panel's work).

    Parameters
    ----------
    train_fn : callable
        ``train_fn(images, *, lr, epochs, depth, activation, progress, on_epoch_end, **train_kwargs)
        -> (model, history)``, e.g. ``features.train_simclr`` or ``features.train_autoencoder``.
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    lr, epochs, depth, activation
        The settings the panel exposes.
    plot_keys : sequence of str
        History quantities to plot (``"loss"``, ``"knn_acc"``, ``"acc"``...).
    on_epoch : callable ``(history) -> None``, optional
        Called after each epoch (the panel redraws its live plot there).
    draw : bool
        Build the final figure.
    **train_kwargs
        Passed on to ``train_fn`` (e.g. ``monitor_labels=labels``, ``width=16``).

    Returns
    -------
    dict
        ``model`` (None when training was interrupted), ``history``, ``seconds``, ``summary`` (one
        line, saying "(interrupted)" when it was) and ``figure`` (or None).
    """

    def each_epoch(epoch, model, history):
        if on_epoch is not None:
            on_epoch(history)

    start = time.perf_counter()
    try:
        model, history = train_fn(images, lr=lr, epochs=epochs, depth=depth, activation=activation,
                                  progress=False, on_epoch_end=each_epoch, **train_kwargs)
    except TrainingInterrupted as stop:
        # Jupyter's stop button: show the epochs trained so far; there is no finished model.
        model, history = None, stop.history
    seconds = time.perf_counter() - start
    figure = viz.plot_history(history, keys=plot_keys) if draw else None
    return {"model": model, "history": history, "seconds": seconds, "figure": figure,
            "summary": _history_summary(history, seconds)}


class TrainingPanel(RunPanel):
    """Training settings, a Train button and a live loss plot; built by :func:`training_panel`.

    Attributes
    ----------
    controls : dict str -> widget
        ``lr``, ``epochs``, ``depth``, ``activation`` (and ``method`` when several trainers are given).
    button : ipywidgets.Button
    result : dict
        The last :func:`train_view` result (``model``, ``history``, ...); empty before training.
    image, status : ipywidgets.Image, ipywidgets.HTML
        The live plot and the summary line.
    """

    def __init__(self, trainers: dict, images: torch.Tensor, controls: dict, plot_keys, train_kwargs: dict,
                 title: str):
        self.trainers, self.images = trainers, images
        self.plot_keys, self.train_kwargs = tuple(plot_keys), dict(train_kwargs)
        super().__init__(controls, title, button="Train", image_width="480px")

    def _clicked(self) -> None:
        self.train()

    def _draw(self, history) -> None:
        self.image.value = figure_png(viz.plot_history(history, keys=self.plot_keys), dpi=80)

    def _live(self, history) -> None:
        self._draw(history)
        total = self.controls["epochs"].value
        self.status.value = f"epoch {len(history)} / {total}: loss {history.losses[-1]:.4g}"

    def train(self) -> dict:
        """What the button does: train with the current settings, drawing the curves after each epoch."""
        values = self.values()
        train_fn = self.trainers[values.pop("method", next(iter(self.trainers)))]
        self.result = self._guarded(
            lambda: train_view(train_fn, self.images, plot_keys=self.plot_keys, on_epoch=self._live,
                               draw=False, **values, **self.train_kwargs),
            busy="training...", failed="training failed")
        self._draw(self.result["history"])
        self.status.value = self.result["summary"]
        return self.result


def training_panel(train_fn: Callable | dict, images: torch.Tensor, *, lr: float = 2e-3, epochs: int = 10,
                   depth: int = 2, activation: str = "relu", max_epochs: int = 100, plot_keys=("loss",),
                   title: str = "Training", **train_kwargs) -> TrainingPanel:
    """A training panel: learning rate, epochs, encoder depth, activation, a Train button, a live loss plot.

    Nothing is trained until the button is pressed; each epoch redraws the curves.

    Parameters
    ----------
    train_fn : callable or dict of name -> callable
        A trainer with the :func:`train_view` signature; with a dict, a ``method`` dropdown picks one.
    images : Tensor, shape (N, C, H, W), float in [0, 1]
        Training images.
    lr, epochs, depth, activation
        Starting values of the controls.
    max_epochs : int
        Upper end of the epochs slider.
    plot_keys : sequence of str
        Quantities drawn live, e.g. ``("loss", "knn_acc")``.
    title : str
    **train_kwargs
        Fixed arguments passed to the trainer (e.g. ``monitor_labels=labels``, ``width=16``).

    Returns
    -------
    TrainingPanel
        ``panel.train()`` does what the button does; ``panel.result["model"]`` is the last model.

    Examples
    --------
    >>> panel = training_panel({"SimCLR": features.train_simclr}, images, monitor_labels=labels,
    ...                        plot_keys=("loss", "knn_acc"))                      # doctest: +SKIP
    """
    if isinstance(train_fn, dict):
        trainers = dict(train_fn)
    else:
        trainers = {getattr(train_fn, "__name__", "model"): train_fn}
    if not trainers:
        raise ValueError("training_panel needs at least one trainer")
    style = {"description_width": "initial"}
    controls = {
        "lr": widgets.FloatLogSlider(value=lr, base=10, min=-4, max=-1, step=0.25, style=style,
                                     description="learning rate", readout_format=".1e",
                                     continuous_update=False),
        "epochs": widgets.IntSlider(value=epochs, min=1, max=max(max_epochs, epochs), description="epochs",
                                    continuous_update=False),
        "depth": widgets.IntSlider(value=depth, min=1, max=4, description="encoder depth", style=style,
                                   continuous_update=False),
        "activation": widgets.Dropdown(options=ACTIVATION_CHOICES, value=activation,
                                       description="activation"),
    }
    if len(trainers) > 1:
        controls["method"] = widgets.Dropdown(options=list(trainers), description="method")
    return TrainingPanel(trainers, images, controls, plot_keys, train_kwargs, title)
