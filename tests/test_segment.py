"""Tests for tutorial_lib.segment: every method on small synthetic images with known regions,
label maps, seeds, bad input, the losses, the helpers, evaluate and the command line."""

import json

import numpy as np
import pytest
import torch

from tutorial_lib import segment
from tutorial_lib.metrics import segmentation_scores

FAST = {  # small settings so each method runs in about a second on 48×48 images
    "otsu": {},
    "kmeans_lab": {},
    "slic_kmeans": {"n_superpixels": 100},
    "felzenszwalb": {"scale": 200.0},
    "kanezaki": {"max_iter": 40, "n_channels": 16},
    "deep_features": {"steps": 20, "refine_steps": 20, "crop": 32, "texture_sigma": 3.0, "n_superpixels": 0},
}
# The smallest mIoU each method must reach on the three-stripe image (exact answer: 1.0).
STRIPES_BOUND = {"kmeans_lab": 0.95, "slic_kmeans": 0.9, "felzenszwalb": 0.9, "kanezaki": 0.9,
                 "deep_features": 0.9}


def stripes(seed: int = 0, size: int = 48) -> tuple[torch.Tensor, np.ndarray]:
    """A 3×size×size image of three vertical stripes of different colours plus mild noise."""
    rng = np.random.default_rng(seed)
    gt = np.repeat(np.arange(3), size // 3)[None, :].repeat(size, 0)
    colours = np.array([[0.8, 0.2, 0.2], [0.2, 0.7, 0.3], [0.2, 0.3, 0.9]])
    img = colours[gt] + rng.normal(0, 0.03, (size, size, 3))
    return torch.from_numpy(np.clip(img, 0, 1).transpose(2, 0, 1)).float(), gt


def disc(seed: int = 0, size: int = 48) -> tuple[torch.Tensor, np.ndarray]:
    """A bright disc on a dark background, grey (1×size×size), with noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    gt = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 4) ** 2).astype(np.int64)
    img = 0.25 + 0.5 * gt + rng.normal(0, 0.05, (size, size))
    return torch.from_numpy(np.clip(img, 0, 1)[None]).float(), gt


def make(name: str, **extra) -> segment.Segmenter:
    return segment.make_method(name, seed=0, device="cpu", **{**FAST[name], **extra})


def test_methods_registry_order_and_default():
    names = list(segment.METHODS)
    assert names[:4] == ["otsu", "kmeans_lab", "slic_kmeans", "felzenszwalb"]  # baselines first
    assert segment.DEFAULT_METHOD in segment.METHODS
    with pytest.raises(ValueError, match="unknown segmentation method"):
        segment.make_method("nope")


@pytest.mark.parametrize("name", list(STRIPES_BOUND))
def test_each_method_recovers_three_stripes(name):
    image, gt = stripes()
    labels = make(name).fit_predict(image)
    assert segmentation_scores(labels, gt)["miou"] >= STRIPES_BOUND[name]


@pytest.mark.parametrize("name", list(FAST))
def test_each_method_recovers_a_disc_on_grey_input(name):
    image, gt = disc()
    labels = make(name).fit_predict(image)
    assert segmentation_scores(labels, gt)["miou"] >= 0.85


@pytest.mark.parametrize("name", list(FAST))
def test_label_maps_are_consecutive_ints_of_the_image_size(name):
    image, _ = stripes(size=42)
    image = image[:, :, :39]  # not square
    labels = make(name).fit_predict(image)
    assert labels.shape == (42, 39)
    assert labels.dtype == np.int64
    assert set(np.unique(labels).tolist()) == set(range(int(labels.max()) + 1))


@pytest.mark.parametrize("name", ["kmeans_lab", "kanezaki", "deep_features"])
def test_same_seed_same_labels(name):
    image, _ = stripes(seed=3)
    a = make(name).fit_predict(image)
    b = make(name).fit_predict(image)
    np.testing.assert_array_equal(a, b)


def test_batches_give_a_stack_or_a_list():
    images = torch.stack([stripes(seed=s)[0] for s in range(2)])
    out = make("kmeans_lab").fit_predict(images)
    assert isinstance(out, np.ndarray) and out.shape == (2, 48, 48)
    out = make("otsu").fit_predict([images[0], images[1][:, :40, :30]])
    assert isinstance(out, list) and [o.shape for o in out] == [(48, 48), (40, 30)]


def test_deep_features_clusters_are_shared_across_a_set_and_predict_new_images():
    image, gt = stripes(size=96)  # stripes 32 pixels wide, as wide as the default patch
    flipped = torch.flip(image, dims=[2])
    seg = make("deep_features", scope="set", n_superpixels=300)  # with the SLIC vote
    out = seg.fit_predict(torch.stack([image, flipped]))
    assert seg.scope_ == "set" and seg.n_segments_ == 3
    assert seg.n_pseudo_ == seg.max_segments  # over-clustered pseudo-labels, merged again by k-means
    assert len(seg.histories_) == seg.rounds + 1
    assert segmentation_scores(out[0], gt)["miou"] >= 0.9
    # one cluster per colour in the whole set: the red stripe has the same label in both images
    assert out[0][48, 2] == out[1][48, 93]
    again = seg.predict(image)
    assert segmentation_scores(again, gt)["miou"] >= 0.9


def test_scope_auto_follows_colour_coherence():
    seg = make("deep_features", steps=4).fit(stripes()[0])  # flat colours: coherent, clustered per image
    assert seg.scope_ == "image"
    rng = np.random.default_rng(0)
    noise = torch.from_numpy(rng.uniform(0, 1, (1, 48, 48))).float()  # pure flicker
    assert make("deep_features", steps=4).fit(noise).scope_ == "set"


@pytest.mark.parametrize("scope", ["image", "set"])
def test_deep_features_shows_the_training_progress_when_asked(scope, capsys):
    make("deep_features", scope=scope, steps=4, refine_steps=4, rounds=1).fit(stripes()[0], progress=True)
    bars = capsys.readouterr().err
    assert bars.count("training") >= (2 if scope == "set" else 1)  # one bar per round of the set scope
    make("deep_features", scope=scope, steps=4, refine_steps=4, rounds=1).fit(stripes()[0])
    assert "training" not in capsys.readouterr().err


def test_kanezaki_stops_at_min_labels_and_records_history():
    image, _ = stripes()
    seg = make("kanezaki", max_iter=200, min_labels=3)
    seg.fit(image)
    hist = seg.history_[0]
    assert len(hist["loss"]) == seg.n_iter_[0] <= 200
    if seg.n_iter_[0] < 200:
        assert hist["n_labels"][-1] <= 3
    assert all(np.isfinite(hist["loss"]))


def test_kanezaki_scribbles_guide_the_split():
    # Two noisy halves of nearly the same colour: scribbles say left is class 0, right class 1.
    rng = np.random.default_rng(0)
    img = np.clip(0.5 + rng.normal(0, 0.02, (3, 40, 40)), 0, 1)
    img[:, :, 20:] += 0.04
    scribbles = -np.ones((40, 40), np.int64)
    scribbles[5:35, 3:6] = 0
    scribbles[5:35, 34:37] = 1
    gt = (np.arange(40)[None, :] >= 20).repeat(40, 0).astype(np.int64)
    seg = make("kanezaki", max_iter=80, scribble_weight=2.0)
    labels = seg.fit_predict(torch.from_numpy(img).float(), scribbles=scribbles)
    assert labels[20, 4] != labels[20, 35]  # the strokes keep their classes apart
    assert segmentation_scores(labels, gt)["pixel_acc"] >= 0.8


def test_bad_input_gives_clear_errors():
    seg = make("kmeans_lab")
    with pytest.raises(ValueError, match="at least"):
        seg.fit_predict(torch.rand(3, 1, 1))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        seg.fit_predict(torch.rand(3, 4, 5, 6, 7))
    with pytest.raises(ValueError, match="channels"):
        seg.fit_predict(torch.rand(20, 20, 3))  # (H, W, C) instead of (C, H, W)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        seg.fit_predict(torch.rand(3, 20, 20) * 255)
    with pytest.raises(ValueError, match="NaN"):
        seg.fit_predict(torch.full((3, 20, 20), float("nan")))
    with pytest.raises(ValueError, match="empty"):
        seg.fit_predict([])
    image, _ = stripes()
    with pytest.raises(ValueError, match="scribbles have shape"):
        make("kanezaki").fit_predict(image, scribbles=-np.ones((10, 10), np.int64))
    with pytest.raises(ValueError, match="scribble values"):
        make("kanezaki").fit_predict(image, scribbles=np.full((48, 48), 99))
    with pytest.raises(ValueError, match="same shape"):  # a mask of the wrong size, when scoring
        segmentation_scores(np.zeros((48, 48), int), np.zeros((40, 48), int))


@pytest.mark.parametrize("name", list(FAST))
def test_a_constant_grey_image_works(name):
    labels = make(name).fit_predict(torch.full((1, 24, 24), 0.5))
    assert labels.shape == (24, 24)
    assert labels.min() == 0


def test_uint8_images_are_scaled():
    image, gt = stripes()
    as_bytes = (image.numpy() * 255).round().astype(np.uint8)
    labels = make("kmeans_lab").fit_predict(as_bytes)
    assert segmentation_scores(labels, gt)["miou"] >= 0.95


def test_losses_on_hand_made_inputs():
    flat = torch.ones(1, 4, 5, 6)
    assert float(segment.continuity_loss(flat)) == 0.0
    ramp = torch.arange(6.0).expand(1, 1, 5, 6).clone()  # steps of 1 horizontally, 0 vertically
    assert float(segment.continuity_loss(ramp)) == pytest.approx(1.0)
    r = torch.tensor([[2.0, 0.0], [0.0, 1.0]]).T.reshape(1, 2, 1, 2)  # two pixels, two classes
    target = r.argmax(1)
    expected = torch.nn.functional.cross_entropy(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]))
    assert float(segment.similarity_loss(r, target)) == pytest.approx(float(expected))


def test_helpers():
    assert segment.relabel_consecutive(np.array([[7, 3], [3, 9]])).tolist() == [[1, 0], [0, 2]]
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(c, 0.1, (200, 2)) for c in ((0, 0), (3, 0), (0, 3))])
    k, scores = segment.estimate_n_segments(blobs, max_segments=6)
    assert k == 3 and max(scores, key=scores.get) == 3
    assert segment.estimate_n_segments(np.ones((50, 3)))[0] == 1
    labels = np.array([[0, 0, 1, 1], [0, 1, 1, 1]])
    sp = np.array([[0, 0, 0, 1], [0, 0, 1, 1]])
    assert segment.superpixel_vote(labels, sp).tolist() == [[0, 0, 0, 1], [0, 0, 1, 1]]
    scores = np.zeros((2, 4, 3))
    scores[..., 0] = 1.0
    scores[0, 0, 2] = 5.0  # one pixel of label 2: below 20 % of the image
    small = scores.argmax(2)
    assert set(segment.drop_small_segments(scores, small, 0.2).ravel().tolist()) == {0}
    assert segment.working_size(300, 400, 12000) == (95, 126)
    assert segment.working_size(30, 40, 12000) == (30, 40)


def test_evaluate_keys_and_cli(tmp_path):
    result = segment.evaluate("mosaic", method="otsu", limit=2, progress=False)
    for key in ("miou", "pixel_acc", "seconds_per_image", "n_images", "method", "device",
                "covering", "pri", "voi"):
        assert key in result
    assert result["n_images"] == 2 and 0.0 <= result["miou"] <= 1.0

    from tutorial_lib.__main__ import main

    out = tmp_path / "seg.json"
    assert main(["segment", "--data", "mosaic", "--method", "otsu", "--limit", "2", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["method"] == "otsu"
    assert main(["segment", "--data", "mosaic", "--method", "nope", "--limit", "2"]) == 2


def test_photo_timing_helper_runs_on_a_small_photo():
    out = segment.time_photo("coffee", size=(40, 60), method="kmeans_lab")
    assert out["shape"] == [40, 60] and out["seconds"] > 0 and out["n_segments"] >= 1



def test_pure_patches_keep_only_patches_of_one_pseudo_label():
    pseudo = np.zeros((16, 16), np.int64)
    pseudo[:, 8:] = 1  # two halves: 8×8 patches are pure on either side, never across the middle
    image = np.arange(256, dtype=np.float32).reshape(1, 16, 16)
    x, y = segment.pure_patches([image], [pseudo], size=8, purity=1.0, stride=4)
    assert x.shape[1:] == (1, 8, 8) and len(x) == len(y) == 6  # left column of centres x 3 rows, right x 3
    for patch, label in zip(x, y, strict=True):
        cols = patch[0, 0].long() % 16  # the image value encodes the column
        assert bool(((cols >= 8) == bool(label)).all())
    empty, _ = segment.pure_patches([image], [np.arange(256).reshape(16, 16) % 2], size=8, purity=0.9)
    assert len(empty) == 0  # a checkerboard of labels has no pure patch


def test_estimate_n_segments_tolerance_prefers_fewer_clusters():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 0.05, (200, 2)) for c in ((0, 0), (3, 0), (0, 3))]).astype(np.float32)
    k, scores = segment.estimate_n_segments(x, max_segments=5)
    assert k == 3
    assert segment.estimate_n_segments(x, max_segments=5, tolerance=10.0)[0] == 2  # everything ties
