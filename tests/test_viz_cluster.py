"""Clustering figures (cluster gallery, confusion matrix, method scores) and the cluster explorer panel."""

import random

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from tutorial_lib import viz, widgets  # noqa: E402


@pytest.fixture(scope="module")
def blobs():
    """Three classes of 6x6 images: a bright square in a different corner per class, plus noise."""
    gen = torch.Generator().manual_seed(0)
    images = 0.1 * torch.rand(30, 1, 6, 6, generator=gen)
    labels = torch.arange(30) % 3
    for i, c in enumerate(labels.tolist()):
        r, s = [(0, 0), (0, 3), (3, 0)][c]
        images[i, 0, r:r + 3, s:s + 3] += 0.8
    return images, labels


def test_cluster_gallery_rows_captions_and_red_frames(blobs):
    images, labels = blobs
    pred = labels.clone()
    pred[0] = 1  # one image of class 0 put in class 1's cluster
    fig = viz.plot_cluster_gallery(images, pred, n_per_cluster=12, labels=labels, classes=["a", "b", "c"])
    axes = np.array(fig.axes).reshape(3, 12)
    captions = [axes[r, 0].get_ylabel() for r in range(3)]
    assert captions[0].startswith("cluster 0 → a") and "9, 100% pure" in captions[0]
    assert "11, 91% pure" in captions[1]
    red = [ax for ax in fig.axes if ax.spines["left"].get_edgecolor()[:3] == (1.0, 0.0, 0.0)]
    assert len(red) == 1
    plt.close(fig)
    with pytest.raises(ValueError):
        viz.plot_cluster_gallery(images, pred[:5])


def test_cluster_gallery_names_an_extra_cluster_after_its_majority(blobs):
    images, labels = blobs
    pred = labels.clone()
    pred[labels == 2] = torch.tensor([2, 3] * 5)  # class c split over two clusters: one is extra
    fig = viz.plot_cluster_gallery(images, pred, n_per_cluster=5, labels=labels, classes=["a", "b", "c"])
    captions = [ax.get_ylabel() for ax in np.array(fig.axes).reshape(4, 5)[:, 0]]
    assert captions[3].endswith("c (extra)\n5, 100% pure") and ", 0% pure" not in "".join(captions)
    assert not [ax for ax in fig.axes if ax.spines["left"].get_edgecolor()[:3] == (1.0, 0.0, 0.0)]
    plt.close(fig)


def test_cluster_gallery_without_labels(blobs):
    images, _ = blobs
    fig = viz.plot_cluster_gallery(images, torch.arange(30) % 5, n_per_cluster=4)
    assert len(fig.axes) == 20 and fig.axes[0].get_ylabel().startswith("cluster 0")
    plt.close(fig)


def test_confusion_matrix_counts_and_title():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [5, 5, 7, 5, 9, 9]  # clusters 5, 7, 9 match classes 0, 1, 2; one mistake
    fig = viz.plot_confusion_matrix(y_true, y_pred, classes=["x", "y", "z"])
    ax = fig.axes[0]
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["1", "1", "2", "2"]
    assert "0.833" in ax.get_title()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y", "z"]
    plt.close(fig)
    fig = viz.plot_confusion_matrix(y_true, y_pred, normalize=True)
    assert "0.50" in [t.get_text() for t in fig.axes[0].texts]
    plt.close(fig)


def test_method_scores_bars():
    fig = viz.plot_method_scores({"kmeans": {"acc": 0.8, "nmi": 0.7, "ari": 0.6},
                                  "scan": {"acc": 0.95, "nmi": 0.9, "ari": None}})
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert "0.95" in labels and "0.00" in labels  # a missing score is drawn as 0
    plt.close(fig)
    with pytest.raises(ValueError):
        viz.plot_method_scores({})


def test_cluster_view_scores_and_cache(blobs):
    images, labels = blobs
    cache = {}
    out = widgets.cluster_view(images, labels, method="pca-kmeans", n_clusters=3, cache=cache, draw=False)
    assert out["scores"]["acc"] == pytest.approx(1.0) and out["figure"] is None
    assert list(cache) == [("pca-kmeans", 0)] and "matched accuracy 1.000" in out["summary"]
    assert isinstance(out["clusters"], np.ndarray) and out["clusters"].dtype == np.int64
    more = widgets.cluster_view(images, labels, method="pca-kmeans", n_clusters=6, cache=cache, draw=False)
    assert more["scores"]["acc"] < 1.0 and more["scores"]["acc_many_to_one"] == pytest.approx(1.0)
    unlabelled = widgets.cluster_view(images, None, method="kmeans", n_clusters=3, draw=False)
    assert unlabelled["scores"] == {} and "cluster sizes" in unlabelled["summary"]
    extra = widgets.cluster_view(images, labels, method="mine", n_clusters=3, draw=False,
                                 features={"mine": torch.nn.functional.one_hot(labels).float()})
    assert extra["scores"]["acc"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown method"):
        widgets.cluster_view(images, labels, method="nope")


def test_cluster_panel_controls_recompute(blobs):
    images, labels = blobs
    panel = widgets.cluster_panel(images, labels, n_clusters=3, method="kmeans",
                                  features={"f": images.flatten(1)})
    assert panel.result["scores"]["acc"] == pytest.approx(1.0)
    assert panel.image.value  # the gallery was drawn to PNG
    panel.controls["n_clusters"].value = 5
    assert len(np.unique(panel.result["clusters"])) == 5
    assert list(panel.controls["method"].options) == ["kmeans", "pca-kmeans", "tsne-kmeans", "f"]
    with pytest.raises(ValueError):
        widgets.cluster_panel(images, labels, method="nope")


def test_cluster_view_cached_features_give_the_same_clusters(blobs):
    """A second k on cached features is k-means on the pipeline's own features: same labels as a fresh fit."""
    images, labels = blobs
    cache = {}
    widgets.cluster_view(images, labels, method="pca-kmeans", n_clusters=3, cache=cache, draw=False)
    cached = widgets.cluster_view(images, labels, method="pca-kmeans", n_clusters=4, cache=cache, draw=False)
    fresh = widgets.cluster_view(images, labels, method="pca-kmeans", n_clusters=4, draw=False)
    np.testing.assert_array_equal(cached["clusters"], fresh["clusters"])
    assert len(cache) == 1  # the same feature space, not one per k


def test_cluster_view_uses_the_registry_names():
    from tutorial_lib import cluster

    assert set(widgets.CLUSTER_METHODS) <= set(cluster.METHODS)


SCAN_TINY = dict(n_clusters=3, init=None, self_label_steps=1, n_neighbors=3, width=4, device="cpu")


def test_train_scan_for_the_training_panel(blobs):
    images, labels = blobs
    seen = []
    est, history = widgets.train_scan(images, lr=1e-3, epochs=2, depth=1, activation="gelu",
                                      monitor_labels=labels, on_epoch_end=lambda e, m, h: seen.append(e),
                                      **SCAN_TINY)
    assert seen == [0, 1] and len(history) == 2 and len(history["acc"]) == 2
    assert all(0.0 <= a <= 1.0 for a in history["acc"])
    assert est.labels_.shape == (30,) and est.epochs == 2 and est.encoder_depth == 1
    out = widgets.train_view(widgets.train_scan, images, lr=1e-3, epochs=1, depth=1, activation="relu",
                             plot_keys=("loss", "acc"), monitor_labels=labels, **SCAN_TINY)
    assert "1 epochs" in out["summary"] and out["figure"] is not None
    plt.close(out["figure"])
    with pytest.raises(ValueError, match="at least 2"):
        widgets.train_scan(images[:1], epochs=1, **SCAN_TINY)


def test_train_scan_is_deterministic_and_leaves_the_callers_rng_alone(blobs):
    images, _ = blobs
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    before = torch.get_rng_state(), np.random.get_state(), random.getstate()
    first, _ = widgets.train_scan(images, epochs=1, depth=1, seed=5, **SCAN_TINY)
    after = torch.get_rng_state(), np.random.get_state(), random.getstate()
    assert torch.equal(before[0], after[0])
    assert before[1][0] == after[1][0] and np.array_equal(before[1][1], after[1][1])
    assert before[2] == after[2]
    second, _ = widgets.train_scan(images, epochs=1, depth=1, seed=5, **SCAN_TINY)
    np.testing.assert_array_equal(np.asarray(first.labels_), np.asarray(second.labels_))
    for a, b in zip(first.model_.parameters(), second.model_.parameters(), strict=True):
        assert torch.equal(a, b)
