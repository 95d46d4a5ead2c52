"""Hypercolumns as the per-pixel features of the deep segmenters (PatchNet.hypercolumns,
FeatureNet.hypercolumns, ``hypercolumns=`` of SetFeatureClustering, ImageFeatureClustering and the
DeepFeatureClustering facade): shapes at any size, per-stage normalisation, the fit, and the saved
set-scope model round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tutorial_lib import data
from tutorial_lib.io import load_model
from tutorial_lib.metrics import segmentation_scores
from tutorial_lib.segment import (
    DeepFeatureClustering,
    FeatureNet,
    ImageFeatureClustering,
    PatchNet,
    SetFeatureClustering,
)

TINY = {"steps": 10, "refine_steps": 5, "rounds": 1, "patch": 16, "window": 8, "texture_sigma": 3.0,
        "n_superpixels": 0, "seed": 0, "device": "cpu"}
"""Budgets that fit a set segmenter on two 48-pixel mosaics in a second or two."""


def _check_stage_norms(h: torch.Tensor, widths: list[int]) -> None:
    """Each stage's block of the hypercolumns ``h`` (N, D, H, W) has length 1/sqrt(S) (every stage weighs
    the same, the whole vector has length 1), or 0 where all of a stage's ReLUs are off at a pixel."""
    edges = np.cumsum([0, *widths])
    assert edges[-1] == h.shape[1]
    scale = len(widths) ** -0.5
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        norms = h[:, lo:hi].norm(dim=1)
        on = norms > 1e-6
        assert float(on.float().mean()) > 0.5  # mostly lit: the check below is not vacuous
        assert torch.allclose(norms[on], torch.full_like(norms[on], scale), atol=1e-5)


@pytest.mark.parametrize("size", [(32, 32), (30, 22)])
def test_patchnet_hypercolumns_have_every_stage_at_the_image_size(size):
    torch.manual_seed(0)
    net = PatchNet(1, 4, width=8).eval()
    x = torch.randn(2, 1, *size)
    with torch.no_grad():
        maps = net.stage_maps(x)
        h = net.hypercolumns(x, window=8)
        dense = net.dense(x, window=8)
    assert [m.shape[1] for m in maps] == [8, 16, 16]
    assert [m.shape[-1] for m in maps] == [size[1], size[1] // 2, size[1] // 4]
    assert h.shape == (2, 5 * 8, *size) and dense.shape == (2, 16, *size)
    _check_stage_norms(h, [8, 16, 16])
    # The last stage's block is the plain dense feature (same window, same normalisation), scaled.
    assert torch.allclose(h[:, 24:] * 3 ** 0.5, dense, atol=1e-5)
    assert not torch.allclose(h[:, :8], torch.zeros_like(h[:, :8]))


def test_featurenet_hypercolumns_add_the_first_two_blocks():
    torch.manual_seed(0)
    net = FeatureNet(5, 3, width=8, embed_dim=4).eval()
    x = torch.randn(1, 5, 20, 17)
    with torch.no_grad():
        h, emb = net.hypercolumns(x), net.embed(x)
    assert h.shape == (1, 2 * 8 + 4, 20, 17)
    _check_stage_norms(h, [8, 8, 4])
    assert torch.allclose(h[:, 16:] * 3 ** 0.5, emb, atol=1e-5)


@pytest.fixture(scope="module")
def mosaics():
    images = data.load_segmentation("mosaic", n=3, size=48, seed=0).images
    return images[:2], images[2:]


@pytest.fixture(scope="module")
def fitted(mosaics):
    return SetFeatureClustering(hypercolumns=True, **TINY).fit(mosaics[0])


def test_set_segmenter_clusters_hypercolumns(fitted, mosaics):
    train, new = mosaics
    assert fitted.get_params()["hypercolumns"] is True
    assert fitted.labels_.shape == (2, 48, 48) and fitted.n_clusters_ >= 2
    feats = fitted._new_features(new[0].numpy().transpose(1, 2, 0))
    assert feats.shape == (48, 48, 5 * fitted.width)
    assert fitted.kmeans_.cluster_centers_.shape[1] == 5 * fitted.width
    assert fitted.predict(new).shape == (1, 48, 48)


def test_hypercolumns_change_the_features_not_the_network(fitted, mosaics):
    plain = SetFeatureClustering(hypercolumns=False, **TINY).fit(mosaics[0])
    # Same seed, same network and training up to the first clustering: the first round's weights match.
    assert plain.histories_[0].losses == fitted.histories_[0].losses
    assert plain.kmeans_.cluster_centers_.shape[1] == 2 * plain.width


def test_a_saved_hypercolumn_set_segmenter_loads_with_the_same_labels(fitted, mosaics, tmp_path):
    train, new = mosaics
    before = fitted.predict(new)
    loaded = load_model(fitted.save(tmp_path / "set.safetensors"))
    assert isinstance(loaded, SetFeatureClustering) and loaded.hypercolumns is True
    assert np.array_equal(loaded.predict(new), before)
    assert np.array_equal(loaded.predict(train), fitted.predict(train))


def test_the_facade_passes_hypercolumns_to_both_variants(mosaics, tmp_path):
    facade = DeepFeatureClustering(scope="set", hypercolumns=True, **TINY)
    assert facade.variant("set").hypercolumns is True and facade.variant("image").hypercolumns is True
    assert DeepFeatureClustering().variant("set").hypercolumns is False  # off by default
    facade.fit(mosaics[0])
    assert facade.kmeans_.cluster_centers_.shape[1] == 5 * facade.width
    loaded = load_model(facade.save(tmp_path / "facade.safetensors"))
    assert loaded.hypercolumns is True and loaded.estimator_.hypercolumns is True
    assert np.array_equal(loaded.predict(mosaics[1]), facade.predict(mosaics[1]))


def test_image_segmenter_with_hypercolumns_segments_flat_regions():
    rng = np.random.default_rng(0)
    gt = np.repeat(np.arange(3), 16)[None, :].repeat(48, 0)
    colours = np.array([[0.8, 0.2, 0.2], [0.2, 0.7, 0.3], [0.2, 0.3, 0.9]])
    image = torch.from_numpy(np.clip(colours[gt] + rng.normal(0, 0.03, (48, 48, 3)), 0, 1)
                             .transpose(2, 0, 1)).float()
    seg = ImageFeatureClustering(hypercolumns=True, steps=10, crop=32, width=8, embed_dim=4,
                                 texture_sigma=3.0, n_superpixels=0, seed=0, device="cpu")
    labels = seg.fit_predict(image)
    assert labels.shape == (48, 48)
    feats = seg._new_features(image.numpy().transpose(1, 2, 0))
    # Colour (3) and whitened texture descriptors, then the hypercolumn (2 * width + embed_dim).
    assert feats.shape == (48, 48, 3 + seg.pca_.n_components_ + 2 * 8 + 4)
    assert segmentation_scores(labels, gt)["miou"] >= 0.9


@pytest.mark.parametrize("cls", [SetFeatureClustering, ImageFeatureClustering])
def test_hypercolumns_must_be_a_bool(cls, mosaics):
    params = ({**TINY, "rounds": 0} if cls is SetFeatureClustering
              else {"steps": 2, "n_pseudo": 2, "n_superpixels": 0, "device": "cpu"})
    with pytest.raises(TypeError, match="hypercolumns must be True or False"):
        cls(hypercolumns="yes", **params).fit(mosaics[0])
