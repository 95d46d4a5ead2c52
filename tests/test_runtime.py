"""Device choice, seeding, fast mode and the data folder: the switches every module reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tutorial_lib import runtime
from tutorial_lib.__main__ import main


def test_auto_device_falls_back_to_an_available_one():
    dev = runtime.device("auto")
    assert dev.type in {"cuda", "mps", "cpu"}
    if not torch.cuda.is_available():
        assert dev.type != "cuda"


def test_explicit_cpu_and_passthrough():
    assert runtime.device("cpu") == torch.device("cpu")
    assert runtime.device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_unavailable_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        runtime.device("cuda")


def test_same_seed_same_numbers():
    runtime.seed_everything(3)
    a = (torch.rand(4), np.random.rand(4))
    runtime.seed_everything(3)
    b = (torch.rand(4), np.random.rand(4))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    g1, g2 = runtime.seed_everything(5), runtime.seed_everything(5)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("0", False), ("", False)])
def test_fast_mode_switch(monkeypatch, value, expected):
    monkeypatch.setenv(runtime.FAST_ENV, value)
    assert runtime.fast_mode() is expected
    assert runtime.pick(100, 10) == (10 if expected else 100)


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.delenv(runtime.DATA_ENV, raising=False)
    assert runtime.data_root() == runtime.PROJECT_ROOT / "data"
    monkeypatch.setenv(runtime.DATA_ENV, str(tmp_path))
    assert runtime.data_root() == tmp_path
    assert runtime.data_root("elsewhere") == Path("elsewhere")


def test_cli_info_prints_versions_and_device(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "device" in out and "torch threads" in out


def test_stored_progress_bars_print_one_final_line(monkeypatch, capsys):
    from tutorial_lib.runtime import STATIC_PROGRESS_ENV, progress_bar

    monkeypatch.setenv(STATIC_PROGRESS_ENV, "1")
    for _ in progress_bar(range(4), desc="work", leave=False):
        pass
    bar = progress_bar(total=3, desc="quiet", disable=True)
    bar.update(3)
    bar.close()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("work: 100%") and "4/4" in lines[0]
