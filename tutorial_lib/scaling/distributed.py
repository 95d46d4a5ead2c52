"""Training on several processes: a ``torchrun`` job, launched from a notebook cell, and its timing.

Taught in notebook 06_scaling_up (section "several processes, several machines"). The training loop
(:func:`tutorial_lib.train.fit`) already runs under ``torchrun``: each process joins a process group
(gloo on CPUs, NCCL on GPUs), wraps the model in DistributedDataParallel (which averages the gradients
of every rank after each backward pass), reads its own share of every epoch through a
DistributedSampler, and only rank 0 writes checkpoints, logs and progress bars. This module adds:

* the job, ``python -m tutorial_lib.scaling.distributed`` (:func:`main`): an autoencoder trained on a
  named set with a fixed *global* batch (each of ``world`` processes takes ``global_batch / world``
  images per step, so 1 and 2 processes take the same optimisation steps), then rank 0 scores k-means
  on its codes and writes ``result.json``;
* :func:`launch`, which starts that job under ``torchrun`` from Python (a notebook cell) and returns
  what rank 0 wrote, the wall time and the CPU time of all processes;
* :func:`torchrun_command`, the same command for several machines (``--nnodes``, a rendezvous
  endpoint), to read rather than run here;
* :func:`compare_layouts`, processes × threads per process on the same job, the honest measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

JOB_MODULE = "tutorial_lib.scaling.distributed"


def torchrun_command(job_args: list[str], *, nproc_per_node: int = 2, nnodes: int = 1,
                     rdzv_endpoint: str | None = None, rdzv_id: str = "tutorial", python: str | None = None
                     ) -> list[str]:
    """The ``torchrun`` command line of the job, for one machine or several.

    Parameters
    ----------
    job_args : list of str
        Arguments of the job (see :func:`main`), e.g. ``["--data", "digits", "--out", "runs/ddp"]``.
    nproc_per_node : int
        Processes on each machine (one per GPU on a GPU machine).
    nnodes : int
        Machines. With 1, ``--standalone`` starts a local rendezvous; with more, every machine runs the
        same command and they meet at ``rdzv_endpoint`` (``host:port`` of one of them, the c10d store).
    rdzv_endpoint : str, optional
        Needed when ``nnodes > 1``.
    rdzv_id : str
        A name shared by the machines of one job.
    python : str, optional
        The interpreter (default: this one).

    Returns
    -------
    list of str
        The command, ``python -m torch.distributed.run ...`` (``torchrun`` is that module's script).
    """
    if nproc_per_node < 1 or nnodes < 1:
        raise ValueError(f"need nproc_per_node >= 1 and nnodes >= 1, got {nproc_per_node}, {nnodes}")
    cmd = [python or sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc_per_node}"]
    if nnodes == 1:
        cmd.append("--standalone")
    else:
        if not rdzv_endpoint:
            raise ValueError("several machines need rdzv_endpoint='host:port' (one machine all can reach)")
        cmd += [f"--nnodes={nnodes}", "--rdzv_backend=c10d", f"--rdzv_endpoint={rdzv_endpoint}",
                f"--rdzv_id={rdzv_id}"]
    return cmd + ["-m", JOB_MODULE, *job_args]


def launch(out: str | os.PathLike, *, nproc: int = 2, threads: int = 1, data: str = "digits",
           split: str = "train", limit: int | None = None, epochs: int = 5, global_batch: int = 128,
           seed: int = 0, timeout: float = 900) -> dict:
    """Run the job under ``torchrun`` with ``nproc`` processes of ``threads`` threads each; wait for it.

    Parameters
    ----------
    out : path
        Folder for ``result.json`` (rank 0) and the processes' output ``log.txt``.
    nproc, threads : int
        Processes, and torch threads in each (``OMP_NUM_THREADS``).
    data, split, limit, epochs, global_batch, seed
        The job's settings (see :func:`main`).
    timeout : float
        Seconds before the job is stopped.

    Returns
    -------
    dict
        What rank 0 wrote (``world``, ``threads``, ``train_seconds``, ``losses``, ``acc``, ``nmi``...) plus
        ``wall_seconds`` (the whole launch, process start-up included) and ``cpu_seconds`` (user +
        system time of every process).

    Raises
    ------
    RuntimeError
        The job failed: the message holds the end of its output.
    """
    import resource  # Unix only: imported here so that the package imports everywhere

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").unlink(missing_ok=True)
    args = ["--data", data, "--split", split, "--epochs", str(epochs), "--global-batch", str(global_batch),
            "--seed", str(seed), "--out", str(out)] + (["--limit", str(limit)] if limit else [])
    cmd = torchrun_command(args, nproc_per_node=nproc)
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    (out / "log.txt").write_text(f"$ {shlex.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    if proc.returncode != 0 or not (out / "result.json").is_file():
        raise RuntimeError(f"the torchrun job failed (exit {proc.returncode}); its output ends with:\n"
                           f"{(proc.stdout + proc.stderr)[-2500:]}")
    result = json.loads((out / "result.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {**result, "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2)}


def compare_layouts(out: str | os.PathLike, layouts=((1, 2), (2, 1)), repeats: int = 1, **job) -> list[dict]:
    """The same job under several (processes, threads per process) layouts, each ``repeats`` times.

    Parameters
    ----------
    out : path
        Folder; run ``i`` of layout ``p x t`` writes in ``out/p{p}x{t}-{i}``.
    layouts : sequence of (int, int)
        ``(processes, threads)``; the default compares 1 process of 2 threads with 2 processes of 1.
    repeats : int
        Runs of each layout (the rows then give the median wall and training seconds).
    **job
        :func:`launch` settings (``data``, ``split``, ``limit``, ``epochs``, ``global_batch``, ``seed``).

    Returns
    -------
    list of dict
        One row per layout: processes, threads, wall and train seconds (median; min and max with
        repeats), CPU seconds, final loss, k-means accuracy on the codes.
    """
    import numpy as np

    rows = []
    for nproc, threads in layouts:
        runs = [launch(Path(out) / f"p{nproc}x{threads}-{i}", nproc=nproc, threads=threads, **job)
                for i in range(repeats)]
        walls, trains = [r["wall_seconds"] for r in runs], [r["train_seconds"] for r in runs]
        rows.append({"processes": nproc, "threads": threads, "runs": repeats,
                     "wall_s": float(np.median(walls)), "wall_min_s": min(walls), "wall_max_s": max(walls),
                     "train_s": float(np.median(trains)), "cpu_s": float(np.median([r["cpu_seconds"]
                                                                                     for r in runs])),
                     "final_loss": runs[0]["losses"][-1], "acc": runs[0]["acc"], "nmi": runs[0]["nmi"]})
    return rows


# --- the job, one process of it -------------------------------------------------------------------

def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"torchrun ... -m {JOB_MODULE}",
                                description="an autoencoder trained with DDP; rank 0 writes result.json")
    p.add_argument("--data", default="digits", help="a recognition set name (see tutorial_lib.data.load)")
    p.add_argument("--split", default="train", help="the split (MNIST-test: --data mnist --split test)")
    p.add_argument("--limit", type=int, default=None, help="a seeded subset of this many images")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--global-batch", type=int, default=128, help="images per step over all processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder for result.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """One process of the job: train, then (rank 0) score the codes and write ``out/result.json``."""
    from .. import data as datasets
    from ..cluster import KMeans
    from ..features import embed, train_autoencoder
    from ..metrics import cluster_acc, nmi
    from ..train import distributed_env

    args = _parse(argv)
    world, rank, _ = distributed_env()
    threads = int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads()))
    torch.set_num_threads(threads)
    if args.global_batch % world:
        raise SystemExit(f"--global-batch {args.global_batch} is not a multiple of the {world} processes")
    ds = datasets.load(args.data, split=args.split, limit=args.limit, seed=args.seed)
    t0 = time.perf_counter()
    model, history = train_autoencoder(ds.images, epochs=args.epochs, batch_size=args.global_batch // world,
                                       seed=args.seed, device="auto", progress=rank == 0)
    train_seconds = time.perf_counter() - t0
    if rank == 0:
        codes = embed(model, ds.images)
        labels = KMeans(len(ds.classes) if ds.classes else 10, seed=args.seed).fit_predict(codes)
        result = {"world": world, "threads": threads, "data": args.data, "n_images": len(ds),
                  "epochs": args.epochs, "global_batch": args.global_batch,
                  "train_seconds": round(train_seconds, 2), "losses": history.losses,
                  "acc": cluster_acc(ds.labels, labels) if ds.labels is not None else None,
                  "nmi": nmi(ds.labels, labels) if ds.labels is not None else None}
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "result.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
