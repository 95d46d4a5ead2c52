"""The precision panel of notebook 06_scaling_up: a 16-bit format and a loss scale against real gradients."""

from __future__ import annotations

import functools

import ipywidgets as widgets
import torch

from .. import viz
from ..scaling.precision import FORMATS, cast_report
from .panel import Panel


def precision_view(values: torch.Tensor, fmt: str = "float16", scale_log2: int = 0,
                   draw: bool = True) -> dict:
    """Cast gradient entries, multiplied by the loss scale :math:`S = 2^{k}`, to a format; what is lost.

    The callback of :func:`precision_panel`.

    Parameters
    ----------
    values : Tensor, any shape
        Gradient entries (e.g. :func:`tutorial_lib.scaling.precision.gradient_values`).
    fmt : {"float16", "bfloat16", "float32"}
    scale_log2 : int
        :math:`k` of the loss scale :math:`S = 2^k` (PyTorch's gradient scaler starts at :math:`2^{16}`).
    draw : bool

    Returns
    -------
    dict
        :func:`~tutorial_lib.scaling.precision.cast_report`'s entries, ``summary`` and ``figure``.
    """
    report = cast_report(values, fmt, 2.0 ** scale_log2)
    summary = (f"{fmt}, S = 2^{scale_log2}: <b>{100 * report['underflow']:.2f} %</b> of {report['n']:,} "
               f"gradient entries become 0, {100 * report['overflow']:.2f} % become inf; median relative "
               f"error of the rest {report['rel_error']:.1e}")
    figure = viz.plot_precision(values, report) if draw else None
    return {**report, "summary": summary, "figure": figure}


def precision_panel(values: torch.Tensor) -> Panel:
    """Pick a format and a loss scale; see which gradient entries survive the cast.

    Returns
    -------
    Panel
        ``controls`` keys: ``fmt``, ``scale_log2``; ``result`` is the last :func:`precision_view` dict.
    """
    controls = {
        "fmt": widgets.Dropdown(options=list(FORMATS), value="float16", description="format"),
        "scale_log2": widgets.IntSlider(value=0, min=0, max=24, step=1, description="log2 S",
                                        continuous_update=False),
    }
    return Panel(controls, functools.partial(precision_view, values), title="Gradients in 16 bits")
