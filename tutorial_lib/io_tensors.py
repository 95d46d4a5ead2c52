"""The tensors of a model file, written and read under named prefixes: the adapters' two helpers.

Taught in notebook 03_clustering_classification with :mod:`tutorial_lib.io` (section "your own
folder"). :class:`Writer` collects an estimator's tensors as :mod:`.io_adapters` dumps it,
:class:`Reader` hands them back (with the file's path for the errors), and :func:`on_device` puts a
rebuilt network where the estimator's ``device`` says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import runtime
from .io import ModelFileError

__all__ = ["Writer", "Reader", "on_device"]


# --- tensors in and out --------------------------------------------------------------------------


class Writer:
    """Collects the tensors of a model file (on the CPU, contiguous, unshared), named ``prefix + name``."""

    def __init__(self, tensors: dict[str, torch.Tensor], prefix: str = ""):
        self.tensors, self.prefix = tensors, prefix

    def child(self, name: str) -> Writer:
        """A writer whose tensors are named ``prefix + name + "." + ...``."""
        return Writer(self.tensors, f"{self.prefix}{name}.")

    def tensor(self, name: str, value) -> None:
        """Keep a tensor or a numeric array."""
        t = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(value))
        self.tensors[self.prefix + name] = t.detach().cpu().contiguous().clone()

    def module(self, name: str, module: nn.Module) -> None:
        """Keep a network's ``state_dict`` (parameters and buffers)."""
        for key, value in module.state_dict().items():
            self.tensor(f"{name}.{key}", value)


class Reader:
    """The tensors of a model file being loaded, the file's path (for the errors) and the device asked for."""

    def __init__(self, tensors: dict[str, torch.Tensor], path: Path, prefix: str = "",
                 device: str | None = None):
        self.tensors, self.path, self.prefix, self.device = tensors, path, prefix, device

    def child(self, name: str) -> Reader:
        return Reader(self.tensors, self.path, f"{self.prefix}{name}.", self.device)

    def fail(self, what: str) -> ModelFileError:
        return ModelFileError(f"{self.path}: {what}")

    def tensor(self, name: str) -> torch.Tensor:
        key = self.prefix + name
        if key not in self.tensors:
            raise self.fail(f"the tensor {key!r} is missing")
        return self.tensors[key].clone()

    def array(self, name: str) -> np.ndarray:
        return self.tensor(name).numpy()

    def module(self, name: str, module: nn.Module) -> nn.Module:
        """Copy the saved weights ``name.*`` into ``module`` (every one must fit); ``module`` in eval mode."""
        start = f"{self.prefix}{name}."
        state = {key[len(start):]: value for key, value in self.tensors.items() if key.startswith(start)}
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise self.fail(f"the saved weights do not fit the {type(module).__name__} rebuilt from the "
                            f"saved parameters ({err})") from None
        return module.eval()


def on_device(module: nn.Module, est) -> nn.Module:
    """A loaded network on the estimator's device (where ``fit`` leaves it), in eval mode."""
    try:
        device = runtime.device(est.device or "auto")  # null in files that dropped a torch.device
    except ValueError as err:  # saved with device="cuda", loaded where there is none
        raise ValueError(f"{err}; or load the model with load_model(path, device='cpu')") from None
    return module.to(device).eval()
