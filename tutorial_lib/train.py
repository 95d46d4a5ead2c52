"""The one training loop every model in the library uses.

Taught in notebook 02_feature_learning (``train.fit``, checkpoints, stopping and resuming); every
trained method of notebooks 03_clustering_classification and 04_pixel_segmentation runs through it.

The loop knows nothing about any particular objective: you give it a ``step(model, batch)`` function
that returns the loss (autoencoder reconstruction, SimCLR's NT-Xent, DEC's KL divergence, SCAN's
neighbour consistency, a segmentation loss...) and :func:`fit` does the rest: device, seeded
shuffling, mixed precision on CUDA, gradient clipping, a NaN/inf guard, a progress bar, per-epoch
history, atomic checkpoints with exact resume, and DistributedDataParallel under ``torchrun``.
:class:`History`, the exceptions, the distributed helpers and the batching live in
:mod:`tutorial_lib.train_utils` and are re-exported here.

Example
-------
>>> def step(model, batch):
...     return torch.nn.functional.mse_loss(model(batch), batch)
>>> history = fit(autoencoder, step, images, epochs=10, lr=1e-3)          # doctest: +SKIP
>>> viz.plot_history(history)                                              # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from . import runtime
from .base import seeded
from .checkpoint import load_checkpoint, save_checkpoint
from .runtime import progress_bar as tqdm
from .train_utils import (
    AMP_MODES,
    History,
    StopTraining,
    TrainingDiverged,
    TrainingInterrupted,
    amp_dtype,
    as_source,
    compiled,
    distributed_env,
    diverged_message,
    epoch_batches,
    epoch_record,
    gather_batch,
    init_distributed,
    interrupts_held,
    is_main_process,
    make_optimizer,
    make_scheduler,
    num_batches,
    rng_state,
    set_rng_state,
    to_device,
    unwrap,
)

CHECKPOINT_NAME = "last.pt"
# Settings that must match for ``resume=True`` to continue the same run (``epochs`` may grow when
# there is no learning-rate schedule).
RESUME_KEYS = ("lr", "batch_size", "optimizer", "weight_decay", "seed", "grad_clip", "scheduler",
               "world_size", "drop_last", "shuffle")


# --- resume checks ---------------------------------------------------------

def _check_resume_config(saved: dict, config: dict, path: Path) -> None:
    if saved.get("n_samples") != config.get("n_samples"):
        raise ValueError(
            f"resume=True but {path} was written for data of {saved.get('n_samples')} samples, and this "
            f"data has {config.get('n_samples')}: a run cannot continue on other data. Pass the data it "
            "was trained on, or use another checkpoint_dir (or resume=False) to start a new run."
        )
    # More epochs are fine with a constant rate, but a schedule was laid out for the old number.
    keys = RESUME_KEYS + (("epochs",) if config.get("scheduler") is not None else ())
    changed = [f"{k}: checkpoint {saved.get(k)!r}, now {config.get(k)!r}"
               for k in keys if saved.get(k) != config.get(k)]
    if changed:
        raise ValueError(
            f"resume=True but {path} was written with other settings ({'; '.join(changed)}). "
            "Pass the same settings, or use another checkpoint_dir to start a new run."
        )


# --- one run: setup, resume, DDP ---------------------------------------------------------------

@dataclass
class _Run:
    """One call of :func:`fit`: what it set up, and where the loop stands (``epoch``, ``done``,
    ``running``, ``batch_rng``), which the interrupt handler saves."""

    step: Callable
    model: nn.Module
    opt: torch.optim.Optimizer
    sched: Any
    scaler: torch.amp.GradScaler
    history: History
    config: dict
    dev: torch.device
    world: int
    rank: int
    kind: str
    payload: Any
    n: int
    epochs: int
    batch_size: int
    shuffle: bool
    drop_last: bool
    shuffle_seed: int
    grad_clip: float | None
    num_workers: int
    autocast: AbstractContextManager
    ckpt_path: Path | None
    epoch_hook: bool = False  # an on_epoch_start callback: resume only from the start of an epoch
    net: nn.Module | None = None  # the model, or its DistributedDataParallel wrapper
    start_epoch: int = 0
    skip_batches: int = 0  # batches of start_epoch trained before an interruption
    epoch: int = 0  # the current epoch, from 0
    done: int = 0  # batches of the current epoch trained so far
    running: dict = field(default_factory=dict)  # sums of the loss and metrics over those batches
    batch_rng: dict | None = None  # the random state before the current batch (with checkpoints)

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_processes(device: str | torch.device) -> tuple[torch.device, int, int]:
    """``(device, world_size, rank)``; under ``torchrun``, this process's GPU and the process group."""
    world, rank, local_rank = distributed_env()
    dev = runtime.device(device)
    if world > 1:
        if dev.type == "cuda":
            dev = torch.device("cuda", local_rank)
            torch.cuda.set_device(dev)
        init_distributed(dev)
    return dev, world, rank


def _resume(run: _Run) -> None:
    """Load ``run.ckpt_path`` into the run: weights, optimiser, scaler, schedule, history, position, RNG."""
    path = run.ckpt_path
    state = load_checkpoint(path, map_location=run.dev)
    _check_resume_config(state["config"], run.config, path)
    run.model.load_state_dict(state["model"])
    run.opt.load_state_dict(state["optimizer"])
    run.scaler.load_state_dict(state["scaler"])
    if run.sched is not None and state.get("scheduler") is not None:
        run.sched.load_state_dict(state["scheduler"])
    history = History.from_dict(state["history"])
    history.config = run.config
    history.interrupted = history.stopped_early = False  # this run goes on (resume ignores an early stop)
    history.resumed_from = state["epoch"]
    run.history = history
    run.start_epoch, run.skip_batches, run.running = state["epoch"], state["batch"], dict(state["running"])
    rngs = state["rng"]
    set_rng_state(rngs[run.rank] if run.rank < len(rngs) else rngs[0])


def _wrap_ddp(model: nn.Module, dev: torch.device, world: int) -> nn.Module:
    """``model`` in DistributedDataParallel when several processes train (it broadcasts rank 0's weights)."""
    if world == 1:
        return model
    ids = [dev.index] if dev.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


# --- one run: checkpoints, progress, interrupt -------------------------------------------------

def _snapshot(run: _Run, epoch: int, batch: int, sums: dict, rngs: list[dict]) -> dict:
    """The full state of the run after ``batch`` batches of ``epoch``, as saved in ``last.pt``."""
    return {"model": run.model.state_dict(), "optimizer": run.opt.state_dict(),
            "scaler": run.scaler.state_dict(),
            "scheduler": run.sched.state_dict() if run.sched is not None else None, "epoch": epoch,
            "batch": batch, "running": dict(sums), "config": run.config,
            "history": run.history.to_dict(), "rng": rngs}


def _save_epoch_checkpoint(run: _Run, epoch: int) -> None:
    """After ``epoch`` (from 0) is complete: rank 0 writes the state with every rank's random state."""
    rngs = [rng_state()]
    if run.world > 1:
        # Every rank's RNG, so a resumed DDP run continues each rank's random stream.
        rngs = [None] * run.world
        dist.all_gather_object(rngs, rng_state())
    if run.main:
        save_checkpoint(run.ckpt_path, _snapshot(run, epoch + 1, 0, {}, rngs))


def _save_on_interrupt(run: _Run) -> TrainingInterrupted:
    """KeyboardInterrupt: flag the history, save where the loop stood; the exception that says how to go on.

    Mid-epoch, the weights after ``done`` batches are saved with the random state as it was before the
    unfinished batch, unless an ``on_epoch_start`` callback computed something from the weights at the
    start of the epoch (DEC's targets, SCAN's pseudo-labels): then the last end-of-epoch checkpoint is
    kept and a resume redoes this epoch from its start, which gives the same result. At the start of an
    epoch the end-of-epoch checkpoint is already the state to continue from.
    """
    run.history.interrupted = True
    where = f"in epoch {run.epoch + 1} after {run.done} of its batches"
    saved = None
    if run.ckpt_path is not None and run.main:
        if run.done > 0 and not run.epoch_hook:
            # (Not collective: the other ranks are being interrupted too.) A second Ctrl-C waits for it.
            rng = run.batch_rng if run.batch_rng is not None else rng_state()
            with interrupts_held():
                saved = save_checkpoint(run.ckpt_path, _snapshot(run, run.epoch, run.done, run.running,
                                                                 [rng]))
        elif run.ckpt_path.is_file():
            saved = run.ckpt_path
            if run.done > 0:
                where += f" (a resume restarts epoch {run.epoch + 1} from its start)"
    if saved is not None:
        message = (f"training interrupted {where}; saved to {saved}: call fit with the same settings "
                   "and resume=True to continue")
    elif run.ckpt_path is not None:
        message = f"training interrupted {where}, before a checkpoint was saved: nothing to resume"
    else:
        message = f"training interrupted {where}; nothing saved (give checkpoint_dir to be able to resume)"
    return TrainingInterrupted(message, run.history, saved)


def _progress_bar(run: _Run, progress: bool) -> tqdm:
    """A bar over the batches still to train (disabled off rank 0, without ``progress``, or with none)."""
    per_epoch = num_batches(run.kind, run.payload, run.n, run.batch_size, run.drop_last, run.world)
    total = max(run.epochs - run.start_epoch, 0) * per_epoch - run.skip_batches
    show = progress and run.main
    if total <= 0 and run.history.resumed_from is not None and show:
        print(f"loaded {run.ckpt_path}: training already complete ({run.start_epoch} epochs); "
              "nothing to train")
    return tqdm(total=max(total, 0), disable=not show or total <= 0, desc="training", unit="batch",
                dynamic_ncols=True, leave=True)


# --- the loop ----------------------------------------------------------------------------------

def _train_batch(run: _Run, batch, epoch: int, index: int) -> torch.Tensor:
    """One optimiser step on ``batch`` (already on the device); adds its loss and metrics to the sums."""
    with run.autocast:
        out = run.step(run.net, batch)
    loss, metrics = (out if isinstance(out, tuple) else (out, {}))
    if not torch.isfinite(loss.detach()).all():
        message = diverged_message(loss.detach(), epoch, index, run.opt.param_groups[0]["lr"], batch,
                                   run.grad_clip)
        raise TrainingDiverged(message)
    run.opt.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    if run.grad_clip is not None:
        run.scaler.unscale_(run.opt)
        nn.utils.clip_grad_norm_(run.model.parameters(), run.grad_clip)
    run.scaler.step(run.opt)
    run.scaler.update()
    for key, value in {"loss": loss, **metrics}.items():
        value = value.detach() if isinstance(value, torch.Tensor) else value
        run.running[key] = run.running.get(key, 0.0) + float(value)
    return loss


def _train_epoch(run: _Run, epoch: int, bar: tqdm, on_epoch_start: Callable | None) -> None:
    """The batches of ``epoch`` (from 0), skipping those a resumed run already trained on."""
    run.epoch = epoch
    run.done = run.skip_batches if epoch == run.start_epoch else 0
    if run.done == 0:
        run.running = {}
    if on_epoch_start is not None:
        on_epoch_start(epoch, run.net)
    run.net.train()
    batches = epoch_batches(run.kind, run.payload, run.n, epoch=epoch, batch_size=run.batch_size,
                            shuffle=run.shuffle, drop_last=run.drop_last, seed=run.shuffle_seed,
                            world=run.world, rank=run.rank, num_workers=run.num_workers)
    for index, item in enumerate(batches):
        if index < run.done:
            continue  # already trained on before the interruption
        if run.ckpt_path is not None:
            run.batch_rng = rng_state()  # so an interrupt mid-batch can resume exactly here
        batch = to_device(gather_batch(run.kind, run.payload, item), run.dev)
        loss = _train_batch(run, batch, epoch, index)
        run.done += 1
        bar.update(1)
        bar.set_postfix(epoch=f"{epoch + 1}/{run.epochs}", loss=f"{loss.item():.4g}", refresh=False)
    run.batch_rng = None


def _end_epoch(run: _Run, epoch: int, t0: float, on_epoch_end: Callable | None) -> bool:
    """Record the epoch, step the schedule, run the callback, save; True if the callback stops training."""
    record = epoch_record(run.running, run.done, run.world, run.dev)
    record.update(epoch=epoch + 1, lr=run.opt.param_groups[0]["lr"], seconds=time.perf_counter() - t0)
    if run.sched is not None:
        run.sched.step()
    run.history.records.append(record)
    stop = False
    if on_epoch_end is not None:
        try:
            extra = on_epoch_end(epoch, run.net, run.history)
        except StopTraining:
            stop = True
            extra = None
        if extra:
            record.update({k: float(v) for k, v in extra.items()})
    # Before the save: the checkpoint then says that its run was stopped early (see cluster.fit_stage).
    run.history.stopped_early = run.history.stopped_early or stop
    if run.ckpt_path is not None:
        _save_epoch_checkpoint(run, epoch)
    return stop


def _train(run: _Run, progress: bool, on_epoch_start: Callable | None,
           on_epoch_end: Callable | None) -> History:
    """Every remaining epoch of ``run``; a KeyboardInterrupt saves the state, raises TrainingInterrupted."""
    bar = _progress_bar(run, progress)
    run.epoch, run.done, run.batch_rng = run.start_epoch, run.skip_batches, None
    try:
        for epoch in range(run.start_epoch, run.epochs):
            t0 = time.perf_counter()
            _train_epoch(run, epoch, bar, on_epoch_start)
            with interrupts_held():
                stop = _end_epoch(run, epoch, t0, on_epoch_end)
                run.epoch, run.done, run.running = epoch + 1, 0, {}  # the checkpoint's position
            if stop:
                break
    except KeyboardInterrupt as err:
        if isinstance(err, TrainingInterrupted):
            raise  # from a fit nested in a callback: already saved and explained
        raise _save_on_interrupt(run) from None
    finally:
        bar.close()
    return run.history


def fit(model: nn.Module, step: Callable, data, *, epochs: int = 10, lr: float = 1e-3,
        batch_size: int = 128, optimizer: str | Callable = "adam", weight_decay: float = 0.0,
        scheduler: str | None = None, device: str | torch.device = "auto", amp: bool | str = False,
        compile: bool | str = False, seed: int | None = 0, grad_clip: float | None = None,
        shuffle: bool = True, drop_last: bool = False, checkpoint_dir: str | os.PathLike | None = None,
        resume: bool = False, progress: bool = True, on_epoch_start: Callable | None = None,
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
    amp : {False, True, "auto", "fp16", "bf16"}
        Mixed precision on CUDA (ignored elsewhere, see :func:`amp_dtype`): autocast to bfloat16, or to
        float16 with a gradient scaler that keeps small gradients from underflowing. ``True`` = "auto".
    compile : bool or str
        Train through ``torch.compile`` (True: the inductor backend; a string names another backend).
        The first batches are slow while the graph is compiled; it pays off on long runs on a GPU.
    seed : int or None
        Seeds Python, NumPy and torch for the run (plus the rank under ``torchrun``) and the
        shuffling; the caller's random state is restored when ``fit`` returns. None uses the global
        random state as it is, and advances it (shuffling then uses seed 0).
    grad_clip : float or None
        Clip the gradient norm to this value.
    shuffle, drop_last : bool
        Shuffle each epoch; drop the last incomplete batch (useful for contrastive losses).
    checkpoint_dir : path or None
        If given, ``last.pt`` there holds the full state after every epoch and on KeyboardInterrupt.
        With ``resume=False`` a new run starts: a ``last.pt`` already there is removed first.
    resume : bool
        Continue from ``checkpoint_dir/last.pt`` if it exists (else start fresh); the result equals an
        uninterrupted run with the same settings and data (a different number of samples is refused).
        ``epochs`` may be raised to train longer, unless a ``scheduler`` is used (its schedule depends
        on the number of epochs). A run a callback stopped early goes on training (its checkpoint's
        history says ``stopped_early``: methods that stop on convergence skip such a stage).
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
        Per-epoch losses and metrics.

    Raises
    ------
    TrainingInterrupted
        On KeyboardInterrupt (Ctrl-C, Jupyter's stop button), once the state is saved when
        ``checkpoint_dir`` is given; a subclass of KeyboardInterrupt, with the ``history`` so far and
        the ``checkpoint`` to resume from.
    TrainingDiverged
        If a loss is NaN or infinite; the message suggests what to change.
    ValueError
        For bad settings, or ``resume=True`` with a checkpoint written under different settings or
        for data with another number of samples.
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs=}, {batch_size=}")
    dev, world, rank = _setup_processes(device)
    dtype = amp_dtype(amp, dev)
    kind, payload, n = as_source(data)
    if kind in ("tensor", "tuple") and dev.type == "cuda":
        # Indexing on the GPU avoids one host-to-device copy per batch; the data is small here.
        payload = to_device(payload, dev)

    opt_name = optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", "custom")
    run_config = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "optimizer": opt_name,
                  "weight_decay": weight_decay, "scheduler": scheduler,
                  "amp": str(dtype).removeprefix("torch.") if dtype is not None else None,
                  "compile": compile, "seed": seed,
                  "grad_clip": grad_clip, "shuffle": shuffle, "drop_last": drop_last, "world_size": world,
                  "device": str(dev), "n_samples": n, **(config or {})}

    # Seeded for the whole run (a resumed run then loads the checkpoint's random state inside the
    # block); the caller's Python, NumPy and torch generators are given back unchanged afterwards.
    with seeded(seed + rank, dev) if seed is not None else nullcontext():
        model.to(dev)
        opt = make_optimizer(model, optimizer, lr, weight_decay)
        run = _Run(step=step, model=model, opt=opt, sched=make_scheduler(opt, scheduler, epochs),
                   scaler=torch.amp.GradScaler("cuda", enabled=dtype == torch.float16),
                   history=History(config=run_config),
                   config=run_config, dev=dev, world=world, rank=rank, kind=kind, payload=payload, n=n,
                   epochs=epochs, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                   shuffle_seed=seed if seed is not None else 0, grad_clip=grad_clip,
                   num_workers=num_workers,
                   autocast=torch.autocast("cuda", dtype=dtype) if dtype is not None else nullcontext(),
                   ckpt_path=Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None,
                   epoch_hook=on_epoch_start is not None)
        if resume and run.ckpt_path is not None and run.ckpt_path.exists():
            _resume(run)
        elif run.ckpt_path is not None and run.main:
            run.ckpt_path.unlink(missing_ok=True)  # a new run: an older state must not be resumed later
        run.net = compiled(_wrap_ddp(model, dev, world), compile)
        return _train(run, progress, on_epoch_start, on_epoch_end)


def load_weights(model: nn.Module, checkpoint_dir: str | os.PathLike, map_location="cpu") -> History:
    """Load the weights of ``checkpoint_dir/last.pt`` into ``model``; returns the run's History."""
    state = load_checkpoint(Path(checkpoint_dir) / CHECKPOINT_NAME, map_location=map_location)
    model.load_state_dict(state["model"])
    return History.from_dict(state["history"])


__all__ = ["fit", "History", "TrainingDiverged", "TrainingInterrupted", "StopTraining", "unwrap",
           "load_weights", "make_optimizer", "distributed_env", "is_main_process", "rng_state",
           "set_rng_state", "CHECKPOINT_NAME", "AMP_MODES", "amp_dtype"]
