"""ONNX export and onnxruntime parity (tutorial_lib.scaling.onnx_export, notebook 06_scaling_up)."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from tutorial_lib import data
from tutorial_lib.base import InputError, NotFittedError
from tutorial_lib.cluster import SCAN
from tutorial_lib.scaling import OnnxModel, export_onnx, exportable, parity, time_inference
from tutorial_lib.scaling.onnx_export import EXPORT_BATCH, INSTALL_HINT
from tutorial_lib.segment import DeepFeatureClustering
from tutorial_lib.segment.base import relabel_consecutive


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return data.load("digits", limit=240).images


@pytest.fixture(scope="module")
def scan(digits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a tiny budget may warn of a collapse; the labels are what matter
        return SCAN(4, n_neighbors=3, init=None, steps=4, self_label_steps=2, batch_size=64, width=8,
                    seed=0, device="cpu").fit(digits)


@pytest.fixture(scope="module")
def scan_onnx(scan, tmp_path_factory):
    path = export_onnx(scan, tmp_path_factory.mktemp("onnx") / "scan.onnx", image_shape=(1, 8, 8))
    return path, OnnxModel(path)


@pytest.fixture(scope="module")
def mosaics() -> torch.Tensor:
    return data.load_segmentation("mosaic", n=3, size=48, seed=0).images  # fitted on two, the third is new


@pytest.fixture(scope="module")
def segmenter(mosaics):
    # No superpixel vote and no small-segment drop: predict is then exactly the network's nearest centre.
    return DeepFeatureClustering(scope="set", n_segments=3, steps=10, refine_steps=5, rounds=1,
                                 patch_batch=64, width=8, n_superpixels=0, min_share=0.0, seed=0,
                                 device="cpu").fit(mosaics[:2])


def test_scan_labels_are_identical_in_onnxruntime(scan, scan_onnx, digits):
    _, om = scan_onnx
    assert np.array_equal(om.predict(digits), scan.predict(digits))
    assert om.predict(digits).dtype == np.int64
    report = parity(scan, om, digits.numpy())  # an array works as well as a tensor
    assert report["label_agreement"] == 1.0 and report["n_labels"] == len(digits)
    assert report["max_abs_diff"] < 1e-4


def test_the_batch_axis_is_dynamic(scan, scan_onnx, digits):
    path, om = scan_onnx
    assert EXPORT_BATCH == 2  # traced with 2 images...
    assert onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[0].dim_param  # a named, free axis
    for n in (7, 1):  # ...runs on any number
        assert om.predict_logits(digits[:n]).shape == (n, 4)
        assert np.array_equal(om.predict(digits[:n]), scan.predict(digits[:n]))


def test_metadata_is_stored_in_the_file(scan_onnx):
    path, om = scan_onnx
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["class"] == "SCAN" and props["n_clusters"] == "4" and props["image_shape"] == "1,8,8"
    assert "argmax" in props["labels"] and props["torch"] == torch.__version__
    assert om.metadata == props and om.image_shape == (1, 8, 8) and om.n_clusters == 4
    assert "SCAN" in repr(om)


def test_wrong_input_shapes_are_refused_with_the_expected_shape(scan_onnx):
    _, om = scan_onnx
    with pytest.raises(InputError, match=r"exported for images of shape \(N, 1, 8, 8\).*\(3, 1, 9, 9\)"):
        om.predict(torch.rand(3, 1, 9, 9))
    with pytest.raises(InputError, match="image_shape=\\(3, 8, 8\\)"):
        om.predict(torch.rand(2, 3, 8, 8))
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        om.predict(torch.rand(1, 8, 8))


def test_segmentation_network_gives_the_segmenter_labels(segmenter, mosaics, tmp_path):
    path = export_onnx(segmenter, tmp_path / "seg.onnx")  # the image shape is the fitted images' one
    om = OnnxModel(path)
    assert om.image_shape == (1, 48, 48) and om.n_clusters == segmenter.n_clusters_ == 3
    assert om.metadata["class"] == "DeepFeatureClustering" and om.metadata["scope"] == "set"
    scores = om.predict_logits(mosaics)
    assert scores.shape == (3, 3, 48, 48)
    report = parity(segmenter, om, mosaics)
    assert report["label_agreement"] == 1.0 and report["n_labels"] == 3 * 48 * 48
    # Without the superpixel vote, predict is the nearest centre: the same maps, up to relabelling 0..K'-1.
    expected = segmenter.predict(mosaics)
    got = om.predict(mosaics)
    assert all(np.array_equal(relabel_consecutive(g), e) for g, e in zip(got, expected, strict=True))
    timing = time_inference(segmenter, om, mosaics, repeats=2)
    assert timing["torch_min_s"] > 0 and timing["onnx_min_s"] > 0 and timing["n_images"] == 3
    assert timing["onnx_threads"] == om.threads == torch.get_num_threads()


def test_a_plain_module_needs_its_image_shape(tmp_path):
    net = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(), nn.Conv2d(5, 4, 1))
    net.eval()
    with pytest.raises(InputError, match=r"needs image_shape=\(C, H, W\)"):
        export_onnx(net, tmp_path / "net.onnx")
    with pytest.raises(InputError, match="image_shape must be"):
        export_onnx(net, tmp_path / "net.onnx", image_shape=(8, 8))
    om = OnnxModel(export_onnx(net, tmp_path / "net.onnx", image_shape=(3, 6, 6)))
    assert om.n_clusters == 4 and om.metadata["class"] == "Sequential"
    x = torch.rand(5, 3, 6, 6)
    with torch.no_grad():
        assert np.array_equal(om.predict(x), net(x).argmax(1).numpy())
    assert not net.training and next(net.parameters()).device.type == "cpu"  # the user's module is untouched


def test_models_that_cannot_be_exported_say_why(tmp_path):
    with pytest.raises(NotFittedError):
        exportable(SCAN(3))
    with pytest.raises(TypeError, match="cannot export a str"):
        exportable("model")
    image_scope = DeepFeatureClustering(scope="image")
    image_scope.estimator_ = image_scope.variant("image")  # only the type matters for the refusal
    with pytest.raises(InputError, match="scope='set'"):
        exportable(image_scope)
    with pytest.raises(FileNotFoundError, match="export_onnx"):
        OnnxModel(tmp_path / "missing.onnx")


def test_a_missing_runtime_says_how_to_install_it(scan, scan_onnx, monkeypatch, tmp_path):
    path, _ = scan_onnx
    assert INSTALL_HINT == "pip install 'tutorial_lib[export]'"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    with pytest.raises(ImportError, match=r"'onnxruntime'.*pip install 'tutorial_lib\[export\]'"):
        OnnxModel(path)
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(ImportError, match=r"'onnxscript'.*pip install 'tutorial_lib\[export\]'"):
        export_onnx(scan, tmp_path / "never.onnx", image_shape=(1, 8, 8))
    assert not (tmp_path / "never.onnx").exists()


def test_the_module_imports_without_the_export_extra(monkeypatch):
    import importlib.util

    from tutorial_lib.scaling import onnx_export

    for name in ("onnx", "onnxruntime", "onnxscript"):
        monkeypatch.setitem(sys.modules, name, None)  # any `import onnx...` now raises ImportError
    # A fresh copy of the module's file, executed with the packages blocked: it must only import them lazily.
    spec = importlib.util.spec_from_file_location("tutorial_lib.scaling._onnx_probe", onnx_export.__file__)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # as an import does (dataclasses look it up)
    spec.loader.exec_module(module)
    assert callable(module.export_onnx) and callable(module.OnnxModel)
