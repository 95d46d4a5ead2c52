"""Saved models (tutorial_lib.io): save -> load_model -> exactly the same labels for every estimator that
can label new images; clear refusals for those that cannot and for unfitted ones; tampered, truncated
and foreign files refused with ModelFileError naming the file, running nothing; atomic writes."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import safetensors.torch
import torch
import torch.nn.functional as F

import tutorial_lib
from tutorial_lib import io as model_io
from tutorial_lib.base import Estimator, NotFittedError
from tutorial_lib.cluster import DEC, SCAN, AutoencoderFeatures, DeepClusterPipeline, KMeans
from tutorial_lib.evaluation.clustering import FAST_PARAMS
from tutorial_lib.evaluation.segmentation import FAST_PARAMS as SEGMENT_FAST_PARAMS
from tutorial_lib.io import ModelFileError, UnsupportedModelError, load_model, model_info, save_model
from tutorial_lib.io_adapters import encode_params
from tutorial_lib.segment import (
    ColourKMeans,
    DeepFeatureClustering,
    DifferentiableFeatureClustering,
    Felzenszwalb,
    ImageFeatureClustering,
    OtsuThreshold,
    SetFeatureClustering,
    SlicKMeans,
)


def _on_epoch_end(epoch, model, history):
    """A callable parameter: saved as null."""
    return None


CLUSTERING = {
    "kmeans": lambda: KMeans(4, n_init=2, seed=0, device="cpu"),
    "pixels": lambda: DeepClusterPipeline("pixels", n_clusters=4, seed=0, device="cpu"),
    "pca": lambda: DeepClusterPipeline("pca", n_clusters=4, seed=0, device="cpu"),
    "autoencoder": lambda: DeepClusterPipeline("autoencoder", n_clusters=4, seed=0, device="cpu"),
    "autoencoder-object": lambda: DeepClusterPipeline(
        AutoencoderFeatures(latent_dim=4, width=8, epochs=2, seed=0, device="cpu"),
        clusterer=KMeans(4, n_init=2, seed=1, device="cpu"), n_clusters=4, seed=0, device="cpu"),
    "dec": lambda: DEC(4, latent_dim=4, width=8, seed=0, device="cpu", **FAST_PARAMS["dec"]),
    "scan": lambda: SCAN(4, n_neighbors=5, width=8, on_epoch_end=_on_epoch_end, seed=0, device="cpu",
                         **FAST_PARAMS["scan"]),
    # 16×16 images: SCAN's stride-2 encoder (8×8 digits get the small ConvEncoder).
    "scan-16px": lambda: SCAN(4, n_neighbors=5, width=8, seed=0, device="cpu", **FAST_PARAMS["scan"]),
}


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().data[:200] / 16).float().view(-1, 1, 8, 8)
    return x[:120], x[120:]  # fitted on the first 120, the other 80 are new images


def _images(name, digits):
    if name.endswith("16px"):
        return tuple(F.interpolate(x, size=16, mode="bilinear", align_corners=False) for x in digits)
    return digits


@pytest.fixture(scope="module")
def fitted(digits):
    cache = {}

    def get(name):
        if name not in cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tiny budgets may warn of a collapse
                cache[name] = CLUSTERING[name]().fit(_images(name, digits)[0])
        return cache[name]

    return get


@pytest.fixture(scope="module")
def mosaics():
    from tutorial_lib import data

    images = data.load_segmentation("mosaic", n=3, size=64, seed=0).images
    return images[:2], images[2:]  # fitted on two, the third is new


@pytest.fixture(scope="module")
def facade(mosaics):
    params = {**SEGMENT_FAST_PARAMS["deep_features"], "rounds": 1}
    return DeepFeatureClustering(scope="set", seed=0, device="cpu", **params).fit(mosaics[0])


def _same_params(a, b) -> bool:
    return encode_params(a.get_params())[0] == encode_params(b.get_params())[0]


# --- save -> load -> the same labels ------------------------------------------------------------


@pytest.mark.parametrize("name", list(CLUSTERING))
def test_a_loaded_clustering_model_gives_exactly_the_same_labels(name, fitted, digits, tmp_path):
    model = fitted(name)
    train, new = _images(name, digits)
    before_new, before_train = model.predict(new), model.predict(train)
    assert len(np.unique(before_new)) > 1  # labels a broken load could not reproduce by chance
    path = model.save(tmp_path / "model.safetensors")
    loaded = tutorial_lib.load_model(path)
    assert type(loaded) is type(model) and _same_params(loaded, model)
    assert np.array_equal(loaded.predict(new), before_new)
    assert np.array_equal(loaded.predict(train), before_train)
    assert np.array_equal(loaded.labels_, model.labels_)
    # A loaded model saves again, to a file that loads to the same labels.
    again = load_model(save_model(loaded, tmp_path / "again.safetensors"))
    assert np.array_equal(again.predict(new), before_new)


def test_a_loaded_set_segmenter_gives_exactly_the_same_label_maps(facade, mosaics, tmp_path):
    train, new = mosaics
    for model in (facade, facade.estimator_):  # the facade in set scope and SetFeatureClustering itself
        before_new, before_train = model.predict(new), model.predict(train)
        loaded = load_model(model.save(tmp_path / f"{type(model).__name__}.safetensors"))
        assert type(loaded) is type(model) and _same_params(loaded, model)
        assert np.array_equal(loaded.predict(new), before_new)
        assert np.array_equal(loaded.predict(train), before_train)
    assert isinstance(loaded, SetFeatureClustering) and loaded.n_clusters_ == facade.n_clusters_ > 1
    assert model_info(tmp_path / "DeepFeatureClustering.safetensors")["kind"] == "segment"


def test_the_metadata_names_class_parameters_shapes_version_and_hash(fitted, tmp_path):
    path = fitted("scan").save(tmp_path / "scan.safetensors")
    with safetensors.safe_open(path, "pt") as fh:
        meta = fh.metadata()
    assert meta["format"] == "tutorial_lib.model" and meta["format_version"] == "1"
    assert meta["class"] == "tutorial_lib.cluster.scan.SCAN" and len(meta["sha256"]) == 64
    config = json.loads(meta["config"])
    assert config["params"]["on_epoch_end"] is None and config["dropped"] == ["on_epoch_end"]
    assert config["params"]["n_clusters"] == 4 and config["fitted"]["input_shape"] == [1, None, None]
    assert config["versions"]["tutorial_lib"] == tutorial_lib.__version__
    info = model_info(path)
    assert info["kind"] == "cluster" and info["format_version"] == 1 and info["extra"] == {}
    assert load_model(path).on_epoch_end is None
    extra = {"image_shape": [1, 8, 8], "classes": ["a", "b"]}
    assert model_info(save_model(fitted("scan"), path, extra=extra))["extra"] == extra
    with pytest.raises(TypeError, match="extra must hold JSON values"):
        save_model(fitted("scan"), tmp_path / "bad.safetensors", extra={"f": _on_epoch_end})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.safetensors"]


def test_loading_leaves_the_callers_random_state_and_can_move_to_another_device(fitted, digits, tmp_path):
    path = fitted("scan").save(tmp_path / "scan.safetensors")
    state = torch.get_rng_state()
    load_model(path)  # builds a network (random initial weights) before copying the saved ones in
    assert torch.equal(torch.get_rng_state(), state)
    model = DeepClusterPipeline("pca", n_clusters=4, seed=0, device="auto").fit(digits[0])
    loaded = load_model(model.save(tmp_path / "auto.safetensors"), device="cpu")
    assert loaded.device == loaded.feature_step_.device == loaded.clusterer_.device == "cpu"
    assert np.array_equal(loaded.predict(digits[1]), model.predict(digits[1]))


def test_load_model_is_exported_lazily_from_the_package():
    code = ("import sys, tutorial_lib\n"
            "assert 'torch' not in sys.modules, 'import tutorial_lib imported torch'\n"
            "import tutorial_lib.io\n"
            "assert tutorial_lib.load_model is tutorial_lib.io.load_model\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        tutorial_lib.nonexistent  # noqa: B018


# --- what cannot be saved ------------------------------------------------------------------------


def _fitted_tsne(digits, mosaics):
    return DeepClusterPipeline("tsne", n_clusters=4, seed=0, device="cpu").fit(digits[0][:60])


REFUSALS = {
    "tsne-pipeline": (_fitted_tsne, "t-SNE has no transform"),
    "tsne-unfitted": (lambda d, m: DeepClusterPipeline("tsne"), "t-SNE has no transform"),
    "kanezaki": (lambda d, m: DifferentiableFeatureClustering(max_iter=2, device="cpu")
                 .fit(m[1][0, :, :32, :32]), "new network on each image"),
    "otsu": (lambda d, m: OtsuThreshold().fit(m[1][0]), "each image on its own"),
    "kmeans_lab": (lambda d, m: ColourKMeans(), "each image on its own"),
    "slic_kmeans": (lambda d, m: SlicKMeans(), "each image on its own"),
    "felzenszwalb": (lambda d, m: Felzenszwalb(), "each image on its own"),
    "image-features": (lambda d, m: ImageFeatureClustering(), "each image is clustered on its own"),
    "facade-image-scope": (lambda d, m: DeepFeatureClustering(scope="image"), "each image is clustered"),
    "facade-fitted-image-scope": (
        lambda d, m: DeepFeatureClustering(scope="image", steps=3, n_superpixels=0, device="cpu")
        .fit(m[1][0, :, :32, :32]), "each image is clustered on its own"),
}


@pytest.mark.parametrize("name", list(REFUSALS))
def test_methods_that_cannot_label_new_images_refuse_to_be_saved(name, digits, mosaics, tmp_path):
    make, why = REFUSALS[name]
    model = make(digits, mosaics)
    path = tmp_path / "model.safetensors"
    with pytest.raises(UnsupportedModelError, match=why) as err:
        model.save(path)
    message = str(err.value)
    assert "cannot be saved" in message and ("instead" in message or "fit_predict" in message)
    assert not list(tmp_path.iterdir())  # nothing written, not even a temporary file


class _MyEstimator(Estimator):
    def __init__(self, k: int = 2):
        self.k = k


class _MyKMeans(KMeans):
    pass


def test_other_estimators_and_clusterers_are_refused(digits, tmp_path):
    from sklearn.cluster import MiniBatchKMeans

    other = DeepClusterPipeline("pca", clusterer=MiniBatchKMeans(3, n_init=1, random_state=0), seed=0)
    with pytest.raises(UnsupportedModelError, match="MiniBatchKMeans; only tutorial_lib's KMeans"):
        other.fit(digits[0]).save(tmp_path / "other.safetensors")
    with pytest.raises(UnsupportedModelError, match="_MyEstimator cannot be saved: tutorial_lib saves KMe"):
        _MyEstimator().save(tmp_path / "mine.safetensors")
    with pytest.raises(UnsupportedModelError, match="subclasses are not rebuilt"):
        _MyKMeans(3, n_init=1).fit(digits[0]).save(tmp_path / "sub.safetensors")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("make", [
    lambda: KMeans(3), lambda: DeepClusterPipeline("pca"), lambda: DeepClusterPipeline("autoencoder"),
    lambda: DEC(3), lambda: SCAN(3), lambda: SetFeatureClustering(), lambda: DeepFeatureClustering(),
    lambda: DeepFeatureClustering(scope="set"),
], ids=["kmeans", "pca", "autoencoder", "dec", "scan", "set", "facade-auto", "facade-set"])
def test_an_unfitted_estimator_raises_not_fitted(make, tmp_path):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        save_model(make(), tmp_path / "model.safetensors")
    assert not list(tmp_path.iterdir())


# --- damaged and foreign files -------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_file(fitted, tmp_path_factory):
    """A saved PCA pipeline (nested estimators, sklearn arrays, k-means tensors) and its bytes."""
    path = fitted("pca").save(tmp_path_factory.mktemp("good") / "pca.safetensors")
    return path, path.read_bytes()


def _refused(path, *words):
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    message = str(err.value)
    assert str(path) in message and any(w in message for w in words), message
    return message


def _spots(data: bytes) -> dict[str, int]:
    n = int.from_bytes(data[:8], "little")
    body = len(data) - 8 - n
    return {"length-low": 0, "length-high": 6, "header-start": 9, "header-third": 8 + n // 3,
            "header-middle": 8 + n // 2, "header-end": 8 + n - 1, "data-start": 8 + n,
            "data-middle": 8 + n + body // 2, "last": len(data) - 1}


SPOTS = ["length-low", "length-high", "header-start", "header-third", "header-middle", "header-end",
         "data-start", "data-middle", "last"]


@pytest.mark.parametrize("spot", SPOTS)
def test_a_flipped_byte_is_refused(spot, good_file, tmp_path, no_unpickling):
    data = bytearray(good_file[1])
    data[_spots(good_file[1])[spot]] ^= 0xFF
    path = tmp_path / "flipped.safetensors"
    path.write_bytes(bytes(data))
    _refused(path, "integrity check", "damaged", "not a tutorial_lib model", "truncated", "unexpected bytes")


def test_the_untouched_file_loads_without_unpickling(good_file, digits, fitted, no_unpickling):
    assert np.array_equal(load_model(good_file[0]).predict(digits[1]), fitted("pca").predict(digits[1]))


@pytest.mark.parametrize("keep", ["empty", "5", "8", "half-header", "header-only", "all-but-one"])
def test_a_truncated_file_is_refused(keep, good_file, tmp_path, no_unpickling):
    data = good_file[1]
    n = int.from_bytes(data[:8], "little")
    size = {"empty": 0, "5": 5, "8": 8, "half-header": 8 + n // 2, "header-only": 8 + n,
            "all-but-one": len(data) - 1}[keep]
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[:size])
    _refused(path, "truncated")


class _WritesAMarker:
    """Unpickling this would create the file ``marker``: proof that code from a file ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_foreign_files_are_refused_and_run_nothing(tmp_path, no_unpickling):
    from PIL import Image

    from tutorial_lib.checkpoint import save_checkpoint

    marker = tmp_path / "marker"
    png = tmp_path / "photo.safetensors"
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    _refused(png, "PNG image")
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(_WritesAMarker(marker), protocol=4))
    _refused(evil, "Python pickle")
    old_pickle = tmp_path / "evil0.safetensors"
    old_pickle.write_bytes(pickle.dumps(_WritesAMarker(marker), protocol=0))
    _refused(old_pickle, "no safetensors header")
    archive = tmp_path / "weights.pt"
    with open(archive, "wb") as fh:  # torch.save of an object that would run code when unpickled
        torch.serialization.save({"w": torch.ones(2), "x": _WritesAMarker(marker)}, fh)
    _refused(archive, "torch.save")
    _refused(save_checkpoint(tmp_path / "last.pt", {"epoch": 1}), "training checkpoint")
    plain = tmp_path / "plain.safetensors"
    safetensors.torch.save_file({"x": torch.ones(2)}, plain)
    _refused(plain, "not a tutorial_lib model")
    _refused(tmp_path, "a folder")
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match="no model file"):
        load_model(tmp_path / "missing.safetensors")


def _rewrite(good_file, tmp_path, edit, rehash: bool):
    """The good file with its metadata or tensors edited by ``edit(metadata, tensors)``; the hash
    recomputed (a consistent file) or kept (a tampered one)."""
    tensors = safetensors.torch.load(good_file[1])
    with safetensors.safe_open(good_file[0], "pt") as fh:
        metadata = dict(fh.metadata())
    edit(metadata, tensors)
    if rehash:
        metadata["sha256"] = model_io.content_hash(metadata, tensors)
    path = tmp_path / "edited.safetensors"
    path.write_bytes(safetensors.torch.save(tensors, metadata))
    return path


def _edit_config(change):
    def edit(metadata, tensors):
        config = json.loads(metadata["config"])
        change(config)
        metadata["config"], metadata["class"] = json.dumps(config), config["class"]
    return edit


def test_edited_content_fails_the_integrity_check(good_file, tmp_path):
    _refused(_rewrite(good_file, tmp_path, _edit_config(lambda c: c["params"].update(n_clusters=5)), False),
             "integrity check")

    def nudge(metadata, tensors):
        tensors["clusterer.cluster_centers"] = tensors["clusterer.cluster_centers"] + 1e-3

    _refused(_rewrite(good_file, tmp_path, nudge, False), "integrity check")


def test_consistent_files_this_version_cannot_rebuild_are_refused(good_file, tmp_path):
    def newer(metadata, tensors):
        metadata["format_version"] = "2"

    _refused(_rewrite(good_file, tmp_path, newer, True), "format version 2", "update tutorial_lib")
    other = _edit_config(lambda c: c.update({"class": "tutorial_lib.elsewhere.Thing"}))
    _refused(_rewrite(good_file, tmp_path, other, True), "tutorial_lib.elsewhere.Thing")
    assert "tutorial_lib.elsewhere" not in sys.modules  # nothing imported by the name the file gives
    bogus = _edit_config(lambda c: c["params"].update(bogus=1))
    _refused(_rewrite(good_file, tmp_path, bogus, True), "parameters ['bogus']")

    def drop_a_tensor(metadata, tensors):
        del tensors["clusterer.cluster_centers"]

    _refused(_rewrite(good_file, tmp_path, drop_a_tensor, True), "'clusterer.cluster_centers' is missing")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_model_saved_for_cuda_loads_on_the_cpu_when_asked(fitted, digits, tmp_path):
    path = fitted("scan").save(tmp_path / "scan.safetensors")
    on_cuda = _rewrite((path, path.read_bytes()), tmp_path,
                       _edit_config(lambda c: c["params"].update(device="cuda")), True)
    with pytest.raises(ValueError, match="CUDA is not available.*load_model\\(path, device='cpu'\\)"):
        load_model(on_cuda)
    loaded = load_model(on_cuda, device="cpu")
    assert loaded.device == "cpu"
    assert np.array_equal(loaded.predict(digits[1]), fitted("scan").predict(digits[1]))


# --- atomic writes -------------------------------------------------------------------------------


def test_saving_writes_a_temporary_file_in_the_same_folder_then_renames_it(fitted, tmp_path, monkeypatch):
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append((src, dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    path = fitted("kmeans").save(tmp_path / "sub" / "km.safetensors")
    (src, dst), = calls
    assert os.path.dirname(src) == os.path.dirname(dst) == str(tmp_path / "sub") and str(dst) == str(path)
    assert os.path.basename(src).startswith(".km.safetensors.") and src.endswith(".tmp")
    assert [p.name for p in path.parent.iterdir()] == ["km.safetensors"]


def test_a_failed_save_keeps_the_old_file_and_leaves_no_temporary(fitted, tmp_path, monkeypatch):
    path = fitted("kmeans").save(tmp_path / "km.safetensors")
    before = path.read_bytes()

    def disk_full(src, dst):
        raise OSError("no space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="no space left"):
        fitted("pca").save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["km.safetensors"]


def test_a_torch_device_parameter_is_saved_as_its_name(tmp_path):
    x = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    model = KMeans(3, device=torch.device("cpu")).fit(x)
    again = load_model(model.save(tmp_path / "km.safetensors"))
    assert again.device == "cpu" and (again.predict(x) == model.predict(x)).all()
