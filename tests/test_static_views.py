"""What the notebooks 00-02 show without a kernel, and the honest-figure options behind them.

Panels carry their last figure as a PNG for viewers that cannot draw widgets; sliders of whole
numbers read as whole numbers; figures that used to mislead (rescaled rows, zoomed axes, flat
curves without baselines) have the options that fix them.
"""

import base64
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from tutorial_lib import preprocess as pp  # noqa: E402
from tutorial_lib import viz, widgets  # noqa: E402
from tutorial_lib.widgets.panel import readout_format  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
OWN = ("00_overview.ipynb", "01_preprocessing.ipynb", "02_feature_learning.ipynb")
PNG_MAGIC = b"\x89PNG"


def test_readout_format_whole_and_decimal_steps():
    assert readout_format(2) == "d" and readout_format(16.0) == "d"
    assert readout_format(0.1) == ".1f" and readout_format(0.005) == ".3f"


def test_panel_bundle_has_its_figure_and_a_short_text():
    image = torch.rand(1, 24, 24, generator=torch.Generator().manual_seed(0))
    panel = widgets.denoise_panel(image, method="median")
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # live notebooks still get the widget
    assert base64.b64decode(bundle["image/png"]) == panel.image.value
    assert bundle["image/png"] and base64.b64decode(bundle["image/png"]).startswith(PNG_MAGIC)
    text = bundle["text/plain"]
    assert text.startswith("Noise and denoise") and "Panel(children" not in text
    # The median size is a whole number: it must read "3", not "3.00"; another filter gets decimals.
    assert panel.controls["param"].readout_format == "d"
    panel.controls["method"].value = "gaussian"
    assert panel.controls["param"].readout_format == ".1f"
    contrast = widgets.contrast_panel(image, method="equalize_hist")
    assert contrast.controls["param"].readout_format == "d"


def test_run_panel_bundle_before_a_run_has_no_figure():
    panel = widgets.training_panel(lambda *a, **k: None, torch.rand(8, 1, 8, 8), title="Training")
    bundle = panel._repr_mimebundle_()
    assert "image/png" not in bundle and bundle["text/plain"].startswith("Training")


def test_figure_png_keeps_a_two_line_title():
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.set_title("first line\nsecond line")
    loose = plt.figure(figsize=(2, 1))
    loose.add_subplot().set_title("first line\nsecond line")
    tight_png = widgets.figure_png(fig)
    import io

    buf = io.BytesIO()
    loose.savefig(buf, format="png", dpi=72)
    plt.close(loose)
    # The tight box grows to hold the title that a plain save cuts off at the top.
    height = int.from_bytes(tight_png[20:24], "big")
    assert height > int.from_bytes(buf.getvalue()[20:24], "big")


def test_mask_titles_count_the_regions_present():
    result = widgets.dataset_view("mosaic", n=8, seed=0)
    masks = result["data"].masks
    titles = [ax.get_title() for ax in result["figure"].axes if ax.get_title().startswith("mask")]
    assert titles == [f"mask ({len(m.unique())} regions)" for m in masks]
    assert len({t for t in titles}) > 1 or all(len(m.unique()) == len(masks[0].unique()) for m in masks)
    plt.close("all")


def test_image_rows_shared_scale_shows_per_image_standardisation():
    gen = torch.Generator().manual_seed(0)
    faint = 0.2 * torch.rand(4, 1, 6, 6, generator=gen)
    bold = torch.rand(4, 1, 6, 6, generator=gen)
    x = torch.cat([faint, bold])
    rows = {"raw": x, "per-image std": pp.standardize_per_image(x)}
    fig = viz.image_rows(rows, n=8, shared_scale=True)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    raw_limits = {im.get_clim() for im in images[:8]}
    std_limits = {im.get_clim() for im in images[8:16]}
    assert len(raw_limits) == 1 and len(std_limits) == 1 and raw_limits != std_limits
    lo, hi = std_limits.pop()
    assert lo < 0 < hi  # standardised values, shown as they are
    assert sum(1 for ax in fig.axes if ax.get_label() == "<colorbar>") == 2
    with pytest.raises(ValueError, match="grey"):
        viz.image_rows({"rgb": torch.rand(2, 3, 4, 4)}, shared_scale=True)
    plt.close("all")


def test_plot_history_refs_and_accuracy_alone():
    history = {"loss": [3.0, 2.0, 1.5], "knn_acc": [0.90, 0.93, 0.95]}
    fig = viz.plot_history(history, keys=("knn_acc",), refs={"pixels": 0.92, "untrained": 0.85})
    assert len(fig.axes) == 1  # no empty loss axis
    ax = fig.axes[0]
    assert ax.get_ylabel() == "knn_acc"
    levels = sorted(line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "--")
    assert levels == [0.85, 0.92]
    fig = viz.plot_history(history, keys=("loss", "knn_acc"), refs={"pixels": 0.92})
    assert len(fig.axes) == 2 and any(line.get_label() == "pixels" for line in fig.axes[1].lines)
    plt.close("all")


def test_feature_quality_axis_starts_at_zero():
    reports = {"digits": {"pixels": {"knn_acc": 0.95}, "SimCLR": {"knn_acc": 0.953}}}
    ax = viz.plot_feature_quality(reports).axes[0]
    assert ax.get_ylim()[0] == 0.0
    plt.close("all")


def _notebook(name):
    return json.loads((NOTEBOOKS / name).read_text())


@pytest.mark.parametrize("name", OWN)
def test_notebook_ends_with_where_next_and_references(name):
    cells = _notebook(name)["cells"]
    text = "\n".join("".join(c["source"]) for c in cells[-3:] if c["cell_type"] == "markdown")
    assert "## Where next" in text and "## References" in text
    refs = text.split("## References", 1)[1]
    assert refs.count("\n- ") + refs.count("\n1. ") >= 3


@pytest.mark.parametrize("name", OWN)
def test_stored_outputs_read_without_a_kernel(name):
    for cell in _notebook(name)["cells"]:
        if cell["cell_type"] != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            text = "".join(data.get("text/plain", "")) + "".join(out.get("text", ""))
            # A tqdm widget stored without its state shows "0%" forever.
            assert "HBox(children=(HTML(value=''), FloatProgress" not in text
            assert "Panel(children" not in text and "TrainingPanel(children" not in text
            if "application/vnd.jupyter.widget-view+json" in data and "Panel" in text:
                source = "".join(cell["source"])
                assert "image/png" in data or "training_panel" in source, source
