"""The headless demo (``make demo``): both halves run and write their figures and summary."""

from __future__ import annotations

import json

import pytest

from tutorial_lib.__main__ import main


@pytest.mark.slow
def test_demo_writes_summary_and_figures(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TUTORIAL_FAST", "1")
    assert main(["demo", "--out", str(tmp_path)]) == 0
    assert "Classification with no labels" in capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    c, s = summary["classification"], summary["segmentation"]
    assert 0.0 <= c["acc"] <= 1.0 and c["n_samples"] == 300
    assert 0.0 <= s["miou"] <= 1.0 and s["n_images"] == 2
    for name in c["figures"] + s["figures"]:
        assert (tmp_path / name).stat().st_size > 1000
    assert (tmp_path / "summary.md").read_text().count("![") == 3
