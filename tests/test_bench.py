"""The benchmark runner: tables written, bad arguments refused."""
import json

import pytest

from tutorial_lib.__main__ import main
from tutorial_lib.bench import run_benchmark, run_photo_timings


def test_benchmark_writes_markdown_and_json(tmp_path):
    table = run_benchmark("segmentation", "mosaic", seeds=[0], limit=2, methods=["otsu"], out_dir=tmp_path)
    assert "| otsu |" in table
    assert (tmp_path / "segmentation_mosaic.md").read_text().startswith("# segmentation on `mosaic`")
    runs = json.loads((tmp_path / "segmentation_mosaic.json").read_text())
    assert runs  # the per-seed runs are kept beside the medians


@pytest.mark.parametrize("kwargs, message", [
    ({"seeds": []}, "at least one"),
    ({"seeds": [0], "methods": ["nope"]}, "unknown segmentation method"),
])
def test_benchmark_refuses_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_benchmark("segmentation", "mosaic", limit=2, out_dir=tmp_path, **kwargs)


def test_photo_timings_write_seconds_and_segments_per_photo(tmp_path):
    table = run_photo_timings(["coffee", "chelsea"], ["kmeans_lab"], size=(40, 60), out_dir=tmp_path)
    assert "| kmeans_lab | coffee |" in table and "| kmeans_lab | chelsea |" in table
    assert "(40×60)" in (tmp_path / "segmentation_photos.md").read_text()
    rows = json.loads((tmp_path / "segmentation_photos.json").read_text())
    assert [r["photo"] for r in rows] == ["coffee", "chelsea"]
    assert all(r["seconds"] > 0 and r["n_segments"] >= 2 and r["shape"] == [40, 60] for r in rows)


def test_photo_timings_refuse_an_unknown_method(tmp_path):
    with pytest.raises(ValueError, match="unknown segmentation method"):
        run_photo_timings(["coffee"], ["nope"], size=(40, 60), out_dir=tmp_path)


def test_cli_bench_needs_data_except_for_photos(tmp_path, capsys):
    assert main(["bench", "segmentation", "--out", str(tmp_path)]) == 2
    assert "needs --data" in capsys.readouterr().err
