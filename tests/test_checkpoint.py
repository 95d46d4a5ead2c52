"""Checkpoints: round trip, atomic replacement, stale temporaries, header checks, weights-only loading.

Tampered files (a flipped byte, a truncated file, a foreign file, a pickle that would run code) are
refused in the fault suite, tests/test_faults.py."""

import hashlib
import json
import os
import pickle

import pytest
import torch
from torch import nn

from tutorial_lib.checkpoint import (
    FORMAT_VERSION,
    MAGIC,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    verify_checkpoint,
)


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


def test_the_next_save_removes_the_temporaries_a_killed_save_left(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", {"epoch": 1})
    for name in (".last.pt.k3j2h1g0.tmp", ".last.pt.zz9y8x7w.tmp"):  # what mkstemp names them
        (tmp_path / name).write_bytes(b"half a checkpoint")
    (tmp_path / ".other.pt.abcdefgh.tmp").write_bytes(b"another checkpoint's")
    save_checkpoint(path, {"epoch": 2})
    assert sorted(os.listdir(tmp_path)) == [".other.pt.abcdefgh.tmp", "last.pt"]
    assert load_checkpoint(path)["epoch"] == 2


def test_missing_file_gives_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")


def _rewrite_header(path, drop=(), **changes):
    """Rewrite the header of ``path`` with ``changes`` and without the keys in ``drop``, keeping a
    matching hash of the payload."""
    first, payload = path.read_bytes().split(b"\n", 1)
    header = {**json.loads(first[len(MAGIC) + 1:]), "sha256": hashlib.sha256(payload).hexdigest(), **changes}
    header = {k: v for k, v in header.items() if k not in drop}
    path.write_bytes(MAGIC + b" " + json.dumps(header).encode() + b"\n" + payload)


def test_the_format_field_of_the_header_is_checked(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", _state())
    _rewrite_header(path, format=FORMAT_VERSION + 1)
    with pytest.raises(CheckpointError, match=f"format {FORMAT_VERSION + 1}.*reads format {FORMAT_VERSION}"):
        load_checkpoint(path)
    assert not verify_checkpoint(path)
    _rewrite_header(path, format=FORMAT_VERSION)
    assert verify_checkpoint(path)
    _rewrite_header(path, drop=("format",))
    with pytest.raises(CheckpointError, match="damaged checkpoint header"):
        load_checkpoint(path)


class _Evil:
    pass


def test_loading_refuses_arbitrary_objects_with_its_own_error(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"obj": _Evil()})  # a valid header and hash
    with pytest.raises(CheckpointError, match="could run code") as caught:
        load_checkpoint(path)
    assert "weights_only=False" not in str(caught.value)  # torch's advice would run the file's code
    assert "_Evil" in str(caught.value)  # what was refused
    assert not verify_checkpoint(path)


def test_saved_file_has_ordinary_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "c.pt", {"epoch": 1})
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644
