"""The photo-objects scene generator and the object scores (notebook 05_foreground_background)."""

import numpy as np
import pytest
import torch

from tutorial_lib import data
from tutorial_lib.data.objects import make_object_scene, object_alpha, true_objects
from tutorial_lib.metrics import foreground_iou, match_objects, object_scores


def _source():
    """Four 12×12 'objects': a bar, a box outline, a plus and a dot, white on black (classes 0..3)."""
    images = np.zeros((4, 1, 12, 12), np.float32)
    images[0, 0, 2:10, 5:7] = 1
    images[1, 0, 2:10, 2:10] = 1
    images[1, 0, 4:8, 4:8] = 0
    images[2, 0, 5:7, 2:10] = 1
    images[2, 0, 2:10, 5:7] = 1
    images[3, 0, 4:8, 4:8] = 1
    return torch.from_numpy(images), np.arange(4)


def _scene(seed):
    images, labels = _source()
    picture = np.random.default_rng(99).uniform(0, 1, (80, 120, 3)).astype(np.float32)
    return make_object_scene((80, 120), np.random.default_rng([seed, 0]), images, labels, [picture],
                             objects=(3, 3), object_size=(16, 24), gap=6)


def test_scene_masks_are_exact_and_seeded():
    image, mask = _scene(0)
    again, mask2 = _scene(0)
    assert np.array_equal(image, again) and np.array_equal(mask, mask2)
    assert not np.array_equal(_scene(1)[1], mask)
    assert image.shape == (80, 120, 3) and mask.shape == (80, 120) and image.min() >= 0 and image.max() <= 1
    objects, classes = true_objects(mask)
    assert len(classes) == 3 and set(np.unique(mask)) - {0} == {c + 1 for c in classes}
    for k, c in enumerate(classes, start=1):
        colours = np.unique(image[objects == k].reshape(-1, 3), axis=0)
        assert len(colours) == 1  # each object filled with one colour
        assert (mask[objects == k] == c + 1).all()


def test_objects_keep_their_gap():
    from scipy import ndimage as ndi

    image, mask = _scene(3)
    objects, _ = true_objects(mask)
    for k in range(1, objects.max() + 1):
        grown = ndi.binary_dilation(objects == k, iterations=5)
        assert not (grown & (objects > 0) & (objects != k)).any()


def test_true_objects_bridge_small_gaps_only():
    mask = np.zeros((20, 40), np.int64)
    mask[5:15, 2:6] = 3
    mask[5:15, 9:13] = 3   # a 3-pixel gap: the same object
    mask[5:15, 25:29] = 3  # far away: another object
    mask[5:15, 33:37] = 1  # another class
    objects, classes = true_objects(mask)
    assert objects.max() == 3 and sorted(classes.tolist()) == [0, 2, 2]
    assert objects[6, 3] == objects[6, 10] != objects[6, 26]
    assert objects[6, 7] == 0  # the gap itself stays background


def test_object_alpha_reads_the_object_against_its_border():
    images, _ = _source()
    alpha = object_alpha(images[3].numpy())
    assert alpha[5, 5] == pytest.approx(1.0) and alpha[0, 0] == 0.0
    colour = np.zeros((3, 12, 12), np.float32) + np.array([0.2, 0.5, 0.2], np.float32)[:, None, None]
    colour[:, 4:8, 4:8] = np.array([0.9, 0.1, 0.1])[:, None, None]
    assert (object_alpha(colour)[4:8, 4:8] > 0.9).all() and object_alpha(colour)[0, 0] == 0.0


def test_load_segmentation_photo_objects_is_seeded_per_image():
    a = data.load_segmentation("photo-objects", n=3, source="digits", seed=0)
    b = data.load_segmentation("photo-objects", n=2, source="digits", seed=0)
    assert tuple(a.images[0].shape) == (3, 321, 481) and a.classes[0] == "background"
    assert torch.equal(a.images[1], b.images[1]) and torch.equal(a.masks[1], b.masks[1])
    for m in a.masks:
        assert 3 <= len(true_objects(m)[1]) <= 6


# --- scores on hand-made cases ---------------------------------------------------------------------
def _truth():
    t = np.zeros((20, 30), np.int64)
    t[2:8, 2:8] = 1
    t[2:8, 12:18] = 2
    t[12:18, 2:8] = 3
    return t, np.array([0, 1, 2])


def test_scores_split_merged_and_missed_objects():
    t, tc = _truth()
    p = np.zeros_like(t)
    p[2:8, 2:4], p[2:8, 4:6], p[2:8, 6:8] = 1, 2, 4  # object 1 split in three: no match
    p[2:8, 12:18] = 3                          # object 2 found exactly
    # object 3 missed
    s = object_scores([p], [np.array([0, 0, 1, 0])], [t], [tc])
    assert s["object_recall"] == pytest.approx(1 / 3) and s["object_precision"] == pytest.approx(1 / 4)
    assert s["n_matched"] == 1 and s["object_acc"] == 1.0
    merged = np.zeros_like(t)
    merged[2:8, 2:18] = 1                      # objects 1 and 2 merged: IoU 36/96 with each, no match
    assert match_objects(merged, t) == []
    big = np.zeros_like(t)
    big[2:8, 2:9] = 1                          # a little larger than object 1: IoU 36/42
    assert match_objects(big, t) == [(1, 1, pytest.approx(36 / 42))]
    halves = np.zeros_like(t)
    halves[2:8, 2:5], halves[2:8, 5:8] = 1, 2  # two halves at IoU 0.5 each: one-to-one keeps one
    assert [m[:2] for m in match_objects(halves, t)] == [(1, 1)]


def test_object_accuracy_is_hungarian_matched():
    t, tc = _truth()
    s = object_scores([t], [np.array([5, 7, 5])], [t], [tc])  # clusters renamed, one class wrong
    assert s["object_recall"] == 1.0 and s["object_acc"] == pytest.approx(2 / 3)
    assert set(s["per_class"]) == {0, 1, 2} and s["per_class"][1]["recall"] == 1.0


def test_foreground_iou():
    t, _ = _truth()
    p = np.zeros_like(t)
    p[2:8, 2:8] = 1
    assert foreground_iou(p, t) == pytest.approx(36 / 108)
    assert foreground_iou([t, p], [t, p]) == 1.0
    with pytest.raises(ValueError):
        match_objects(p, t, min_iou=0.3)


def test_specks_of_a_source_background_are_not_part_of_the_object():
    from tutorial_lib.data.objects import SPECK_SHARE, _without_specks

    pixels = np.zeros((40, 40), bool)
    pixels[5:25, 5:25] = True  # the shape: 400 pixels
    pixels[30:32, 30:38] = True  # a detached stroke of 16 pixels (4 %): below SPECK_SHARE, dropped
    pixels[2, 35] = pixels[37, 3] = True  # two stray texture pixels
    pixels[5:25, 30:33] = True  # a detached stroke of 60 pixels (15 %): kept
    kept = _without_specks(pixels)
    assert SPECK_SHARE == 0.05
    assert kept[5:25, 5:25].all() and kept[5:25, 30:33].all()
    assert not kept[30:32, 30:38].any() and not kept[2, 35] and not kept[37, 3]
    assert kept.sum() == 400 + 60
