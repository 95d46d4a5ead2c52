"""The dataset browser of notebook 00: its plain callback and its controls."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from tutorial_lib.widgets import dataset_panel, dataset_view  # noqa: E402


def test_dataset_view_shows_labelled_examples():
    r = dataset_view("digits", n=8, seed=1)
    assert r["shape"] == (1, 8, 8)
    assert len(r["data"]) == 8
    assert len(r["figure"].axes) == 8
    assert "10 classes" in r["summary"]


def test_dataset_view_pairs_images_with_masks():
    r = dataset_view("scenes", n=4, seed=0, draw=False)
    assert r["figure"] is None
    assert len(r["data"]) == 2 and r["shape"][0] == 3


def test_panel_redraws_when_a_control_changes():
    panel = dataset_panel(names=("digits", "shapes"), n=4)
    first = panel.result["data"].images.clone()
    panel.controls["seed"].value = 3
    assert not (panel.result["data"].images == first).all()
    panel.controls["name"].value = "shapes"
    assert panel.result["shape"] == (3, 32, 32)
    assert panel.image.value[:4] == b"\x89PNG"
