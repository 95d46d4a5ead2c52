"""Figures of the feature-learning section of viz: curves, image rows, embeddings, quality bars."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from tutorial_lib import viz  # noqa: E402
from tutorial_lib.train import History  # noqa: E402


def _history():
    return History(records=[{"epoch": 1, "loss": 2.0, "knn_acc": 0.8},
                            {"epoch": 2, "loss": 1.0, "knn_acc": 0.9}])


def test_plot_history_draws_loss_and_accuracy_on_two_axes():
    fig = viz.plot_history(_history(), keys=("loss", "knn_acc", "missing"))
    axes = fig.axes
    assert len(axes) == 2  # accuracy on a twin axis
    assert list(axes[0].lines[0].get_ydata()) == [2.0, 1.0]
    assert list(axes[1].lines[0].get_ydata()) == [0.8, 0.9]
    assert viz.plot_history(_history()).axes[0].get_xlabel() == "epoch"
    plt.close("all")


def test_image_rows_reconstructions_and_views():
    x = torch.rand(12, 1, 8, 8)
    fig = viz.plot_reconstructions(x, x.flip(-1), n=5)
    assert len(fig.axes) == 10 and fig.axes[0].get_ylabel() == "input"
    fig = viz.plot_views(x, [x, x], n=20)  # n capped at the number of images
    assert len(fig.axes) == 36
    with pytest.raises(ValueError):
        viz.image_rows({})
    plt.close("all")


def test_embedding_scatter_colours_each_label():
    xy = np.random.default_rng(0).normal(size=(30, 2))
    labels = np.repeat([0, 1, 2], 10)
    fig = viz.plot_embedding(xy, labels, classes=["a", "b", "c"], title="t")
    assert len(fig.axes[0].collections) == 3
    assert {t.get_text() for t in fig.axes[0].texts} == {"a", "b", "c"}
    fig = viz.plot_embeddings({"one": xy, "two": torch.tensor(xy)}, labels)
    assert [ax.get_title() for ax in fig.axes] == ["one", "two"]
    with pytest.raises(ValueError, match="N, 2"):
        viz.plot_embedding(np.zeros((4, 3)))
    plt.close("all")


def test_feature_quality_bars():
    reports = {"digits": {"pixels": {"knn_acc": 0.9}, "SimCLR": {"knn_acc": 0.95}},
               "mnist": {"pixels": {"knn_acc": 0.8}, "SimCLR": {"knn_acc": 0.97}}}
    fig = viz.plot_feature_quality(reports)
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 1) for p in ax.patches)
    assert heights == [80.0, 90.0, 95.0, 97.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["digits", "mnist"]
    plt.close("all")
