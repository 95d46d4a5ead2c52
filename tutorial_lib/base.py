"""What every estimator shares: parameters, repr, ``fit_predict``, input checks, seeded randomness.

Taught in notebook 00 (the estimator shape) and used by every method of notebooks 01-05.

* :class:`Estimator`: scikit-learn's shape. Parameters are the keyword arguments of ``__init__``,
  stored unchanged under the same names; :meth:`Estimator.get_params`, a generated ``__repr__``
  (parameters that differ from their defaults), :meth:`Estimator.fit_predict`, and
  :meth:`Estimator._check_fitted`, which raises :class:`NotFittedError`, and :meth:`Estimator.save`
  (:func:`tutorial_lib.io.save_model`: one safetensors file, loaded by ``tutorial_lib.load_model``).
* :func:`check_images` / :func:`check_image_list`: the one check of image batches (shape, dtype,
  finite values, and optionally the [0, 1] range), raising :class:`InputError` with what was wrong
  and what to do.
* :func:`seeded`: run a block with every global generator (Python, NumPy, torch on CPU and CUDA)
  seeded, then put the caller's generators back as they were, so a method's randomness never leaks
  into the user's notebook and the same seed gives the same result.
* :func:`reseed_from_global`: an augmentation's generator re-seeded from torch's global stream at each
  training step, so views are reproducible and a resumed run draws the same ones.
* :func:`batched_forward`: a network on many images, batch by batch, in eval mode, without gradients.
* :func:`as_label_array`: labels as a NumPy int64 array (what every ``predict`` returns).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn


class InputError(ValueError):
    """Input an estimator cannot work with; the message says what was wrong and what to do."""


class NotFittedError(RuntimeError, AttributeError):
    """``predict`` (or a fitted attribute) was used before ``fit``."""


# --- the estimator base ------------------------------------------------------------------------


class Estimator:
    """Base of every estimator: parameters in ``__init__``, fitted attributes ending with ``_``.

    A subclass stores each ``__init__`` argument under its own name and does nothing else there;
    ``fit`` validates them. ``fit`` returns ``self``; ``predict`` never changes fitted state.

    Examples
    --------
    >>> class Mean(Estimator):
    ...     def __init__(self, shift: float = 0.0):
    ...         self.shift = shift
    ...     def fit(self, x):
    ...         self.labels_ = np.asarray(x) > np.mean(x) + self.shift
    ...         return self
    >>> Mean(shift=1.0)
    Mean(shift=1.0)
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [name for name, p in sig.parameters.items()
                if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self) -> dict:
        """The constructor's parameters and their current values, by name."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> Estimator:
        """Change parameters by name (refit afterwards); unknown names raise ``ValueError``."""
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; "
                                 f"valid ones are {sorted(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()}
        changed = []
        for name, value in self.get_params().items():
            default = defaults.get(name, inspect.Parameter.empty)
            try:
                same = default is not inspect.Parameter.empty and bool(default == value)
            except Exception:  # arrays and tensors compare element-wise
                same = default is value
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def fit(self, X, y=None):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def fit_predict(self, X, y=None):
        """``fit(X)`` and return ``labels_``: the labels found for the data it was fitted on."""
        reject_labels(self, y)
        self.fit(X)
        if not hasattr(self, "labels_"):
            raise AttributeError(f"{type(self).__name__} finds no labels; use fit(X) then transform(X)")
        return self.labels_

    def _check_fitted(self, attribute: str = "labels_") -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(...) first")

    def save(self, path: str | os.PathLike, key=None) -> Path:
        """Save this fitted estimator to one file (safetensors weights, JSON configuration, no pickle).

        The same as :func:`tutorial_lib.io.save_model`; load it back with ``tutorial_lib.load_model(path)``
        (``key=`` too if it is encrypted). Estimators that cannot label new images (t-SNE features, the
        per-image segmenters) raise ``tutorial_lib.io.UnsupportedModelError`` saying why; an unfitted one
        raises :class:`NotFittedError`.

        Parameters
        ----------
        path : str or path-like
            The file to write (suffix ``.safetensors`` suggested), replaced atomically.
        key : str, path-like or bytes, optional
            Encrypt it (AES-256-GCM) with this key file (``python -m tutorial_lib keygen FILE``, kept out
            of the model's folder) or 32-byte key. Default: the key file named by ``TUTORIAL_MODEL_KEY``
            if set, else no encryption.

        Returns
        -------
        Path
            The path written.
        """
        from .io import save_model

        return save_model(self, path, key=key)


# --- input checks ------------------------------------------------------------------------------


def reject_labels(estimator, y) -> None:
    """Refuse labels given to ``estimator.fit``: the methods learn without them.

    ``fit(X, y=None)`` keeps scikit-learn's shape (a pipeline may pass ``y=None``), but any ``y`` is an
    error, so a label can never shape a model by accident. Labels belong to the evaluation layer
    (:mod:`tutorial_lib.evaluation`), or to a monitoring callback that scores during training and never
    touches the loss (``on_epoch_end``; ``monitor_labels=`` of the trainers and panels).

    Raises
    ------
    TypeError
        ``y`` is not None.
    """
    if y is not None:
        raise TypeError(
            f"{type(estimator).__name__}.fit learns without labels and refuses them (got y: {_describe(y)}). "
            "Score labels with tutorial_lib.evaluation after fitting, or watch accuracy during training "
            "with a monitoring callback (on_epoch_end) that scores and never touches the loss."
        )


def _describe(x) -> str:
    if hasattr(x, "shape"):
        return f"shape {tuple(x.shape)}, dtype {getattr(x, 'dtype', '?')}"
    return type(x).__name__


def check_images(images, *, name: str = "images", min_count: int = 1,
                 value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Check an image batch and return it as a float32 tensor.

    Parameters
    ----------
    images : Tensor or ndarray, shape (N, C, H, W), float
    name : str
        What the argument is called in the error messages.
    min_count : int
        Fewest images accepted.
    value_range : (lo, hi), optional
        Refuse values outside ``[lo, hi]`` (e.g. ``(-0.5, 1.5)`` for images meant to be in [0, 1]).

    Returns
    -------
    Tensor, shape (N, C, H, W), float32 (the same tensor when it already is one)

    Raises
    ------
    InputError
        Not an array, not 4-D, integer or complex dtype, too few images, NaN or infinite values, or
        values outside ``value_range``.
    """
    if isinstance(images, np.ndarray):
        if images.dtype.kind not in "biuf":
            raise InputError(f"{name} must hold numbers, got {_describe(images)}")
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise InputError(f"{name} must be a tensor or array of shape (N, C, H, W), got {_describe(images)}; "
                         "stack a list of equally sized images with torch.stack")
    if images.ndim != 4:
        raise InputError(f"{name} must have shape (N, C, H, W), got {_describe(images)}; add a batch axis "
                         "with images[None] or a channel axis with images[:, None]")
    if not images.is_floating_point():
        raise InputError(f"{name} must be float in [0, 1], got {_describe(images)}; convert 8-bit images "
                         "with images.float() / 255")
    if len(images) < min_count:
        raise InputError(f"{name} holds {len(images)} images; at least {min_count} are needed")
    images = images.float()
    if not torch.isfinite(images).all():
        raise InputError(f"{name} contains NaN or infinite values; clean or drop those images first")
    if value_range is not None and len(images):
        lo, hi = float(images.min()), float(images.max())
        if lo < value_range[0] or hi > value_range[1]:
            raise InputError(f"{name} has values in [{lo:.3g}, {hi:.3g}], expected images in [0, 1]; "
                             "divide 8-bit images by 255")
    return images


def check_image_list(images, *, name: str = "images", min_count: int = 1) -> list[torch.Tensor]:
    """Check images of possibly different sizes and return them as a list of ``(C, H, W)`` tensors.

    Parameters
    ----------
    images : list of Tensor or ndarray, each (C, H, W); or a batch (N, C, H, W)

    Returns
    -------
    list of Tensor, each (C, H, W), float32

    Raises
    ------
    InputError
        As :func:`check_images`, naming the index of the first bad image.
    """
    if isinstance(images, (torch.Tensor, np.ndarray)) and getattr(images, "ndim", 0) == 4:
        return list(check_images(images, name=name, min_count=min_count))
    if not isinstance(images, (list, tuple)):
        raise InputError(f"{name} must be a list of (C, H, W) images or an (N, C, H, W) batch, "
                         f"got {_describe(images)}")
    if len(images) < min_count:
        raise InputError(f"{name} holds {len(images)} images; at least {min_count} are needed")
    out = []
    for i, image in enumerate(images):
        arr = image if isinstance(image, (torch.Tensor, np.ndarray)) else np.asarray(image)
        if arr.ndim != 3:
            raise InputError(f"{name}[{i}] must have shape (C, H, W), got {_describe(arr)}")
        out.append(check_images(arr[None], name=f"{name}[{i}]")[0])
    return out


def as_label_array(labels) -> np.ndarray:
    """Labels (a tensor, array or list) as a NumPy ``int64`` array, on the CPU."""
    if isinstance(labels, torch.Tensor):
        return labels.detach().cpu().numpy().astype(np.int64)
    return np.asarray(labels, dtype=np.int64)


# --- randomness ----------------------------------------------------------------------------------


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | str | None = None) -> Iterator[None]:
    """Seed Python, NumPy and torch for the block, then restore the caller's generators.

    Methods whose networks draw their initial weights from torch's global generator run their
    ``fit`` inside this block: the same seed gives the same weights, and the random state of the
    caller's notebook is left exactly as it was (``torch.random.fork_rng`` for torch; the Python
    and NumPy states saved and put back).

    Parameters
    ----------
    seed : int
    device : torch.device or str, optional
        The device the block computes on; a CUDA device's generator is forked and seeded even when
        CUDA is not initialised yet (every initialised CUDA generator always is).
    """
    py_state, np_state = random.getstate(), np.random.get_state()
    dev = torch.device(device) if device is not None else None
    # torch.manual_seed reseeds every CUDA generator, so every initialised one is forked and restored.
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    if dev is not None and dev.type == "cuda" and not cuda:
        cuda = [dev.index or 0]
    try:
        with torch.random.fork_rng(devices=cuda):
            random.seed(seed)
            np.random.seed(seed % 2**32)
            torch.manual_seed(seed)
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def reseed_from_global(augment) -> None:
    """Re-seed ``augment.generator`` (when it has a ``torch.Generator``) from torch's global generator.

    Called at the start of every training step: the views of a step then depend only on the global
    stream, which ``train.fit`` seeds and saves in its checkpoints, so a resumed run draws the same
    views as an uninterrupted one. Augmentations without a ``generator`` attribute are left alone.

    Parameters
    ----------
    augment : callable
        ``images -> images`` random views, e.g. ``preprocess.ContrastiveAugment``.
    """
    gen = getattr(augment, "generator", None)
    if isinstance(gen, torch.Generator):
        gen.manual_seed(int(torch.randint(0, 2**62, (1,))))


def generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (draws do not depend on the device used)."""
    return torch.Generator().manual_seed(int(seed))


# --- running a network on many images ------------------------------------------------------------


@torch.no_grad()
def batched_forward(fn: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                    device: torch.device | str, batch_size: int = 512,
                    model: nn.Module | None = None) -> torch.Tensor:
    """``fn`` on ``images`` batch by batch, without gradients, the result on the CPU.

    Parameters
    ----------
    fn : callable
        Maps a batch ``(B, C, H, W)`` on ``device`` to a tensor ``(B, ...)``.
    images : Tensor, shape (N, C, H, W)
    device : torch.device or str
        Where each batch is moved before ``fn`` runs.
    batch_size : int
    model : nn.Module, optional
        Put in eval mode for the call (dropout off, batch-norm running statistics) and back to its
        previous mode afterwards; default ``fn`` itself when it is a module.

    Returns
    -------
    Tensor, shape (N, ...), float32, on the CPU
    """
    model = model if model is not None else (fn if isinstance(fn, nn.Module) else None)
    was_training = model.training if model is not None else False
    if model is not None:
        model.eval()
    try:
        out = [fn(images[i:i + batch_size].to(device)).float().cpu()
               for i in range(0, len(images), batch_size)]
    finally:
        if model is not None:
            model.train(was_training)
    return torch.cat(out)
