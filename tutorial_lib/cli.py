"""The command line's argument parser: every command's options and the rules of their values.

Used by :mod:`tutorial_lib.__main__` (``python -m tutorial_lib COMMAND``), which gives
:func:`build_parser` the function of each command; the commands run what the notebooks teach
(cluster: 03_clustering_classification, segment: 04_pixel_segmentation, application:
05_foreground_background).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["DATA_HELP", "build_parser", "cluster_count", "whole_number"]

DATA_HELP = {
    "cluster": "a clustering set: digits, shapes, mnist (its test split), mnist:train, mnist-imbalanced, "
               "coil20, fashion-mnist, cifar10, stl10, folder:PATH (one subfolder per class, or a flat "
               "folder)",
    "predict": "the images to label: folder:PATH (loaded at the image shape the model was trained on), or "
               "a clustering set of that shape (digits, mnist...)",
    "segment": "a segmentation set: mosaic, scenes, segfolder:PATH (PATH/images and PATH/masks: scored), "
               "folder:PATH (your pictures, sub-folders too; not scored)",
    "application": "photo-objects (default; --source sets its objects), segfolder:PATH (masks 0 = "
                   "background, c + 1 = class c: scored), folder:PATH (your pictures: outputs only)",
    "bench": "clustering: digits, mnist, folder:PATH...; segmentation: mosaic, scenes, segfolder:PATH, "
             "bsds500:val (the region benchmark: covering, PRI, VOI at ODS and OIS)",
}
"""The --data help of each command: the sets it takes."""



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


def cluster_count(text: str):
    """An argparse ``type`` for ``--clusters``: ``auto`` or a whole number of at least 1."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return whole_number("--clusters", 1)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"--clusters must be auto or a whole number of at least 1, got "
                                         f"{text!r}") from None


cluster_count.__name__ = "clusters"


def _add_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=whole_number("--seed", 0), default=0, help="seed of the method (0, 1, ...)")


def build_parser(commands: dict[str, Callable[[argparse.Namespace], int]],
                 description: str = "") -> argparse.ArgumentParser:
    """The argument parser for every command; ``commands`` maps each command name to its function
    (``args.func`` after parsing), ``description`` heads ``--help``."""
    parser = argparse.ArgumentParser(prog="python -m tutorial_lib", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("info", help="versions, device, threads").set_defaults(func=commands["info"])
    p = sub.add_parser("datasets", help="which datasets are available here")
    p.add_argument("--root", default=None)
    p.set_defaults(func=commands["datasets"])
    for name, what in (("cluster", "clustering"), ("segment", "segmentation")):
        _add_run(sub.add_parser(name, help=f"run and score unsupervised {what}"), name, commands[name])
    _add_application(sub, commands["application"])
    _add_predict(sub, commands["predict"])
    _add_bench(sub, commands["bench"])

    p = sub.add_parser("demo", help="headless pipeline on built-in data, results in reports/")
    p.add_argument("--out", default="reports")
    _add_seed(p)
    p.set_defaults(func=commands["demo"])

    p = sub.add_parser("keygen", help="write a new key file for encrypted models (mode 0600, never replaced)")
    p.add_argument("file", help="the key file to create; keep it out of the models' folder")
    p.set_defaults(func=commands["keygen"])
    return parser


def _add_run(p: argparse.ArgumentParser, name: str, func: Callable) -> None:
    """``cluster`` and ``segment``: a set, a method, a seed, checkpoints, outputs."""
    _add_common(p, name)
    default = ("auto: deep_features for textures and two-toned objects, rag-merge for photos, chosen "
               "from the images" if name == "segment" else "scan")
    p.add_argument("--method", default=None, help=f"method name (default: {default})")
    _add_seed(p)
    p.add_argument("--json", default=None, help="also write the result to this JSON file")
    p.add_argument("--checkpoint-dir", default=None,
                   help="folder for the checkpoints of the methods that train (default: "
                        "$XDG_CACHE_HOME or ~/.cache, then tutorial_lib/checkpoints/"
                        f"{name}-DATA-METHOD-seedN[-limitL][-fast])")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its checkpoints (same options)")
    p.set_defaults(func=func)
    if name == "segment":
        p.add_argument("--out", default=None, help="write labels/NAME.png (label maps at each "
                       "picture's size), overlays/NAME.png and summary.json into this folder")
        return
    p.add_argument("--clusters", type=cluster_count, default=None,
                   help="number of clusters, or auto (chosen by the silhouette of k-means on PCA "
                        "codes, reported in the result); default: the number of class subfolders, "
                        "else auto")
    p.add_argument("--out", default=None, help="write assignments.csv (path, cluster, confidence"
                   "[, true_class]), clusters.png (a gallery) and summary.json into this folder")
    p.add_argument("--save-model", default=None, metavar="FILE",
                   help="save the fitted model (safetensors) for predict; refused before training "
                        "for methods whose model cannot be kept in a file (tsne-kmeans, umap-kmeans, "
                        "n2d)")
    p.add_argument("--key", default=None, metavar="KEYFILE", help="encrypt the --save-model file "
                   "(AES-256-GCM) with this key file (keygen; default $TUTORIAL_MODEL_KEY if set)")


def _add_application(sub, func: Callable) -> None:
    p = sub.add_parser("application", help="segment the background and classify the foreground objects "
                                           "(notebook 05)")
    _add_common(p, "application", data_required=False)
    p.set_defaults(data="photo-objects")
    p.add_argument("--clusters", type=cluster_count, default=None, help="number of object classes, or auto "
                   "(the default: chosen by the silhouette of k-means on the crops' PCA codes)")
    p.add_argument("--source", default=None, help="photo-objects only: the objects' class-folder set (a load "
                   "name: mnist, digits, shapes, folder:PATH)")
    p.add_argument("--method", default=None, help="the recogniser, a cluster method (default scan)")
    _add_seed(p)
    p.add_argument("--out", default=None, help="write overlays/NAME.png, objects.csv and gallery/class_K.png")
    p.add_argument("--json", default=None, help="also write the result to this JSON file")
    p.set_defaults(func=func)


def _add_predict(sub, func: Callable) -> None:
    p = sub.add_parser("predict", help="label new images with a saved clustering model, without training")
    p.add_argument("--model", required=True, help="a model file written by cluster --save-model")
    _add_common(p, "predict")
    p.add_argument("--out", required=True, help="write assignments.csv, clusters.png and summary.json "
                                                "into this folder")
    p.add_argument("--json", default=None, help="also write the result to this JSON file")
    p.add_argument("--key", default=None, metavar="KEYFILE", help="the key file of an encrypted model "
                   "(default $TUTORIAL_MODEL_KEY)")
    p.set_defaults(func=func)


def _add_bench(sub, func: Callable) -> None:
    p = sub.add_parser("bench", help="every method side by side, median over seeds; "
                                     "'photos': seconds per real photo; 'generalisation': every clustering "
                                     "method on every development set; 'report': bench/RESULTS.md "
                                     "from the result files; 'application': the object pipeline's variants")
    p.add_argument("task", choices=["clustering", "segmentation", "photos", "generalisation", "application",
                                    "report"])
    _add_common(p, "bench", data_required=False)
    p.add_argument("--seeds", type=whole_number("--seeds", 1), default=None,
                   help="number of seeds (0, 1, ...; default 3, and 1 for the region benchmark on bsds500)")
    p.add_argument("--first-seed", type=whole_number("--first-seed", 0), default=0,
                   help="the first seed (default 0): --first-seed 1 --seeds 2 runs seeds 1 and 2")
    p.add_argument("--methods", nargs="*", default=None, help="only these methods")
    p.add_argument("--sets", nargs="+", default=None,
                   help="generalisation only: these clustering sets (default: digits mnist mnist-imbalanced "
                        "coil20)")
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                   help="generalisation only: join these generalisation.json files (runs made apart; for "
                        "a set, method and seed the later file's run wins) into one table in --out")
    p.add_argument("--out", default="bench/results", help="folder for the Markdown and JSON tables")
    p.set_defaults(func=func)
