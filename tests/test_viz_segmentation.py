"""Tests for the segmentation figures of tutorial_lib.viz."""

import matplotlib
import numpy as np
import pytest
from test_segment import stripes

matplotlib.use("Agg")


def test_viz_segmentation_figures():
    from tutorial_lib import viz

    image, gt = stripes()
    over = viz.overlay_segments(image, gt)
    assert over.shape == (48, 48, 3) and 0.0 <= over.min() and over.max() <= 1.0
    means = viz.segment_colours(gt, image)
    np.testing.assert_allclose(means[0, 0], image[:, :, :16].mean(dim=(1, 2)).numpy(), atol=1e-5)
    fig = viz.plot_segmentations([image, image], {"a": [gt, gt]}, gts=[gt, gt], scores={"a": ["x", "y"]})
    assert len(fig.axes) == 3 * 2
    with pytest.raises(ValueError, match="labels have shape"):
        viz.overlay_segments(image, gt[:10])
    fig = viz.plot_segmentation(image, gt, gt, {"loss": [3.0, 2.0], "n_labels": [5, 3]})
    assert len(fig.axes) == 5  # image, segments, ground truth, loss and its twin axis
    fig = viz.plot_segmentation_scores({"otsu": {"miou": 0.5, "pixel_acc": 0.7}})
    assert fig.axes[0].get_ylim()[1] > 1.0


def test_predicted_segments_take_the_colour_of_their_matched_class():
    from tutorial_lib import viz

    image, gt = stripes()
    gt = np.asarray(gt)
    pred = (2 - gt).copy()  # the same regions, ids reversed
    pred[:4, :4] = 7  # one small extra segment, matched to no class
    matched = viz.match_to_truth(pred, gt)
    assert (matched[4:, :] == gt[4:, :]).all() and (matched[:4, :4] == gt.max() + 1).all()
    colours = viz.segment_colours(matched, by_value=True)
    np.testing.assert_allclose(colours[10, 40], viz.segment_colours(gt, by_value=True)[10, 40])
    with pytest.raises(ValueError, match="ground truth"):
        viz.match_to_truth(pred, gt[:10])
