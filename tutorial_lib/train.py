"""The one training loop every model in the library uses.

The loop knows nothing about any particular objective: you give it a ``step(model, batch)`` function
that returns the loss (autoencoder reconstruction, SimCLR's NT-Xent, DEC's KL divergence, SCAN's
neighbour consistency, a segmentation loss...) and :func:`fit` does the rest: device, seeded
shuffling, mixed precision on CUDA, gradient clipping, a NaN/inf guard, a progress bar, per-epoch
history, atomic checkpoints with exact resume, and DistributedDataParallel under ``torchrun``.

Example
-------
>>> def step(model, batch):
...     return torch.nn.functional.mse_loss(model(batch), batch)
>>> history = fit(autoencoder, step, images, epochs=10, lr=1e-3)          # doctest: +SKIP
>>> history.plot()                                                         # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from . import runtime
from .checkpoint import load_checkpoint, save_checkpoint

CHECKPOINT_NAME = "last.pt"
# Settings that must match for ``resume=True`` to continue the same run (``epochs`` may grow when
# there is no learning-rate schedule).
RESUME_KEYS = ("lr", "batch_size", "optimizer", "weight_decay", "seed", "grad_clip", "scheduler",
               "world_size", "drop_last", "shuffle")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says what to change."""


class StopTraining(Exception):
    """Raise from an ``on_epoch_end`` callback to stop training early (the epoch is kept)."""


# --- history -----------------------------------------------------------------------------------

@dataclass
class History:
    """What happened during :func:`fit`, one record per completed epoch.

    Attributes
    ----------
    records : list of dict
        One dict per epoch with ``epoch`` (1-based), ``loss`` (mean over the epoch's batches),
        ``lr``, ``seconds`` and any metric returned by the step or the ``on_epoch_end`` callback.
    interrupted : bool
        True if training stopped on KeyboardInterrupt (the state was saved first when
        ``checkpoint_dir`` was given).
    stopped_early : bool
        True if a callback raised :class:`StopTraining`.
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

    def plot(self, keys: Sequence[str] = ("loss",), ax=None):
        """Plot quantities against epoch; returns the matplotlib Figure (see ``viz.plot_history``)."""
        from .viz import plot_history

        return plot_history(self, keys=keys, ax=ax)

    def __repr__(self) -> str:
        last = f", last loss {self.losses[-1]:.4g}" if self.losses else ""
        flags = "".join(f", {name}" for name in ("interrupted", "stopped_early") if getattr(self, name))
        return f"History({len(self)} epochs{last}{flags})"


# --- distributed helpers -----------------------------------------------------------------------

def distributed_env() -> tuple[int, int, int]:
    """``(world_size, rank, local_rank)`` from the variables ``torchrun`` sets; ``(1, 0, 0)`` otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    return world, rank, local


def _init_distributed(dev: torch.device) -> None:
    if dist.is_initialized():
        return
    backend = "nccl" if dev.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    # Newer torch warns when a process exits with the group still alive.
    atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def is_main_process() -> bool:
    """True on rank 0 (or when not distributed): the process that logs and writes files."""
    return not dist.is_initialized() or dist.get_rank() == 0


# --- data --------------------------------------------------------------------------------------

def _as_source(data) -> tuple[str, Any, int]:
    """Classify ``data``: returns (kind, payload, n) with kind in tensor / tuple / dataset / loader."""
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


def _to_device(batch, dev: torch.device):
    if isinstance(batch, torch.Tensor):
        return batch.to(dev, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, dev) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, dev) for k, v in batch.items()}
    return batch


def _epoch_batches(kind: str, payload, n: int, *, epoch: int, batch_size: int, shuffle: bool,
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


def _gather_batch(kind: str, payload, idx):
    if kind == "tensor":
        return payload[idx]
    if kind == "tuple":
        return tuple(t[idx] for t in payload)
    return idx  # dataset / loader batches are already materialised


def _num_batches(kind: str, payload, n: int, batch_size: int, drop_last: bool, world: int) -> int:
    if kind == "loader":
        return len(payload)
    per_rank = math.ceil(n / world) if not (drop_last and world > 1) else n // world
    if drop_last and per_rank >= batch_size:
        return per_rank // batch_size
    return math.ceil(per_rank / batch_size)


# --- optimiser, RNG, checkpoints ---------------------------------------------------------------

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


def _make_scheduler(optimizer, name: str | None, epochs: int):
    if name is None:
        return None
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    raise ValueError(f"unknown scheduler {name!r}; use None or 'cosine'")


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


def _check_resume_config(saved: dict, config: dict, path: Path) -> None:
    # More epochs are fine with a constant rate, but a schedule was laid out for the old number.
    keys = RESUME_KEYS + (("epochs",) if config.get("scheduler") is not None else ())
    changed = [f"{k}: checkpoint {saved.get(k)!r}, now {config.get(k)!r}"
               for k in keys if saved.get(k) != config.get(k)]
    if changed:
        raise ValueError(
            f"resume=True but {path} was written with other settings ({'; '.join(changed)}). "
            "Pass the same settings, or use another checkpoint_dir to start a new run."
        )


def _diverged_message(loss: torch.Tensor, epoch: int, batch_index: int, lr: float, batch,
                      grad_clip: float | None) -> str:
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


# --- the loop ----------------------------------------------------------------------------------

def fit(model: nn.Module, step: Callable, data, *, epochs: int = 10, lr: float = 1e-3,
        batch_size: int = 128, optimizer: str | Callable = "adam", weight_decay: float = 0.0,
        scheduler: str | None = None, device: str | torch.device = "auto", amp: bool = False,
        seed: int | None = 0, grad_clip: float | None = None, shuffle: bool = True,
        drop_last: bool = False, checkpoint_dir: str | os.PathLike | None = None, resume: bool = False,
        progress: bool = True, on_epoch_start: Callable | None = None,
        on_epoch_end: Callable | None = None, num_workers: int = 0, config: dict | None = None) -> History:
    """Train ``model`` by minimising ``step(model, batch)`` over ``data``; the model is updated in place.

    Parameters
    ----------
    model : nn.Module
        The model to train; moved to ``device``. Under ``torchrun`` it is wrapped in
        DistributedDataParallel before ``step`` sees it.
    step : callable ``(model, batch) -> loss`` or ``-> (loss, metrics)``
        Computes a scalar loss tensor for one batch (already on the device); ``metrics`` is an
        optional dict of floats or scalar tensors averaged over the epoch into the history.
        Call the model as ``model(x)`` so DistributedDataParallel can synchronise gradients; reach
        sub-modules through ``unwrap(model)``.
    data : Tensor, tuple of Tensors, Dataset or DataLoader
        A Tensor of shape (N, ...) gives batches that are Tensors; a tuple of Tensors with the same
        first dimension gives tuples (e.g. ``(images, indices)``); a map-style Dataset is batched by a
        DataLoader. These are shuffled with a seed that depends only on ``seed`` and the epoch.
        A DataLoader is used as it is (its own shuffling; exact resume is then not guaranteed).
    epochs : int
        Total number of epochs (a resumed run continues up to this number).
    lr, weight_decay : float
        Learning rate and L2 penalty of the optimizer.
    batch_size : int
        Samples per batch (per process under ``torchrun``).
    optimizer : {"adam", "adamw", "sgd"} or callable ``model -> torch.optim.Optimizer``
    scheduler : {None, "cosine"}
        Learning-rate schedule, stepped once per epoch.
    device : str or torch.device
        ``"auto"`` picks CUDA, then MPS, then CPU (see ``runtime.device``).
    amp : bool
        Mixed precision (float16 autocast and a gradient scaler) on CUDA; ignored elsewhere.
    seed : int or None
        Seeds Python, NumPy and torch at the start (plus the rank under ``torchrun``) and the shuffling.
        None leaves the global random state alone (shuffling then uses seed 0).
    grad_clip : float or None
        Clip the gradient norm to this value.
    shuffle, drop_last : bool
        Shuffle each epoch; drop the last incomplete batch (useful for contrastive losses).
    checkpoint_dir : path or None
        If given, ``last.pt`` there holds the full state after every epoch and on KeyboardInterrupt.
    resume : bool
        Continue from ``checkpoint_dir/last.pt`` if it exists (else start fresh); the result equals an
        uninterrupted run with the same settings. ``epochs`` may be raised to train longer, unless a
        ``scheduler`` is used (its schedule depends on the number of epochs).
    progress : bool
        Show a tqdm progress bar (rank 0 only).
    on_epoch_start : callable ``(epoch, model) -> None`` or None
        Called before each epoch (``epoch`` counts from 0), e.g. to refresh DEC's target distribution.
    on_epoch_end : callable ``(epoch, model, history) -> dict | None`` or None
        Called after each epoch with the record already appended; a returned dict of metrics is added
        to that epoch's record. Raise :class:`StopTraining` to stop early.
    num_workers : int
        DataLoader workers when ``data`` is a Dataset.
    config : dict or None
        Extra plain-typed settings to store in the history and checkpoints (e.g. model sizes).

    Returns
    -------
    History
        Per-epoch losses and metrics; ``history.interrupted`` is True after a KeyboardInterrupt.

    Raises
    ------
    TrainingDiverged
        If a loss is NaN or infinite; the message suggests what to change.
    ValueError
        For bad settings, or ``resume=True`` with a checkpoint written under different settings.
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs=}, {batch_size=}")
    world, rank, local_rank = distributed_env()
    dev = runtime.device(device)
    if world > 1:
        if dev.type == "cuda":
            dev = torch.device("cuda", local_rank)
            torch.cuda.set_device(dev)
        _init_distributed(dev)
    main = rank == 0
    use_amp = bool(amp) and dev.type == "cuda"
    kind, payload, n = _as_source(data)
    if kind in ("tensor", "tuple") and dev.type == "cuda":
        # Indexing on the GPU avoids one host-to-device copy per batch; the data is small here.
        payload = _to_device(payload, dev)

    opt_name = optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", "custom")
    run_config = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "optimizer": opt_name,
                  "weight_decay": weight_decay, "scheduler": scheduler, "amp": use_amp, "seed": seed,
                  "grad_clip": grad_clip, "shuffle": shuffle, "drop_last": drop_last, "world_size": world,
                  "device": str(dev), "n_samples": n, **(config or {})}

    if seed is not None:
        runtime.seed_everything(seed + rank)
    model.to(dev)
    opt = make_optimizer(model, optimizer, lr, weight_decay)
    sched = _make_scheduler(opt, scheduler, epochs)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    history = History(config=run_config)
    start_epoch, skip_batches, running = 0, 0, {}

    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if resume and ckpt_path is not None and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, map_location=dev)
        _check_resume_config(state["config"], run_config, ckpt_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        if sched is not None and state.get("scheduler") is not None:
            sched.load_state_dict(state["scheduler"])
        history = History.from_dict(state["history"])
        history.config = run_config
        history.interrupted = False
        history.resumed_from = state["epoch"]
        start_epoch, skip_batches, running = state["epoch"], state["batch"], dict(state["running"])
        rngs = state["rng"]
        set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])

    net = model
    if world > 1:
        ids = [dev.index] if dev.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def snapshot(epoch: int, batch: int, sums: dict, rngs: list[dict]) -> dict:
        return {"model": model.state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else None, "epoch": epoch,
                "batch": batch, "running": dict(sums), "config": run_config,
                "history": history.to_dict(), "rng": rngs}

    batches_per_epoch = _num_batches(kind, payload, n, batch_size, drop_last, world)
    total = max(epochs - start_epoch, 0) * batches_per_epoch - skip_batches
    if total <= 0 and history.resumed_from is not None and progress and main:
        print(f"loaded {ckpt_path}: training already complete ({start_epoch} epochs); nothing to train")
    bar = tqdm(total=max(total, 0), disable=not (progress and main) or total <= 0, desc="training",
               unit="batch", dynamic_ncols=True, leave=True)
    autocast = torch.autocast("cuda", dtype=torch.float16) if use_amp else nullcontext()
    shuffle_seed = seed if seed is not None else 0
    epoch, done, batch_rng = start_epoch, skip_batches, None
    try:
        for epoch in range(start_epoch, epochs):
            t0 = time.perf_counter()
            done = skip_batches if epoch == start_epoch else 0
            if done == 0:
                running = {}
            if on_epoch_start is not None:
                on_epoch_start(epoch, net)
            net.train()
            batches = _epoch_batches(kind, payload, n, epoch=epoch, batch_size=batch_size, shuffle=shuffle,
                                     drop_last=drop_last, seed=shuffle_seed, world=world, rank=rank,
                                     num_workers=num_workers)
            for index, item in enumerate(batches):
                if index < done:
                    continue  # already trained on before the interruption
                if ckpt_path is not None:
                    batch_rng = rng_state()  # so an interrupt mid-batch can resume exactly here
                batch = _to_device(_gather_batch(kind, payload, item), dev)
                with autocast:
                    out = step(net, batch)
                loss, metrics = (out if isinstance(out, tuple) else (out, {}))
                if not torch.isfinite(loss.detach()).all():
                    message = _diverged_message(loss.detach(), epoch, index, opt.param_groups[0]["lr"],
                                                batch, grad_clip)
                    raise TrainingDiverged(message)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if grad_clip is not None:
                    scaler.unscale_(opt)
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                scaler.step(opt)
                scaler.update()
                for key, value in {"loss": loss, **metrics}.items():
                    value = value.detach() if isinstance(value, torch.Tensor) else value
                    running[key] = running.get(key, 0.0) + float(value)
                done += 1
                bar.update(1)
                bar.set_postfix(epoch=f"{epoch + 1}/{epochs}", loss=f"{loss.item():.4g}", refresh=False)
            batch_rng = None
            record = _epoch_record(running, done, world, dev)
            record.update(epoch=epoch + 1, lr=opt.param_groups[0]["lr"], seconds=time.perf_counter() - t0)
            if sched is not None:
                sched.step()
            history.records.append(record)
            stop = False
            if on_epoch_end is not None:
                try:
                    extra = on_epoch_end(epoch, net, history)
                except StopTraining:
                    stop = True
                    extra = None
                if extra:
                    record.update({k: float(v) for k, v in extra.items()})
            if ckpt_path is not None:
                rngs = [rng_state()]
                if world > 1:
                    # Every rank's RNG, so a resumed DDP run continues each rank's random stream.
                    rngs = [None] * world
                    dist.all_gather_object(rngs, rng_state())
                if main:
                    save_checkpoint(ckpt_path, snapshot(epoch + 1, 0, {}, rngs))
            if stop:
                history.stopped_early = True
                break
    except KeyboardInterrupt:
        history.interrupted = True
        if ckpt_path is not None and main:
            # Mid-epoch: weights after `done` batches, and the RNG as it was before the unfinished batch.
            # (Not collective: the other ranks are being interrupted too.)
            rng = batch_rng if batch_rng is not None else rng_state()
            save_checkpoint(ckpt_path, snapshot(epoch, done, running, [rng]))
        if main:
            where = f" (saved to {ckpt_path}; call fit with resume=True to continue)" if ckpt_path else ""
            print(f"Training interrupted at epoch {epoch + 1}, batch {done}{where}.")
    finally:
        bar.close()
    return history


def _epoch_record(running: dict, batches: int, world: int, dev: torch.device) -> dict:
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


def load_weights(model: nn.Module, checkpoint_dir: str | os.PathLike, map_location="cpu") -> History:
    """Load the weights of ``checkpoint_dir/last.pt`` into ``model``; returns the run's History."""
    state = load_checkpoint(Path(checkpoint_dir) / CHECKPOINT_NAME, map_location=map_location)
    model.load_state_dict(state["model"])
    return History.from_dict(state["history"])
