"""The training loop: loss goes down, exact resume, NaN guard, AMP flag on CPU, DDP with gloo."""

import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from tutorial_lib.checkpoint import load_checkpoint
from tutorial_lib.train import (
    History,
    StopTraining,
    TrainingDiverged,
    TrainingInterrupted,
    fit,
    load_weights,
)

torch.set_num_threads(1)


def _data(n=96):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, :3].sum(1) > 0).long()
    return x, y


def _model(seed=1):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))


def _noisy_step(model, batch):
    # Uses the global RNG (dropout and input noise), so exact resume needs the RNG states restored.
    x, y = batch
    logits = model(x + 0.05 * torch.randn_like(x))
    loss = nn.functional.cross_entropy(logits, y)
    return loss, {"acc": (logits.argmax(1) == y).float().mean()}


def _weights(model):
    return [p.detach().clone() for p in model.state_dict().values()]


def test_two_epochs_lower_the_loss_and_fill_the_history():
    model = _model()
    history = fit(model, _noisy_step, _data(), epochs=2, lr=0.05, batch_size=16, progress=False)
    assert isinstance(history, History) and len(history) == 2
    assert history.losses[1] < history.losses[0]
    assert set(history.keys()) >= {"epoch", "loss", "acc", "lr", "seconds"}
    assert history["epoch"] == [1, 2] and 0 <= history["acc"][-1] <= 1


def test_same_seed_same_weights_and_tensor_only_data():
    def step(model, x):
        return (model(x) ** 2).mean()

    x = _data()[0]
    a, b = nn.Linear(6, 1), nn.Linear(6, 1)
    b.load_state_dict(a.state_dict())
    fit(a, step, x, epochs=2, batch_size=10, seed=3, progress=False)
    fit(b, step, x, epochs=2, batch_size=10, seed=3, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(_weights(a), _weights(b), strict=True))


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    kwargs = dict(lr=0.05, batch_size=16, seed=7, progress=False, scheduler="cosine")
    full = _model()
    h_full = fit(full, _noisy_step, _data(), epochs=4, **kwargs)

    first = _model()
    fit(first, _noisy_step, _data(), epochs=4, checkpoint_dir=tmp_path, **kwargs,
        on_epoch_end=lambda e, m, h: (_ for _ in ()).throw(StopTraining) if e == 1 else None)
    resumed = _model(seed=99)  # different start: everything must come from the checkpoint
    h_res = fit(resumed, _noisy_step, _data(), epochs=4, checkpoint_dir=tmp_path, resume=True, **kwargs)
    assert h_res.resumed_from == 2
    assert all(torch.equal(p, q) for p, q in zip(_weights(full), _weights(resumed), strict=True))
    assert h_res.losses == pytest.approx(h_full.losses, abs=0)
    assert load_weights(_model(5), tmp_path).losses == h_res.losses


def _interrupt_at(n_call: int, step=_noisy_step):
    """``step``, raising KeyboardInterrupt at its ``n_call``-th call (after drawing its random numbers)."""
    calls = {"n": 0}

    def interrupting_step(model, batch):
        calls["n"] += 1
        out = step(model, batch)  # RNG consumed before the interrupt: must not leak into the resume
        if calls["n"] == n_call:
            raise KeyboardInterrupt
        return out

    return interrupting_step


def test_keyboard_interrupt_mid_epoch_saves_raises_and_resumes_exactly(tmp_path):
    kwargs = dict(lr=0.05, batch_size=16, seed=7, progress=False)
    full = _model()
    fit(full, _noisy_step, _data(), epochs=3, **kwargs)

    first = _model()
    with pytest.raises(TrainingInterrupted) as caught:  # epoch 2, batch 3 (6 batches per epoch)
        fit(first, _interrupt_at(9), _data(), epochs=3, checkpoint_dir=tmp_path, **kwargs)
    assert isinstance(caught.value, KeyboardInterrupt)  # whatever called fit stops too
    assert caught.value.history.interrupted and len(caught.value.history) == 1
    assert caught.value.checkpoint == tmp_path / "last.pt"
    assert "resume=True" in str(caught.value) and "in epoch 2 after 2 of its batches" in str(caught.value)
    assert load_checkpoint(tmp_path / "last.pt")["batch"] == 2
    resumed = _model(seed=42)
    h_res = fit(resumed, _noisy_step, _data(), epochs=3, checkpoint_dir=tmp_path, resume=True, **kwargs)
    assert not h_res.interrupted and len(h_res) == 3
    assert all(torch.equal(p, q) for p, q in zip(_weights(full), _weights(resumed), strict=True))


def test_resume_on_data_of_another_size_is_refused(tmp_path):
    fit(_model(), _noisy_step, _data(96), epochs=1, batch_size=16, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="written for data of 96 samples, and this data has 40") as caught:
        fit(_model(), _noisy_step, _data(40), epochs=2, batch_size=16, checkpoint_dir=tmp_path, resume=True,
            progress=False)
    assert str(tmp_path / "last.pt") in str(caught.value)


def _epoch_start_targets(x):
    """A step on ``(images, indices)`` batches and an ``on_epoch_start`` computing its targets from the
    weights at the start of each epoch (as DEC and SCAN's self-labelling do)."""
    state = {}

    def refresh(epoch, model):
        with torch.no_grad():
            state["target"] = model.eval()(x).argmax(1)
        model.train()

    def step(model, batch):
        xb, idx = batch
        return nn.functional.cross_entropy(model(xb + 0.05 * torch.randn_like(xb)), state["target"][idx])

    return step, refresh


def test_interrupt_with_an_epoch_start_callback_resumes_from_that_epochs_start(tmp_path):
    x = _data()[0]
    data = (x, torch.arange(len(x)))
    kwargs = dict(lr=0.05, batch_size=16, seed=3, progress=False)
    full = _model()
    step, refresh = _epoch_start_targets(x)
    h_full = fit(full, step, data, epochs=3, on_epoch_start=refresh, **kwargs)

    first = _model()
    step, refresh = _epoch_start_targets(x)
    with pytest.raises(TrainingInterrupted, match="restarts epoch 2 from its start"):
        fit(first, _interrupt_at(9, step), data, epochs=3, on_epoch_start=refresh, checkpoint_dir=tmp_path,
            **kwargs)
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1  # the end of epoch 1 is kept, not batch 3
    resumed = _model(seed=42)
    step, refresh = _epoch_start_targets(x)
    h_res = fit(resumed, step, data, epochs=3, on_epoch_start=refresh, checkpoint_dir=tmp_path, resume=True,
                **kwargs)
    assert h_res.losses == h_full.losses
    assert all(torch.equal(p, q) for p, q in zip(_weights(full), _weights(resumed), strict=True))


def test_ctrl_c_at_the_end_of_an_epoch_waits_for_its_checkpoint(tmp_path):
    kwargs = dict(lr=0.05, batch_size=16, seed=7, progress=False)
    full = _model()
    fit(full, _noisy_step, _data(), epochs=3, **kwargs)

    def ctrl_c_in_the_callback(epoch, model, history):
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)  # a real SIGINT, while the epoch is being recorded
        return {"seen": epoch}

    first = _model()
    # A shell that starts jobs in the background (nohup, CI runners) ignores SIGINT for them: put
    # Python's own handler back for this test, as an interactive session has it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(TrainingInterrupted):
            fit(first, _noisy_step, _data(), epochs=3, checkpoint_dir=tmp_path,
                on_epoch_end=ctrl_c_in_the_callback, **kwargs)
    finally:
        signal.signal(signal.SIGINT, previous)
    saved = load_checkpoint(tmp_path / "last.pt")
    assert saved["epoch"] == 2 and saved["batch"] == 0  # the callback finished and the epoch was saved
    assert [r["seen"] for r in saved["history"]["records"]] == [0, 1]
    resumed = _model(seed=42)
    h_res = fit(resumed, _noisy_step, _data(), epochs=3, checkpoint_dir=tmp_path, resume=True, **kwargs)
    assert h_res["epoch"] == [1, 2, 3]
    assert all(torch.equal(p, q) for p, q in zip(_weights(full), _weights(resumed), strict=True))


def test_the_checkpoint_of_a_run_stopped_early_says_so(tmp_path):
    def stop_after_two(epoch, model, history):
        if epoch == 1:
            raise StopTraining

    history = fit(_model(), _noisy_step, _data(), epochs=5, batch_size=32, checkpoint_dir=tmp_path,
                  progress=False, on_epoch_end=stop_after_two)
    assert history.stopped_early and len(history) == 2
    saved = load_checkpoint(tmp_path / "last.pt")
    assert saved["epoch"] == 2 and saved["history"]["stopped_early"]  # methods that converge skip it
    resumed = fit(_model(), _noisy_step, _data(), epochs=5, batch_size=32, checkpoint_dir=tmp_path,
                  resume=True, progress=False)  # plain fit goes on, as documented
    assert len(resumed) == 5 and not resumed.stopped_early


def test_a_new_run_removes_the_old_checkpoint_first(tmp_path):
    fit(_model(), _noisy_step, _data(), epochs=2, batch_size=32, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(TrainingInterrupted, match="before a checkpoint was saved"):
        fit(_model(), _interrupt_at(1), _data(), epochs=2, batch_size=32, checkpoint_dir=tmp_path,
            progress=False)
    assert not (tmp_path / "last.pt").exists()  # a later resume=True cannot pick up the older run


def test_resume_with_other_settings_is_refused(tmp_path):
    fit(_model(), _noisy_step, _data(), epochs=1, batch_size=16, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        fit(_model(), _noisy_step, _data(), epochs=2, batch_size=32, checkpoint_dir=tmp_path, resume=True,
            progress=False)


def test_nan_guard_says_what_to_change():
    x, y = _data()
    x[5, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match=r"(?s)lower the learning rate.*grad_clip.*inputs.*NaN"):
        fit(_model(), _noisy_step, (x, y), epochs=1, batch_size=96, progress=False)

    def exploding(model, batch):
        return model(batch[0]).sum() * float("inf")

    with pytest.raises(TrainingDiverged, match="epoch 1, batch 1"):
        fit(_model(), exploding, _data(), epochs=1, batch_size=16, grad_clip=1.0, progress=False)


def test_amp_flag_is_a_quiet_no_op_on_cpu():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = fit(_model(), _noisy_step, _data(), epochs=1, batch_size=32, amp=True, grad_clip=1.0,
                      device="cpu", progress=False)
    assert history.config["amp"] is None and history.config["device"] == "cpu"


def test_callbacks_see_each_epoch_and_add_metrics():
    seen = []
    history = fit(_model(), _noisy_step, _data(), epochs=3, batch_size=32, progress=False,
                  on_epoch_start=lambda e, m: seen.append(("start", e, m.training)),
                  on_epoch_end=lambda e, m, h: {"extra": len(h)})
    assert [s[:2] for s in seen] == [("start", 0), ("start", 1), ("start", 2)]
    assert history["extra"] == [1.0, 2.0, 3.0]


def test_dataset_and_bad_data():
    x, y = _data()
    history = fit(_model(), _noisy_step, torch.utils.data.TensorDataset(x, y), epochs=1, batch_size=32,
                  progress=False)
    assert len(history) == 1
    with pytest.raises(ValueError, match="same first dimension"):
        fit(_model(), _noisy_step, (x, y[:5]), epochs=1, progress=False)
    with pytest.raises(TypeError, match="data must be"):
        fit(_model(), _noisy_step, [1, 2, 3], epochs=1, progress=False)


@pytest.mark.slow  # three Python processes start and import torch: about 10-25 s on 2 busy cores
def test_two_process_gloo_run_keeps_ranks_in_step(tmp_path):
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(root / "tests" / "ddp_train_script.py"), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0, w1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    logs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert logs[0]["world"] == 2 and logs[0]["losses"] == logs[1]["losses"]  # averaged over ranks
    assert logs[0]["losses"][-1] < 0.5 * logs[0]["losses"][0]
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["last.pt"]  # rank 0 wrote it, no temp files left


def test_more_epochs_on_resume_allowed_without_schedule_refused_with_one(tmp_path):
    fit(_model(), _noisy_step, _data(), epochs=1, batch_size=32, checkpoint_dir=tmp_path / "a",
        progress=False)
    history = fit(_model(), _noisy_step, _data(), epochs=3, batch_size=32, checkpoint_dir=tmp_path / "a",
                  resume=True, progress=False)
    assert history.resumed_from == 1 and history["epoch"] == [1, 2, 3]
    fit(_model(), _noisy_step, _data(), epochs=1, batch_size=32, scheduler="cosine",
        checkpoint_dir=tmp_path / "b", progress=False)
    with pytest.raises(ValueError, match="epochs"):
        fit(_model(), _noisy_step, _data(), epochs=3, batch_size=32, scheduler="cosine",
            checkpoint_dir=tmp_path / "b", resume=True, progress=False)


def test_resume_of_a_finished_run_loads_and_trains_nothing(tmp_path, capsys):
    first = _model()
    fit(first, _noisy_step, _data(), epochs=2, batch_size=32, checkpoint_dir=tmp_path, progress=False)
    again = _model(seed=3)
    history = fit(again, _noisy_step, _data(), epochs=2, batch_size=32, checkpoint_dir=tmp_path, resume=True)
    assert "already complete" in capsys.readouterr().out
    assert len(history) == 2 and history.resumed_from == 2
    assert all(torch.equal(p, q) for p, q in zip(_weights(first), _weights(again), strict=True))


def _global_rng_states():
    import random

    import numpy as np

    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def _assert_same_rng_states(before, after):
    assert before[0] == after[0]  # Python
    assert all((a == b).all() if hasattr(a, "shape") else a == b
               for a, b in zip(before[1], after[1], strict=True))  # NumPy
    assert torch.equal(before[2], after[2])  # torch


def test_fit_leaves_the_callers_random_state_unchanged(tmp_path):
    import random

    import numpy as np

    models = [_model(), _model(), _model()]  # _model seeds torch: build them before taking the state
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    before = _global_rng_states()
    fit(models[0], _noisy_step, _data(), epochs=2, batch_size=16, seed=5, progress=False,
        checkpoint_dir=tmp_path)
    _assert_same_rng_states(before, _global_rng_states())
    # A resume loads the checkpoint's random state inside fit; the caller's is still given back.
    history = fit(models[1], _noisy_step, _data(), epochs=3, batch_size=16, seed=5, progress=False,
                  checkpoint_dir=tmp_path, resume=True)
    assert history.resumed_from == 2
    _assert_same_rng_states(before, _global_rng_states())
    # Without a seed, fit draws from (and advances) the caller's generators, as documented.
    fit(models[2], _noisy_step, _data(), epochs=1, batch_size=16, seed=None, progress=False)
    assert not torch.equal(before[2], torch.get_rng_state())


def test_fit_restores_the_callers_random_state_after_an_interrupt_or_an_error():
    first, second = _model(), _model()  # _model seeds torch: build them before taking the state
    before = _global_rng_states()

    with pytest.raises(TrainingInterrupted, match="give checkpoint_dir"):
        fit(first, _interrupt_at(1), _data(), epochs=1, batch_size=16, progress=False)
    _assert_same_rng_states(before, _global_rng_states())
    with pytest.raises(TrainingDiverged):
        fit(second, lambda m, b: _noisy_step(m, b)[0] * float("nan"), _data(), epochs=1, progress=False)
    _assert_same_rng_states(before, _global_rng_states())


def test_same_seed_gives_identical_weights_and_another_seed_differs():
    # Dropout and input noise draw from the global RNG inside fit: only fit's own seeding fixes them.
    runs = {}
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        torch.manual_seed(1000 + len(runs))  # a different caller state before each run
        model = _model()
        history = fit(model, _noisy_step, _data(), epochs=2, lr=0.05, batch_size=16, seed=seed,
                      progress=False)
        runs[name] = (_weights(model), history.losses)
    assert all(torch.equal(p, q) for p, q in zip(runs["a"][0], runs["b"][0], strict=True))
    assert runs["a"][1] == runs["b"][1]
    assert not all(torch.equal(p, q) for p, q in zip(runs["a"][0], runs["c"][0], strict=True))


def test_seed_gives_the_stream_of_seeding_every_generator_first():
    # fit(seed=s) must draw the numbers it drew when it called runtime.seed_everything(s) itself.
    from tutorial_lib import runtime

    seeded_model, plain_model = _model(), _model()
    fit(seeded_model, _noisy_step, _data(), epochs=2, lr=0.05, batch_size=16, seed=0, progress=False)
    runtime.seed_everything(0)
    fit(plain_model, _noisy_step, _data(), epochs=2, lr=0.05, batch_size=16, seed=None, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(_weights(seeded_model), _weights(plain_model), strict=True))


def test_history_and_helpers_still_import_from_train():
    from tutorial_lib import train, train_utils

    for name in ("History", "unwrap", "distributed_env", "is_main_process", "rng_state", "set_rng_state"):
        assert getattr(train, name) is getattr(train_utils, name)
    assert train.unwrap(nn.Linear(2, 2)).in_features == 2
