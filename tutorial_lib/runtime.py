"""Where code runs and how big it runs: device choice, seeding, fast mode, data folder.

Everything that reads the environment lives here, so a notebook, a test and the command line
all see the same switches. Taught in notebook 00_overview; :func:`setup` is the first code cell of
every notebook. Methods never read these switches: the callers (notebooks, the command line,
benchmarks, tests) pass budgets to the estimators.
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm.std import tqdm as tqdm_std

FAST_ENV = "TUTORIAL_FAST"
DATA_ENV = "TUTORIAL_DATA_DIR"
STATIC_PROGRESS_ENV = "TUTORIAL_STATIC_PROGRESS"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def fast_mode() -> bool:
    """True when ``TUTORIAL_FAST`` is set to a true value (``1``, ``true``, ``yes``).

    Fast mode shrinks data sizes and epochs so that every notebook runs in CI in a minute or two;
    it never changes which code runs.
    """
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


class _FinalLine(tqdm_std):
    """A text bar that draws nothing while it runs and one line, its final state, when it closes."""

    def __init__(self, iterable=None, **kwargs):
        kwargs.update(file=io.StringIO(), mininterval=float("inf"), leave=True, ascii=False)
        super().__init__(iterable, **kwargs)

    def close(self) -> None:
        shown = self.disable or getattr(self, "_final_shown", False)
        super().close()
        if not shown:
            self._final_shown = True
            print(str(self), flush=True)


def progress_bar(iterable=None, **kwargs):
    """A tqdm progress bar: a live widget in a notebook, text in a terminal.

    When notebooks are executed to store their outputs (``make notebooks`` sets
    ``TUTORIAL_STATIC_PROGRESS=1``), a widget bar would be stored at 0% (its state is not saved), so
    the bar is one line of text instead, printed when it closes: a static viewer shows where it
    finished. Only what is displayed changes, never a result.

    Parameters
    ----------
    iterable : iterable, optional
    **kwargs
        Passed to ``tqdm`` (``desc``, ``total``, ``leave``, ``disable``...).
    """
    if os.environ.get(STATIC_PROGRESS_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        return _FinalLine(iterable, **kwargs)
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


def pick(default, fast):
    """Return ``fast`` in fast mode, else ``default`` (the one place sizes are shrunk)."""
    return fast if fast_mode() else default


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: ``root`` if given, else ``$TUTORIAL_DATA_DIR``, else ``<project>/data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return PROJECT_ROOT / "data"


def device(name: str | torch.device = "auto") -> torch.device:
    """Resolve a device name: ``"auto"`` picks CUDA, then Apple MPS, then CPU.

    Parameters
    ----------
    name : str or torch.device
        ``"auto"``, or anything ``torch.device`` accepts (``"cpu"``, ``"cuda:1"``, ``"mps"``).

    Raises
    ------
    ValueError
        If a CUDA or MPS device is asked for but is not available here.
    """
    if isinstance(name, torch.device):
        return name
    name = str(name).lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available; use 'auto' or 'cpu'")
    if dev.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError(f"device {name!r} asked for, but MPS is not available; use 'auto' or 'cpu'")
    return dev


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices) and return a torch generator seeded the same.

    The same seed gives the same numbers on the same machine and library versions.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def info() -> dict[str, str]:
    """Versions, device and thread count, as printed by ``python -m tutorial_lib info``."""
    import matplotlib
    import scipy
    import skimage
    import sklearn
    import torchvision

    from . import __version__

    dev = device("auto")
    out = {
        "tutorial_lib": __version__,
        "python": os.sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "scikit-image": skimage.__version__,
        "scipy": scipy.__version__,
        "matplotlib": matplotlib.__version__,
        "device": str(dev),
        "torch threads": str(torch.get_num_threads()),
        "cpu count": str(os.cpu_count()),
        "fast mode": str(fast_mode()),
        "data root": str(data_root()),
    }
    if dev.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


class Setup(NamedTuple):
    """What the setup cell of a notebook gives back (see :func:`setup`)."""

    data: Path
    device: torch.device
    seed: int
    fast: bool


def setup(seed: int = 0, dpi: int = 72, verbose: bool = True) -> Setup:
    """The setup cell of every notebook: seed, device, data folder, fast mode, figure resolution.

    Parameters
    ----------
    seed : int
        Seeds Python, NumPy and torch for the notebook (the methods use their own ``seed=``).
    dpi : int
        Matplotlib's figure resolution (72 keeps the stored figures light).
    verbose : bool
        Print one line saying what was chosen.

    Returns
    -------
    Setup
        ``(data, device, seed, fast)``: the data folder (:func:`data_root`), the device
        (:func:`device`, ``"auto"``), the seed and whether fast mode is on.
    """
    import matplotlib.pyplot as plt

    seed_everything(seed)
    plt.rcParams["figure.dpi"] = dpi
    out = Setup(data_root(), device("auto"), seed, fast_mode())
    if verbose:
        found = "found" if out.data.is_dir() else "missing: sets are downloaded there on first use"
        print(f"data folder: {out.data} ({found}) | device: {out.device} | seed: {seed} | "
              f"fast mode: {out.fast}")
    return out
