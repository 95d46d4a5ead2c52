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
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _print_table(rows: dict) -> None:
    width = max(len(str(k)) for k in rows)
    for key, value in rows.items():
        print(f"{str(key):<{width}}  {value}")


def _write_json(result: dict, path: str | None) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {path}")


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
    from .evaluation.clustering import evaluate
    from .runtime import fast_mode

    result = evaluate(args.data, root=args.root, method=args.method, seed=args.seed,
                      limit=args.limit, device=args.device, fast=fast_mode(), progress=True)
    _print_table(result)
    _write_json(result, args.json)
    return 0


def cmd_segment(args: argparse.Namespace) -> int:
    from .evaluation.segmentation import evaluate
    from .runtime import fast_mode

    result = evaluate(args.data, root=args.root, method=args.method, seed=args.seed,
                      limit=args.limit, device=args.device, fast=fast_mode(), progress=True)
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


def _add_common(p: argparse.ArgumentParser, data_required: bool = True) -> None:
    p.add_argument("--data", required=data_required,
                   help="a dataset name, e.g. digits, mnist, folder:PATH")
    p.add_argument("--root", default=None, help="data folder (default: $TUTORIAL_DATA_DIR or data/)")
    p.add_argument("--limit", type=int, default=None, help="use at most this many items")
    p.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, mps")


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
        _add_common(p)
        p.add_argument("--method", default=None, help="method name (default: the best one)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--json", default=None, help="also write the result to this JSON file")
        p.set_defaults(func=func)

    p = sub.add_parser("bench", help="every method side by side, median over seeds; "
                                     "'photos': seconds per real photo")
    p.add_argument("task", choices=["clustering", "segmentation", "photos"])
    _add_common(p, data_required=False)
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0, 1, ...)")
    p.add_argument("--methods", nargs="*", default=None, help="only these methods")
    p.add_argument("--out", default="bench/results", help="folder for the Markdown and JSON tables")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="headless pipeline on built-in data, results in reports/")
    p.add_argument("--out", default="reports")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status. Bad input ends with a message, not a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
