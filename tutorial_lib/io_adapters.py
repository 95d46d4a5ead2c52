"""What each savable estimator keeps in a model file, and how it is rebuilt: the adapters of :mod:`.io`.

Taught in notebook 03_clustering_classification with :mod:`tutorial_lib.io` (section "your own
folder"); the set-level segmenter of notebook 04_pixel_segmentation has its adapter here too.

An :class:`Adapter` knows one class: the fitted attribute that says it is fitted, the tensors and JSON
values that hold its fitted state (read from its public fitted attributes), and how its networks are
rebuilt from the constructor parameters and the saved shapes. ``ADAPTERS`` maps a class name to its
adapter; ``REFUSED`` maps the classes that cannot label new images to the reason, given when one is
saved. A saved estimator is a JSON node ``{"class", "params", "dropped", "fitted"}`` whose tensors are
named under a prefix; nested estimators (a pipeline's feature step and clusterer, the facade's fitted
variant, the set segmenter's k-means) are nodes inside ``fitted``, their tensors under their own prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch
from torch import nn

from .application.foreground import Mixture1D
from .application.pipeline import ObjectPipeline
from .base import Estimator, InputError
from .cluster.dec import DEC, DECModule
from .cluster.kmeans import KMeans
from .cluster.merge import MergedHead
from .cluster.pipeline import (
    AutoencoderFeatures,
    DeepClusterPipeline,
    PCAFeatures,
    PixelFeatures,
    TSNEFeatures,
)
from .cluster.scan import SCAN, build_scan_model
from .cluster.umap import UMAPFeatures, UMAPPipeline
from .io import UnsupportedModelError
from .io_tensors import Reader, Writer, on_device
from .models import ACTIVATIONS, AutoencoderEncoder, ConvAutoencoder, make_activation
from .segment.classic import ColourKMeans, Felzenszwalb, OtsuThreshold, SlicKMeans
from .segment.deep_features import DeepFeatureClustering
from .segment.deep_image import ImageFeatureClustering
from .segment.deep_set import PatchNet, SetFeatureClustering
from .segment.descriptors import FittedKMeans
from .segment.kanezaki import DifferentiableFeatureClustering

ESTIMATOR_KEY = "__estimator__"
"""Marks an estimator given as a parameter (``DeepClusterPipeline(features=PCAFeatures(20))``) in the JSON."""

SMALL_SIDE = 8
"""The image side SCAN's small encoder is rebuilt for: :func:`scan_encoder` takes a ``ConvEncoder`` (any
size, global pooling) for images of at most 12 pixels a side."""


# --- parameters as JSON --------------------------------------------------------------------------


def _encode(value):
    """A parameter value as JSON; raises TypeError for what JSON cannot hold (callables, networks)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (PurePath, torch.device)):  # device=torch.device("cpu") is saved as "cpu"
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value) and ESTIMATOR_KEY not in value:
        return {k: _encode(v) for k, v in value.items()}
    adapter = _adapter_of(value)
    if adapter is not None:
        params, dropped = encode_params(value.get_params())
        return {ESTIMATOR_KEY: adapter.qualname, "params": params, "dropped": dropped}
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def encode_params(params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The parameters as JSON values, and the names of those saved as null (not JSON: callables...)."""
    out, dropped = {}, []
    for name, value in params.items():
        try:
            out[name] = _encode(value)
        except TypeError:
            out[name], dropped = None, [*dropped, name]
    return out, dropped


def _decode(value, reader: Reader):
    if isinstance(value, dict) and ESTIMATOR_KEY in value:
        return _construct(_adapter_named(value[ESTIMATOR_KEY], reader), value["params"], reader)
    if isinstance(value, list):
        return [_decode(v, reader) for v in value]
    return value


def _construct(adapter: Adapter, params: dict, reader: Reader) -> Estimator:
    """An unfitted estimator of the adapter's class with the saved parameters."""
    params = {name: _decode(value, reader) for name, value in params.items()}
    if reader.device is not None and "device" in params:
        params["device"] = reader.device
    unknown = sorted(set(params) - set(adapter.cls._param_names()))
    if unknown:
        raise reader.fail(f"it was saved with parameters {unknown} that {adapter.name} of this tutorial_lib "
                          "does not have: load it with the version that saved it")
    return adapter.cls(**params)


# --- the adapters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adapter:
    """How one class is saved: ``dump(est, writer) -> fitted JSON`` and ``restore(est, fitted, reader)``
    (fills the fitted attributes of a freshly built ``est``); ``refuse(est)`` gives a reason when this
    estimator cannot be saved (e.g. a pipeline on t-SNE features), else None."""

    cls: type
    kind: str  # "cluster", "segment" or "features"
    fitted: str | None  # the attribute whose absence means "not fitted"
    dump: Callable[[Any, Writer], dict]
    restore: Callable[[Any, dict, Reader], None]
    refuse: Callable[[Any], str | None] = lambda est: None

    @property
    def name(self) -> str:
        return self.cls.__name__

    @property
    def qualname(self) -> str:
        return f"{self.cls.__module__}.{self.cls.__name__}"


def _adapter_of(est) -> Adapter | None:
    adapter = ADAPTERS.get(type(est).__name__)
    return adapter if adapter is not None and type(est) is adapter.cls else None


def _adapter_named(qualname: str, reader: Reader) -> Adapter:
    adapter = ADAPTERS.get(str(qualname).rpartition(".")[2])
    if adapter is None:
        raise reader.fail(f"it holds a {qualname}, which this version of tutorial_lib cannot load")
    return adapter


def kind_of(qualname: str, path: Path) -> str:
    """``"cluster"``, ``"segment"`` or ``"features"``: what the saved class ``qualname`` does."""
    return _adapter_named(qualname, Reader({}, path)).kind


def adapter_for(est) -> Adapter:
    """The adapter that saves ``est``; raises :class:`UnsupportedModelError` with the reason otherwise."""
    name = type(est).__name__
    if type(est) in REFUSED:
        raise UnsupportedModelError(f"{name} cannot be saved: {REFUSED[type(est)]}")
    adapter = _adapter_of(est)
    if adapter is None:
        raise UnsupportedModelError(
            f"{type(est).__module__}.{name} cannot be saved: tutorial_lib saves {', '.join(ADAPTERS)} "
            "(the estimators that can label new images; subclasses are not rebuilt)")
    why = adapter.refuse(est)
    if why:
        raise UnsupportedModelError(f"this {name} cannot be saved: {why}")
    return adapter


def dump(est, writer: Writer) -> dict:
    """The JSON node of a fitted estimator; its tensors go to ``writer``."""
    adapter = adapter_for(est)
    if adapter.fitted is not None:
        est._check_fitted(adapter.fitted)
    params, dropped = encode_params(est.get_params())
    return {"class": adapter.qualname, "params": params, "dropped": dropped,
            "fitted": adapter.dump(est, writer)}


def restore(node: dict, reader: Reader) -> Estimator:
    """The fitted estimator of a JSON node written by :func:`dump`."""
    adapter = _adapter_named(node["class"], reader)
    est = _construct(adapter, node["params"], reader)
    adapter.restore(est, node["fitted"], reader)
    return est


# KMeans --------------------------------------------------------------------------------------


def _kmeans_dump(est: KMeans, w: Writer) -> dict:
    w.tensor("cluster_centers", est.cluster_centers_)
    w.tensor("labels", np.asarray(est.labels_, np.int64))
    return {"inertia": float(est.inertia_), "n_iter": int(est.n_iter_),
            "n_features": int(est.cluster_centers_.shape[1])}


def _kmeans_restore(est: KMeans, fitted: dict, r: Reader) -> None:
    est.cluster_centers_, est.labels_ = r.tensor("cluster_centers"), r.array("labels")
    est.inertia_, est.n_iter_ = fitted["inertia"], fitted["n_iter"]


# Feature steps and the pipeline ------------------------------------------------------------------


def _pca_dump(pca, w: Writer) -> dict:
    """A fitted ``sklearn.decomposition.PCA``: its parameters, and every fitted attribute (arrays as
    tensors, exactly; scalars as JSON)."""
    arrays, values = [], {}
    for name, value in vars(pca).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        if isinstance(value, np.ndarray):
            w.tensor(name, value)
            arrays.append(name)
        else:
            try:
                values[name] = _encode(value)
            except TypeError:
                raise UnsupportedModelError(f"the PCA's fitted {name} ({type(value).__name__}) cannot be "
                                            "saved") from None
    return {"params": encode_params(pca.get_params())[0], "values": values, "arrays": arrays}


def _pca_restore(fitted: dict, r: Reader):
    from sklearn.decomposition import PCA

    pca = PCA(**fitted["params"])
    for name, value in fitted["values"].items():
        setattr(pca, name, value)
    for name in fitted["arrays"]:
        setattr(pca, name, r.array(name))
    return pca


def _activation_name(module: nn.Module) -> str:
    names = {type(make_activation(name)): name for name in ACTIVATIONS}
    found = next((names[type(m)] for m in module.modules() if type(m) in names), None)
    if found is None:
        raise UnsupportedModelError(f"the activation of this {type(module).__name__} is none of "
                                    f"{list(ACTIVATIONS)}")
    return found


def _autoencoder_shape(ae: ConvAutoencoder) -> dict:
    """What a :class:`ConvAutoencoder` is rebuilt from (input shape and architecture)."""
    return {"in_channels": int(ae.in_channels), "image_size": [int(s) for s in ae.image_size],
            "latent_dim": int(ae.latent_dim), "width": int(ae.encoder_conv[0].out_channels),
            "depth": len(ae.hs) - 1, "activation": _activation_name(ae)}


def _autoencoder(shape: dict) -> ConvAutoencoder:
    return ConvAutoencoder(shape["in_channels"], tuple(shape["image_size"]), latent_dim=shape["latent_dim"],
                           width=shape["width"], depth=shape["depth"], activation=shape["activation"])


def _ae_features_dump(est: AutoencoderFeatures, w: Writer) -> dict:
    w.module("autoencoder", est.autoencoder_)
    return {"autoencoder": _autoencoder_shape(est.autoencoder_)}


def _ae_features_restore(est: AutoencoderFeatures, fitted: dict, r: Reader) -> None:
    est.autoencoder_ = on_device(r.module("autoencoder", _autoencoder(fitted["autoencoder"])), est)


TSNE_REASON = ("t-SNE has no transform: it places only the images it was fitted on, so new images cannot be "
               "put on its map. Save a pipeline on 'pca' or 'autoencoder' features (or SCAN, DEC) instead, "
               "or fit t-SNE on the old and new images together")


UMAP_REASON = ("UMAP's fitted state (its neighbour graph, search index and the training data it places new "
               "images against) cannot be written without pickle, which model files never hold. predict "
               "works on new images in the same session; to keep a model in a file, save a pipeline on 'pca' "
               "or 'autoencoder' features (or DEC, SCAN) instead")


def _pipeline_refuse(est: DeepClusterPipeline) -> str | None:
    step = vars(est).get("feature_step_", est.features)
    if isinstance(step, TSNEFeatures) or (isinstance(step, str) and step == "tsne"):
        return TSNE_REASON
    clusterer = vars(est).get("clusterer_", est.clusterer)
    if clusterer is not None and type(clusterer) is not KMeans:
        return (f"its clusterer is a {type(clusterer).__name__}; only tutorial_lib's KMeans (the default) "
                "is saved")
    return None


def _pipeline_dump(est: DeepClusterPipeline, w: Writer) -> dict:
    w.tensor("labels", np.asarray(est.labels_, np.int64))
    return {"feature_step": dump(est.feature_step_, w.child("feature_step")),
            "clusterer": dump(est.clusterer_, w.child("clusterer")),
            "n_features": int(est.clusterer_.cluster_centers_.shape[1])}


def _pipeline_restore(est: DeepClusterPipeline, fitted: dict, r: Reader) -> None:
    est.feature_step_ = restore(fitted["feature_step"], r.child("feature_step"))
    est.clusterer_ = restore(fitted["clusterer"], r.child("clusterer"))
    est.labels_ = r.array("labels")


# DEC and SCAN ------------------------------------------------------------------------------------


def _dec_dump(est: DEC, w: Writer) -> dict:
    w.module("model", est.model_)
    w.tensor("labels", np.asarray(est.labels_, np.int64))
    return {"autoencoder": _autoencoder_shape(est.model_.encoder.autoencoder),
            "alpha": float(est.model_.alpha), "centers": list(est.model_.centers.shape)}


def _dec_restore(est: DEC, fitted: dict, r: Reader) -> None:
    ae = _autoencoder(fitted["autoencoder"])
    model = DECModule(AutoencoderEncoder(ae), torch.zeros(*fitted["centers"]), fitted["alpha"])
    est.model_ = on_device(r.module("model", model), est)
    est.autoencoder_ = ae  # the network inside model_, as after fit
    est.cluster_centers_ = model.centers.detach().cpu().clone()
    est.labels_ = r.array("labels")


def _scan_input_shape(encoder: nn.Module) -> list:
    """(C, H, W) of the images SCAN's encoder takes; H and W None for the CNNs (any size)."""
    if not isinstance(encoder, nn.Sequential):  # the small CNN (ConvEncoder) or the ResNet-18
        return [int(encoder.in_channels), None, None]
    ae = encoder[0].autoencoder  # nn.Sequential(AutoencoderEncoder(ae), BatchNorm1d, activation)
    return [int(ae.in_channels), *(int(s) for s in ae.image_size)]


def _scan_dump(est: SCAN, w: Writer) -> dict:
    w.module("model", est.model_)
    w.tensor("labels", np.asarray(est.labels_, np.int64))
    head = est.model_.head
    merged = isinstance(head, MergedHead)  # over-clustered, then merged (SCAN(overcluster=...))
    heads = head.head.heads if merged else head.heads
    return {"input_shape": _scan_input_shape(est.model_.encoder),
            "n_clusters": [int(h.out_features) for h in heads],
            "groups": head.groups.tolist() if merged else None}


def _scan_restore(est: SCAN, fitted: dict, r: Reader) -> None:
    c, h, w = fitted["input_shape"]
    shape = (1, c, h or SMALL_SIDE, w or SMALL_SIDE)  # (N, C, H, W), like the images fit was given
    groups = fitted.get("groups")
    model = build_scan_model(shape, fitted["n_clusters"][0] if groups else est.n_clusters, est.width,
                             est.encoder_depth, est.activation, attention=est.attention, encoder=est.encoder)
    if groups:
        model.head = MergedHead(model.head, groups)
    est.model_ = on_device(r.module("model", model), est)
    est.groups_ = np.asarray(groups, np.int64) if groups else None
    est.labels_ = r.array("labels")


# The set-level deep-feature segmenter and its facade ---------------------------------------------


def _set_dump(est: SetFeatureClustering, w: Writer) -> dict:
    net, km = est.model_, est.kmeans_
    w.module("model", net)
    first = net.body[0][0]  # the first 3×3 convolution: input channels and width
    return {"patchnet": {"in_channels": int(first.in_channels), "n_classes": int(net.head.out_features),
                         "width": int(first.out_channels)},
            "patch": int(est.patch_), "n_clusters": int(est.n_clusters_),
            "n_pseudo": int(est.n_pseudo_), "n_segments": [int(k) for k in est.n_segments_],
            "colour_coherence": float(est.colour_coherence_),
            "kmeans": None if km is None else dump(km.km, w.child("kmeans"))}


def _set_restore(est: SetFeatureClustering, fitted: dict, r: Reader) -> None:
    shape = fitted["patchnet"]
    net = PatchNet(shape["in_channels"], shape["n_classes"], shape["width"])
    est.model_ = on_device(r.module("model", net), est)
    est.patch_, est.n_clusters_, est.n_pseudo_ = fitted["patch"], fitted["n_clusters"], fitted["n_pseudo"]
    est.n_segments_, est.colour_coherence_ = list(fitted["n_segments"]), fitted["colour_coherence"]
    km = fitted["kmeans"]
    est.kmeans_ = None if km is None else FittedKMeans(restore(km, r.child("kmeans")))


IMAGE_REASON = ("each image is clustered on its own (k-means per image: the image scope), so its clusters "
                "mean nothing across images. Use DeepFeatureClustering(scope='set') (SetFeatureClustering), "
                "which can be saved, or call fit_predict(new_images)")


def _facade_refuse(est: DeepFeatureClustering) -> str | None:
    return IMAGE_REASON if vars(est).get("scope_", est.scope) == "image" else None


def _facade_dump(est: DeepFeatureClustering, w: Writer) -> dict:
    return {"scope": est.scope_, "colour_coherence": float(est.colour_coherence_),
            "estimator": dump(est.estimator_, w.child("estimator"))}


def _facade_restore(est: DeepFeatureClustering, fitted: dict, r: Reader) -> None:
    est.estimator_ = restore(fitted["estimator"], r.child("estimator"))
    est.scope_, est.colour_coherence_ = fitted["scope"], fitted["colour_coherence"]


def _mixture_json(m: Mixture1D | None) -> dict | None:
    keys = ("means", "variances", "weights")
    return None if m is None else {k: [float(v) for v in getattr(m, k)] for k in keys}


def _objects_dump(est: ObjectPipeline, w: Writer) -> dict:
    return {"flatness": _mixture_json(est.flatness_mixture_),
            "standout": _mixture_json(est.contrast_mixture_),
            "n_clusters": int(est.n_clusters_), "n_objects": int(est.n_objects_),
            "labels": [int(v) for v in est.labels_],
            "recogniser": dump(est.recogniser_, w.child("recogniser"))}


def _objects_restore(est: ObjectPipeline, fitted: dict, r: Reader) -> None:
    est.flatness_mixture_ = Mixture1D(**fitted["flatness"])
    if "standout" not in fitted:  # files before the standout ratio hold a mixture of plain contrast
        raise InputError("this application model was saved by an older version (its mixture is of region "
                         "contrast, not of the standout ratio the pipeline now uses): fit it again")
    est.contrast_mixture_ = None if fitted["standout"] is None else Mixture1D(**fitted["standout"])
    est.n_clusters_, est.n_objects_ = fitted["n_clusters"], fitted["n_objects"]
    est.labels_ = np.asarray(fitted["labels"], np.int64)
    est.recogniser_ = restore(fitted["recogniser"], r.child("recogniser"))


def _nothing_fitted(est, w: Writer) -> dict:
    return {}


def _restore_nothing(est, fitted: dict, r: Reader) -> None:
    return None


ADAPTERS: dict[str, Adapter] = {a.name: a for a in (
    Adapter(KMeans, "cluster", "cluster_centers_", _kmeans_dump, _kmeans_restore),
    Adapter(DeepClusterPipeline, "cluster", "clusterer_", _pipeline_dump, _pipeline_restore,
            _pipeline_refuse),
    Adapter(DEC, "cluster", "model_", _dec_dump, _dec_restore),
    Adapter(SCAN, "cluster", "model_", _scan_dump, _scan_restore),
    Adapter(SetFeatureClustering, "segment", "model_", _set_dump, _set_restore),
    Adapter(DeepFeatureClustering, "segment", "estimator_", _facade_dump, _facade_restore, _facade_refuse),
    Adapter(ObjectPipeline, "segment", "recogniser_", _objects_dump, _objects_restore),
    Adapter(PixelFeatures, "features", None, _nothing_fitted, _restore_nothing),
    Adapter(PCAFeatures, "features", "pca_",
            lambda est, w: {"pca": _pca_dump(est.pca_, w.child("pca"))},
            lambda est, fitted, r: setattr(est, "pca_", _pca_restore(fitted["pca"], r.child("pca")))),
    Adapter(AutoencoderFeatures, "features", "autoencoder_", _ae_features_dump, _ae_features_restore),
)}
"""Class name -> its adapter: the classes a model file can hold."""

_EACH_IMAGE = ("it segments each image on its own and keeps nothing that could label another image: call "
               "fit_predict(new_images) instead")

REFUSED: dict[type, str] = {
    TSNEFeatures: TSNE_REASON,
    UMAPFeatures: UMAP_REASON,
    UMAPPipeline: UMAP_REASON,
    DifferentiableFeatureClustering: ("the Kanezaki method trains a new network on each image, fitted on "
                                      "that image alone, so no model labels new images: call "
                                      "fit_predict(new_images) instead"),
    ImageFeatureClustering: IMAGE_REASON,
    OtsuThreshold: _EACH_IMAGE,
    ColourKMeans: _EACH_IMAGE,
    SlicKMeans: _EACH_IMAGE,
    Felzenszwalb: _EACH_IMAGE,
}
"""The classes that cannot label new images -> why, as :class:`UnsupportedModelError` says."""
