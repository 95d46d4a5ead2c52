"""The benchmark runner: tables written, bad arguments refused."""
import json

import pytest

from tutorial_lib.bench import run_benchmark


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
