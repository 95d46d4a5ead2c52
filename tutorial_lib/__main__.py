"""Command line: ``python -m tutorial_lib COMMAND``.

Commands
--------
info          versions, device and threads
datasets      every dataset, whether it is available here, and its size
cluster       cluster one dataset without labels and score it against the hidden labels
segment       segment one image set without labels and score it against its masks
bench         every method side by side, median over seeds, tables under bench/results/
              (bench photos: the seconds a user waits per real photo)
demo          the headless pipeline on built-in data: figures and a summary under reports/

Each command runs what a notebook teaches (cluster: notebook 03, segment: notebook 04) through the
evaluation layer; in fast mode (TUTORIAL_FAST=1) it passes the small training budgets.

Interrupting (Ctrl-C) a command that trains ends it with exit status 130 and writes no result; the
methods that train keep their checkpoints under --checkpoint-dir (default
$XDG_CACHE_HOME/tutorial_lib/checkpoints/COMMAND-DATA-METHOD-seedN[-limitL][-fast], that is
~/.cache/tutorial_lib/checkpoints/... when XDG_CACHE_HOME is not set), and the same command with
--resume finishes with the result of an uninterrupted run. Delete that folder to free the space.

Exit status: 0 done, 2 bad input or a failure with its message, 130 interrupted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import sys
import tempfile
from pathlib import Path

DATA_HELP = {
    "cluster": "a clustering set: digits, shapes, mnist (its test split), mnist:train, fashion-mnist, "
               "cifar10, stl10, folder:PATH (one subfolder per class)",
    "segment": "a segmentation set: mosaic, scenes, segfolder:PATH (PATH/images and PATH/masks)",
    "bench": "clustering: digits, mnist, folder:PATH...; segmentation: mosaic, scenes, segfolder:PATH",
}
"""The --data help of each command: the sets it takes."""


def _print_table(rows: dict) -> None:
    width = max(len(str(k)) for k in rows)
    for key, value in rows.items():
        print(f"{str(key):<{width}}  {value}")


def _write_json(result: dict, path: str | None) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {path}")


def check_output_file(path: str | None, option: str = "--json") -> None:
    """Refuse, before any work, an output file that cannot be written: a folder, a file below a file,
    or a place where no file can be created (the probe file is removed at once)."""
    if not path:
        return
    target = Path(path).expanduser()
    if target.is_dir():
        raise ValueError(f"{option} {path} is a folder; give a file name, e.g. {target / 'result.json'}")
    folder = target.parent
    while not folder.exists():  # the folders still to create: probe the first one that exists
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{option} {path} cannot be written: {folder} is a file, not a folder")
    if target.exists() and not os.access(target, os.W_OK):
        raise ValueError(f"{option} {path} cannot be written: permission denied; choose another file")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(f"{option} {path} cannot be written ({err.strerror or err}): choose a file in a "
                         "folder you can write to") from None


def default_checkpoint_dir(command: str, data: str, method: str, seed: int, limit: int | None = None,
                           fast: bool = False) -> Path:
    """Where ``command`` keeps the checkpoints of one run unless ``--checkpoint-dir`` says otherwise.

    ``$XDG_CACHE_HOME`` (default ``~/.cache``) ``/tutorial_lib/checkpoints/`` and a folder named after
    what decides the run: ``cluster-digits-scan-seed0``, with ``-limitL`` and ``-fast`` when given.
    Characters unsafe in a file name become ``_``, followed by a short hash of the data name then.
    """
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    safe = re.sub(r"[^A-Za-z0-9.=+-]+", "_", data).strip("_.") or "data"
    if safe != data:
        safe += "-" + hashlib.sha256(data.encode()).hexdigest()[:8]
    name = f"{command}-{safe}-{method}-seed{seed}" + (f"-limit{limit}" if limit else "")
    name += "-fast" if fast else ""
    return cache / "tutorial_lib" / "checkpoints" / name


def _prepare_run(args: argparse.Namespace, default_method: str) -> None:
    """Check the output file and settle the checkpoint folder, before any work (cluster, segment)."""
    from .runtime import fast_mode

    check_output_file(args.json)
    if args.checkpoint_dir is None:
        method = args.method or default_method
        args.checkpoint_dir = str(default_checkpoint_dir(args.command, args.data, method, args.seed,
                                                         args.limit, fast_mode()))
    if args.resume and not any(Path(args.checkpoint_dir).rglob("last.pt")):
        print(f"--resume: no checkpoint in {args.checkpoint_dir}; starting from the beginning",
              file=sys.stderr)


def cmd_info(args: argparse.Namespace) -> int:
    from .runtime import info

    _print_table(info())
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from .data import dataset_table

    for row in dataset_table(root=args.root):
        print(row)
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from .evaluation.clustering import DEFAULT_METHOD, evaluate
    from .runtime import fast_mode

    _prepare_run(args, DEFAULT_METHOD)
    result = evaluate(args.data, root=args.root, method=args.method, seed=args.seed,
                      limit=args.limit, device=args.device, fast=fast_mode(), progress=True,
                      checkpoint_dir=args.checkpoint_dir, resume=args.resume)
    _print_table(result)
    _write_json(result, args.json)
    return 0


def cmd_segment(args: argparse.Namespace) -> int:
    from .evaluation.segmentation import DEFAULT_METHOD, evaluate
    from .runtime import fast_mode

    _prepare_run(args, DEFAULT_METHOD)
    result = evaluate(args.data, root=args.root, method=args.method, seed=args.seed,
                      limit=args.limit, device=args.device, fast=fast_mode(), progress=True,
                      checkpoint_dir=args.checkpoint_dir, resume=args.resume)
    _print_table(result)
    _write_json(result, args.json)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import PHOTO_METHODS, run_benchmark, run_photo_timings
    from .runtime import fast_mode

    if args.task == "photos":
        table = run_photo_timings(methods=args.methods or PHOTO_METHODS, out_dir=args.out,
                                  device=args.device)
    elif args.data is None:
        raise ValueError(f"bench {args.task} needs --data NAME (e.g. digits, mosaic, segfolder:PATH)")
    else:
        seeds = list(range(args.seeds))
        table = run_benchmark(args.task, args.data, root=args.root, seeds=seeds, limit=args.limit,
                              out_dir=args.out, methods=args.methods, device=args.device,
                              fast=fast_mode())
    print(table)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    summary = run_demo(out_dir=args.out, seed=args.seed)
    print(summary)
    return 0


def whole_number(option: str, low: int):
    """An argparse ``type``: a whole number of at least ``low``, else an error naming ``option``.

    The one rule of every command for ``--seed`` (>= 0), ``--limit`` and ``--seeds`` (>= 1)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(
                f"{option} must be a whole number of at least {low}, got {text!r}")
        return value

    parse.__name__ = option.lstrip("-")  # what argparse calls the type in its messages
    return parse


def _add_common(p: argparse.ArgumentParser, command: str, data_required: bool = True) -> None:
    p.add_argument("--data", required=data_required, help=DATA_HELP[command])
    p.add_argument("--root", default=None, help="data folder (default: $TUTORIAL_DATA_DIR or data/)")
    p.add_argument("--limit", type=whole_number("--limit", 1), default=None,
                   help="use at most this many items")
    p.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, mps")


def _add_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=whole_number("--seed", 0), default=0, help="seed of the method (0, 1, ...)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command (tests call it directly)."""
    parser = argparse.ArgumentParser(prog="python -m tutorial_lib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("info", help="versions, device, threads").set_defaults(func=cmd_info)

    p = sub.add_parser("datasets", help="which datasets are available here")
    p.add_argument("--root", default=None)
    p.set_defaults(func=cmd_datasets)

    for name, func, what in (("cluster", cmd_cluster, "clustering"),
                             ("segment", cmd_segment, "segmentation")):
        p = sub.add_parser(name, help=f"run and score unsupervised {what}")
        _add_common(p, name)
        p.add_argument("--method", default=None, help="method name (default: the best one)")
        _add_seed(p)
        p.add_argument("--json", default=None, help="also write the result to this JSON file")
        p.add_argument("--checkpoint-dir", default=None,
                       help="folder for the checkpoints of the methods that train (default: "
                            "$XDG_CACHE_HOME or ~/.cache, then tutorial_lib/checkpoints/"
                            f"{name}-DATA-METHOD-seedN[-limitL][-fast])")
        p.add_argument("--resume", action="store_true",
                       help="continue an interrupted run from its checkpoints (same options)")
        p.set_defaults(func=func)

    p = sub.add_parser("bench", help="every method side by side, median over seeds; "
                                     "'photos': seconds per real photo")
    p.add_argument("task", choices=["clustering", "segmentation", "photos"])
    _add_common(p, "bench", data_required=False)
    p.add_argument("--seeds", type=whole_number("--seeds", 1), default=3, help="number of seeds (0, 1, ...)")
    p.add_argument("--methods", nargs="*", default=None, help="only these methods")
    p.add_argument("--out", default="bench/results", help="folder for the Markdown and JSON tables")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="headless pipeline on built-in data, results in reports/")
    p.add_argument("--out", default="reports")
    _add_seed(p)
    p.set_defaults(func=cmd_demo)
    return parser


def _interrupted(args: argparse.Namespace, argv: list[str]) -> str:
    """What an interrupted command says: nothing was written, and how to continue if it can be."""
    folder = getattr(args, "checkpoint_dir", None)
    saved = folder is not None and any(Path(folder).rglob("last.pt"))
    if not saved:
        return "interrupted: no result written, and no checkpoint to resume from; run the command again"
    again = argv if "--resume" in argv else [*argv, "--resume"]
    return (f"interrupted: no result written. The checkpoints are kept in {folder}; continue with\n"
            f"  python -m tutorial_lib {shlex.join(again)}")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status (0 done, 2 bad input or failure, 130 interrupted).

    Bad input, a failed run and a file that cannot be read or written end with a message, not a
    traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(_interrupted(args, argv), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
