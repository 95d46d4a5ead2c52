"""What the training loop :func:`tutorial_lib.train.fit` stands on: History, processes, batches, RNG.

Taught in notebook 02_feature_learning (``train.fit``, its History, checkpoints and resume), used by
every trained method of notebooks 03_clustering_classification and 04_pixel_segmentation.

* :class:`History`: one record per completed epoch (loss, metrics, learning rate, seconds).
* How a run ends otherwise: :class:`StopTraining` (a callback stops it), :class:`TrainingDiverged`
  (NaN or infinite loss), :class:`TrainingInterrupted` (Ctrl-C, after the state is saved), and
  :func:`interrupts_held`, which keeps Ctrl-C from splitting the end of an epoch.
* Speed (notebook 06_scaling_up): :func:`amp_dtype` (mixed precision on CUDA) and :func:`compiled`
  (``torch.compile``), the ``amp`` and ``compile`` flags of ``fit``.
* Distributed helpers: :func:`distributed_env` (what ``torchrun`` set), :func:`unwrap`,
  :func:`is_main_process`.
* Batches: the data accepted by ``fit`` (a Tensor, a tuple of Tensors, a Dataset or a DataLoader)
  and the order of each epoch's batches, which depends only on (seed, epoch, rank) so that a resumed
  run sees exactly the batches of the uninterrupted one.
* :func:`rng_state` / :func:`set_rng_state`: every global random state, as stored in checkpoints.
* :func:`make_optimizer`, :func:`make_scheduler` and :func:`epoch_record` (an epoch's mean losses,
  over processes too).

``tutorial_lib.train`` re-exports the public names; import them from there.
"""

from __future__ import annotations

import atexit
import math
import os
import random
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

# --- history -----------------------------------------------------------------------------------


@dataclass
class History:
    """What happened during :func:`tutorial_lib.train.fit`, one record per completed epoch.

    Attributes
    ----------
    records : list of dict
        One dict per epoch with ``epoch`` (1-based), ``loss`` (mean over the epoch's batches),
        ``lr``, ``seconds`` and any metric returned by the step or the ``on_epoch_end`` callback.
    interrupted : bool
        True in the history of a run stopped by KeyboardInterrupt: the one carried by
        :class:`TrainingInterrupted` and the one saved in its checkpoint (False again once resumed).
    stopped_early : bool
        True if a callback raised :class:`tutorial_lib.train.StopTraining`.
    resumed_from : int or None
        Number of completed epochs found in the checkpoint when ``resume=True`` picked one up.
    config : dict
        The settings of the run (plain types).
    """

    records: list[dict] = field(default_factory=list)
    interrupted: bool = False
    stopped_early: bool = False
    resumed_from: int | None = None
    config: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list[float]:
        """Values of one quantity over epochs, e.g. ``history["loss"]`` (epochs without it skipped)."""
        return [r[key] for r in self.records if key in r]

    @property
    def losses(self) -> list[float]:
        """Mean training loss of each completed epoch."""
        return self["loss"]

    def keys(self) -> list[str]:
        """Names of every quantity recorded in at least one epoch."""
        seen: dict[str, None] = {}
        for record in self.records:
            seen.update(dict.fromkeys(record))
        return list(seen)

    def to_dict(self) -> dict:
        """Plain types only, as stored in checkpoints."""
        return {"records": [dict(r) for r in self.records], "interrupted": self.interrupted,
                "stopped_early": self.stopped_early, "resumed_from": self.resumed_from,
                "config": dict(self.config)}

    @classmethod
    def from_dict(cls, state: dict) -> History:
        """Inverse of :meth:`to_dict`."""
        return cls(records=[dict(r) for r in state.get("records", [])],
                   interrupted=bool(state.get("interrupted", False)),
                   stopped_early=bool(state.get("stopped_early", False)),
                   resumed_from=state.get("resumed_from"), config=dict(state.get("config", {})))

    def __repr__(self) -> str:
        last = f", last loss {self.losses[-1]:.4g}" if self.losses else ""
        flags = "".join(f", {name}" for name in ("interrupted", "stopped_early") if getattr(self, name))
        return f"History({len(self)} epochs{last}{flags})"


# --- how training ends: exceptions ---------------------------------------------------------------

class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says what to change."""


class StopTraining(Exception):
    """Raise from an ``on_epoch_end`` callback to stop training early (the epoch is kept)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C, Jupyter's stop button); :func:`fit` saved what it could first.

    A ``KeyboardInterrupt``, so whatever called ``fit`` stops too instead of carrying on with a
    half-trained model. ``history`` holds the completed epochs; ``checkpoint`` is the file that
    ``fit(..., resume=True)`` continues from (None when no ``checkpoint_dir`` was given or nothing
    was saved yet).
    """

    def __init__(self, message: str, history: History, checkpoint: Path | None):
        super().__init__(message)
        self.history = history
        self.checkpoint = checkpoint

    def __str__(self) -> str:
        return str(self.args[0])


def diverged_message(loss: torch.Tensor, epoch: int, batch_index: int, lr: float, batch,
                     grad_clip: float | None) -> str:
    """What :class:`TrainingDiverged` says: where the loss became ``loss``, and what to change."""
    tensors = [batch] if isinstance(batch, torch.Tensor) else [
        t for t in (batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (tuple, list))
                    else []) if isinstance(t, torch.Tensor)]
    bad_input = any(t.is_floating_point() and not torch.isfinite(t).all() for t in tensors)
    hints = [f"lower the learning rate (e.g. lr={lr / 10:g})"]
    if grad_clip is None:
        hints.append("enable gradient clipping (grad_clip=1.0)")
    hints.append("the inputs of this batch contain NaN/inf: clean the data" if bad_input
                 else "check the inputs and the loss for log(0) or division by zero")
    return (f"the loss became {loss.item()} at epoch {epoch + 1}, batch {batch_index + 1} (lr={lr:g}). "
            f"Training stopped; try: {'; '.join(hints)}.")


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block is done, then deliver it.

    The end of an epoch (its record, the schedule's step, the callback, the checkpoint) then happens
    entirely or not at all, so the checkpoint always matches the history. Only in the main thread,
    and only when Python's handler (or another callable one) is installed.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        previous(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt here


# --- distributed helpers -----------------------------------------------------------------------

def distributed_env() -> tuple[int, int, int]:
    """``(world_size, rank, local_rank)`` from the variables ``torchrun`` sets; ``(1, 0, 0)`` otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    return world, rank, local


def init_distributed(dev: torch.device) -> None:
    """Join the process group of a ``torchrun`` launch (nccl on CUDA, gloo elsewhere), once."""
    if dist.is_initialized():
        return
    backend = "nccl" if dev.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    # Newer torch warns when a process exits with the group still alive.
    atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside ``torch.compile`` and DistributedDataParallel wrappers (or the model itself)."""
    model = getattr(model, "_orig_mod", model)  # torch.compile's OptimizedModule
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


AMP_MODES = (False, True, "auto", "fp16", "bf16")


def amp_dtype(amp: bool | str, dev: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``fit(amp=...)`` on ``dev``; None means full float32.

    Mixed precision runs on CUDA only: elsewhere every mode gives None, so the same call trains
    unchanged on a laptop. ``True`` or ``"auto"`` choose bfloat16 where the GPU supports it (Ampere and
    newer: the float32 range, no loss scaling needed), else float16 (with a gradient scaler).

    Parameters
    ----------
    amp : {False, True, "auto", "fp16", "bf16"}
    dev : torch.device

    Returns
    -------
    torch.float16, torch.bfloat16 or None
    """
    if amp not in AMP_MODES:
        raise ValueError(f"amp must be one of False, True, 'auto', 'fp16', 'bf16'; got {amp!r}")
    if not amp or dev.type != "cuda":
        return None
    if amp == "bf16" or (amp in (True, "auto") and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def compiled(net: nn.Module, compile: bool | str) -> nn.Module:
    """``torch.compile(net)`` (``compile=True``: the default inductor backend, which generates C++ on the
    CPU and Triton kernels on CUDA), or with the backend named by a string (e.g. ``"aot_eager"``: the
    graph capture without code generation); ``net`` itself when ``compile`` is False."""
    if not compile:
        return net
    backend = compile if isinstance(compile, str) else "inductor"
    # The parameters stay those of ``net``: the optimiser, the checkpoints and unwrap() see the same ones.
    return torch.compile(net, backend=backend)


def is_main_process() -> bool:
    """True on rank 0 (or when not distributed): the process that logs and writes files."""
    return not dist.is_initialized() or dist.get_rank() == 0


# --- data --------------------------------------------------------------------------------------

def as_source(data) -> tuple[str, Any, int]:
    """Classify ``data``: returns ``(kind, payload, n)`` with kind in tensor / tuple / dataset / loader.

    ``n`` is the number of samples (``-1`` for a DataLoader over a dataset without a length).

    Raises
    ------
    ValueError
        Empty tensors, or tensors of a tuple with different first dimensions.
    TypeError
        Anything else than the four accepted kinds.
    """
    if isinstance(data, DataLoader):
        return "loader", data, len(data.dataset) if hasattr(data.dataset, "__len__") else -1
    if isinstance(data, torch.Tensor):
        if data.ndim == 0 or len(data) == 0:
            raise ValueError("data is an empty tensor; give at least one sample (first dimension)")
        return "tensor", data, len(data)
    if isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor) for t in data):
        lengths = {len(t) for t in data}
        if len(lengths) != 1:
            raise ValueError(f"the tensors in data must have the same first dimension, got {sorted(lengths)}")
        n = lengths.pop()
        if n == 0:
            raise ValueError("data holds empty tensors; give at least one sample")
        return "tuple", tuple(data), n
    if isinstance(data, Dataset) and hasattr(data, "__len__"):
        return "dataset", data, len(data)
    raise TypeError(
        "data must be a Tensor, a tuple of Tensors with the same first dimension, a map-style Dataset "
        f"or a DataLoader, got {type(data).__name__}"
    )


def to_device(batch, dev: torch.device):
    """``batch`` (a Tensor, or tuples, lists and dicts of them) moved to ``dev``; other values unchanged."""
    if isinstance(batch, torch.Tensor):
        return batch.to(dev, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, dev) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, dev) for k, v in batch.items()}
    return batch


def epoch_batches(kind: str, payload, n: int, *, epoch: int, batch_size: int, shuffle: bool,
                  drop_last: bool, seed: int, world: int, rank: int, num_workers: int) -> list | Iterable:
    """The batches of one epoch, as index tensors (tensor data) or a DataLoader.

    The order depends only on (seed, epoch, rank), never on global RNG state, which is what makes a
    resumed run see exactly the batches the uninterrupted run saw.
    """
    if kind == "loader":
        sampler = getattr(payload, "sampler", None)
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        return payload
    # DistributedSampler with one replica is a seeded shuffle, so one code path serves both cases.
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed,
                                 drop_last=drop_last and world > 1)
    sampler.set_epoch(epoch)
    order = torch.as_tensor(list(sampler), dtype=torch.long)
    chunks = list(torch.split(order, batch_size))
    if drop_last and len(chunks) > 1 and len(chunks[-1]) < batch_size:
        chunks.pop()
    if kind == "dataset":
        return DataLoader(payload, batch_sampler=[c.tolist() for c in chunks], num_workers=num_workers)
    return chunks


def gather_batch(kind: str, payload, idx):
    """The samples of one batch: ``payload[idx]`` for tensor data; DataLoader batches as they come."""
    if kind == "tensor":
        return payload[idx]
    if kind == "tuple":
        return tuple(t[idx] for t in payload)
    return idx  # dataset / loader batches are already materialised


def num_batches(kind: str, payload, n: int, batch_size: int, drop_last: bool, world: int) -> int:
    """Batches per epoch and process (what :func:`epoch_batches` yields), for the progress bar."""
    if kind == "loader":
        return len(payload)
    per_rank = math.ceil(n / world) if not (drop_last and world > 1) else n // world
    if drop_last and per_rank >= batch_size:
        return per_rank // batch_size
    return math.ceil(per_rank / batch_size)


# --- random state ------------------------------------------------------------------------------

def rng_state() -> dict:
    """Python, NumPy and torch (CPU and CUDA) random states, as plain types and tensors."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached)}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured."""
    random.setstate(_as_tuple(state["python"]))
    torch.set_rng_state(state["torch"].cpu())
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _as_tuple(value):
    # random.setstate needs tuples all the way down; a save/load round trip may give lists.
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


# --- optimiser, schedule, epoch means (used by train.fit) ---

def make_optimizer(model: nn.Module, name: str | Callable, lr: float, weight_decay: float):
    """``"adam"``, ``"adamw"`` or ``"sgd"`` (momentum 0.9) over the trainable parameters, or
    ``name(model)`` when a callable returning an optimizer is given."""
    if callable(name):
        return name(model)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (all have requires_grad=False)")
    name = name.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True)
    raise ValueError(f"unknown optimizer {name!r}; use 'adam', 'adamw', 'sgd' or a callable")


def make_scheduler(optimizer, name: str | None, epochs: int):
    """None, or ``"cosine"``: cosine annealing of the learning rate over ``epochs``."""
    if name is None:
        return None
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    raise ValueError(f"unknown scheduler {name!r}; use None or 'cosine'")


def epoch_record(running: dict, batches: int, world: int, dev: torch.device) -> dict:
    """Mean of each summed quantity over the epoch's batches (and over processes when distributed)."""
    keys = sorted(running)
    sums = torch.tensor([running[k] for k in keys] + [float(batches)], dtype=torch.float64)
    if world > 1:
        # nccl needs device tensors; gloo is happy with CPU ones.
        sums = sums.to(dev)
        dist.all_reduce(sums)
        sums = sums.cpu()
    count = max(sums[-1].item(), 1.0)
    return {k: sums[i].item() / count for i, k in enumerate(keys)}


__all__ = ["History", "StopTraining", "TrainingDiverged", "TrainingInterrupted", "diverged_message",
           "interrupts_held", "distributed_env", "init_distributed", "unwrap", "is_main_process", "as_source",
           "to_device", "epoch_batches", "gather_batch", "num_batches", "rng_state", "set_rng_state",
           "AMP_MODES", "amp_dtype", "compiled", "make_optimizer", "make_scheduler", "epoch_record"]
