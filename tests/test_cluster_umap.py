"""The UMAP baselines (umap-kmeans, n2d): they beat chance by a stated margin on blobs and on 500 digits,
are seeded, give a confidence per image, label new images, and refuse to be saved with the reason.

Measured with the fast budgets (``FAST_PARAMS``) on the first 500 of the stratified digits (seeds 0, 1):
umap-kmeans 0.856 and 0.856, n2d 0.538 and 0.494 (its autoencoder gets 10 steps); chance is about 0.1.
On 300 blobs (4 centres in 16 dimensions) both reach 1.0 (chance 0.25).
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

from tutorial_lib import data
from tutorial_lib.base import NotFittedError
from tutorial_lib.cluster import METHODS, GaussianMixtureClusterer, UMAPFeatures, UMAPPipeline
from tutorial_lib.evaluation import clustering as evaluation
from tutorial_lib.io import UnsupportedModelError
from tutorial_lib.metrics import clustering_scores

# UMAP compiles its numba kernels on first use in a process: about 15 s (45 s on 2 busy cores).
pytestmark = pytest.mark.slow

DIGITS_MARGIN = {"umap-kmeans": 0.70, "n2d": 0.35}
"""Accuracy each method must beat on 500 digits (fast budgets; measured 0.856 and 0.49-0.54)."""


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", limit=500, seed=0)


@pytest.fixture(scope="module")
def fitted(digits):
    """Each UMAP method fitted once on the 500 digits, with the global random state around the fit."""
    out = {}
    for name in ("umap-kmeans", "n2d"):
        before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
        est = evaluation.make_estimator(name, n_clusters=10, seed=0, device="cpu", fast=True)
        labels = est.fit_predict(digits.images)
        after = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
        out[name] = (est, labels, before, after)
    return out


def blobs(n: int = 300, centres: int = 4):
    x, y = make_blobs(n, n_features=16, centers=centres, cluster_std=2.0, random_state=0)
    x = (x - x.min()) / (x.max() - x.min())  # images in [0, 1], as the autoencoder wants them
    return torch.tensor(x, dtype=torch.float32).view(-1, 1, 4, 4), y


@pytest.mark.parametrize("name", ["umap-kmeans", "n2d"])
def test_beats_chance_on_blobs(name):
    images, y = blobs()
    est = evaluation.make_estimator(name, n_clusters=4, seed=0, device="cpu", fast=True)
    labels = est.fit_predict(images)
    assert labels.dtype == np.int64 and labels.shape == (300,)
    assert clustering_scores(y, labels)["acc"] > 0.9  # chance: 0.25


@pytest.mark.parametrize("name", ["umap-kmeans", "n2d"])
def test_beats_chance_on_500_digits(fitted, digits, name):
    est, labels, before, after = fitted[name]
    scores = clustering_scores(digits.labels.numpy(), labels)
    assert scores["acc"] > DIGITS_MARGIN[name], scores
    assert labels.max() < 10 and len(np.unique(labels)) >= 8
    assert est.features_.shape == (500, 10)  # the UMAP map, n_components = n_clusters
    assert torch.equal(before[0], after[0]) and np.array_equal(before[1], after[1]) and before[2] == after[2]


def test_n2d_is_an_autoencoder_then_umap_then_a_gaussian_mixture(fitted):
    est = fitted["n2d"][0]
    step = est.feature_step_
    assert isinstance(step, UMAPFeatures) and isinstance(est.clusterer_, GaussianMixtureClusterer)
    assert type(step.feature_step_).__name__ == "AutoencoderFeatures"
    assert step.feature_step_.autoencoder_.latent_dim == 10  # max(n_clusters, 10)
    assert (step.umap_.n_neighbors, step.umap_.min_dist, step.umap_.n_components) == (20, 0.0, 10)
    assert est.pretrain_steps == 40 and step.umap_.n_epochs == 100  # the fast budgets were passed
    umap_kmeans = fitted["umap-kmeans"][0]
    assert umap_kmeans.feature_step_.umap_.n_neighbors == 30
    assert type(umap_kmeans.clusterer_).__name__ == "KMeans"


def test_confidence_is_the_mixture_probability_for_n2d_and_the_margin_for_umap_kmeans(fitted, digits):
    n2d, labels, *_ = fitted["n2d"]
    assert hasattr(n2d, "predict_proba") and not hasattr(fitted["umap-kmeans"][0], "predict_proba")
    proba = n2d.predict_proba(digits.images)
    assert proba.shape == (500, 10) and torch.allclose(proba.sum(1), torch.ones(500), atol=1e-5)
    assert np.array_equal(proba.argmax(1).numpy(), labels)  # the training images keep their place on the map
    for name in ("umap-kmeans", "n2d"):
        est, labels, *_ = fitted[name]
        clusters, confidence = evaluation.assign(est, digits.images, labels, est.features_)
        assert np.array_equal(clusters, labels)
        assert np.isfinite(confidence).all() and confidence.min() >= 0 and confidence.max() <= 1, name
        assert confidence.mean() > 0.3, name  # most images sit well inside their cluster
    clusters, confidence = evaluation.assign(n2d, digits.images, labels)
    assert np.allclose(confidence, proba.gather(1, torch.as_tensor(labels)[:, None])[:, 0].numpy())


def test_predict_labels_new_images_without_changing_the_model(fitted, digits):
    others = data.load("digits").images[-120:]  # the last 120 digits, most of them not among the 500
    for name in ("umap-kmeans", "n2d"):
        est, labels, *_ = fitted[name]
        embedding = est.features_.clone()
        assert np.array_equal(est.predict(digits.images), labels), name
        new = est.predict(others)
        assert new.shape == (120,) and new.dtype == np.int64 and new.max() < 10
        assert torch.equal(est.features_, embedding) and np.array_equal(est.labels_, labels)


def test_same_seed_same_labels_and_another_seed_runs():
    images = data.load("digits", limit=200, seed=1).images
    a = UMAPPipeline(n_clusters=10, n_epochs=50, seed=3, device="cpu").fit_predict(images)
    b = UMAPPipeline(n_clusters=10, n_epochs=50, seed=3, device="cpu").fit_predict(images)
    assert np.array_equal(a, b)


def test_gaussian_mixture_clusterer_on_blobs():
    x, y = make_blobs(200, n_features=3, centers=3, random_state=1)
    gmm = GaussianMixtureClusterer(3, seed=0).fit(x)
    assert clustering_scores(y, gmm.labels_)["acc"] == 1.0
    proba = gmm.predict_proba(torch.tensor(x))
    assert proba.dtype == torch.float32 and torch.allclose(proba.sum(1), torch.ones(200), atol=1e-5)
    assert np.array_equal(gmm.predict(x), gmm.labels_) and gmm.means_.shape == (3, 3)
    with pytest.raises(ValueError, match="more than the 200 samples"):
        GaussianMixtureClusterer(201).fit(x)


def test_bad_settings_and_tiny_sets_are_refused():
    images = torch.rand(20, 1, 4, 4)
    with pytest.raises(ValueError, match="maps features"):
        UMAPPipeline("tsne").fit(images)
    with pytest.raises(ValueError, match="clusters with"):
        UMAPPipeline(clusterer="dbscan").fit(images)
    with pytest.raises(ValueError, match="at least 4 images"):
        UMAPFeatures().fit_transform(images[:3])
    with pytest.raises(NotFittedError):
        UMAPPipeline().predict(images)
    with pytest.raises(NotFittedError):
        UMAPPipeline(clusterer="gmm").predict_proba(images)


def test_they_cannot_be_saved_and_say_why(fitted, tmp_path, capsys):
    from tutorial_lib.__main__ import main

    for name in ("umap-kmeans", "n2d"):
        with pytest.raises(UnsupportedModelError, match="without pickle"):
            fitted[name][0].save(tmp_path / "model.safetensors")
    assert not (tmp_path / "model.safetensors").exists()
    code = main(["cluster", "--data", "digits", "--method", "n2d", "--save-model", str(tmp_path / "m.st")])
    assert code == 2 and "without pickle" in capsys.readouterr().err  # refused before any training
    assert not (tmp_path / "m.st").exists()


def test_registry_and_fast_budgets():
    names = list(METHODS)
    assert names[:4] == ["kmeans", "pca-kmeans", "umap-kmeans", "n2d"]
    assert {"umap-kmeans", "n2d"} <= set(evaluation.FAST_PARAMS)
    full = evaluation.make_estimator("n2d")
    assert (full.features, full.clusterer, full.pretrain_steps, full.n_epochs) == ("autoencoder", "gmm", 800,
                                                                                   None)
    assert evaluation.make_estimator("n2d", fast=True, pretrain_steps=7).pretrain_steps == 7
