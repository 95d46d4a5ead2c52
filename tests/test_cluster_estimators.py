"""The estimator contract of tutorial_lib.cluster: predict leaves fitted state alone, fit leaves the
caller's random state alone, the same seed gives the same labels, every registry entry fits with the
fast budgets of the evaluation layer, and the old names moved out of the package still resolve.
Then bad input (8-bit pixels), collapse, divergence, and an interrupted fit resumed exactly."""

from __future__ import annotations

import copy
import random
import subprocess
import sys
import warnings
from functools import partial

import numpy as np
import pytest
import torch

from tutorial_lib import cluster
from tutorial_lib.base import Estimator, InputError
from tutorial_lib.cluster import DEC, FEATURES, METHODS, SCAN, DeepClusterPipeline, KMeans
from tutorial_lib.evaluation import clustering as evaluation


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    x = load_digits().data[:120]
    return torch.tensor(x / 16).float().view(-1, 1, 8, 8)


def _tiny(name: str, seed: int = 0) -> Estimator:
    """Small, quick versions of each estimator."""
    if name == "kmeans":
        return KMeans(4, n_init=2, seed=seed, device="cpu")
    if name == "pipeline":
        return DeepClusterPipeline("pca", n_clusters=4, seed=seed, device="cpu")
    if name == "dec":
        return DEC(4, latent_dim=4, width=8, pretrain_epochs=2, epochs=2, seed=seed, device="cpu")
    return SCAN(4, n_neighbors=3, init="tsne", warm_steps=2, steps=4, self_label_steps=2, batch_size=64,
                width=8, seed=seed, device="cpu")


def _rng_states():
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _same_rng(a, b) -> bool:
    return (torch.equal(a[0], b[0]) and a[2] == b[2]
            and all(np.array_equal(x, y) for x, y in zip(a[1], b[1], strict=True)))


def _weights(est) -> dict:
    model = getattr(est, "model_", None)
    return {k: v.detach().clone() for k, v in model.state_dict().items()} if model is not None else {}


NAMES = ["kmeans", "pipeline", "dec", "scan"]


@pytest.mark.parametrize("name", NAMES)
def test_fit_leaves_the_callers_random_state_alone(name, digits):
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)
    before = _rng_states()
    _tiny(name).fit(digits)
    assert _same_rng(before, _rng_states())


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_labels_and_numpy_int64(name, digits):
    torch.manual_seed(1)  # the caller's state must not matter either
    a = _tiny(name).fit(digits)
    torch.manual_seed(2)
    b = _tiny(name).fit(digits.numpy())  # arrays are accepted as well as tensors
    for labels in (a.labels_, a.fit_predict(digits), a.predict(digits)):
        assert isinstance(labels, np.ndarray) and labels.dtype == np.int64 and labels.shape == (len(digits),)
    assert np.array_equal(a.labels_, b.labels_)
    for key, value in _weights(a).items():
        assert torch.equal(value, _weights(b)[key]), key


@pytest.mark.parametrize("name", ["dec", "scan"])
def test_another_seed_gives_another_network(name, digits):
    a, b = _tiny(name, seed=0).fit(digits), _tiny(name, seed=1).fit(digits)
    assert any(not torch.equal(v, _weights(b)[k]) for k, v in _weights(a).items())


@pytest.mark.parametrize("name", NAMES)
def test_predict_does_not_change_fitted_state(name, digits):
    est = _tiny(name).fit(digits[:80])
    labels, weights = est.labels_.copy(), _weights(est)
    fitted = {k: copy.deepcopy(v) for k, v in vars(est).items()
              if k.endswith("_") and isinstance(v, (np.ndarray, torch.Tensor, int, float))}
    other = digits[80:]
    first = est.predict(other)
    assert first.shape == (len(other),)
    assert np.array_equal(est.predict(other), first)  # and predicting twice gives the same answer
    assert np.array_equal(est.labels_, labels)
    for key, value in _weights(est).items():
        assert torch.equal(value, weights[key]), key
    for key, value in fitted.items():
        now = getattr(est, key)
        same = torch.equal(now, value) if isinstance(value, torch.Tensor) else np.array_equal(now, value)
        assert same, key


def test_estimators_share_the_base_and_its_repr():
    for est in (KMeans(), DeepClusterPipeline(), DEC(), SCAN(), *(cls() for cls in FEATURES.values())):
        assert isinstance(est, Estimator)
        assert {"seed", "device", "progress"} <= set(est.get_params())
    assert repr(SCAN(steps=5, seed=2)) == "SCAN(steps=5, seed=2)"
    assert repr(KMeans()) == "KMeans()"
    with pytest.raises(ValueError, match="no parameter"):
        SCAN().set_params(nope=1)


def test_budgets_are_constructor_parameters():
    # the non-fast defaults of the former runtime.pick(default, fast) calls
    assert (DEC().pretrain_steps, DEC().pretrain_min_epochs, DEC().pretrain_max_epochs) == (800, 15, 100)
    assert (DEC().steps, DEC().min_epochs, DEC().max_epochs) == (500, 5, 60)
    ae = cluster.AutoencoderFeatures()
    assert (ae.steps, ae.min_epochs, ae.max_epochs) == (800, 15, 100)
    assert (SCAN().warm_steps, SCAN().steps, SCAN().self_label_steps) == (60, 600, 200)
    # SCAN's budgets are steps, converted to whole epochs for the data size (1 to 200, 0 for none)
    assert cluster.scan.stage_epochs(1000, 256, 600) == 150
    assert cluster.scan.stage_epochs(60, 256, 600) == 200
    assert cluster.scan.stage_epochs(1000, 256, 0) == 0


def test_kmeans_takes_any_finite_features():
    x = torch.cat([torch.randn(30, 3) * 1e4 - 5e4, torch.randn(30, 3) * 1e4 + 5e4])
    labels = KMeans(2, seed=0, device="cpu").fit_predict(x.numpy().astype(np.float64))
    assert sorted(np.bincount(labels).tolist()) == [30, 30]


def test_scan_checks_images():
    with pytest.raises(ValueError, match="N, C, H, W"):
        SCAN(2).fit(torch.rand(10, 8, 8))
    with pytest.raises(ValueError, match="at least 2"):
        SCAN(1).fit(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="init"):
        SCAN(2, init="random").fit(torch.rand(10, 1, 8, 8))


def test_dec_does_not_train_the_autoencoder_it_is_given(digits):
    from tutorial_lib.features import train_autoencoder

    ae, _ = train_autoencoder(digits, latent_dim=4, width=8, epochs=1, batch_size=64, device="cpu",
                              progress=False)
    weights = copy.deepcopy(ae.state_dict())
    est = DEC(4, epochs=2, autoencoder=ae, seed=0, device="cpu").fit(digits)
    assert est.pretrain_history_ is None and est.autoencoder_ is not ae
    assert all(torch.equal(v, ae.state_dict()[k]) for k, v in weights.items())


def test_registry_is_plain_and_every_entry_fits_with_fast_budgets(digits):
    assert list(METHODS) == ["kmeans", "pca-kmeans", "umap-kmeans", "n2d", "tsne-kmeans", "dec", "scan"]
    assert cluster.DEFAULT_METHOD == "scan" and cluster.DEFAULT_N_CLUSTERS == 10
    assert all(isinstance(v, (type, partial)) for v in METHODS.values())
    assert set(evaluation.FAST_PARAMS) == set(METHODS)
    images = digits[:60]
    for name in METHODS:
        est = evaluation.make_estimator(name, n_clusters=4, seed=0, device="cpu", fast=True)
        labels = est.fit_predict(images)
        assert labels.dtype == np.int64 and labels.shape == (60,) and labels.max() < 4, name
        direct = METHODS[name](n_clusters=4, seed=0, device="cpu", progress=False,
                               **evaluation.FAST_PARAMS[name])
        assert repr(direct) == repr(est), name


def test_fast_budgets_are_the_former_fast_mode_ones():
    scan = evaluation.make_estimator("scan", fast=True)
    # fast mode used max(steps // 20, 1) of the defaults 60 / 600 / 200
    assert (scan.warm_steps, scan.steps, scan.self_label_steps) == (3, 30, 10)
    dec = evaluation.make_estimator("dec", fast=True)
    assert (dec.pretrain_steps, dec.pretrain_min_epochs, dec.pretrain_max_epochs) == (40, 2, 5)
    assert (dec.steps, dec.min_epochs, dec.max_epochs) == (20, 2, 5)
    # explicit parameters win over the fast budgets; fast=False keeps the defaults
    assert evaluation.make_estimator("scan", fast=True, steps=7).steps == 7
    assert evaluation.make_estimator("scan").steps == 600


def test_moved_names_resolve_with_a_deprecation_warning():
    for name in ("evaluate", "load_for_clustering", "make_estimator", "TEST_SPLIT_SETS"):
        with pytest.warns(DeprecationWarning, match="tutorial_lib.evaluation.clustering"):
            value = getattr(cluster, name)
        assert value is getattr(evaluation, name)
    with pytest.warns(DeprecationWarning, match="tutorial_lib.evaluation.clustering"):
        from tutorial_lib.cluster import evaluate
    assert evaluate is evaluation.evaluate
    with pytest.raises(AttributeError, match="nope"):
        cluster.nope  # noqa: B018
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # names that did not move give no warning
        assert cluster.SCAN is SCAN


def test_train_scan_shim_points_to_widgets():
    widgets = pytest.importorskip("tutorial_lib.widgets")
    with pytest.warns(DeprecationWarning, match="tutorial_lib.widgets"):
        train_scan = cluster.train_scan
    assert train_scan is widgets.train_scan


def test_importing_the_package_loads_no_evaluation_layer_or_widgets():
    code = ("import sys, tutorial_lib.cluster; "
            "print(sorted(m for m in sys.modules if m.startswith(('tutorial_lib.evaluation', "
            "'tutorial_lib.widgets', 'tutorial_lib.viz', 'tutorial_lib.bench'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- bad input, collapse, interruption ---------------------------------------------------------

def _trainers(images, **options):
    """One quick call of each method that trains on images, as ``name -> callable``."""
    from tutorial_lib.features import train_autoencoder, train_simclr

    small = dict(device="cpu", progress=False, **options)
    return {
        "SCAN": lambda: _tiny("scan").set_params(**options).fit(images),
        "DEC": lambda: _tiny("dec").set_params(**options).fit(images),
        "AutoencoderFeatures": lambda: cluster.AutoencoderFeatures(
            latent_dim=4, width=8, epochs=1, **small).fit_transform(images),
        "train_autoencoder": lambda: train_autoencoder(images, latent_dim=4, width=8, epochs=1, **small),
        "train_simclr": lambda: train_simclr(images, width=8, depth=2, epochs=1, batch_size=64, **small),
    }


@pytest.mark.parametrize("name", ["SCAN", "DEC", "AutoencoderFeatures", "train_autoencoder", "train_simclr"])
def test_methods_that_train_on_images_refuse_8bit_values(name, digits):
    said = r"values in \[0, 255\].*divide 8-bit images by 255.*standardized=True"
    with pytest.raises(InputError, match=said):
        _trainers(digits * 255)[name]()


@pytest.mark.parametrize("name", ["SCAN", "AutoencoderFeatures", "train_simclr"])
def test_standardized_data_is_accepted_when_said_so(name, digits):
    z = (digits - digits.mean()) / digits.std()  # values from -0.8 to 3.1
    with pytest.raises(InputError, match="standardized=True"):
        _trainers(z)[name]()
    assert _trainers(z, standardized=True)[name]() is not None


def test_clustering_features_accepts_any_finite_values(digits):
    labels = DeepClusterPipeline("pca", n_clusters=4, seed=0, device="cpu").fit_predict(digits * 255)
    assert labels.shape == (len(digits),) and len(np.unique(labels)) == 4


def test_a_collapsed_fit_warns_with_what_to_change(digits):
    from sklearn.cluster import AgglomerativeClustering

    # Single linkage on pixels: the two blank images are clusters of their own, all the digits the third.
    images = torch.cat([digits[:60], torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8)])
    pipe = DeepClusterPipeline("pixels", clusterer=AgglomerativeClustering(3, linkage="single"), n_clusters=3)
    said = r"put 60 of the 62 images \(97%\) in one of its 3 clusters.*outliers"
    with pytest.warns(UserWarning, match=said):
        pipe.fit(images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a healthy fit says nothing
        DeepClusterPipeline("pca", n_clusters=4, seed=0, device="cpu").fit(digits)


@pytest.fixture(scope="module")
def digits300():
    from tutorial_lib.data import load

    return load("digits", limit=300, seed=0).images


def test_scan_with_a_huge_learning_rate_diverges_or_warns(digits300):
    from tutorial_lib.train import TrainingDiverged

    est = evaluation.make_estimator("scan", seed=0, device="cpu", fast=True, lr=1e6, self_label_lr=1e6)
    try:
        with pytest.warns(UserWarning, match=r"collapsed.*lower lr \(now 1e\+06\)"):
            est.fit(digits300)
    except TrainingDiverged as err:
        assert "lower the learning rate" in str(err)


class _InterruptAt:
    """An augmentation that raises KeyboardInterrupt at its ``at``-th call (as Ctrl-C would there)."""

    def __init__(self, augment, at: int | None = None):
        self.augment, self.at, self.calls = augment, at, 0

    @property
    def generator(self):  # re-seeded at each step by the method, as the wrapped one is
        return self.augment.generator

    def __call__(self, x):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.augment(x)


def _resumable_scan(images, augment, folder, resume=False, on_epoch_end=None):
    return SCAN(4, n_neighbors=3, warm_steps=2, steps=8, self_label_steps=4, batch_size=64, width=8, lr=1e-2,
                overcluster=1,  # the checkpoint layout of one fit: checkpoint_dir/<stage>
                augment=augment, on_epoch_end=on_epoch_end, checkpoint_dir=folder, resume=resume, seed=0,
                device="cpu").fit(images)


@pytest.mark.parametrize("stage", ["scan", "self_label"])
def test_scan_interrupted_then_resumed_gives_the_uninterrupted_labels(stage, digits, tmp_path):
    from tutorial_lib.cluster.scan_losses import scan_augment
    from tutorial_lib.train import TrainingInterrupted

    counter, seen = _InterruptAt(scan_augment(digits)), []
    full = _resumable_scan(digits, counter, tmp_path / "full",
                           on_epoch_end=lambda e, m, h: seen.append(counter.calls) if e == 0 else None)
    # Stage 3 draws two views per step, two steps per epoch: its epoch 2, second batch; or the last step.
    at = seen[0] + 3 if stage == "scan" else counter.calls
    with pytest.raises(TrainingInterrupted):
        _resumable_scan(digits, _InterruptAt(scan_augment(digits), at), tmp_path / "run")
    assert all((tmp_path / "run" / done / "last.pt").exists() for done in ("warm", "scan"))
    resumed = _resumable_scan(digits, _InterruptAt(scan_augment(digits)), tmp_path / "run", resume=True)
    assert len(np.unique(full.labels_)) > 1  # a fit that did not collapse: its labels say something
    assert np.array_equal(resumed.labels_, full.labels_)
    assert all(torch.equal(v, _weights(full)[k]) for k, v in _weights(resumed).items())
    assert resumed.history_[stage].losses == full.history_[stage].losses


@pytest.mark.parametrize("stage", ["autoencoder", "dec"])
def test_dec_interrupted_then_resumed_gives_the_uninterrupted_labels(stage, digits, tmp_path, monkeypatch):
    from tutorial_lib import features
    from tutorial_lib.cluster import dec as dec_module
    from tutorial_lib.train import TrainingInterrupted

    module, name = (features, "reconstruction_step") if stage == "autoencoder" else (dec_module, "dec_loss")
    real, calls = getattr(module, name), {"n": 0, "at": None}

    def counted(*args):
        calls["n"] += 1
        if calls["n"] == calls["at"]:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(module, name, counted)

    def fit(folder, resume=False):
        return DEC(4, latent_dim=4, width=8, pretrain_epochs=3, epochs=4, batch_size=64,
                   checkpoint_dir=folder, resume=resume, seed=0, device="cpu").fit(digits)

    full = fit(tmp_path / "full")
    calls.update(n=0, at=calls["n"] - 2)  # two batches before the end of the stage
    with pytest.raises(TrainingInterrupted):
        fit(tmp_path / "run")
    calls.update(n=0, at=None)
    resumed = fit(tmp_path / "run", resume=True)
    assert np.array_equal(resumed.labels_, full.labels_)
    assert all(torch.equal(v, _weights(full)[k]) for k, v in _weights(resumed).items())
    assert resumed.history_.losses == full.history_.losses


def test_dec_that_converged_is_loaded_on_resume_not_trained_further(digits, tmp_path):
    def fit(resume):
        return DEC(4, latent_dim=4, width=8, pretrain_epochs=2, epochs=20, batch_size=64, tol=0.9,
                   checkpoint_dir=tmp_path, resume=resume, seed=0, device="cpu").fit(digits)

    first = fit(resume=False)
    assert first.history_.stopped_early and len(first.history_) < 20  # converged: StopTraining
    again = fit(resume=True)
    assert again.history_.losses == first.history_.losses
    assert np.array_equal(again.labels_, first.labels_)
