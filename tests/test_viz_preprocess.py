"""Tests for the images-and-preprocessing figures in tutorial_lib.viz."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tutorial_lib import viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _shown(ax) -> np.ndarray:
    return np.asarray(ax.images[0].get_array())


def test_image_grid_layout_titles_and_colour():
    grey = torch.rand(10, 1, 8, 8)
    fig = viz.image_grid(grey, ncols=4, titles=[str(i) for i in range(10)], title="digits")
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert len(axes) == 12  # 3 rows of 4; the last two switched off
    assert [a.get_title() for a in axes[:10]] == [str(i) for i in range(10)]
    assert not axes[-1].axison and not axes[-1].images
    assert np.allclose(_shown(axes[3]), grey[3, 0].numpy())
    rgb = viz.image_grid(torch.rand(2, 3, 5, 6))
    assert _shown(rgb.axes[0]).shape == (5, 6, 3)
    # Images of different sizes, as a list.
    mixed = viz.image_grid([torch.rand(1, 4, 4), torch.rand(3, 9, 7)])
    assert _shown(mixed.axes[1]).shape == (9, 7, 3)


def test_image_grid_rescales_only_out_of_range_images():
    z = torch.tensor([[-2.0, 0.0], [2.0, 6.0]]).view(1, 1, 2, 2)
    shown = _shown(viz.image_grid(z).axes[0])
    assert shown.min() == 0.0 and shown.max() == 1.0 and np.isclose(shown[0, 1], 0.25)
    unit = torch.tensor([[0.2, 0.4], [0.6, 0.8]]).view(1, 1, 2, 2)
    assert np.allclose(_shown(viz.image_grid(unit).axes[0]), unit[0, 0].numpy())
    assert np.allclose(_shown(viz.image_grid(unit, rescale=True).axes[0]).max(), 1.0)


def test_image_grid_errors():
    with pytest.raises(ValueError, match="at least one"):
        viz.image_grid(torch.rand(0, 1, 4, 4))
    with pytest.raises(ValueError, match="titles"):
        viz.image_grid(torch.rand(3, 1, 4, 4), titles=["a"])


def test_compare_grid_and_before_after():
    a, b, c = torch.rand(2, 1, 6, 6), torch.rand(2, 1, 6, 6), torch.rand(2, 1, 6, 6)
    fig = viz.compare_grid({"clean": a, "noisy": b, "denoised": c}, row_titles=["x", "y"],
                           captions={"denoised": ["PSNR 30", "PSNR 20"]})
    axes = np.array(fig.axes).reshape(2, 3)
    assert axes[0, 0].get_title() == "clean" and axes[0, 2].get_title() == "denoised\nPSNR 30"
    assert axes[1, 2].get_title() == "PSNR 20" and axes[1, 0].get_ylabel() == "y"
    assert np.allclose(_shown(axes[1, 1]), b[1, 0].numpy())
    with pytest.raises(ValueError, match="same number"):
        viz.compare_grid({"a": a, "b": b[:1]})
    ba = viz.before_after(a, c, labels=("raw", "blurred"), captions=(["1", "2"], ["3", "4"]))
    assert [ax.get_title() for ax in ba.axes] == ["raw\n1", "blurred\n3", "2", "4"]


def test_plot_histograms_and_contrast_figure():
    dark = torch.rand(1, 1, 32, 32) * 0.3
    fig = viz.plot_histograms({"dark": dark, "bright": 1 - dark}, bins=10)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["dark", "bright"]
    # The dark image's cumulative curve reaches 1 by intensity 0.3.
    cdf = fig.axes[1].lines[0].get_ydata()
    assert np.isclose(cdf[2], 1.0) and np.isclose(cdf[-1], 1.0)
    assert len(viz.plot_histograms({"x": dark}, cdf=False).axes) == 1
    cmp = viz.compare_with_histograms(dark, 1 - dark, ("before", "after"))
    assert [a.get_title() for a in cmp.axes[:2]] == ["before", "after"]
    assert len(cmp.axes) == 4  # two images, the histogram and its cumulative twin axis


def test_plot_kmeans_comparison():
    rows_a = [{"preprocessing": "raw", "acc": 0.7, "acc_std": 0.02}, {"preprocessing": "zca", "acc": 0.8,
                                                                       "acc_std": 0.01}]
    rows_b = [{"preprocessing": "raw", "acc": 0.55, "acc_std": 0.03}, {"preprocessing": "blur", "acc": 0.6}]
    fig = viz.plot_kmeans_comparison({"digits": rows_a, "mnist": rows_b}, title="k-means")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["raw", "zca", "blur"]
    widths = [p.get_width() for p in ax.patches]
    assert np.allclose(widths[:3], [70, 80, np.nan], equal_nan=True)
    assert np.allclose(widths[3:], [55, np.nan, 60], equal_nan=True)
    assert ax.get_title() == "k-means" and "accuracy" in ax.get_xlabel()


def test_plot_pixel_correlation():
    from tutorial_lib import preprocess as pp

    gen = torch.Generator().manual_seed(0)
    base = torch.rand(200, 1, 1, 1, generator=gen)
    x = (base + 0.1 * torch.rand(200, 1, 4, 4, generator=gen)).clamp(0, 1)  # strongly correlated pixels
    white = pp.ZCAWhitening(1e-4).fit_transform(x)
    fig = viz.plot_pixel_correlation({"pixels": x, "whitened": white})
    *panels, bar = fig.axes  # the last axes is the shared colour bar, from -1 to 1
    assert bar.get_ylabel() == "correlation" and bar.get_ylim() == (-1.0, 1.0)
    titles = [ax.get_title() for ax in panels]
    raw, whitened = (float(t.rsplit(" ", 1)[1]) for t in titles)
    assert titles[0].startswith("pixels") and raw > 0.8 and whitened < 0.05
    assert _shown(fig.axes[0]).shape == (16, 16)
