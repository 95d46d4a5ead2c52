"""Figures of notebook 06_scaling_up: where gradients fall in a 16-bit format's range."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure


def plot_precision(values: torch.Tensor, report: dict, ax=None) -> Figure:
    """Histogram of :math:`\\log_{10} |S g|` for the gradient entries ``g``, with the format's range.

    Parameters
    ----------
    values : Tensor, any shape
        Gradient entries (zeros are left out).
    report : dict
        :func:`tutorial_lib.scaling.precision.cast_report` of the same values (format, scale, limits,
        shares lost).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    v = values.detach().double().flatten()
    logs = np.log10((v[v != 0].abs() * report["scale"]).numpy())
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7.5, 2.8))
    lo, hi = np.log10(report["tiny"]), np.log10(report["max"])
    left, right = min(logs.min(), lo) - 1, max(logs.max(), min(hi, logs.max() + 3)) + 1
    ax.hist(logs, bins=80, range=(left, right), color="#4c72b0")
    ax.axvspan(left, lo, color="#d62728", alpha=0.15, label=f"becomes 0 in {report['fmt']}")
    if hi < right:
        ax.axvspan(hi, right, color="#ff7f0e", alpha=0.2, label="becomes inf")
    ax.set_xlim(left, right)
    ax.set_xlabel(r"$\log_{10}\,|S\,g|$  (S: loss scale, g: a gradient entry)")
    ax.set_ylabel("gradient entries")
    ax.set_title(f"{report['fmt']}, S = {report['scale']:g}: {100 * report['underflow']:.2f} % become 0, "
                 f"{100 * report['overflow']:.2f} % inf", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
