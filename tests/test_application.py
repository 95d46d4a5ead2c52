"""The application pipeline (notebook 05_foreground_background): objects found and classified on tiny
scenes, saved and loaded, and the ``application`` command on a plain folder."""

import csv

import numpy as np
import pytest
import torch

from tutorial_lib import load_model
from tutorial_lib.application import (
    ObjectPipeline,
    flatness,
    normalise_crop,
    region_contrast,
    region_spread,
    standout,
)
from tutorial_lib.data.objects import make_object_scene, true_objects
from tutorial_lib.metrics import cluster_acc, match_objects, object_scores


def _source():
    """Three shapes, white on black (classes 0..2): a bar, a ring, a plus."""
    images = np.zeros((3, 1, 12, 12), np.float32)
    images[0, 0, 1:11, 5:7] = 1
    images[1, 0, 1:11, 1:11] = 1
    images[1, 0, 4:8, 4:8] = 0
    images[2, 0, 5:7, 1:11] = 1
    images[2, 0, 1:11, 5:7] = 1
    return torch.from_numpy(images), np.arange(3)


def _scenes(n=6):
    images, labels = _source()
    import skimage.data as skd

    pictures = [skd.coffee()[::3, ::3] / np.float32(255), skd.chelsea()[::2, ::2] / np.float32(255)]
    out = [make_object_scene((96, 128), np.random.default_rng([0, i]), images, labels, pictures,
                             objects=(3, 3), object_size=(24, 30), gap=6) for i in range(n)]
    return [torch.from_numpy(im.transpose(2, 0, 1).copy()) for im, _ in out], [m for _, m in out]


@pytest.fixture(scope="module")
def fitted():
    images, masks = _scenes()
    model = ObjectPipeline(min_size=30, n_clusters=3, clusterer="kmeans", seed=0).fit(images)
    return model, images, masks


def test_flatness_is_lowest_on_flat_colour():
    image = np.random.default_rng(0).uniform(0, 1, (20, 20, 3)).astype(np.float32)
    image[5:15, 5:7] = 0.3  # a stroke two pixels wide
    f = flatness(image)
    assert (f[5:15, 5:7] == f.min()).all() and np.median(f) > f.min() + 2


def test_standout_tells_an_object_of_one_colour_from_a_photo_patch_of_the_same_contrast():
    rng = np.random.default_rng(0)
    image = np.full((40, 60, 3), 0.2, np.float32)
    image[10:20, 10:20] = 0.6  # an object of one colour
    image[10:20, 35:45] = 0.6 + rng.uniform(-0.03, 0.03, (10, 10, 3))  # a photo patch: same colour, grain
    regions = np.zeros((40, 60), np.int64)
    regions[10:20, 10:20], regions[10:20, 35:45] = 1, 2
    contrast, spread = region_contrast(image, regions), region_spread(image, regions)
    assert np.allclose(contrast, 0.4, atol=0.02)  # contrast alone cannot tell them apart
    assert spread[0] == 0 and 0.02 < spread[1] < 0.06
    ratio = standout(contrast, spread)
    assert ratio[0] > 4.5 and ratio[1] < 2.5


def test_normalised_crop_is_centred_and_scaled():
    pixels = np.zeros((50, 30), bool)
    pixels[5:45, 10:20] = True
    crop = normalise_crop(pixels)
    rows, cols = np.nonzero(crop > 0.5)
    assert crop.shape == (28, 28) and rows.max() - rows.min() + 1 == 20
    assert abs(rows.mean() - 13.5) <= 1 and abs(cols.mean() - 13.5) <= 1


def test_crop_edges_are_softened_but_the_shape_kept():
    pixels = np.zeros((40, 40), bool)
    pixels[:, 15:25] = True  # a bar whose scaled edges fall on whole pixels
    hard, soft = normalise_crop(pixels, soften=0), normalise_crop(pixels)
    assert set(np.unique(hard)) == {0.0, 1.0}
    grey = (soft > 0.05) & (soft < 0.95)
    assert grey.sum() > 0 and not ((hard > 0) & (hard < 1)).any()
    assert np.array_equal(soft > 0.5, hard > 0.5)  # softer edges, the same silhouette
    assert abs(soft.sum() - hard.sum()) / hard.sum() < 0.05


def test_pipeline_recovers_the_objects_of_tiny_scenes(fitted):
    model, images, masks = fitted
    parses = model.predict(images)
    truth = [true_objects(m) for m in masks]
    scores = object_scores([p.objects for p in parses], [p.classes for p in parses],
                           [t[0] for t in truth], [t[1] for t in truth])
    assert scores["object_recall"] >= 0.9 and scores["object_precision"] >= 0.9
    assert scores["object_acc"] >= 0.9
    one = parses[0]
    assert one.objects.shape == (96, 128) and len(one.confidence) == len(one)
    assert ((one.confidence >= 0) & (one.confidence <= 1)).all()
    assert (one.regions[one.foreground] == 0).all() and (one.regions[~one.foreground] > 0).all()


def test_predict_keeps_state_and_save_load_gives_the_same(fitted, tmp_path):
    model, images, _ = fitted
    before = model.predict(images[0])
    path = model.save(tmp_path / "app.safetensors")
    again = load_model(path)
    after = again.predict(images[0])
    assert np.array_equal(before.objects, after.objects) and np.array_equal(before.classes, after.classes)
    assert np.allclose(before.confidence, after.confidence)
    assert np.array_equal(model.predict(images[0]).classes, before.classes)


def test_a_model_file_with_the_old_contrast_mixture_is_refused(fitted, tmp_path, monkeypatch):
    import dataclasses

    from tutorial_lib import io_adapters

    adapter = io_adapters.ADAPTERS["ObjectPipeline"]

    def dump_as_before(est, w):  # files saved before the standout ratio named the mixture "contrast"
        fitted_state = adapter.dump(est, w)
        fitted_state["contrast"] = fitted_state.pop("standout")
        return fitted_state

    before = dataclasses.replace(adapter, dump=dump_as_before)
    monkeypatch.setitem(io_adapters.ADAPTERS, "ObjectPipeline", before)
    path = fitted[0].save(tmp_path / "old.safetensors")
    monkeypatch.undo()
    with pytest.raises(ValueError, match="fit it again"):
        load_model(path)


def test_bad_parameters_are_refused():
    images, _ = _scenes(2)
    with pytest.raises(ValueError, match="foreground"):
        ObjectPipeline(foreground="magic").fit(images)
    with pytest.raises(ValueError, match="n_clusters"):
        ObjectPipeline(n_clusters=0).fit(images)


def test_application_command_on_a_plain_folder(tmp_path):
    from PIL import Image

    from tutorial_lib.__main__ import main

    images, _ = _scenes(5)
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, im in enumerate(images):
        pixels = (im.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"p{i}.png")
    out = tmp_path / "out"
    assert main(["application", "--data", f"folder:{folder}", "--clusters", "3", "--out", str(out),
                 "--json", str(tmp_path / "r.json")]) == 0
    assert sorted(p.name for p in (out / "overlays").iterdir()) == [f"p{i}.png" for i in range(5)]
    with open(out / "objects.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 13 and {r["image"] for r in rows} == {f"p{i}.png" for i in range(5)}
    assert all(0 <= float(r["confidence"]) <= 1 and int(r["area"]) >= 30 for r in rows)
    assert list((out / "gallery").glob("class_*.png"))


def test_application_panel_runs_the_plain_call_and_follows_its_controls():
    from tutorial_lib.widgets import application_panel, application_view

    images, masks = _scenes(4)
    plain = application_view(images, masks, index=1, min_size=30, n_clusters=3, clusterer="kmeans",
                             draw=False)
    assert plain["figure"] is None and plain["object_recall"] >= 0.9 and "recall" in plain["summary"]
    panel = application_panel(images, masks, min_size=30, n_clusters=3, clusterer="kmeans")
    assert panel.result == {}  # nothing runs before the button
    first = panel.run()
    assert first["n_objects"] == plain["n_objects"] and panel.image.value
    panel.controls["min_size"].value = 400  # fewer than 4 objects of the 4 tiny scenes are this large
    panel.controls["n_clusters"].value = 2
    with pytest.raises(Exception, match="objects were found"):
        panel.run()
    assert "failed" in panel.status.value


def test_default_scan_recogniser_labels_tiny_scenes_and_survives_save_load(tmp_path):
    images, masks = _scenes()
    small = {"width": 8, "warm_steps": 10, "steps": 60, "self_label_steps": 10, "batch_size": 16,
             "n_neighbors": 3}
    model = ObjectPipeline(min_size=30, n_clusters=3, clusterer_params=small, seed=0).fit(images)
    # the default recogniser; too few crops to try over-clustering
    assert model.clusterer == "scan" and model.recogniser_.size_choice_ is None
    parses = model.predict(images)
    truth = [true_objects(m) for m in masks]
    scores = object_scores([p.objects for p in parses], [p.classes for p in parses],
                           [t[0] for t in truth], [t[1] for t in truth])
    assert scores["object_acc"] >= 0.8  # three shapes, 18 objects: chance is about 0.4
    again = load_model(model.save(tmp_path / "scan_app.safetensors")).predict(images[0])
    assert np.array_equal(again.classes, parses[0].classes)
    assert np.allclose(again.confidence, parses[0].confidence)


def test_bench_application_is_a_bench_task(capsys):
    from tutorial_lib.__main__ import main

    # an unknown variant fails before any scene is made: the task itself parses and routes
    assert main(["bench", "application", "--methods", "no-such-variant"]) == 2
    assert "unknown application variants ['no-such-variant']" in capsys.readouterr().err


def test_matched_crops_pairs_each_matched_object_with_its_true_and_predicted_class(fitted):
    from tutorial_lib.evaluation.application import matched_crops

    model, images, masks = fitted
    parses = model.predict(images)
    crops, truth, predicted = matched_crops(parses, masks)
    n_matched = sum(len(match_objects(p.objects, true_objects(m)[0]))
                    for p, m in zip(parses, masks, strict=True))
    assert crops.shape == (n_matched, 1, 28, 28) and len(truth) == len(predicted) == n_matched
    assert set(truth.tolist()) <= {0, 1, 2}
    assert cluster_acc(truth, predicted) >= 0.9  # the fitted pipeline labels these shapes well


def test_foreground_stage_alone_finds_what_predict_finds_and_scores_without_a_recogniser(fitted):
    from tutorial_lib.base import NotFittedError
    from tutorial_lib.evaluation.application import foreground_scores, score

    model, images, masks = fitted
    stage = ObjectPipeline(min_size=30, seed=0)
    with pytest.raises(NotFittedError):
        stage.object_maps(images)
    stage.training_crops(images)  # fits the two mixtures only
    assert not hasattr(stage, "recogniser_")
    maps = stage.object_maps(images)
    parses = model.predict(images)
    assert all(np.array_equal(m, p.objects) for m, p in zip(maps, parses, strict=True))
    alone, full = foreground_scores(maps, masks), score(parses, masks)
    for key in ("foreground_iou", "object_recall", "object_precision", "n_true_objects"):
        assert alone[key] == full[key]
    assert alone["n_objects"] == sum(len(p) for p in parses)


def test_foreground_scores_of_a_missed_object_and_an_invented_one():
    from tutorial_lib.evaluation.application import foreground_scores

    mask = np.zeros((20, 30), np.int64)
    mask[2:8, 2:8] = 1  # class 0, found exactly
    mask[12:18, 2:8] = 2  # class 1, missed
    found = np.zeros_like(mask)
    found[2:8, 2:8] = 1
    found[2:8, 20:26] = 2  # invented on the background
    out = foreground_scores([found], [mask])
    assert out["object_recall"] == 0.5 and out["object_precision"] == 0.5
    assert out["foreground_iou"] == round(36 / 108, 4)
    assert out["n_objects"] == 2 and out["n_true_objects"] == 2
