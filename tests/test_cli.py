"""The command line's answers to bad input: one rule for --seed, --limit and --seeds; each command's
own --data help; output files checked before the work; OS errors and interrupts answered with a
message and an exit status (2, 130) instead of a traceback; subsets too small to score refused.

The real Ctrl-C of a training run and its --resume are in the fault suite (tests/test_faults.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from tutorial_lib.__main__ import default_checkpoint_dir, main
from tutorial_lib.data import ImageSet
from tutorial_lib.evaluation import clustering as evaluation
from tutorial_lib.train import History, TrainingInterrupted


@pytest.mark.parametrize("argv", [["cluster", "--data", "digits"], ["segment", "--data", "mosaic"], ["demo"]])
def test_a_negative_seed_is_refused_by_every_command_that_takes_one(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--seed", "-1"])
    assert stopped.value.code == 2
    assert "--seed must be a whole number of at least 0, got '-1'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, option", [
    (["cluster", "--data", "digits", "--limit", "0"], "--limit"),
    (["segment", "--data", "mosaic", "--limit", "many"], "--limit"),
    (["bench", "clustering", "--data", "digits", "--seeds", "0"], "--seeds"),
])
def test_counts_must_be_whole_numbers_of_at_least_one(argv, option, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert f"{option} must be a whole number of at least 1" in capsys.readouterr().err


def _help(command: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return capsys.readouterr().out


def test_each_command_lists_its_own_datasets(capsys):
    segment, cluster = _help("segment", capsys), _help("cluster", capsys)
    assert all(name in segment for name in ("mosaic", "scenes", "segfolder:PATH"))
    assert "digits" not in segment and "mnist" not in segment
    assert all(name in cluster for name in ("digits", "mnist", "folder:PATH"))
    assert "mosaic" not in cluster and "segfolder" not in cluster
    assert "--resume" in cluster and "--checkpoint-dir" in segment


@pytest.fixture
def recorded_runs(monkeypatch):
    """``evaluation.clustering.evaluate`` replaced by a recorder: the keyword arguments of each call."""
    calls = []

    def record(data, **kwargs):
        calls.append(kwargs)
        return {"acc": 0.5}

    monkeypatch.setattr(evaluation, "evaluate", record)
    return calls


def _unwritable_folder(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o555)
        return folder
    if not sys.platform.startswith("linux"):
        pytest.skip("root may write anywhere here")
    return Path("/proc")  # not even root creates files there


@pytest.mark.parametrize("case", ["a folder", "below a file", "an unwritable folder"])
def test_a_json_path_that_cannot_be_written_is_refused_before_the_work(case, tmp_path, recorded_runs, capsys):
    (tmp_path / "notes.txt").write_text("a file")
    if case == "a folder":
        path, said = tmp_path, "is a folder"
    elif case == "below a file":
        path, said = tmp_path / "notes.txt" / "result.json", "is a file, not a folder"
    else:
        path, said = _unwritable_folder(tmp_path) / "new" / "result.json", "cannot be written"
    assert main(["cluster", "--data", "digits", "--json", str(path)]) == 2
    assert said in capsys.readouterr().err
    assert recorded_runs == []  # refused before anything ran


def test_os_errors_end_with_a_message_not_a_traceback(monkeypatch, capsys):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/data/cats/1.png")

    monkeypatch.setattr(evaluation, "evaluate", denied)
    assert main(["cluster", "--data", "folder:/data"]) == 2
    assert "error: [Errno 13] Permission denied: '/data/cats/1.png'" in capsys.readouterr().err


def test_default_checkpoint_folder_is_in_the_cache_named_after_the_run(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    base = tmp_path / "xdg" / "tutorial_lib" / "checkpoints"
    assert default_checkpoint_dir("cluster", "digits", "scan", 0) == base / "cluster-digits-scan-seed0"
    assert (default_checkpoint_dir("cluster", "digits", "dec", 3, limit=300, fast=True)
            == base / "cluster-digits-dec-seed3-limit300-fast")
    a, b = (default_checkpoint_dir("cluster", f"folder:{p}", "scan", 0) for p in ("/x/y", "/x_y"))
    assert a.parent == base and a != b and "/" not in a.name
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home_cache = tmp_path / "home" / ".cache" / "tutorial_lib" / "checkpoints"
    assert default_checkpoint_dir("segment", "mosaic", "otsu", 0) == home_cache / "segment-mosaic-otsu-seed0"


def test_an_interrupted_run_exits_130_writes_nothing_and_says_how_to_resume(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("TUTORIAL_FAST", raising=False)
    seen = []

    def interrupted_in_stage_3(data, checkpoint_dir=None, resume=False, **kwargs):
        seen.append((checkpoint_dir, resume))
        saved = Path(checkpoint_dir) / "scan" / "last.pt"  # where SCAN keeps its third stage
        saved.parent.mkdir(parents=True)
        saved.write_bytes(b"state")
        raise TrainingInterrupted("training interrupted in epoch 3", History(), saved)

    monkeypatch.setattr(evaluation, "evaluate", interrupted_in_stage_3)
    json_path = tmp_path / "out" / "result.json"
    argv = ["cluster", "--data", "digits", "--json", str(json_path)]
    assert main(argv) == 130
    out, err = capsys.readouterr()
    folder = tmp_path / "tutorial_lib" / "checkpoints" / "cluster-digits-scan-seed0"
    assert seen == [(str(folder), False)]
    assert not json_path.exists() and "acc" not in out
    assert f"kept in {folder}" in err
    assert f"python -m tutorial_lib cluster --data digits --json {json_path} --resume" in err

    monkeypatch.setattr(evaluation, "evaluate", lambda data, **kwargs: seen.append(
        (kwargs["checkpoint_dir"], kwargs["resume"])) or {"acc": 0.5})
    assert main([*argv, "--resume"]) == 0
    assert seen[-1] == (str(folder), True) and json_path.exists()


def test_an_interrupt_before_any_checkpoint_says_to_run_again(monkeypatch, tmp_path, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluation, "evaluate", interrupted)
    assert main(["cluster", "--data", "digits", "--checkpoint-dir", str(tmp_path / "c")]) == 130
    assert "no checkpoint to resume from; run the command again" in capsys.readouterr().err


# --- subsets too small to score (the evaluation layer behind the command) ----------------------

@pytest.mark.parametrize("limit", ["1", "5", "19"])
def test_a_limit_below_two_images_per_class_is_refused(limit, capsys):
    assert main(["cluster", "--data", "digits", "--limit", limit, "--method", "kmeans"]) == 2
    err = capsys.readouterr().err
    assert f"gives {limit} images, too few to score 10 clusters: at least 20" in err and "--limit" in err


def test_n_clusters_must_be_at_least_one():
    for bad in (0, -2, 2.5, True):
        with pytest.raises(ValueError, match="n_clusters must be a whole number"):
            evaluation.evaluate("digits", method="kmeans", limit=50, n_clusters=bad, device="cpu")


def test_fewer_classes_present_than_clusters_is_refused(monkeypatch):
    five_of_ten = ImageSet(torch.rand(40, 1, 8, 8), torch.arange(40) % 5, [str(c) for c in range(10)])
    monkeypatch.setattr(evaluation, "load_for_clustering", lambda *args, **kwargs: five_of_ten)
    with pytest.raises(ValueError, match="hold 5 of its 10 classes, fewer than the 10 clusters"):
        evaluation.evaluate("digits", method="kmeans", device="cpu")
    out = evaluation.evaluate("digits", method="kmeans", n_clusters=5, device="cpu")  # as many as present
    assert out["n_clusters"] == 5 and out["n_samples"] == 40


def test_checkpoint_settings_reach_the_methods(tmp_path):
    from tutorial_lib.evaluation import segmentation

    scan = evaluation.make_estimator("scan", checkpoint_dir=tmp_path, resume=True)
    assert (scan.checkpoint_dir, scan.resume) == (tmp_path, True)
    assert evaluation.make_estimator("dec", checkpoint_dir=tmp_path).checkpoint_dir == tmp_path
    kmeans = evaluation.make_estimator("kmeans", checkpoint_dir=tmp_path)  # kept for a step that trains
    assert kmeans.checkpoint_dir == tmp_path and "checkpoint_dir" not in kmeans._feature_step().get_params()
    # no segmentation method keeps checkpoints yet: they are built as before
    otsu = segmentation.make_method("otsu", checkpoint_dir=tmp_path, resume=True)
    assert repr(otsu) == repr(segmentation.make_method("otsu"))


# --- --clusters, --out, --save-model and predict: refused before any work --------------------------

@pytest.mark.parametrize("value", ["0", "-3", "two", "2.5"])
def test_clusters_must_be_auto_or_a_whole_number(value, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["cluster", "--data", "digits", "--clusters", value])
    assert stopped.value.code == 2
    said = f"--clusters must be auto or a whole number of at least 1, got '{value}'"
    assert said in capsys.readouterr().err


def test_clusters_reaches_the_evaluation(recorded_runs):
    assert main(["cluster", "--data", "digits", "--clusters", "AUTO"]) == 0
    assert main(["cluster", "--data", "digits", "--clusters", "4"]) == 0
    assert [call["n_clusters"] for call in recorded_runs] == ["auto", 4]


@pytest.mark.parametrize("option, case, said", [
    ("--out", "a file", "is a file; give a folder"),
    ("--out", "below a file", "is a file, not a folder"),
    ("--save-model", "a folder", "is a folder; give a file name"),
])
def test_output_places_are_checked_before_the_work(option, case, said, tmp_path, recorded_runs, capsys):
    (tmp_path / "notes.txt").write_text("a file")
    path = {"a file": tmp_path / "notes.txt", "below a file": tmp_path / "notes.txt" / "out",
            "a folder": tmp_path}[case]
    assert main(["cluster", "--data", "digits", option, str(path)]) == 2
    assert said in capsys.readouterr().err
    assert recorded_runs == []


def test_a_method_that_cannot_be_saved_is_refused_before_it_trains(tmp_path, recorded_runs, capsys):
    model = tmp_path / "tsne.safetensors"
    assert main(["cluster", "--data", "digits", "--method", "tsne-kmeans", "--save-model", str(model)]) == 2
    err = capsys.readouterr().err
    assert "DeepClusterPipeline cannot be saved: t-SNE has no transform" in err and "Traceback" not in err
    assert recorded_runs == [] and not model.exists()


@pytest.fixture
def saved_pca(tmp_path) -> Path:
    """A small PCA + k-means model file, as cluster --save-model writes it."""
    from tutorial_lib.io import save_model

    model = evaluation.make_estimator("pca-kmeans", n_clusters=2, device="cpu").fit(torch.rand(20, 1, 8, 8))
    return save_model(model, tmp_path / "pca.safetensors", extra={"image_shape": [1, 8, 8]})


@pytest.mark.parametrize("damage, said", [
    ("flip", "failed its integrity check (SHA-256 mismatch)"),
    ("truncate", "is truncated"),
    ("png", "is not a tutorial_lib model file: it is a PNG image"),
    ("missing", "no model file at"),
])
def test_predict_refuses_a_bad_model_file_with_exit_2_and_writes_nothing(damage, said, saved_pca, tmp_path,
                                                                        capsys):
    raw = bytearray(saved_pca.read_bytes())
    if damage == "flip":
        raw[-3] ^= 0x01
        saved_pca.write_bytes(bytes(raw))
    elif damage == "truncate":
        saved_pca.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "png":
        saved_pca.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    else:
        saved_pca.unlink()
    out = tmp_path / "out"
    assert main(["predict", "--model", str(saved_pca), "--data", "digits", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert said in err and str(saved_pca) in err and "Traceback" not in err
    assert not out.exists()


def test_predict_refuses_a_model_that_does_not_cluster_and_images_of_another_shape(saved_pca, tmp_path,
                                                                                  monkeypatch, capsys):
    from tutorial_lib.cluster import PCAFeatures
    from tutorial_lib.io import save_model

    features = save_model(PCAFeatures(3).fit(torch.rand(10, 1, 8, 8)), tmp_path / "pca-only.safetensors")
    assert main(["predict", "--model", str(features), "--data", "digits", "--out", str(tmp_path / "a")]) == 2
    assert "holds a PCAFeatures, a features model" in capsys.readouterr().err
    bigger = ImageSet(torch.rand(12, 1, 16, 16), None)
    monkeypatch.setattr(evaluation, "load_for_clustering", lambda *args, **kwargs: bigger)
    assert main(["predict", "--model", str(saved_pca), "--data", "digits", "--out", str(tmp_path / "b")]) == 2
    assert "trained on images of 1×8×8; digits gives 1×16×16" in capsys.readouterr().err
