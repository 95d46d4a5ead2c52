"""Command line: ``python -m tutorial_lib COMMAND``.

Commands
--------
info          versions, device and threads
datasets      every dataset, whether it is available here, and its size
cluster       cluster one dataset without labels and score it against the hidden labels
              (--out DIR: assignments.csv, clusters.png, summary.json; --save-model FILE)
predict       label new images with a saved clustering model, without training (the same --out files)
segment       segment one image set without labels and score it against its masks
              (folder:PATH of plain pictures; --out DIR: labels/ and overlays/ PNGs, summary.json)
application   segment the background and classify the foreground objects (notebook 05; --out DIR:
              overlays/, objects.csv, gallery/)
bench         every method side by side, median over seeds, tables under bench/results/
              (bench photos: the seconds a user waits per real photo; bench generalisation: every
              clustering method on digits, mnist, mnist-imbalanced and coil20, with mean ranks)
demo          the headless pipeline on built-in data: figures and a summary under reports/
keygen        write a new key file for encrypted models (cluster --save-model FILE --key KEY, predict
              --key KEY; or TUTORIAL_MODEL_KEY=KEY)

Each command runs what a notebook teaches (cluster: notebook 03, segment: notebook 04) through the
evaluation layer; in fast mode (TUTORIAL_FAST=1) it passes the small training budgets.

Interrupting (Ctrl-C) a command that trains ends it with exit status 130 and writes no result; the
methods that train keep their checkpoints under --checkpoint-dir (default
$XDG_CACHE_HOME/tutorial_lib/checkpoints/COMMAND-DATA-METHOD-seedN[-limitL][-fast], that is
~/.cache/tutorial_lib/checkpoints/... when XDG_CACHE_HOME is not set), and the same command with
--resume finishes with the result of an uninterrupted run. Delete that folder to free the space.

Output files (--out, --json, --save-model) are checked before any work, and a method whose model cannot
be saved is refused before it trains.

Exit status: 0 done, 2 bad input or a failure with its message (a damaged model file included), 130
interrupted.
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

from . import cli


def _print_table(rows: dict) -> None:
    width = max(len(str(k)) for k in rows)
    for key, value in rows.items():
        shown = json.dumps(value, separators=(", ", ": ")) if isinstance(value, (dict, list)) else value
        print(f"{str(key):<{width}}  {shown}")


def _write_json(result: dict, path: str | None) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {path}")


def _probe_folder(start: Path, option: str, path: str, what: str) -> None:
    """Refuse ``path`` unless a file can be created in ``start`` or in its first ancestor that exists (a
    probe file, removed at once)."""
    folder = start
    while not folder.exists():  # the folders still to create: probe the first one that exists
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{option} {path} cannot be written: {folder} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(f"{option} {path} cannot be written ({err.strerror or err}): choose {what} "
                         "you can write to") from None


def check_output_file(path: str | None, option: str = "--json") -> None:
    """Refuse, before any work, an output file that cannot be written: a folder, a file below a file,
    or a place where no file can be created (the probe file is removed at once)."""
    if not path:
        return
    target = Path(path).expanduser()
    example = "model.safetensors" if option == "--save-model" else "result.json"
    if target.is_dir():
        raise ValueError(f"{option} {path} is a folder; give a file name, e.g. {target / example}")
    if target.exists() and not os.access(target, os.W_OK):
        raise ValueError(f"{option} {path} cannot be written: permission denied; choose another file")
    _probe_folder(target.parent, option, path, "a file in a folder")


def check_output_folder(path: str | None, option: str = "--out") -> None:
    """Refuse, before any work, an output folder that cannot be written: a file, a folder below a file, a
    place where nothing can be created."""
    if not path:
        return
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        raise ValueError(f"{option} {path} is a file; give a folder (it is created if needed)")
    _probe_folder(target, option, path, "a folder")


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


def _check_outputs(args: argparse.Namespace) -> None:
    """Check every output the command was given (--json, --out, --save-model) before any work."""
    check_output_file(args.json)
    check_output_folder(getattr(args, "out", None))
    check_output_file(getattr(args, "save_model", None), "--save-model")


def _prepare_run(args: argparse.Namespace, default_method: str) -> None:
    """Check the outputs and settle the checkpoint folder, before any work (cluster, segment)."""
    from .runtime import fast_mode

    _check_outputs(args)
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


def _refuse_unsavable(method: str | None) -> None:
    """--save-model: refuse, before it trains, a method whose model cannot be saved (UnsupportedModelError,
    with the reason)."""
    from .evaluation.clustering import make_estimator
    from .io_adapters import adapter_for

    adapter_for(make_estimator(method, device="cpu"))


def _model_extra(result, data: str) -> dict:
    """What ``predict`` needs to load new images like the training ones, kept in the model file."""
    ds = result.dataset
    return {"image_shape": list(ds.images.shape[1:]), "channels": int(ds.images.shape[1]),
            "classes": list(ds.classes), "method": result["method"], "data": data,
            "n_clusters": result["n_clusters"], "n_trained": len(ds), "note": ds.note}


def _write_clustering(args: argparse.Namespace, result) -> None:
    """The table, --json and the --out files of a clustering (cluster, predict)."""
    from .evaluation.outputs import write_clustering

    _print_table(result)
    _write_json(result, args.json)
    if args.out:
        written = write_clustering(args.out, result, result.dataset.images, result.dataset.name or args.data)
        print(f"wrote {', '.join(str(p) for p in written)}")


def cmd_cluster(args: argparse.Namespace) -> int:
    from .evaluation.clustering import DEFAULT_METHOD, evaluate
    from .runtime import fast_mode

    _prepare_run(args, DEFAULT_METHOD)
    if args.key and not args.save_model:
        raise ValueError("--key encrypts the model file: give it with --save-model FILE")
    if args.save_model:
        _refuse_unsavable(args.method)
        from .scaling.encryption import check_key_placement, locate_key

        check_key_placement(locate_key(args.key)[1], args.save_model)  # a bad key refused before training
    result = evaluate(args.data, root=args.root, method=args.method, seed=args.seed,
                      limit=args.limit, device=args.device, n_clusters=args.clusters, fast=fast_mode(),
                      progress=True, checkpoint_dir=args.checkpoint_dir, resume=args.resume,
                      keep=bool(args.out or args.save_model))
    _write_clustering(args, result)
    if args.save_model:
        from .io import save_model

        extra = _model_extra(result, args.data)
        print(f"wrote {save_model(result.estimator, args.save_model, extra=extra, key=args.key)}")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from .scaling.encryption import generate_key, how_to_use

    print(how_to_use(generate_key(args.file)))
    return 0


def _load_like_training(data: str, root, limit: int | None, shape: list | None):
    """The images ``predict`` labels: a folder loaded at the model's image shape, another set as it is
    (it must have that shape)."""
    from . import data as data_module
    from .evaluation.clustering import load_for_clustering

    if data.partition(":")[0].lower() == "folder" and shape:
        ds = data_module.load(data, root=root, limit=limit, seed=0, size=(shape[1], shape[2]),
                              channels=shape[0])
    else:
        ds = load_for_clustering(data, root=root, limit=limit)
    found = list(ds.images.shape[1:])
    if shape and found != list(shape):
        raise ValueError(f"the model was trained on images of {'×'.join(map(str, shape))}; {data} gives "
                         f"{'×'.join(map(str, found))}: use images of that shape (a folder: is loaded at it)")
    return ds


def cmd_predict(args: argparse.Namespace) -> int:
    from .evaluation.clustering import predict_set
    from .io import load_model, model_info

    _check_outputs(args)
    info = model_info(args.model, key=args.key)  # the file checked (ModelFileError) before any image is read
    if info["kind"] != "cluster":
        raise ValueError(f"{args.model} holds a {info['class'].rpartition('.')[2]}, a {info['kind']} model: "
                         "predict labels images with a clustering model (saved by cluster --save-model)")
    extra = info["extra"]
    ds = _load_like_training(args.data, args.root, args.limit, extra.get("image_shape"))
    model = load_model(args.model, device=args.device, key=args.key)
    result = predict_set(model, ds, args.data, method=extra.get("method"), device=args.device)
    result["model"] = str(args.model)
    _write_clustering(args, result)
    return 0


def cmd_segment(args: argparse.Namespace) -> int:
    from .evaluation.outputs import write_segmentation
    from .evaluation.segmentation import DEFAULT_METHOD, evaluate
    from .runtime import fast_mode

    _prepare_run(args, DEFAULT_METHOD)
    result = evaluate(args.data, root=args.root, method=args.method, seed=args.seed,
                      limit=args.limit, device=args.device, fast=fast_mode(), progress=True,
                      checkpoint_dir=args.checkpoint_dir, resume=args.resume)
    _print_table(result)
    _write_json(result, args.json)
    if args.out:
        written = write_segmentation(args.out, result)
        print(f"wrote {written['n']} label maps to {written['labels']} and their overlays to "
              f"{written['overlays']}")
    return 0


def cmd_application(args: argparse.Namespace) -> int:
    from .evaluation.application import run_command

    _check_outputs(args)
    return run_command(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import PHOTO_METHODS, is_region_set, run_benchmark, run_photo_timings
    from .bench_generalisation import GENERALISATION_SETS, merge_generalisation, run_generalisation
    from .runtime import fast_mode

    if args.task == "report":  # the results page, from the JSON files already in --out
        from .report import write_report

        print(f"wrote {write_report(args.out)}")
        return 0
    if args.sets is not None and args.task != "generalisation":
        raise ValueError(f"--sets is for bench generalisation; bench {args.task} takes --data NAME")
    if args.merge is not None and args.task != "generalisation":
        raise ValueError(f"--merge joins generalisation tables; bench {args.task} has no --merge")

    def seeds(default: int) -> list[int]:  # --seeds N from --first-seed on
        return list(range(args.first_seed, args.first_seed + (args.seeds or default)))

    if args.task == "generalisation":
        if args.data is not None:
            raise ValueError("bench generalisation runs on several sets: give them with --sets, not --data")
        if args.merge:  # runs made apart (other seeds, methods or machines): one table, nothing re-run
            print(merge_generalisation(args.merge, out_dir=args.out))
            return 0
        table = run_generalisation(args.sets or GENERALISATION_SETS, args.methods,
                                   seeds=seeds(3), limit=args.limit, root=args.root,
                                   out_dir=args.out, device=args.device, fast=fast_mode())
    elif args.task == "application":
        from .bench import run_application_benchmark

        table = run_application_benchmark(args.data or "photo-objects", root=args.root,
                                          seeds=seeds(1), limit=args.limit, out_dir=args.out,
                                          methods=args.methods, device=args.device, fast=fast_mode())
    elif args.task == "photos":
        table = run_photo_timings(methods=args.methods or PHOTO_METHODS, out_dir=args.out,
                                  device=args.device)
    elif args.data is None:
        raise ValueError(f"bench {args.task} needs --data NAME (e.g. digits, mosaic, segfolder:PATH)")
    else:
        # the region benchmark sweeps every method's scale: one seed by default (the classic methods are
        # deterministic); the other tables take the median of three
        table = run_benchmark(args.task, args.data, root=args.root,
                              seeds=seeds(1 if is_region_set(args.data) else 3), limit=args.limit,
                              out_dir=args.out, methods=args.methods, device=args.device,
                              fast=fast_mode())
    print(table)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    summary = run_demo(out_dir=args.out, seed=args.seed)
    print(summary)
    return 0


COMMANDS = {"info": cmd_info, "datasets": cmd_datasets, "cluster": cmd_cluster, "segment": cmd_segment,
            "application": cmd_application, "predict": cmd_predict, "bench": cmd_bench, "demo": cmd_demo,
            "keygen": cmd_keygen}
"""Command name -> the function that runs it."""


def build_parser():
    """The argument parser for every command (:func:`tutorial_lib.cli.build_parser` with :data:`COMMANDS`)."""
    return cli.build_parser(COMMANDS, __doc__)


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
    from .io import UnsupportedModelError

    try:
        return args.func(args)
    except (OSError, ValueError, RuntimeError, UnsupportedModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(_interrupted(args, argv), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
