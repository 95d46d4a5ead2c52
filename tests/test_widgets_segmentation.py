"""Tests for the segmentation panel of tutorial_lib.widgets."""

import matplotlib
from test_segment import stripes

matplotlib.use("Agg")


def test_segmentation_view_and_panel():
    from tutorial_lib import widgets

    image, gt = stripes()
    out = widgets.segmentation_view(image, gt, max_iter=20, n_channels=8, min_labels=3)
    assert out["labels"].shape == (48, 48) and out["n_iter"] <= 20
    assert 0.0 <= out["miou"] <= 1.0 and "mIoU" in out["summary"]
    assert len(out["history"]["n_labels"]) == out["n_iter"]
    assert out["figure"] is not None
    panel = widgets.segmentation_panel(image, gt, max_iter=10, n_channels=8)
    assert panel.result == {}  # nothing runs before the button
    panel.controls["max_iter"].value = 15
    panel.controls["mu"].value = 10.0
    result = panel.run()
    assert result["n_iter"] <= 15 and panel.image.value[:4] == b"\x89PNG"
    assert "segments" in panel.status.value
