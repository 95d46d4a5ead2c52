"""Tests of tutorial_lib.cluster: k-means against scikit-learn, the DEC and SCAN losses on hand-made
inputs, estimator shapes and seeding on tiny sets; evaluation.clustering's evaluate() and the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from tutorial_lib import cluster, metrics
from tutorial_lib.base import InputError, NotFittedError
from tutorial_lib.cluster import (
    DEC,
    SCAN,
    DeepClusterPipeline,
    KMeans,
    dec_loss,
    equipartition,
    kmeans_plusplus,
    lloyd,
    mine_neighbors,
    scan_encoder,
    scan_loss,
    self_label_loss,
    soft_assignment,
    target_distribution,
)
from tutorial_lib.evaluation.clustering import evaluate, load_for_clustering, make_estimator

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def tiny_digits():
    from tutorial_lib.data import load

    ds = load("digits", limit=120, seed=0)
    return ds.images, ds.labels


# --- k-means -----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_kmeans_matches_sklearn_on_blobs(seed):
    x, _ = make_blobs(n_samples=600, centers=5, n_features=6, cluster_std=1.5, random_state=seed)
    ours = KMeans(5, n_init=10, seed=seed, device="cpu").fit(torch.from_numpy(x))
    ref = SkKMeans(5, n_init=10, random_state=seed).fit(x)
    assert adjusted_rand_score(ref.labels_, ours.labels_) == pytest.approx(1.0)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-4)
    # the centres are the same up to the order of the clusters
    d = np.linalg.norm(ours.cluster_centers_.numpy()[:, None] - ref.cluster_centers_[None], axis=2)
    assert d.min(1).max() < 1e-3


def test_kmeans_seeded_and_shapes():
    x = torch.randn(200, 3)
    a = KMeans(4, n_init=2, seed=3, device="cpu").fit(x)
    b = KMeans(4, n_init=2, seed=3, device="cpu").fit(x.numpy())
    assert np.array_equal(a.labels_, b.labels_) and a.inertia_ == b.inertia_
    assert isinstance(a.labels_, np.ndarray) and a.labels_.dtype == np.int64 and a.labels_.shape == (200,)
    assert a.cluster_centers_.shape == (4, 3)
    assert a.transform(x[:5]).shape == (5, 4)
    assert np.array_equal(a.predict(x), a.labels_) and a.predict(x).dtype == np.int64
    assert np.array_equal(KMeans(4, n_init=2, seed=3, device="cpu").fit_predict(x), a.labels_)


def test_kmeans_reseeds_empty_clusters():
    x = torch.tensor([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]])
    start = torch.tensor([[0.1], [10.1], [1000.0]])  # the third centre attracts no point
    centers, labels, _, _ = lloyd(x, start, max_iter=50, tol=0.0)
    assert torch.bincount(labels, minlength=3).min() >= 1
    assert centers[:, 0].max() < 100


def test_kmeans_plusplus_picks_distinct_rows():
    x = torch.tensor([[0.0, 0.0], [0.0, 0.1], [5.0, 5.0], [5.1, 5.0], [-5.0, 5.0]])
    c = kmeans_plusplus(x, 3, torch.Generator().manual_seed(0))
    rows = {tuple(r.tolist()) for r in c}
    assert len(rows) == 3 and rows <= {tuple(r.tolist()) for r in x}
    # one centre per well-separated group
    assert sorted(int(torch.cdist(c, x).argmin(0)[i]) for i in (0, 2, 4)) == [0, 1, 2]


def test_kmeans_bad_input():
    with pytest.raises(ValueError, match="n_clusters"):
        KMeans(5).fit(torch.randn(3, 2))
    with pytest.raises(InputError, match="NaN"):
        KMeans(2).fit(torch.tensor([[0.0], [float("nan")], [1.0]]))
    with pytest.raises(NotFittedError, match="not fitted"):
        KMeans(2).predict(torch.zeros(2, 2))


# --- DEC ---------------------------------------------------------------------------------------

def test_soft_assignment_hand_worked():
    z = torch.tensor([[0.0, 0.0]])
    centers = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    # Student-t with alpha=1: weights 1 and (1 + 1)^-1 = 1/2, normalised
    assert torch.allclose(soft_assignment(z, centers), torch.tensor([[2 / 3, 1 / 3]]))
    # alpha=2: (1 + 1/2)^(-3/2)
    w = 1.5 ** -1.5
    assert torch.allclose(soft_assignment(z, centers, alpha=2.0), torch.tensor([[1 / (1 + w), w / (1 + w)]]))


def test_target_distribution_hand_worked():
    q = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    # f = (1.4, 0.6); row 1: (0.25/1.4, 0.25/0.6) -> (0.3, 0.7); row 2: (0.81/1.4, 0.01/0.6)
    r2 = torch.tensor([0.81 / 1.4, 0.01 / 0.6])
    expected = torch.stack([torch.tensor([0.3, 0.7]), r2 / r2.sum()])
    p = target_distribution(q)
    assert torch.allclose(p, expected, atol=1e-6)
    assert torch.allclose(p.sum(1), torch.ones(2))


def test_dec_loss_is_kl_of_p_from_q():
    q = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    p = target_distribution(q)
    expected = float((p * (p / q).log()).sum() / 2)
    assert float(dec_loss(q, p)) == pytest.approx(expected, rel=1e-5)
    assert float(dec_loss(q, q)) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError):
        dec_loss(q, p[:1])


def test_dec_fit_predict_tiny(tiny_digits):
    images, _ = tiny_digits
    a = DEC(4, latent_dim=4, width=8, pretrain_epochs=2, epochs=2, seed=0, device="cpu").fit(images)
    b = DEC(4, latent_dim=4, width=8, pretrain_epochs=2, epochs=2, seed=0, device="cpu").fit(images)
    assert a.labels_.shape == (len(images),) and a.labels_.dtype == np.int64
    assert np.array_equal(a.labels_, b.labels_)
    q = a.predict_proba(images[:7])
    assert q.shape == (7, 4) and torch.allclose(q.sum(1), torch.ones(7), atol=1e-5)
    assert a.cluster_centers_.shape == (4, 4)
    assert 1 <= len(a.history_) <= 2


# --- SCAN --------------------------------------------------------------------------------------

def test_scan_loss_hand_worked():
    k = 4
    confident = 50 * torch.eye(k)
    total, consistency, entropy = scan_loss(confident, confident.clone(), entropy_weight=2.0)
    assert float(consistency) == pytest.approx(0.0, abs=1e-6)  # neighbours agree, with certainty
    assert float(entropy) == pytest.approx(math.log(k), rel=1e-5)  # every cluster used equally
    assert float(total) == pytest.approx(-2.0 * math.log(k), rel=1e-5)
    # uniform predictions: <p, q> = 1/K for every pair
    _, consistency, _ = scan_loss(torch.zeros(3, k), torch.zeros(3, k))
    assert float(consistency) == pytest.approx(math.log(k), rel=1e-5)
    # confident but disagreeing neighbours cost far more than agreeing ones
    _, disagree, _ = scan_loss(confident, confident.roll(1, 0))
    assert float(disagree) > 10
    # everything in one cluster: zero entropy
    _, _, entropy = scan_loss(confident[[0, 0, 0]], confident[[0, 0, 0]])
    assert float(entropy) == pytest.approx(0.0, abs=1e-6)


def test_scan_loss_gradient_pulls_neighbours_together():
    a = torch.tensor([[2.0, 0.0]], requires_grad=True)
    b = torch.tensor([[0.0, 2.0]])
    _, consistency, _ = scan_loss(a, b)
    consistency.backward()
    assert a.grad[0, 1] < 0 < a.grad[0, 0]  # descending the loss moves a towards b's cluster


def test_self_label_loss_hand_worked():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    targets = torch.tensor([0, 1, 0])
    conf = torch.tensor([0.995, 0.999, 0.5])  # the third is not confident
    loss, used = self_label_loss(logits, targets, conf, threshold=0.99)
    ce = torch.nn.functional.cross_entropy(logits[:2], targets[:2], reduction="none")
    assert float(loss) == pytest.approx(float(ce.mean()), rel=1e-5)  # one per class: equal weights
    assert float(used) == pytest.approx(2 / 3)
    loss, used = self_label_loss(logits, targets, torch.zeros(3), threshold=0.99)
    assert float(loss) == 0.0 and float(used) == 0.0


def test_equipartition_moves_the_least_attached_samples_to_the_empty_cluster():
    # four samples all prefer cluster 0; the last two are the least sure and lean to cluster 1
    logits = torch.tensor([[4.0, 0.0], [4.0, 0.0], [2.0, 1.0], [1.5, 1.0]])
    q = equipartition(logits)
    assert torch.allclose(q.sum(1), torch.ones(4), atol=1e-5)
    assert torch.allclose(q.sum(0), torch.full((2,), 2.0), atol=1e-3)  # N / K in each cluster
    assert q.argmax(1).tolist() == [0, 0, 1, 1]
    # already balanced, confident predictions are kept
    confident = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    assert q.dtype == torch.float32 and equipartition(confident).argmax(1).tolist() == [0, 1, 2]
    with pytest.raises(ValueError):
        equipartition(torch.zeros(3))


def test_scan_balanced_and_thresholded_self_labelling(tiny_digits):
    images, _ = tiny_digits
    balanced = _tiny_scan(0).fit(images)  # balance=True by default: every sample is a target
    assert "confident" not in balanced.history_["self_label"].records[-1]
    plain = SCAN(4, n_neighbors=3, init=None, steps=4, self_label_steps=2, batch_size=64, width=8,
                 balance=False, seed=0, device="cpu").fit(images)
    assert "confident" in plain.history_["self_label"].records[-1]
    assert plain.labels_.shape == (len(images),)


def test_mine_neighbors_hand_made():
    angles = torch.tensor([0.0, 0.1, 0.2, 3.0, 3.1])
    x = torch.stack([angles.cos(), angles.sin()], 1)
    nb = mine_neighbors(x, 2)
    assert nb.shape == (5, 2)
    assert nb[0].tolist() == [1, 2] and nb[3, 0] == 4 and nb[4, 0] == 3
    assert not (nb == torch.arange(5)[:, None]).any()
    with pytest.raises(ValueError):
        mine_neighbors(x, 5)


def _tiny_scan(seed, init=None, overcluster=1):
    """One fit of the stages (overcluster=1); the default "auto" and merging: test_cluster_merge.py."""
    return SCAN(4, n_neighbors=3, init=init, warm_steps=2, steps=4, self_label_steps=2, batch_size=64,
                width=8, overcluster=overcluster, seed=seed, device="cpu")


def test_scan_fit_predict_shapes_and_seed(tiny_digits):
    images, _ = tiny_digits
    a = _tiny_scan(0).fit(images)
    b = _tiny_scan(0).fit(images)
    assert a.labels_.shape == (len(images),) and a.labels_.dtype == np.int64
    assert np.array_equal(a.labels_, b.labels_)
    p = a.predict_proba(images[:5])
    assert p.shape == (5, 4) and torch.allclose(p.sum(1), torch.ones(5), atol=1e-5)
    assert np.array_equal(a.predict(images), a.labels_)
    assert a.neighbors_.shape == (len(images), 3)
    assert set(a.history_) == {"scan", "self_label"}


def test_scan_with_tsne_warm_start(tiny_digits):
    images, _ = tiny_digits
    est = _tiny_scan(1, init="tsne").fit(images)
    assert est.init_labels_.shape == (len(images),) and est.init_labels_.dtype == np.int64
    assert set(est.history_) == {"warm", "scan", "self_label"}
    assert int(est.labels_.max()) < 4


def test_scan_encoder_sizes():
    for shape in [(2, 1, 8, 8), (2, 1, 28, 28), (2, 3, 32, 32), (2, 3, 64, 64)]:
        enc = scan_encoder(shape, width=8)
        assert enc.eval()(torch.rand(shape)).ndim == 2


# --- pipeline, evaluate, command line ----------------------------------------------------------

def test_pipeline_pca_and_tsne(tiny_digits):
    images, labels = tiny_digits
    pipe = DeepClusterPipeline("pca", n_clusters=10, seed=0, device="cpu").fit(images)
    assert pipe.labels_.shape == (len(images),) and pipe.features_.shape[0] == len(images)
    assert np.array_equal(pipe.predict(images), pipe.labels_)
    tsne = DeepClusterPipeline("tsne", n_clusters=10, seed=0, device="cpu")
    assert tsne.fit_predict(images).shape == (len(images),)
    with pytest.raises(NotImplementedError):
        tsne.predict(images)
    with pytest.raises(ValueError, match="unknown features"):
        DeepClusterPipeline("nope").fit(images)


def test_methods_registry():
    names = list(cluster.METHODS)
    assert names[0] == "kmeans" and names[-1] == cluster.DEFAULT_METHOD
    with pytest.raises(ValueError, match="unknown clustering method"):
        make_estimator("nope")


def test_evaluate_keys_and_scores():
    out = evaluate("digits", method="kmeans", limit=150, seed=0, device="cpu", fast=True)
    assert {"acc", "nmi", "ari", "seconds", "n_samples", "n_clusters", "method", "device"} <= set(out)
    assert out["n_samples"] == 150 and out["n_clusters"] == 10 and out["method"] == "kmeans"
    assert 0.5 < out["acc"] <= 1.0


def test_evaluate_folder_without_labels(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray((rng.random((16, 16)) * 255).astype(np.uint8)).save(tmp_path / f"im{i}.png")
    out = evaluate(f"folder:{tmp_path}", method="pca-kmeans", device="cpu", n_clusters=3, fast=True)
    assert out["acc"] is None and out["nmi"] is None and out["ari"] is None
    assert out["n_samples"] == 12 and out["n_clusters"] == 3
    # fewer images than PCA's 50 components: t-SNE still works
    out = evaluate(f"folder:{tmp_path}", method="tsne-kmeans", device="cpu", n_clusters=3, fast=True)
    assert out["acc"] is None and out["n_samples"] == 12


@pytest.mark.skipif(not (SHARED_MNIST / "MNIST" / "raw").exists(), reason="MNIST raw files not here")
def test_mnist_uses_the_test_split():
    ds = load_for_clustering("mnist", root=SHARED_MNIST, limit=50)
    assert ds.images.shape == (50, 1, 28, 28)
    with pytest.raises(ValueError, match="split"):
        load_for_clustering("mnist:validation", root=SHARED_MNIST)


def test_cli_json_keys(tmp_path, capsys):
    from tutorial_lib.__main__ import main

    path = tmp_path / "out.json"
    code = main(["cluster", "--data", "digits", "--limit", "100", "--method", "pca-kmeans", "--seed", "1",
                 "--device", "cpu", "--json", str(path)])
    assert code == 0
    result = json.loads(path.read_text())
    assert {"acc", "nmi", "ari", "seconds", "n_samples", "n_clusters", "method", "device"} <= set(result)
    assert result["n_samples"] == 100 and result["method"] == "pca-kmeans"
    assert "acc" in capsys.readouterr().out
    assert main(["cluster", "--data", "digits", "--method", "nope"]) == 2


def test_equipartition_with_a_prior_gives_columns_of_those_shares():
    torch.manual_seed(0)
    logits = torch.randn(200, 3)
    prior = torch.tensor([0.6, 0.3, 0.1])
    q = equipartition(logits, prior=prior)
    assert torch.allclose(q.sum(1), torch.ones(200), atol=1e-5)
    assert torch.allclose(q.sum(0), 200 * prior, atol=0.5)
    # a uniform prior is the plain equipartition
    uniform = equipartition(logits, prior=torch.full((3,), 1 / 3))
    assert torch.allclose(uniform, equipartition(logits), atol=1e-5)


def test_scan_loss_prior_is_a_kl_to_the_prior():
    from tutorial_lib.cluster import scan_loss

    torch.manual_seed(0)
    a = torch.randn(32, 4, requires_grad=True)
    b = torch.randn(32, 4)
    uniform = torch.full((4,), 0.25)
    plain, c0, e0 = scan_loss(a, b, 5.0)
    with_prior, c1, e1 = scan_loss(a, b, 5.0, prior=uniform)
    # KL(mean || uniform) = log K - H(mean): the same loss up to the constant 5 log 4
    assert torch.allclose(with_prior, plain + 5.0 * math.log(4), atol=1e-5)
    assert torch.equal(c0, c1) and torch.equal(e0, e1)
    # a prior that favours cluster 0 makes a batch that uses cluster 0 more cost less
    skewed = torch.tensor([0.7, 0.1, 0.1, 0.1])
    rows = [[3.0, 0, 0, 0]] * 24 + [[0, 3.0, 0, 0], [0, 0, 3.0, 0], [0, 0, 0, 3.0]] * 2 + [[0, 3.0, 0, 0]] * 2
    heavy = torch.tensor(rows)
    assert scan_loss(heavy, heavy, 5.0, prior=skewed)[0] < scan_loss(heavy, heavy, 5.0)[0] + 5.0 * math.log(4)


def test_scan_estimated_sizes(tiny_digits):
    images, _ = tiny_digits
    est = SCAN(4, n_neighbors=3, init="tsne", warm_steps=2, steps=4, self_label_steps=2, batch_size=64,
               width=8, sizes="estimated", seed=0, device="cpu").fit(images)
    assert est.prior_.shape == (4,) and abs(float(est.prior_.sum()) - 1) < 1e-5
    counts = np.bincount(est.init_labels_, minlength=4)
    assert np.allclose(est.prior_.numpy(), (counts + 1) / (counts + 1).sum(), atol=1e-6)
    assert _tiny_scan(0).fit(images).prior_ is None
    with pytest.raises(ValueError, match="sizes"):
        SCAN(4, sizes="estimated", init=None).fit(images)
    with pytest.raises(ValueError, match="sizes"):
        SCAN(4, sizes="big").fit(images)


def test_scan_mines_neighbours_in_a_simclr_space_when_asked(tiny_digits):
    images, labels = tiny_digits
    est = SCAN(4, n_neighbors=3, neighbors="simclr", neighbor_epochs=2, init=None, steps=4,
               self_label_steps=2, batch_size=64, width=8, seed=0, device="cpu").fit(images)
    pca = _tiny_scan(0).fit(images)
    assert est.neighbors_.shape == (len(images), 3) and not torch.equal(est.neighbors_, pca.neighbors_)
    purity = metrics.neighbour_purity(est.neighbors_, labels)
    assert 1 / 10 < purity <= 1.0  # above chance for 10 classes even after two epochs
    assert metrics.neighbour_purity([[1], [0], [0]], [0, 0, 1]) == 2 / 3
    with pytest.raises(ValueError, match="neighbors must be one of"):
        SCAN(4, neighbors="umap").fit(images)
