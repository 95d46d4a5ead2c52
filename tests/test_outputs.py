"""The user's own folder, end to end through the command line: per-image assignments, the gallery and the
summary of `cluster --out`, the number of clusters chosen without labels, `--save-model` then `predict`,
and the label maps and overlays of `segment --data folder: --out` at each picture's original size."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tutorial_lib import data, viz
from tutorial_lib.__main__ import main
from tutorial_lib.evaluation import clustering, outputs
from tutorial_lib.evaluation import segmentation as seg_eval

CLASSES = ("0", "1", "7")
PER_CLASS = 20


def _png(image: torch.Tensor, path: Path) -> Path:
    """Write a (C, H, W) float image in [0, 1] as an 8-bit PNG."""
    arr = np.round(image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(path)
    return path


@pytest.fixture(scope="module")
def digit_images():
    """Twenty 1×8×8 digits of each of the classes 0, 1 and 7."""
    ds = data.load("digits")
    return {c: ds.images[ds.labels == int(c)][:PER_CLASS] for c in CLASSES}


def _class_folder(root: Path, digit_images) -> Path:
    for c, images in digit_images.items():
        for i, im in enumerate(images):
            _png(im, root / c / f"{i:03d}.png")
    return root


def _flat_folder(root: Path, digit_images) -> Path:
    for c, images in digit_images.items():
        for i, im in enumerate(images):
            _png(im, root / f"{c}_{i:03d}.png")
    return root


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _gallery_spy(monkeypatch) -> list:
    """Record the figures the gallery draws (viz.plot_cluster_gallery still draws them)."""
    figures, draw = [], viz.plot_cluster_gallery

    def spy(*args, **kwargs):
        figures.append(draw(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(viz, "plot_cluster_gallery", spy)
    return figures


# --- cluster --out --------------------------------------------------------------------------------


def test_a_class_folder_gives_one_row_per_readable_image_a_gallery_and_the_summary(
        tmp_path, digit_images, monkeypatch, capsys):
    folder = _class_folder(tmp_path / "digits", digit_images)
    (folder / "1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    figures = _gallery_spy(monkeypatch)
    out, json_path = tmp_path / "out", tmp_path / "result.json"
    with pytest.warns(UserWarning, match=r"skipped .*broken\.png"):
        assert main(["cluster", "--data", f"folder:{folder}", "--method", "kmeans", "--device", "cpu",
                     "--out", str(out), "--json", str(json_path)]) == 0
    printed = capsys.readouterr().out
    rows = _rows(out / "assignments.csv")
    assert list(rows[0]) == ["path", "cluster", "confidence", "true_class"]
    written = sorted(str(p.absolute()) for p in folder.rglob("[0-9]*.png"))
    assert sorted(r["path"] for r in rows) == written and len(rows) == len(CLASSES) * PER_CLASS
    assert all(Path(r["path"]).parent.name == r["true_class"] for r in rows)
    assert {int(r["cluster"]) for r in rows} == {0, 1, 2}
    assert all(0.0 <= float(r["confidence"]) <= 1.0 for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads(json_path.read_text())  # the same result as --json
    counts = Counter(int(r["cluster"]) for r in rows)
    assert summary["cluster_sizes"] == [counts[c] for c in range(3)] and summary["n_clusters"] == 3
    assert summary["acc"] > 0.9 and "k_selection" not in summary  # k = the class subfolders
    assert "broken" not in printed and str(written[0]) not in printed  # the table lists no assignment
    (fig,) = figures
    captions = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert len(captions) == 3  # one row per cluster, captioned with its size
    assert sorted(int(c.split("\n")[1].split(",")[0]) for c in captions) == sorted(summary["cluster_sizes"])
    with Image.open(out / "clusters.png") as gallery:
        assert gallery.format == "PNG" and gallery.height > 100


def test_a_flat_folder_chooses_k_without_labels_and_reports_how(tmp_path, digit_images):
    folder = _flat_folder(tmp_path / "flat", digit_images)
    out = tmp_path / "out"
    assert main(["cluster", "--data", f"folder:{folder}", "--method", "pca-kmeans", "--device", "cpu",
                 "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    selection = summary["k_selection"]
    n = len(CLASSES) * PER_CLASS
    assert list(selection["values"]) == [str(k) for k in range(2, min(20, n // 5) + 1)]
    best = max(selection["values"], key=selection["values"].get)
    assert selection["chosen"] == int(best) == summary["n_clusters"]
    assert "silhouette" in selection["criterion"] and summary["acc"] is None
    rows = _rows(out / "assignments.csv")
    assert list(rows[0]) == ["path", "cluster", "confidence"] and len(rows) == n
    assert len(summary["cluster_sizes"]) == summary["n_clusters"] and sum(summary["cluster_sizes"]) == n


def test_the_python_result_carries_the_assignments_as_arrays(tmp_path, digit_images):
    folder = _class_folder(tmp_path / "digits", digit_images)
    result = clustering.evaluate(f"folder:{folder}", method="kmeans", device="cpu")
    found = result.assignments
    assert found.clusters.dtype == np.int64 and found.clusters.shape == (len(CLASSES) * PER_CLASS,)
    assert found.confidence.dtype == np.float32 and found.confidence.shape == found.clusters.shape
    assert found.paths == sorted(found.paths) and found.true_classes()[0] == "0"
    assert "assignments" not in result and not any(isinstance(v, np.ndarray) for v in result.values())
    json.dumps(result)  # the dict holds JSON values only


def test_the_distance_confidence_is_one_on_a_centre_and_zero_halfway():
    distances = torch.tensor([[0.0, 4.0], [2.0, 2.0], [1.0, 3.0], [3.0, 1.0]])
    conf = clustering.margin_confidence(distances, torch.tensor([0, 0, 0, 1]))
    assert torch.allclose(conf, torch.tensor([1.0, 0.0, 2 / 3, 2 / 3]))
    one_cluster = clustering.margin_confidence(torch.ones(3, 1), torch.zeros(3, dtype=torch.long))
    assert one_cluster.tolist() == [1.0] * 3


# --- save-model and predict ------------------------------------------------------------------------


def test_a_saved_model_predicts_the_clusters_of_the_training_run(tmp_path, digit_images):
    folder = _class_folder(tmp_path / "digits", digit_images)
    model, first, again = tmp_path / "m.safetensors", tmp_path / "first", tmp_path / "again"
    assert main(["cluster", "--data", f"folder:{folder}", "--method", "pca-kmeans", "--device", "cpu",
                 "--out", str(first), "--save-model", str(model)]) == 0
    assert main(["predict", "--model", str(model), "--data", f"folder:{folder}", "--device", "cpu",
                 "--out", str(again)]) == 0
    trained, predicted = _rows(first / "assignments.csv"), _rows(again / "assignments.csv")
    assert [(r["path"], r["cluster"]) for r in predicted] == [(r["path"], r["cluster"]) for r in trained]
    assert np.allclose([float(r["confidence"]) for r in predicted],
                       [float(r["confidence"]) for r in trained], atol=1e-3)
    summary = json.loads((again / "summary.json").read_text())
    assert summary["method"] == "pca-kmeans" and summary["model"] == str(model) and summary["acc"] > 0.9
    assert (again / "clusters.png").is_file()

    # new pictures of another size are loaded at the model's 1×8×8
    bigger = tmp_path / "bigger"
    for i, im in enumerate(digit_images["7"][:6]):
        _png(torch.nn.functional.interpolate(im[None], size=(24, 24))[0], bigger / f"{i}.png")
    assert main(["predict", "--model", str(model), "--data", f"folder:{bigger}", "--device", "cpu",
                 "--out", str(tmp_path / "new")]) == 0
    assert len(_rows(tmp_path / "new" / "assignments.csv")) == 6


def test_scan_saved_then_predicted_gives_its_clusters_and_probabilities(tmp_path, digit_images, monkeypatch):
    monkeypatch.setenv("TUTORIAL_FAST", "1")
    folder = _class_folder(tmp_path / "digits", digit_images)
    model, first, again = tmp_path / "scan.safetensors", tmp_path / "first", tmp_path / "again"
    assert main(["cluster", "--data", f"folder:{folder}", "--method", "scan", "--device", "cpu",
                 "--checkpoint-dir", str(tmp_path / "ck"), "--out", str(first),
                 "--save-model", str(model)]) == 0
    assert main(["predict", "--model", str(model), "--data", f"folder:{folder}", "--device", "cpu",
                 "--out", str(again)]) == 0
    trained, predicted = _rows(first / "assignments.csv"), _rows(again / "assignments.csv")
    assert [r["cluster"] for r in predicted] == [r["cluster"] for r in trained]
    conf = np.array([float(r["confidence"]) for r in predicted])
    assert np.allclose(conf, [float(r["confidence"]) for r in trained], atol=1e-4)
    assert (conf >= 1 / 3 - 1e-6).all() and (conf <= 1).all()  # the probability of the most likely of 3


# --- segment --data folder: --out ---------------------------------------------------------------------


def _picture(h: int, w: int, seed: int) -> torch.Tensor:
    """A colour picture of two halves (left dark red, right light blue) with a little noise."""
    rng = np.random.default_rng(seed)
    image = np.zeros((3, h, w), np.float32)
    image[:, :, : w // 2] = np.array([0.7, 0.1, 0.1])[:, None, None]
    image[:, :, w // 2:] = np.array([0.2, 0.6, 0.9])[:, None, None]
    return torch.from_numpy(np.clip(image + rng.normal(0, 0.03, image.shape), 0, 1).astype(np.float32))


def test_segment_a_folder_of_pictures_writes_label_maps_at_the_original_size(tmp_path):
    folder = tmp_path / "photos"
    sizes = {"a/001.png": (40, 30), "b/001.png": (25, 50), "big.png": (600, 700)}
    for i, (name, (h, w)) in enumerate(sizes.items()):
        _png(_picture(h, w, i), folder / name)
    (folder / "notes.txt").write_text("not a picture")
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match=r"skipped .*notes\.txt"):
        assert main(["segment", "--data", f"folder:{folder}", "--method", "otsu", "--out", str(out)]) == 0
    for name, (h, w) in sizes.items():
        with Image.open(out / "labels" / name) as im:
            labels = np.asarray(im)
        assert labels.shape == (h, w) and labels.dtype == np.uint8
        assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))  # consecutive
        assert labels[:, : w // 4].std() == 0 and labels[0, 0] != labels[0, -1]  # the two halves
        with Image.open(out / "overlays" / name) as im:
            assert im.size == (w, h) and im.mode == "RGB"
    assert sorted(p.relative_to(out / "labels").as_posix() for p in (out / "labels").rglob("*.png")) == \
        sorted(sizes)  # a/001.png and b/001.png kept apart, notes.txt absent
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_images"] == 3 and summary["n_shrunk"] == 1 and summary["max_side"] == 512
    assert "miou" not in summary


def test_a_large_picture_is_segmented_at_the_working_size_and_labelled_back_by_nearest_neighbour(tmp_path):
    _png(_picture(600, 700, 0), tmp_path / "photos" / "big.png")
    result = seg_eval.evaluate(f"folder:{tmp_path / 'photos'}", method="otsu", progress=False)
    small, full = result.labels[0], result.label_map(0)
    assert small.shape == (439, 512) and full.shape == (600, 700)
    rows = np.floor((np.arange(600) + 0.5) * 439 / 600).astype(int)
    cols = np.floor((np.arange(700) + 0.5) * 512 / 700).astype(int)
    assert np.array_equal(full, small[rows][:, cols])


def test_a_segfolder_is_scored_and_its_maps_written(tmp_path):
    for i in range(2):
        image = _picture(32, 40, i)
        _png(image, tmp_path / "set" / "images" / f"{i}.png")
        mask = np.zeros((32, 40), np.uint8)
        mask[:, 20:] = 1
        (tmp_path / "set" / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask).save(tmp_path / "set" / "masks" / f"{i}.png")
    out, json_path = tmp_path / "out", tmp_path / "r.json"
    assert main(["segment", "--data", f"segfolder:{tmp_path / 'set'}", "--method", "otsu", "--out", str(out),
                 "--json", str(json_path)]) == 0
    summary = json.loads(json_path.read_text())
    assert summary["miou"] > 0.9 and json.loads((out / "summary.json").read_text()) == summary
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["0.png", "1.png"]


def test_two_files_with_one_stem_keep_their_whole_names(tmp_path):
    paths = [str(tmp_path / n) for n in ("a/x.png", "a/x.jpg", "b/x.png", "y.tif")]
    names = [n.as_posix() for n in outputs.output_names(paths, str(tmp_path), 4)]
    assert names == ["a/x.png.png", "a/x.jpg.png", "b/x.png", "y.png"]
    assert [n.as_posix() for n in outputs.output_names(None, None, 2)] == ["0000.png", "0001.png"]


def test_more_than_255_labels_are_saved_as_16_bit(tmp_path):
    labels = np.arange(300).reshape(15, 20)
    outputs.label_image(labels).save(tmp_path / "l.png")
    with Image.open(tmp_path / "l.png") as im:
        assert np.array_equal(np.asarray(im), labels)
    assert data.read_mask(tmp_path / "l.png").max() == 299
