"""The results page: ``python -m tutorial_lib bench report`` builds bench/RESULTS.md from the JSON files."""

import json

import pytest

from tutorial_lib import bench
from tutorial_lib.report import benchmark_rows, write_report

MAIN = "/x/tutorial_lib/__main__.py"  # what sys.argv[0] is under `python -m tutorial_lib`


def _old_file(tmp_path):
    """A clustering file as bench wrote it before machine, command and run times were recorded."""
    payload = {"task": "clustering", "data": "digits", "seeds": [0, 1, 2],
               "meta": {"n_samples": 100, "device": "cpu", "threads": 1},
               "median": [{"method": "kmeans", "acc": 0.8, "nmi": 0.7, "ari": 0.6, "seconds": 0.1},
                          {"method": "scan", "acc": 0.95, "nmi": 0.9, "ari": 0.9, "seconds": 60.0}],
               "runs": {"kmeans": [{"seconds": 0.1}], "scan": [{"seconds": 60.0}]}}
    (tmp_path / "clustering_digits.json").write_text(json.dumps(payload))


def test_new_result_files_record_machine_command_and_cpu_seconds(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", [MAIN, "bench", "segmentation", "--data", "mosaic"])
    calls = []

    def evaluate(data, **kw):
        calls.append(kw["seed"])
        sum(i * i for i in range(20000))  # some CPU work
        return {"miou": 0.5 + 0.1 * kw["seed"], "pixel_acc": 0.7, "seconds_per_image": 0.01}

    keys = ("miou", "pixel_acc", "seconds_per_image")
    rows, runs = bench.run_grid(evaluate, "mosaic", ["otsu"], [0, 1], keys)
    assert calls == [0, 1] and all(r["run_cpu_seconds"] >= 0 and r["run_seconds"] > 0 for r in runs["otsu"])
    payload = {"task": "segmentation", "data": "mosaic", "seeds": [0, 1], "meta": {"n_images": 2},
               "median": rows, "runs": runs}
    bench.write_tables(tmp_path, "segmentation_mosaic", "# t", "| t |", payload)
    saved = json.loads((tmp_path / "segmentation_mosaic.json").read_text())
    assert saved["command"] == "python -m tutorial_lib bench segmentation --data mosaic"
    assert saved["machine"]["torch"] and saved["machine"]["cpu"] and saved["machine"]["threads"] >= 1
    table_rows, columns, has_cpu = benchmark_rows(saved)
    assert has_cpu and columns[-2:] == ["run_seconds", "run_cpu_seconds"]
    assert table_rows[0]["miou"] == pytest.approx(0.55)


def test_report_page_marks_old_tables_and_plots_each_task(tmp_path, monkeypatch):
    _old_file(tmp_path)
    monkeypatch.setattr("sys.argv", [MAIN, "bench", "segmentation", "--data", "scenes"])
    payload = {"task": "segmentation", "data": "scenes", "seeds": [0], "meta": {"n_images": 4},
               "median": [{"method": "otsu", "miou": 0.3, "pixel_acc": 0.8, "seconds_per_image": 0.002}],
               "runs": {"otsu": [{"run_seconds": 0.5, "run_cpu_seconds": 0.9}]}}
    bench.write_tables(tmp_path / "results", "segmentation_scenes", "# t", "| t |", payload)
    (tmp_path / "clustering_digits.json").rename(tmp_path / "results" / "clustering_digits.json")
    page = write_report(tmp_path / "results")
    assert page == tmp_path / "RESULTS.md"
    text = page.read_text()
    old = text.split("## clustering on `digits`")[1].split("## ")[0]
    assert "(reconstructed: the file predates the recording of commands)" in old
    assert "predates the recording of the machine" in old and "predates the recording of CPU time" in old
    assert "| scan | 0.950 | 0.900 | 0.900 | 60.000 |" in old
    new = text.split("## segmentation on `scenes`")[1]
    assert "`python -m tutorial_lib bench segmentation --data scenes`" in new and "reconstructed" not in new
    assert "torch threads, torch " in new and "| otsu | 0.300 | 0.800 | 0.002 | 0.500 | 0.900 |" in new
    for task in ("clustering", "segmentation"):
        png = tmp_path / "results" / f"{task}.png"
        assert png.read_bytes()[:4] == b"\x89PNG" and f"](results/{task}.png)" in text


def test_report_page_takes_tables_of_other_shapes_from_their_markdown(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    # The generalisation grid keeps a dict under "median"; a bench/ script writes Markdown only.
    (results / "generalisation.json").write_text(json.dumps({"command": "python -m tutorial_lib bench "
                                                             "generalisation", "median": {"digits": {}}}))
    (results / "generalisation.md").write_text("# grid\n\n| set | acc |\n|---|---|\n| digits | 0.9 |\n")
    (results / "distributed.md").write_text("# Processes x threads\n\n| p | s |\n|---|---|\n| 2 | 1.0 |\n")
    text = write_report(results).read_text()
    assert "| digits | 0.9 |" in text and "`python -m tutorial_lib bench generalisation`" in text
    assert "## Processes x threads" in text and "| 2 | 1.0 |" in text


def test_report_without_results_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="bench clustering"):
        write_report(tmp_path)


def test_cli_bench_report(tmp_path, capsys):
    from tutorial_lib.__main__ import main

    _old_file(tmp_path)
    assert main(["bench", "report", "--out", str(tmp_path)]) == 0
    assert "RESULTS.md" in capsys.readouterr().out and (tmp_path.parent / "RESULTS.md").is_file()
