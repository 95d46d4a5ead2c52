"""Notebook 06's training options and processes: mixed precision and compile flags, torchrun, no labels."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch
from torch import nn

from tutorial_lib import cluster, segment
from tutorial_lib.features import train_autoencoder
from tutorial_lib.scaling import compare_layouts, launch, torchrun_command
from tutorial_lib.train import AMP_MODES, amp_dtype, fit, unwrap


def _data():
    x = torch.randn(256, 8, generator=torch.Generator().manual_seed(0))
    return x, x @ torch.linspace(-1, 1, 8) + 0.5


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))


def _step(net, batch):
    xb, yb = batch
    return nn.functional.mse_loss(net(xb).squeeze(1), yb)


# --- mixed precision and compile -------------------------------------------------------------------

def test_amp_dtype_chooses_bf16_where_supported_fp16_otherwise_and_nothing_off_cuda(monkeypatch):
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert all(amp_dtype(mode, cpu) is None for mode in AMP_MODES)
    assert amp_dtype(False, gpu) is None and amp_dtype("fp16", gpu) is torch.float16
    assert amp_dtype("bf16", gpu) is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert amp_dtype(True, gpu) is torch.bfloat16 and amp_dtype("auto", gpu) is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert amp_dtype(True, gpu) is torch.float16
    with pytest.raises(ValueError, match="amp must be one of"):
        amp_dtype("fp8", cpu)


@pytest.mark.parametrize("amp", ["fp16", "bf16", True])
def test_amp_flags_on_cpu_train_unchanged_with_finite_losses(amp):
    plain = fit(_model(), _step, _data(), epochs=3, batch_size=32, device="cpu", progress=False)
    mixed = fit(_model(), _step, _data(), epochs=3, batch_size=32, device="cpu", progress=False, amp=amp)
    assert np.isfinite(mixed.losses).all() and mixed.losses[-1] < mixed.losses[0]
    assert mixed.losses == plain.losses  # on the CPU the flag changes nothing
    assert mixed.config["amp"] is None


@pytest.mark.slow  # torch.compile generates and builds C++ for the model: 10-30 s on 2 cores
@pytest.mark.parametrize("backend", ["aot_eager", True])
def test_compile_flag_trains_the_same_parameters_with_finite_losses(backend):
    plain_model, compiled_model = _model(), _model()
    plain = fit(plain_model, _step, _data(), epochs=2, batch_size=32, device="cpu", progress=False)
    seen = []
    compiled = fit(compiled_model, _step, _data(), epochs=2, batch_size=32, device="cpu", progress=False,
                   compile=backend, on_epoch_end=lambda e, net, h: seen.append(type(net).__name__))
    assert np.isfinite(compiled.losses).all()
    np.testing.assert_allclose(compiled.losses, plain.losses, rtol=1e-4)
    assert seen == ["OptimizedModule"] * 2 and compiled.config["compile"] == backend
    for p, q in zip(plain_model.parameters(), compiled_model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)  # the caller's model was trained in place


def test_unwrap_sees_through_compile():
    model = _model()
    assert unwrap(torch.compile(model, backend="eager")) is model


# --- several processes ----------------------------------------------------------------------------

def test_torchrun_command_for_one_and_several_machines():
    one = torchrun_command(["--data", "digits"], nproc_per_node=2)
    assert one[1:4] == ["-m", "torch.distributed.run", "--nproc_per_node=2"] and "--standalone" in one
    assert one[-4:] == ["-m", "tutorial_lib.scaling.distributed", "--data", "digits"]
    many = torchrun_command([], nproc_per_node=8, nnodes=2, rdzv_endpoint="node0:29500")
    assert "--nnodes=2" in many and "--rdzv_endpoint=node0:29500" in many and "--standalone" not in many
    with pytest.raises(ValueError, match="rdzv_endpoint"):
        torchrun_command([], nnodes=2)


@pytest.mark.slow  # starts torchrun and two workers that import torch: 20-40 s on 2 busy cores
def test_two_process_job_from_python_trains_and_rank0_reports(tmp_path):
    result = launch(tmp_path / "ddp", nproc=2, threads=1, data="digits", limit=400, epochs=2, global_batch=64)
    assert result["world"] == 2 and result["threads"] == 1 and result["n_images"] == 400
    assert result["losses"][-1] < result["losses"][0] and 0.1 < result["acc"] <= 1.0
    assert result["wall_seconds"] >= result["train_seconds"] > 0 and result["cpu_seconds"] > 0
    saved = json.loads((tmp_path / "ddp" / "result.json").read_text())
    assert saved["losses"] == result["losses"]
    assert "torch.distributed.run" in (tmp_path / "ddp" / "log.txt").read_text()


def test_job_failure_raises_with_its_output(tmp_path):
    with pytest.raises(RuntimeError, match="not a multiple"):
        compare_layouts(tmp_path, layouts=((2, 1),), data="digits", limit=50, epochs=1, global_batch=33)


# --- labels never reach fit -----------------------------------------------------------------------

def _methods():
    for name, factory in cluster.METHODS.items():
        yield f"cluster:{name}", factory(n_clusters=3)
    for name, factory in segment.METHODS.items():
        yield f"segment:{name}", factory()
    for step in (cluster.PixelFeatures(), cluster.PCAFeatures(2), cluster.KMeans(3)):
        yield type(step).__name__, step


@pytest.mark.parametrize("name,estimator", list(_methods()), ids=[n for n, _ in _methods()])
def test_every_method_refuses_labels_in_fit(name, estimator):
    images = torch.rand(12, 1, 8, 8)
    labels = torch.arange(12) % 3
    if "scribbles" in inspect.signature(estimator.fit).parameters:
        # Kanezaki's second argument is the user's scribbles (hints drawn on the image grid, documented),
        # never class labels: a y= is refused outright.
        with pytest.raises(TypeError, match="unexpected keyword argument 'y'"):
            estimator.fit(images, y=labels)
        return
    with pytest.raises(TypeError, match="learns without labels"):
        estimator.fit(images, labels)
    with pytest.raises(TypeError, match="learns without labels"):
        estimator.fit_predict(images, y=labels)
    assert not any(name.endswith("_") and not name.startswith("_") for name in vars(estimator))  # not fitted


def test_monitor_labels_only_score_the_training_never_change_it():
    images = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(64) % 4
    kwargs = dict(latent_dim=4, width=4, epochs=2, batch_size=32, device="cpu", progress=False)
    blind, h_blind = train_autoencoder(images, **kwargs)
    watched, h_watched = train_autoencoder(images, monitor_labels=labels, **kwargs)
    assert "knn_acc" in h_watched.keys() and "knn_acc" not in h_blind.keys()
    assert h_watched.losses == h_blind.losses
    for p, q in zip(blind.parameters(), watched.parameters(), strict=True):
        assert torch.equal(p, q)
