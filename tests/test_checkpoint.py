"""Checkpoints: round trip, atomic replacement, integrity check, weights-only loading."""

import os
import pickle

import pytest
import torch
from torch import nn

from tutorial_lib.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, verify_checkpoint


def _state():
    model = nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
            "config": {"lr": 1e-3, "name": "x", "sizes": [1, 2]}, "rng": torch.get_rng_state()}


def test_round_trip_keeps_tensors_and_plain_types(tmp_path):
    state = _state()
    path = save_checkpoint(tmp_path / "sub" / "c.pt", state)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and loaded["config"] == state["config"]
    for key, value in state["model"].items():
        assert torch.equal(loaded["model"][key], value)
    assert torch.equal(loaded["rng"], state["rng"])
    assert loaded["optimizer"]["state"][0]["exp_avg"].shape == (2, 3)
    assert verify_checkpoint(path)


def test_replace_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"epoch": 1})
    save_checkpoint(path, {"epoch": 2})
    assert load_checkpoint(path)["epoch"] == 2
    assert os.listdir(tmp_path) == ["c.pt"]


def test_failed_save_keeps_the_previous_file(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"epoch": 1})
    with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
        save_checkpoint(path, {"bad": lambda: 0})  # lambdas cannot be pickled
    assert load_checkpoint(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["c.pt"]


def test_corrupt_file_is_named_in_the_error(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", _state())
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="c.pt.*integrity"):
        load_checkpoint(path)
    assert not verify_checkpoint(path)


def test_truncated_file_is_detected(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", _state())
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path)


def test_plain_torch_file_and_missing_file_give_clear_errors(tmp_path):
    torch.save({"a": 1}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a tutorial_lib checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")


class _Evil:
    pass


def test_loading_refuses_arbitrary_objects(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"obj": _Evil()})
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|global"):
        load_checkpoint(path)


def test_saved_file_has_ordinary_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "c.pt", {"epoch": 1})
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644
