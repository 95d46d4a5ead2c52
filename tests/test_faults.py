"""The fault suite: processes killed or interrupted at bad moments, and tampered checkpoint files.

Each fault must end in a state the user can trust: a killed run resumes to the weights and history of
an uninterrupted one, a killed checkpoint write leaves the previous checkpoint loadable and its
temporary file is cleaned up by the next save, Ctrl-C during ``python -m tutorial_lib cluster`` exits
130 without a result and ``--resume`` finishes it with the uninterrupted result, and a damaged,
foreign or hostile checkpoint is refused with ``CheckpointError`` without running any of its code.
(Saved-model files, the other kind the issue names, do not exist in the library yet.)

About 30-60 s on 2 cores, most of it the three command-line runs.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from torch import nn

from tutorial_lib.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, verify_checkpoint
from tutorial_lib.train import fit, load_weights

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


# --- a small training job, run here and in killed subprocesses ---------------------------------

JOB = dict(epochs=4, lr=0.05, batch_size=32, seed=5, progress=False)  # 8 batches per epoch


def _job_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g)
    return x, (x[:, :4].sum(1) > 0).long()


def _job_step(model, batch):
    # Dropout and input noise draw from the global RNG: an exact resume needs its saved state.
    x, y = batch
    return nn.functional.cross_entropy(model(x + 0.05 * torch.randn_like(x)), y)


def train_job(checkpoint_dir=None, resume: bool = False):
    """Train the job's model; returns ``(model, history)``."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 2))
    return model, fit(model, _job_step, _job_data(), checkpoint_dir=checkpoint_dir, resume=resume, **JOB)


# What a subprocess runs: the job, stalled (a marker file says so) at the n-th call of a function, so
# that the test can SIGKILL it exactly there.
_STALLED_JOB = """
import os, sys, time
sys.path.insert(0, {tests!r})
import test_faults
from tutorial_lib import train

where, n_call, marker, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
calls = {{"n": 0}}

def stall_at_n(real):
    def wrapper(*args):
        calls["n"] += 1
        if calls["n"] == n_call:
            open(marker, "w").close()
            time.sleep(600)  # the test kills us here
        return real(*args)
    return wrapper

if where == "step":  # in the middle of an epoch
    test_faults._job_step = stall_at_n(test_faults._job_step)
else:  # in os.fsync, while a checkpoint is being written
    os.fsync = stall_at_n(os.fsync)
test_faults.train_job(folder)
"""


@contextmanager
def _one_thread():
    """Train here with one thread, as the subprocesses do (the same arithmetic, bit for bit)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _sigint_is_python_s():
    # A child of a shell that ignores SIGINT would inherit that; Python then never raises
    # KeyboardInterrupt. SIG_DFL lets the interpreter install its own handler.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the process ended ({proc.returncode}) before {path} appeared:\n"
                                 f"{err[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.005)


def _killed_job(tmp_path: Path, where: str, n_call: int) -> Path:
    """Run the job in a subprocess and SIGKILL it at the ``n_call``-th call of ``where``; returns its
    checkpoint folder."""
    folder, marker = tmp_path / "run", tmp_path / "stalled"
    code = _STALLED_JOB.format(tests=str(ROOT / "tests"))
    proc = subprocess.Popen([sys.executable, "-c", code, where, str(n_call), str(marker), str(folder)],
                            env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(marker, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return folder


def _same_run(model_a, history_a, model_b, history_b) -> None:
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    drop = {"seconds"}  # wall-clock time, the one thing that differs
    assert ([{k: v for k, v in r.items() if k not in drop} for r in history_a.records]
            == [{k: v for k, v in r.items() if k not in drop} for r in history_b.records])


@pytest.fixture(scope="module")
def uninterrupted():
    with _one_thread():
        return train_job()


def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_weights_and_history(tmp_path, uninterrupted):
    folder = _killed_job(tmp_path, "step", n_call=2 * 8 + 4)  # epoch 3, batch 4
    assert load_checkpoint(folder / "last.pt")["epoch"] == 2  # the last end-of-epoch checkpoint
    with _one_thread():
        model, history = train_job(folder, resume=True)
    assert history.resumed_from == 2 and len(history) == 4
    _same_run(model, history, *uninterrupted)


def test_sigkill_during_a_checkpoint_write_keeps_the_previous_one(tmp_path, uninterrupted):
    # os.fsync runs twice per save (the file, then its folder): call 3 is in the second save.
    folder = _killed_job(tmp_path, "fsync", n_call=3)
    assert [p.name for p in folder.glob(".last.pt.*.tmp")], "the killed write left no temporary file"
    assert verify_checkpoint(folder / "last.pt") and load_checkpoint(folder / "last.pt")["epoch"] == 1
    with _one_thread():
        model, history = train_job(folder, resume=True)
    assert sorted(os.listdir(folder)) == ["last.pt"]  # the next save removed the stale temporary file
    _same_run(model, history, *uninterrupted)


# --- Ctrl-C during the command line ------------------------------------------------------------

CLUSTER = ["cluster", "--data", "digits", "--limit", "300", "--method", "scan", "--device", "cpu"]


def _cli(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tutorial_lib", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_sigint_is_python_s)


def _finished(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return out


def test_ctrl_c_during_cluster_exits_130_and_resume_finishes_with_the_same_result(tmp_path):
    env = {**ENV, "TUTORIAL_FAST": "1", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    full_json, json_path = tmp_path / "full.json", tmp_path / "result.json"
    _finished(_cli([*CLUSTER, "--json", str(full_json), "--checkpoint-dir", str(tmp_path / "full")], env))

    proc = _cli([*CLUSTER, "--json", str(json_path)], env)
    folder = tmp_path / "cache" / "tutorial_lib" / "checkpoints" / "cluster-digits-scan-seed0-limit300-fast"
    _wait_for(folder / "scan" / "last.pt", proc)  # SCAN's third stage has begun
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert not json_path.exists() and "acc" not in out  # no result, neither written nor printed
    assert str(folder) in err and "--resume" in err
    assert list(folder.rglob("last.pt"))  # the checkpoints are kept

    out = _finished(_cli([*CLUSTER, "--json", str(json_path), "--resume"], env))
    assert f"loaded {folder / 'warm' / 'last.pt'}: training already complete" in out  # not trained again
    resumed, full = json.loads(json_path.read_text()), json.loads(full_json.read_text())
    assert {k: resumed[k] for k in ("acc", "nmi", "ari", "n_samples", "n_clusters")} == \
           {k: full[k] for k in ("acc", "nmi", "ari", "n_samples", "n_clusters")}


# --- tampered training checkpoints -------------------------------------------------------------

class _RunsCode:
    """Pickles as a call of ``exec`` that writes ``marker``: what a hostile checkpoint would hold."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",)


def _flip_a_byte(path: Path, marker: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # in the payload, past the one-line header
    path.write_bytes(bytes(data))


def _truncate(path: Path, marker: Path) -> None:
    path.write_bytes(path.read_bytes()[:-200])


def _plain_torch_file(path: Path, marker: Path) -> None:
    torch.save({"model": nn.Linear(8, 2).state_dict()}, path)


def _other_bytes(path: Path, marker: Path) -> None:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)


def _hostile_pickle(path: Path, marker: Path) -> None:
    save_checkpoint(path, {"model": _RunsCode(marker)})  # a valid header and hash
    payload = path.read_bytes().split(b"\n", 1)[1]
    torch.load(io.BytesIO(payload), weights_only=False)  # the fixture is a real attack: this runs its code
    assert marker.read_text() == "code ran"
    marker.unlink()


TAMPERINGS = {
    "flipped byte": (_flip_a_byte, "integrity"),
    "truncated": (_truncate, "truncated"),
    "plain torch file": (_plain_torch_file, "not a tutorial_lib checkpoint"),
    "other bytes": (_other_bytes, "not a tutorial_lib checkpoint"),
    "pickle that runs code": (_hostile_pickle, "could run code"),
}


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_a_tampered_training_checkpoint_is_refused_with_the_librarys_error(tmp_path, name):
    tamper, reason = TAMPERINGS[name]
    folder, marker = tmp_path / "run", tmp_path / "marker"
    model = nn.Linear(8, 2)

    def step(net, batch):
        return nn.functional.cross_entropy(net(batch[0]), batch[1])

    fit(model, step, _job_data(), epochs=1, batch_size=64, checkpoint_dir=folder, progress=False)
    tamper(folder / "last.pt", marker)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    for attempt in (lambda: load_checkpoint(folder / "last.pt"), lambda: load_weights(model, folder),
                    lambda: fit(model, step, _job_data(), epochs=2, batch_size=64, checkpoint_dir=folder,
                                resume=True, progress=False)):
        with pytest.raises(CheckpointError, match=reason) as caught:
            attempt()
        assert str(folder / "last.pt") in str(caught.value)
        assert "weights_only=False" not in str(caught.value)
    assert not verify_checkpoint(folder / "last.pt")
    assert not marker.exists()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # nothing was loaded
