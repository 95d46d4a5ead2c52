"""Tests for tutorial_lib.segment: every method on small synthetic images with known regions,
label maps, seeds, bad input, the losses, the helpers, evaluate and the command line."""

import json
import random

import numpy as np
import pytest
import torch

from tutorial_lib import segment
from tutorial_lib.evaluation import segmentation as seg_eval
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


def make(name: str, seed: int = 0, **extra) -> segment.Segmenter:
    return seg_eval.make_method(name, seed=seed, device="cpu", **{**FAST[name], **extra})


def test_methods_registry_order_and_default():
    names = list(segment.METHODS)
    assert names[:4] == ["otsu", "kmeans_lab", "slic_kmeans", "felzenszwalb"]  # baselines first
    assert segment.DEFAULT_METHOD in segment.METHODS
    with pytest.raises(ValueError, match="unknown segmentation method"):
        seg_eval.make_method("nope")


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
    assert seg.scope_ == "set" and seg.n_clusters_ == 3
    assert seg.n_segments_ == [3, 3]  # one int per image, as in the image scope
    assert isinstance(seg.estimator_, segment.SetFeatureClustering)
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
    make("deep_features", scope=scope, steps=4, refine_steps=4, rounds=1, progress=True).fit(stripes()[0])
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
    result = seg_eval.evaluate("mosaic", method="otsu", limit=2, progress=False)
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
    out = seg_eval.time_photo("coffee", size=(40, 60), method="kmeans_lab")
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


# --- the estimator shape: parameters, fitted state, randomness --------------------------------------


def rng_states():
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def assert_same_rng_states(before, after):
    assert torch.equal(before[0], after[0])
    assert before[1][0] == after[1][0] and np.array_equal(before[1][1], after[1][1])
    assert before[1][2:] == after[1][2:]
    assert before[2] == after[2]


@pytest.mark.parametrize("name", list(segment.METHODS))
def test_every_method_takes_seed_device_and_progress_in_init(name):
    params = segment.METHODS[name]._param_names()
    assert {"seed", "device", "progress"} <= set(params)
    seg = seg_eval.make_method(name, seed=3, device="cpu", progress=True)
    assert (seg.seed, seg.device, seg.progress) == (3, "cpu", True)
    assert seg.get_params()["seed"] == 3


@pytest.mark.parametrize("name", list(segment.METHODS))
def test_every_registry_entry_fits_a_tiny_image_with_the_fast_budgets(name):
    image, _ = stripes(size=24)
    seg = seg_eval.make_method(name, seed=0, device="cpu", fast=True)
    labels = seg.fit_predict(image.numpy())  # arrays work as well as tensors
    assert isinstance(labels, np.ndarray) and labels.dtype == np.int64 and labels.shape == (24, 24)
    assert seg.labels_ is labels


def test_fast_params_are_small_budgets_and_explicit_params_win():
    assert seg_eval.make_method("kanezaki", fast=True).max_iter < segment.METHODS["kanezaki"]().max_iter
    deep = seg_eval.make_method("deep_features", fast=True)
    assert deep.steps < segment.DeepFeatureClustering().steps
    assert seg_eval.make_method("kanezaki", fast=True, max_iter=7).max_iter == 7
    assert seg_eval.make_method("kanezaki").max_iter == 100  # not fast: the constructor's default
    assert set(seg_eval.FAST_PARAMS) == set(segment.METHODS)


def test_the_moved_evaluation_names_still_work_from_segment_with_a_warning():
    with pytest.warns(DeprecationWarning, match="evaluation.segmentation"):
        assert segment.make_method is seg_eval.make_method
    with pytest.warns(DeprecationWarning):
        assert segment.PHOTOS == seg_eval.PHOTOS
    with pytest.raises(AttributeError):
        segment.no_such_name  # noqa: B018


@pytest.mark.parametrize("name, extra", [("kanezaki", {"max_iter": 5}),
                                         ("deep_features", {"scope": "image", "steps": 4}),
                                         ("deep_features", {"scope": "set", "steps": 4, "refine_steps": 4,
                                                            "rounds": 1})])
def test_fit_leaves_the_callers_random_state_alone(name, extra):
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    before = rng_states()
    make(name, **extra).fit(stripes()[0])
    assert_same_rng_states(before, rng_states())


@pytest.mark.parametrize("name, extra", [("kanezaki", {"max_iter": 10}),
                                         ("deep_features", {"scope": "set", "steps": 4, "refine_steps": 4,
                                                            "rounds": 1})])
def test_the_seed_alone_decides_the_result_not_the_callers_random_state(name, extra):
    image, _ = stripes(seed=1)
    torch.manual_seed(1)
    a = make(name, **extra).fit(image)
    torch.manual_seed(2)
    np.random.seed(2)
    b = make(name, **extra).fit(image)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    if name == "kanezaki":
        assert a.history_[0]["loss"] == b.history_[0]["loss"]
        c = make(name, seed=1, **extra).fit(image)  # another seed: other initial weights
        assert c.history_[0]["loss"] != a.history_[0]["loss"]


def _fitted_state(seg):
    est = seg.estimator_
    state = {k: v for k, v in vars(est).items() if k.endswith("_") and k not in ("model_", "kmeans_", "pca_")}
    weights = {k: v.clone() for k, v in est.model_.state_dict().items()}
    centres = None if getattr(est, "kmeans_", None) is None else est.kmeans_.cluster_centers_.copy()
    return {k: (list(v) if isinstance(v, list) else v) for k, v in state.items()}, weights, centres


@pytest.mark.parametrize("scope", ["image", "set"])
def test_predict_does_not_change_the_fitted_state(scope):
    image, _ = stripes(size=48)
    seg = make("deep_features", scope=scope, steps=4, refine_steps=4, rounds=1).fit(image)
    labels, (state, weights, centres) = seg.labels_.copy(), _fitted_state(seg)
    out = seg.predict(torch.stack([torch.flip(image, dims=[2]), image]))
    assert isinstance(out, np.ndarray) and out.shape == (2, 48, 48) and out.dtype == np.int64
    np.testing.assert_array_equal(seg.labels_, labels)
    state2, weights2, centres2 = _fitted_state(seg)
    assert state2.keys() == state.keys()
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(state2[key], value)
        elif key not in ("history_", "histories_"):
            assert state2[key] == value, key
    assert len(state2["histories_"]) == len(state["histories_"])
    assert all(torch.equal(weights[k], weights2[k]) for k in weights)
    if centres is not None:
        np.testing.assert_array_equal(centres, centres2)
    assert seg.n_segments_ == state["n_segments_"] and len(seg.n_segments_) == 1


def test_predict_before_fit_raises_not_fitted():
    from tutorial_lib.base import NotFittedError

    for seg in (segment.DeepFeatureClustering(), segment.SetFeatureClustering(),
                segment.ImageFeatureClustering()):
        with pytest.raises(NotFittedError, match="not fitted"):
            seg.predict(stripes()[0])


# --- the deep-feature facade and its two variants ------------------------------------------------


def test_the_facade_chooses_the_scope_by_the_old_rule():
    # Today's rule, as before the split: "set" when the mean colour coherence is below 0.5.
    assert segment.choose_scope([0.49]) == "set" and segment.choose_scope([0.5]) == "image"
    assert segment.choose_scope([0.2, 0.9]) == "image" and segment.choose_scope([0.2, 0.7]) == "set"
    noise = torch.from_numpy(np.random.default_rng(0).uniform(0, 1, (1, 48, 48))).float()
    for image in (stripes()[0], noise):
        seg = make("deep_features", steps=4, refine_steps=4, rounds=1).fit(image)
        arr = segment.as_image(image)
        r = segment.colour_coherence(segment.colour_features(arr, "sqrt"))  # the coherence the old code used
        assert seg.colour_coherence_ == pytest.approx(r)
        assert seg.scope_ == ("set" if r < 0.5 else "image")
        assert type(seg.estimator_) is segment.deep_features.SCOPES[seg.scope_]
    with pytest.raises(ValueError, match="scope must be"):
        make("deep_features", scope="pixel").fit(stripes()[0])


def test_the_variants_take_only_their_own_parameters_and_the_facade_passes_them():
    image_only = {"embed_weight", "embed_dim", "crop", "batch_size", "mu"}
    set_only = {"patch", "window", "patch_batch", "purity", "rounds", "refine_steps", "tolerance"}
    image_params = set(segment.ImageFeatureClustering._param_names())
    set_params = set(segment.SetFeatureClustering._param_names())
    assert image_only <= image_params and not set_only & image_params
    assert set_only <= set_params and not image_only & set_params
    facade = segment.DeepFeatureClustering(steps=7, crop=16, patch=8)
    assert set(facade._param_names()) == image_params | set_params | {"scope"}
    assert facade.variant("image").get_params()["crop"] == 16
    assert facade.variant("set").get_params()["patch"] == 8 and facade.variant("set").steps == 7


@pytest.mark.parametrize("scope", ["image", "set"])
def test_a_variant_on_its_own_gives_the_facades_labels(scope):
    image, _ = stripes()
    facade = make("deep_features", scope=scope, steps=4, refine_steps=4, rounds=1).fit(image)
    variant = facade.variant(scope).fit(image)
    np.testing.assert_array_equal(facade.labels_, variant.labels_)
    assert facade.n_segments_ == variant.n_segments_ and isinstance(variant.n_segments_, list)


@pytest.mark.parametrize("scope", ["image", "set"])
def test_the_descriptors_are_computed_once_per_image(scope, monkeypatch):
    calls = []
    real = segment.descriptors.texture_features

    def counting(image, sigma=10.0):
        calls.append(image.shape)
        return real(image, sigma)

    monkeypatch.setattr(segment.descriptors, "texture_features", counting)
    images = torch.stack([stripes(seed=s)[0] for s in range(2)])
    seg = make("deep_features", scope=scope, steps=4, refine_steps=4, rounds=1).fit(images)
    assert len(calls) == 2  # once per image (the old code computed each image's texture 2-3 times)
    seg.predict(images[0])
    # A new image: the image scope describes it once; the set scope needs only the network.
    assert len(calls) == (3 if scope == "image" else 2)


def test_classic_methods_show_a_progress_bar_over_a_batch_when_asked(capsys):
    images = torch.stack([stripes(seed=s)[0] for s in range(2)])
    make("otsu", progress=True).fit(images)
    assert "OtsuThreshold" in capsys.readouterr().err
    make("otsu").fit(images)
    assert "OtsuThreshold" not in capsys.readouterr().err
