"""A fitted model in another runtime: ONNX export and onnxruntime parity.

Taught in notebook 06_scaling_up (section "another runtime"). A fitted network is written to an ONNX
file (a graph of standard operators with the weights inside) that onnxruntime, a C++ engine, runs
without torch or this library: how a model is shipped to a server, a phone or a browser.

* :func:`export_onnx` writes the network whose argmax over axis 1 gives the labels, with a dynamic
  batch axis and the model's facts (class, number of clusters, image shape) in the file's
  ``metadata_props``. :func:`exportable` builds that network in torch, without writing anything:

  - :class:`~tutorial_lib.cluster.SCAN`: its ``model_`` (encoder + ``ClusteringHead``), images
    ``(N, C, H, W)`` -> logits ``(N, K)``;
  - the set-scope deep segmenter (:class:`~tutorial_lib.segment.SetFeatureClustering`, or
    :class:`~tutorial_lib.segment.DeepFeatureClustering` fitted with scope "set"): its ``predict``
    standardises each image, takes the patch network's dense features and gives each pixel its
    nearest k-means centre, then votes in SLIC superpixels. The export is :class:`NearestCentreNet`,
    the standardisation, the network and the nearest-centre step as one module: images
    ``(N, C, H, W)`` -> scores ``(N, K, H, W)`` (minus the squared distance to each centre), whose
    argmax is the label map before the superpixel vote (that vote and the small-segment drop are
    graph algorithms outside the network; run ``segment.superpixel_vote`` on the labels if needed);
  - any ``nn.Module`` mapping ``(N, C, H, W)`` to ``(N, K)`` or ``(N, K, H', W')``, with ``image_shape``.

* :class:`OnnxModel` loads the file in onnxruntime: ``predict`` (argmax labels) and ``predict_logits``.
* :func:`parity` (identical labels, largest logit difference) and :func:`time_inference` (torch
  against onnxruntime on the CPU) compare the two runtimes on the same images.

The exporter is torch's ``torch.export``-based one (``torch.onnx.export(dynamo=True)``, which needs
``onnxscript``): the TorchScript exporter (``dynamo=False``) is deprecated in torch 2.14 and warns.
``onnx``, ``onnxruntime`` and ``onnxscript`` are the ``export`` extra (``pip install
'tutorial_lib[export]'``); they are imported inside the functions, so this module imports without them.
"""

from __future__ import annotations

import copy
import importlib
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..base import InputError, check_images

INSTALL_HINT = "pip install 'tutorial_lib[export]'"
"""What the error says when onnx, onnxruntime or onnxscript is missing."""

INPUT_NAME, OUTPUT_NAME = "images", "logits"
"""Names of the exported graph's input and output."""

EXPORT_BATCH = 2
"""Batch size of the example input traced at export (the batch axis stays dynamic)."""


def require(module: str):
    """Import ``module`` (onnx, onnxruntime, onnxscript) or raise an ImportError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"ONNX export and inference need the '{module}' package, which is not installed: "
                          f"{INSTALL_HINT} (or pip install onnx onnxruntime onnxscript)") from err


# --- the torch module that is exported --------------------------------------------------------------

class NearestCentreNet(nn.Module):
    """The set-scope deep segmenter's labelling as one network: standardise, dense features, nearest centre.

    Parameters
    ----------
    net : PatchNet
        The fitted patch network (its ``dense`` method gives unit-length per-pixel features).
    centres : Tensor, shape (K, D)
        The k-means centres of the features over the set.
    window : int
        Side in pixels of the square the features are averaged over (the segmenter's
        ``min(window, patch_)``).

    Shapes
    ------
    ``forward``: images ``(N, C, H, W)`` in [0, 1] -> scores ``(N, K, H, W)``, ``-||f - c_k||^2``.
    """

    def __init__(self, net: nn.Module, centres: torch.Tensor, window: int):
        super().__init__()
        self.net = net
        self.window = int(window)
        centres = torch.as_tensor(centres, dtype=torch.float32)
        self.register_buffer("centres", centres)
        self.register_buffer("centre_sq", (centres ** 2).sum(1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # As segment.as_image and deep_set.standardise_image: clip to [0, 1], then each channel of each
        # image to mean 0 and standard deviation 1 (the population one, as NumPy's std).
        x = images.clamp(0.0, 1.0)
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True).sqrt()
        f = self.net.dense((x - mean) / std.clamp_min(1e-6), self.window)
        # -||f - c||^2 = 2 f.c - ||c||^2 - ||f||^2, the dot products as a 1x1 convolution: no (N, K, D, H, W)
        # difference tensor.
        dots = F.conv2d(f, self.centres[:, :, None, None])
        return 2 * dots - self.centre_sq[None, :, None, None] - (f * f).sum(1, keepdim=True)


@dataclass
class Exportable:
    """What :func:`export_onnx` writes: the torch module, its input shape and the file's metadata.

    Attributes
    ----------
    module : nn.Module
        A CPU copy in eval mode: images ``(N, *image_shape)`` -> logits ``(N, K, ...)``.
    image_shape : tuple of int
        ``(C, H, W)``.
    metadata : dict of str to str
        Written to the ONNX model's ``metadata_props``.
    """

    module: nn.Module
    image_shape: tuple[int, int, int]
    metadata: dict[str, str] = field(default_factory=dict)


def _first_conv_channels(module: nn.Module) -> int | None:
    conv = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
    return None if conv is None else int(conv.in_channels)


def _check_shape(image_shape, what: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(s) for s in image_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"image_shape must be (C, H, W) of one image, e.g. (1, 8, 8), got {image_shape!r} "
                         f"for {what}")
    return shape  # type: ignore[return-value]


def _scan_shape(model, image_shape) -> tuple[int, int, int]:
    if image_shape is not None:
        return _check_shape(image_shape, "SCAN")
    # The stride-2 encoder of larger images records its input size; the small all-convolutional one does not.
    sized = next((m for m in model.model_.modules()
                  if hasattr(m, "image_size") and hasattr(m, "in_channels")), None)
    if sized is not None:
        return (int(sized.in_channels), *(int(s) for s in sized.image_size))
    c = _first_conv_channels(model.model_)
    raise InputError("this SCAN's encoder does not record the image size it was fitted on: pass "
                     f"image_shape=(C, H, W), the shape of one training image (C = {c} here; (1, 8, 8) for "
                     "scikit-learn's digits)")


def _segmenter_parts(model):
    """The fitted set-scope variant of a deep segmenter, or a clear error."""
    from ..segment import DeepFeatureClustering, ImageFeatureClustering, SetFeatureClustering

    est = model
    if isinstance(model, DeepFeatureClustering):
        model._check_fitted("estimator_")
        est = model.estimator_
    if isinstance(est, ImageFeatureClustering):
        raise InputError("the image-scope deep segmenter clusters each image's features with its own "
                         "k-means, so no fixed network gives its labels; fit DeepFeatureClustering("
                         "scope='set') (or SetFeatureClustering) to export it, or export its pixel network "
                         "(estimator_.model_) as a plain nn.Module with image_shape=")
    if not isinstance(est, SetFeatureClustering):
        return None
    est._check_fitted("model_")
    return est


def _segmenter_shape(est, image_shape) -> tuple[int, int, int]:
    if image_shape is not None:
        return _check_shape(image_shape, type(est).__name__)
    c = _first_conv_channels(est.model_)
    labels = est.labels_
    sizes = {tuple(np.shape(m)[-2:]) for m in (labels if isinstance(labels, list) else [labels])}
    if len(sizes) != 1:
        raise InputError(f"the segmenter was fitted on images of several sizes {sorted(sizes)}: pass "
                         f"image_shape=({c}, H, W), the size the ONNX model should take")
    return (c, *sizes.pop())


def exportable(model, *, image_shape=None) -> Exportable:
    """The torch module that :func:`export_onnx` writes for ``model``, with its shape and metadata.

    Parameters
    ----------
    model : SCAN, SetFeatureClustering, DeepFeatureClustering (scope "set") or nn.Module
        Fitted estimators; a module maps ``(N, C, H, W)`` to ``(N, K)`` or ``(N, K, H', W')``.
    image_shape : (C, H, W), optional
        Shape of one input image. Needed for a module and for a SCAN on images of at most 12 pixels a
        side (its encoder is size-agnostic and does not record the size); a segmenter defaults to the
        size of the images it was fitted on.

    Returns
    -------
    Exportable
        ``module`` is a CPU copy (the fitted model is not changed or moved).

    Raises
    ------
    InputError
        A missing or bad ``image_shape``, or the image-scope segmenter (no fixed network gives its labels).
    NotFittedError
        An estimator that is not fitted.
    TypeError
        Any other kind of model.
    """
    from ..cluster import SCAN

    meta = {"class": type(model).__name__}
    if isinstance(model, SCAN):
        model._check_fitted("model_")
        shape = _scan_shape(model, image_shape)
        module = copy.deepcopy(model.model_)
        meta |= {"n_clusters": str(model.n_clusters), "output": "cluster logits (N, K)"}
    elif (est := _segmenter_parts(model)) is not None:
        shape = _segmenter_shape(est, image_shape)
        window = min(est.window, est.patch_)
        if est.kmeans_ is None:  # the set was one region: one centre, every pixel label 0
            centres = torch.zeros(1, est.model_.head.in_features)
        else:
            centres = torch.as_tensor(np.asarray(est.kmeans_.cluster_centers_), dtype=torch.float32)
        module = NearestCentreNet(copy.deepcopy(est.model_), centres, window)
        meta |= {"n_clusters": str(len(centres)), "scope": "set", "window": str(window),
                 "output": "per-pixel scores (N, K, H, W), minus the squared distance to each centre; "
                           "argmax = labels before the superpixel vote"}
    elif isinstance(model, nn.Module):
        if image_shape is None:
            raise InputError(f"exporting a plain {type(model).__name__} needs image_shape=(C, H, W), the "
                             "shape of one input image")
        shape = _check_shape(image_shape, type(model).__name__)
        module = copy.deepcopy(model)
        meta |= {"output": "logits (N, K, ...)"}
    else:
        raise TypeError(f"cannot export a {type(model).__name__}: pass a fitted SCAN, a set-scope deep "
                        "segmenter (DeepFeatureClustering(scope='set') or SetFeatureClustering) or an "
                        "nn.Module with image_shape=(C, H, W)")
    module = module.cpu().eval()
    if "n_clusters" not in meta:
        with torch.no_grad():
            out = module(torch.zeros(EXPORT_BATCH, *shape))
        if not isinstance(out, torch.Tensor) or out.ndim < 2:
            got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
            raise InputError(f"the module must return one tensor (N, K, ...) of logits, got {got}")
        meta["n_clusters"] = str(out.shape[1])
    from .. import __version__

    meta |= {"image_shape": ",".join(map(str, shape)), "input": f"{INPUT_NAME} (N, C, H, W), float in [0, 1]",
             "labels": f"argmax of {OUTPUT_NAME} over axis 1", "tutorial_lib": __version__,
             "torch": torch.__version__}
    return Exportable(module, shape, meta)


def export_onnx(model, path: str | os.PathLike, *, image_shape=None, opset: int | None = None) -> Path:
    """Write ``model``'s labelling network to an ONNX file with a dynamic batch axis.

    Parameters
    ----------
    model : SCAN, SetFeatureClustering, DeepFeatureClustering (scope "set") or nn.Module
        See :func:`exportable` for what is exported for each.
    path : path
        The ``.onnx`` file (one file, weights inside); its folder is created.
    image_shape : (C, H, W), optional
        See :func:`exportable`.
    opset : int, optional
        ONNX operator set (default: the exporter's, 18 or later).

    Returns
    -------
    Path of the file. Its graph has one input ``images`` ``(batch, C, H, W)`` float32 and one output
    ``logits`` ``(batch, K)`` or ``(batch, K, H, W)``; ``metadata_props`` hold ``class``, ``n_clusters``,
    ``image_shape`` ("C,H,W"), ``labels``, the library and torch versions (and ``window`` for a segmenter).

    Raises
    ------
    ImportError
        onnx or onnxscript missing (the message says ``pip install 'tutorial_lib[export]'``).
    """
    require("onnx")
    require("onnxscript")
    spec = exportable(model, image_shape=image_shape)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A seeded example input, drawn without touching torch's global generator.
    example = torch.rand(EXPORT_BATCH, *spec.image_shape, generator=torch.Generator().manual_seed(0))
    program = torch.onnx.export(spec.module, (example,), dynamo=True, verbose=False, opset_version=opset,
                                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                dynamic_shapes=({0: torch.export.Dim("batch")},))
    program.model.metadata_props.update(spec.metadata)
    program.save(str(path), external_data=False)
    return path


# --- onnxruntime ---------------------------------------------------------------------------------------

class OnnxModel:
    """An exported model run by onnxruntime.

    Parameters
    ----------
    path : path
        A file written by :func:`export_onnx`.
    providers : list of str, optional
        onnxruntime execution providers, default ``["CPUExecutionProvider"]``.
    threads : int, optional
        onnxruntime's intra-op threads; default ``torch.get_num_threads()``, so both runtimes use the
        same number of cores (onnxruntime alone would take every physical core).

    Attributes
    ----------
    path : Path
    session : onnxruntime.InferenceSession
    threads : int, onnxruntime's intra-op threads
    metadata : dict of str to str, the file's ``metadata_props``
    image_shape : tuple (C, H, W)
    n_clusters : int
    """

    def __init__(self, path: str | os.PathLike, providers: list[str] | None = None,
                 threads: int | None = None):
        ort = require("onnxruntime")
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no ONNX file at {self.path}; write one with export_onnx(model, path)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        self.threads = options.intra_op_num_threads
        self.session = ort.InferenceSession(str(self.path), sess_options=options,
                                            providers=providers or ["CPUExecutionProvider"])
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        if "image_shape" in self.metadata:
            self.image_shape = tuple(int(s) for s in self.metadata["image_shape"].split(","))
        else:  # a file from elsewhere: the graph's static dimensions
            self.image_shape = tuple(int(d) for d in self.session.get_inputs()[0].shape[1:])
        self.n_clusters = int(self.metadata.get("n_clusters", self.session.get_outputs()[0].shape[1]))
        self._input = self.session.get_inputs()[0].name

    def __repr__(self) -> str:
        return (f"OnnxModel({str(self.path)!r}, class={self.metadata.get('class', '?')}, "
                f"image_shape={self.image_shape}, n_clusters={self.n_clusters})")

    def check(self, images) -> np.ndarray:
        """``images`` as the float32 array ``(N, C, H, W)`` the graph takes, or an InputError.

        Parameters
        ----------
        images : Tensor or ndarray, shape (N, C, H, W), float in [0, 1] (values are not range-checked)
        """
        x = check_images(images)
        if tuple(x.shape[1:]) != self.image_shape:
            c, h, w = self.image_shape
            raise InputError(f"this ONNX model was exported for images of shape (N, {c}, {h}, {w}), got "
                             f"{tuple(x.shape)}; resize the images, or export again with "
                             f"image_shape=({x.shape[1]}, {x.shape[2]}, {x.shape[3]})")
        return np.ascontiguousarray(x.detach().cpu().numpy())

    def predict_logits(self, images) -> np.ndarray:
        """The graph's output, ``(N, K)`` or ``(N, K, H, W)`` float32, of ``images`` ``(N, C, H, W)``."""
        return self.session.run(None, {self._input: self.check(images)})[0]

    def predict(self, images) -> np.ndarray:
        """Labels (argmax over axis 1): ``(N,)`` or ``(N, H, W)`` NumPy int64."""
        return self.predict_logits(images).argmax(1).astype(np.int64)


# --- comparing the two runtimes ----------------------------------------------------------------------

def _torch_side(model, onnx_model: OnnxModel) -> nn.Module:
    return exportable(model, image_shape=onnx_model.image_shape).module


def parity(model, onnx_model: OnnxModel, images) -> dict:
    """How closely onnxruntime reproduces torch on ``images``.

    Parameters
    ----------
    model : the fitted model that was exported (estimator or module)
    onnx_model : OnnxModel
    images : Tensor or ndarray, shape (N, C, H, W), float in [0, 1]

    Returns
    -------
    dict
        ``label_agreement`` (fraction of labels, images or pixels, that are identical), ``max_abs_diff``
        (largest absolute difference of the logits), ``n_images`` and ``n_labels``.
    """
    x = onnx_model.check(images)
    with torch.inference_mode():
        ref = _torch_side(model, onnx_model)(torch.from_numpy(x)).numpy()
    out = onnx_model.predict_logits(x)
    same = ref.argmax(1) == out.argmax(1)
    return {"label_agreement": float(same.mean()), "max_abs_diff": float(np.abs(ref - out).max()),
            "n_images": len(x), "n_labels": int(same.size)}


def time_inference(model, onnx_model: OnnxModel, images, repeats: int = 5) -> dict:
    """Seconds to label the whole batch ``images`` with torch and with onnxruntime, on the CPU.

    Each runtime runs once untimed (warm-up), then ``repeats`` times.

    Parameters
    ----------
    model : the fitted model that was exported (estimator or module)
    onnx_model : OnnxModel
        Its ``threads`` are onnxruntime's cores; torch uses ``torch.get_num_threads()``.
    images : Tensor or ndarray, shape (N, C, H, W), float in [0, 1]
    repeats : int, at least 1

    Returns
    -------
    dict
        ``torch_min_s``, ``torch_median_s``, ``onnx_min_s``, ``onnx_median_s`` (seconds per batch),
        ``speedup`` (torch median / onnxruntime median), ``n_images``, ``torch_threads``, ``onnx_threads``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    x = onnx_model.check(images)
    module, xt = _torch_side(model, onnx_model), torch.from_numpy(x)

    def timed(run) -> list[float]:
        run()
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            seconds.append(time.perf_counter() - start)
        return seconds

    with torch.inference_mode():
        t_torch = timed(lambda: module(xt))
    t_onnx = timed(lambda: onnx_model.predict_logits(x))
    return {"torch_min_s": min(t_torch), "torch_median_s": statistics.median(t_torch),
            "onnx_min_s": min(t_onnx), "onnx_median_s": statistics.median(t_onnx),
            "speedup": statistics.median(t_torch) / statistics.median(t_onnx), "n_images": len(x),
            "torch_threads": torch.get_num_threads(),
            "onnx_threads": onnx_model.threads}


__all__ = ["EXPORT_BATCH", "INSTALL_HINT", "Exportable", "NearestCentreNet", "OnnxModel", "export_onnx",
           "exportable", "parity", "require", "time_inference"]
