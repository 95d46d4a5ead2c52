"""``bench generalisation``: every clustering method on every development set, medians over seeds, mean
ranks; a tiny run (digits, 200 images, k-means, fast budgets) writes the table and its JSON."""

from __future__ import annotations

import json

import pytest

from tutorial_lib.__main__ import main
from tutorial_lib.bench_generalisation import (
    GENERALISATION_SETS,
    mean_ranks,
    merge_generalisation,
    run_generalisation,
)


def test_mean_ranks_share_ties_and_put_missing_scores_last():
    medians = {"a": {"x": 0.9, "y": 0.8, "z": 0.8}, "b": {"x": 0.5, "y": None, "z": 0.7}}
    # a: x 1, y and z share 2 and 3 (2.5 each); b: z 1, x 2, y (no score) 3
    assert mean_ranks(medians, ["x", "y", "z"]) == {"x": 1.5, "y": 2.75, "z": 1.75}
    assert mean_ranks({"a": {"x": 0.3}}, ["x"]) == {"x": 1.0}


def test_a_tiny_run_writes_the_table_and_the_runs(tmp_path):
    table = run_generalisation(["digits"], ["kmeans", "pca-kmeans"], seeds=[0], limit=200, out_dir=tmp_path,
                               device="cpu", fast=True)
    lines = table.splitlines()
    assert lines[0] == "| method | digits acc | digits nmi | digits s | mean rank |"
    assert lines[2].startswith("| kmeans | ") and lines[3].startswith("| pca-kmeans | ")
    text = (tmp_path / "generalisation.md").read_text()
    assert text.startswith("# generalisation") and "digits: 200 images, 10 clusters" in text
    assert "fast budgets" in text and "limit=200" in text
    payload = json.loads((tmp_path / "generalisation.json").read_text())
    assert payload["sets"] == ["digits"] and payload["seeds"] == [0] and payload["limit"] == 200
    runs = payload["runs"]["digits"]
    assert set(runs) == {"kmeans", "pca-kmeans"} and runs["kmeans"][0]["n_samples"] == 200
    acc = {m: runs[m][0]["acc"] for m in runs}
    assert all(0.5 < a <= 1.0 for a in acc.values())  # chance is about 0.1
    best = max(acc, key=acc.get)
    assert payload["mean_rank"][best] == (1.5 if len(set(acc.values())) == 1 else 1.0)
    assert sorted(payload["mean_rank"].values()) in ([1.0, 2.0], [1.5, 1.5])


def test_a_missing_set_fails_before_any_method_runs(tmp_path, monkeypatch):
    from tutorial_lib.data import coil

    def offline(url, target):
        raise OSError("no network here")

    monkeypatch.setattr(coil, "_fetch", offline)
    with pytest.raises(FileNotFoundError, match="COIL-20 not found"):
        run_generalisation(["digits", "coil20"], ["kmeans"], seeds=[0], root=tmp_path,
                           out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="unknown clustering method"):
        run_generalisation(["digits"], ["nope"], seeds=[0], out_dir=tmp_path)
    with pytest.raises(ValueError, match="at least one"):
        run_generalisation(["digits"], ["kmeans"], seeds=[], out_dir=tmp_path)


def test_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TUTORIAL_FAST", "1")
    assert GENERALISATION_SETS == ("digits", "mnist", "mnist-imbalanced", "coil20")
    code = main(["bench", "generalisation", "--sets", "digits", "--methods", "kmeans", "--seeds", "1",
                 "--limit", "200", "--device", "cpu", "--out", str(tmp_path)])
    assert code == 0 and "| kmeans |" in capsys.readouterr().out
    assert (tmp_path / "generalisation.md").is_file() and (tmp_path / "generalisation.json").is_file()
    assert json.loads((tmp_path / "generalisation.json").read_text())["fast"] is True
    assert main(["bench", "generalisation", "--data", "digits", "--out", str(tmp_path)]) == 2
    assert "--sets" in capsys.readouterr().err
    assert main(["bench", "clustering", "--data", "digits", "--sets", "digits", "--out", str(tmp_path)]) == 2
    assert "--sets is for bench generalisation" in capsys.readouterr().err


def test_runs_made_apart_merge_into_the_table_one_run_would_give(tmp_path, monkeypatch):
    monkeypatch.setenv("TUTORIAL_FAST", "1")  # the command line's budgets, as fast=True below
    kwargs = {"limit": 200, "device": "cpu", "fast": True}
    whole = run_generalisation(["digits"], ["kmeans", "pca-kmeans"], seeds=[0, 1], out_dir=tmp_path / "a",
                               **kwargs)
    run_generalisation(["digits"], ["kmeans", "pca-kmeans"], seeds=[0], out_dir=tmp_path / "b", **kwargs)
    code = main(["bench", "generalisation", "--sets", "digits", "--methods", "kmeans", "pca-kmeans",
                 "--first-seed", "1", "--seeds", "1", "--limit", "200", "--device", "cpu",
                 "--out", str(tmp_path / "c")])
    assert code == 0
    parts = [tmp_path / d / "generalisation.json" for d in "bc"]

    def accuracy_cells(table):  # the seconds differ from run to run; the scores may not
        return [[c for i, c in enumerate(line.split("|")) if i not in (4, 5)] for line in table.splitlines()]

    merged = merge_generalisation(parts, out_dir=tmp_path / "m")
    assert accuracy_cells(merged) == accuracy_cells(whole)
    payload = json.loads((tmp_path / "m" / "generalisation.json").read_text())
    assert payload["seeds"] == [0, 1] and [r["seed"] for r in payload["runs"]["digits"]["kmeans"]] == [0, 1]
    assert "joined from 2 files" in (tmp_path / "m" / "generalisation.md").read_text()
    run_generalisation(["digits"], ["kmeans"], seeds=[1], out_dir=tmp_path / "d", **kwargs)
    with pytest.raises(ValueError, match="seeds"):  # pca-kmeans would have seed 0 only
        merge_generalisation([parts[0], tmp_path / "d" / "generalisation.json"], out_dir=tmp_path / "m")
    run_generalisation(["digits"], ["kmeans"], seeds=[0], limit=100, device="cpu", fast=True,
                       out_dir=tmp_path / "e")
    with pytest.raises(ValueError, match="'limit'"):
        merge_generalisation([parts[0], tmp_path / "e" / "generalisation.json"], out_dir=tmp_path / "m")
    assert main(["bench", "clustering", "--data", "digits", "--merge", str(parts[0])]) == 2
