"""Tests for tutorial_lib.segment.auto: the two-tone ratio, the label-free rule, and the default
segmenter choosing the photo method for a folder of photos (issue 16, item 5)."""

import numpy as np
import pytest
import torch
from skimage import data as skdata
from skimage.io import imsave

from tutorial_lib import segment
from tutorial_lib.evaluation import segmentation as seg_eval
from tutorial_lib.segment.auto import TWO_TONE_THRESHOLD, choose_method, image_statistics, two_tone_ratio

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


def two_colours(size: int = 64, noise: float = 0.02) -> np.ndarray:
    """(H, W, 3): a blue disc on an orange background with a little noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    image = np.where(disc[..., None], [0.1, 0.2, 0.8], [0.9, 0.6, 0.2])
    image = image + rng.normal(0, noise, (size, size, 3))
    return np.clip(image, 0, 1).astype(np.float32)


def blob(size: int = 64) -> np.ndarray:
    """(H, W, 3): pixel colours drawn from one Gaussian blob (no two classes in it)."""
    rng = np.random.default_rng(1)
    return np.clip(rng.normal([0.5, 0.45, 0.4], [0.12, 0.08, 0.05], (size, size, 3)), 0, 1).astype(np.float32)


def photo(name: str) -> np.ndarray:
    return (getattr(skdata, name)()[..., :3] / 255.0).astype(np.float32)


def test_two_tone_ratio_separates_two_colours_from_one_blob():
    assert two_tone_ratio(two_colours()) < 0.1
    assert 0.85 < two_tone_ratio(blob()) < 1.15  # a Gaussian blob is the reference: about 1
    assert two_tone_ratio(np.full((16, 16, 3), 0.5, np.float32)) == 1.0  # one colour: nothing to split


def test_two_tone_ratio_reads_grey_like_colour():
    # 2-means explains 75 % of a grey ramp's variance (64 % of a bell-shaped grey histogram): the share
    # alone would call every grey picture two-toned; the ratio does not.
    ramp = np.tile(np.linspace(0, 1, 128, dtype=np.float32), (32, 1))[..., None]
    assert two_tone_ratio(ramp) > TWO_TONE_THRESHOLD
    grey_disc = two_colours().mean(axis=2, keepdims=True)
    assert two_tone_ratio(grey_disc) < 0.1
    colour = [photo(name) for name in PHOTOS]
    assert all(two_tone_ratio(c) > TWO_TONE_THRESHOLD for c in colour)
    # In grey the astronaut (a white suit against black space) is nearly two-toned (0.59); the rule reads
    # the set's mean, which stays a photo set's.
    grey = [c.mean(axis=2, keepdims=True) for c in colour]
    assert np.mean([two_tone_ratio(g) for g in grey]) > TWO_TONE_THRESHOLD
    assert choose_method(image_statistics(grey)) == "rag-merge"


def test_the_rule_sends_textures_and_two_toned_sets_to_deep_features_and_photos_to_rag_merge():
    noise = np.random.default_rng(0).random((48, 48, 3)).astype(np.float32)  # flickers: incoherent
    assert choose_method(image_statistics([noise])) == "deep_features"
    assert choose_method(image_statistics([two_colours()])) == "deep_features"
    assert choose_method(image_statistics([photo(n) for n in PHOTOS])) == "rag-merge"
    stats = {"coherence": [0.9, 0.8], "two_tone": [0.5, 0.9]}  # means 0.85 and 0.7
    assert choose_method(stats) == "rag-merge"
    assert choose_method(stats, two_tone_threshold=0.7) == "deep_features"
    assert choose_method(stats, coherence_threshold=0.9) == "deep_features"


def test_the_default_is_auto_and_picks_the_photo_method_for_a_folder_of_photos(tmp_path):
    assert segment.DEFAULT_METHOD == "auto" and segment.METHODS["auto"] is segment.AutoSegmentation
    for name in PHOTOS:
        imsave(tmp_path / f"{name}.png", (photo(name) * 255).astype(np.uint8), check_contrast=False)
    result = seg_eval.evaluate(f"folder:{tmp_path}", progress=False)
    assert result["method"] == "auto" and result["chosen_method"] == "rag-merge"
    assert result["two_tone_mean"] > TWO_TONE_THRESHOLD and result["coherence_mean"] > 0.5
    direct = segment.RegionMerging().fit_predict(seg_eval.load_photos(str(tmp_path)).images)
    assert all(np.array_equal(a, b) for a, b in zip(result.labels, direct, strict=True))


def test_auto_gives_the_chosen_methods_own_labels_and_leaves_global_random_state_alone():
    image = torch.from_numpy(two_colours(48).transpose(2, 0, 1))
    small = {"steps": 4, "refine_steps": 4, "rounds": 1, "crop": 32, "texture_sigma": 3.0, "n_superpixels": 0}
    torch.manual_seed(123)
    np.random.seed(7)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    model = segment.AutoSegmentation(params={"deep_features": small}, seed=3, device="cpu").fit(image)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    assert model.method_ == "deep_features" and isinstance(model.estimator_, segment.DeepFeatureClustering)
    direct = segment.DeepFeatureClustering(seed=3, device="cpu", **small).fit_predict(image)
    assert np.array_equal(model.labels_, direct)
    assert model.statistics_["two_tone_mean"] < 0.1 and len(model.statistics_["coherence"]) == 1


def test_predict_with_a_per_image_method_leaves_the_fit_alone():
    first, second = (torch.from_numpy(photo(n)[::4, ::4].transpose(2, 0, 1).copy()) for n in PHOTOS[:2])
    model = segment.AutoSegmentation().fit([first])
    assert model.method_ == "rag-merge"
    fitted = model.labels_[0].copy()
    labels = model.predict(second)
    assert np.array_equal(labels, segment.RegionMerging().fit_predict(second))
    assert np.array_equal(model.labels_[0], fitted) and model.method_ == "rag-merge"


def test_bad_parameters_are_refused_with_the_names_it_takes():
    with pytest.raises(ValueError, match="never chooses"):
        segment.AutoSegmentation(params={"kanezaki": {}}).fit(torch.rand(3, 24, 24))
    with pytest.raises(ValueError, match="chooses between"):
        segment.AutoSegmentation().method("otsu")
    with pytest.raises(Exception, match="fit"):
        segment.AutoSegmentation().predict(torch.rand(3, 24, 24))


def test_fast_mode_passes_the_deep_budgets_through():
    model = seg_eval.make_method("auto", fast=True)
    assert model.method("deep_features").steps == seg_eval.FAST_PARAMS["deep_features"]["steps"]


def test_method_comparison_leaves_auto_out_unless_asked(monkeypatch):
    # auto re-runs one of the other methods, without the budgets the comparison gives them
    ran = []

    class Recorder(segment.OtsuThreshold):
        def fit_predict(self, images, y=None):
            ran.append(type(self).__name__)
            return super().fit_predict(images)

    class Chooser(Recorder):
        pass

    monkeypatch.setattr(seg_eval, "METHODS", {"otsu": Recorder, "auto": Chooser})
    images = [torch.rand(1, 12, 12) for _ in range(2)]
    assert list(seg_eval.compare_methods(images, progress=False)) == ["otsu"]
    assert list(seg_eval.compare_methods(images, methods=["auto"], progress=False)) == ["auto"]
    assert ran == ["Recorder", "Chooser"]
