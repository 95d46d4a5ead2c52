"""Figures: image grids, before/after comparisons, cluster galleries, embeddings, confusion
matrices, segmentation overlays and training curves. Every function returns the matplotlib
Figure it drew, so notebooks can ``plt.show()`` it and tests can inspect it."""

from __future__ import annotations

import matplotlib.pyplot as plt  # noqa: F401

# --- images and preprocessing ------------------------------------------------------------------

# --- feature learning and clustering -----------------------------------------------------------

def plot_history(history, keys=("loss",), ax=None, title: str | None = None):
    """Training curves: each quantity in ``keys`` against epoch, from a ``train.History``.

    Parameters
    ----------
    history : train.History or dict of lists
        Per-epoch records (``history["loss"]`` gives the list of losses).
    keys : sequence of str
        Quantities to draw; those never recorded are skipped. A key containing ``acc`` goes on a
        second y-axis on the right, so losses and accuracies share one panel.
    ax : matplotlib Axes or None
        Draw into this Axes (e.g. a live panel) instead of a new figure.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.2))
    else:
        fig = ax.figure
    right = None
    for key in keys:
        values = list(history[key]) if key in _history_keys(history) else []
        if not values:
            continue
        epochs = ([r["epoch"] for r in history.records if key in r] if hasattr(history, "records")
                  else range(1, len(values) + 1))
        target = ax
        if "acc" in key:
            right = right or ax.twinx()
            target = right
        target.plot(list(epochs), values, marker="o", ms=3, label=key,
                    color=f"C{list(keys).index(key)}")
        target.set_ylabel(key if target is right else "loss")
    ax.set_xlabel("epoch")
    handles = [h for a in (ax, right) if a is not None for h in a.get_legend_handles_labels()[0]]
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _history_keys(history) -> list[str]:
    return history.keys() if hasattr(history, "records") else list(history)


# --- segmentation ------------------------------------------------------------------------------
