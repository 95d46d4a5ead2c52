"""Over-clustering and merging (tutorial_lib.cluster.merge, SCAN(overcluster=...))."""

import numpy as np
import pytest
import torch

from tutorial_lib import io
from tutorial_lib.cluster import SCAN
from tutorial_lib.cluster.merge import MergedHead, cluster_affinity, merge_clusters


def _two_classes_in_five_clusters():
    """Class A (clusters 0, 1, 2: 60 samples) and class B (clusters 3, 4: 20 samples).

    Each sample's neighbours are samples of its own class, in any of the class's clusters.
    """
    clusters = np.repeat([0, 1, 2, 3, 4], [20, 20, 20, 10, 10])
    probs = torch.nn.functional.one_hot(torch.as_tensor(clusters), 5).float() * 0.9 + 0.02
    gen = torch.Generator().manual_seed(0)
    a, b = torch.arange(60), torch.arange(60, 80)
    neighbors = torch.cat([a[torch.randint(0, 60, (60, 5), generator=gen)],
                           b[torch.randint(0, 20, (20, 5), generator=gen)]])
    return probs, neighbors


def test_clusters_that_share_neighbours_are_merged_whatever_their_sizes():
    probs, neighbors = _two_classes_in_five_clusters()
    groups = merge_clusters(probs, neighbors, 2)
    assert groups.tolist() == [0, 0, 0, 1, 1]  # 60 and 20 samples: sizes from the data
    assert merge_clusters(probs, neighbors, 5).tolist() == [0, 1, 2, 3, 4]
    s = cluster_affinity(probs, neighbors)
    assert np.allclose(s, s.T) and np.allclose(np.diag(s), 1.0)
    assert s[0, 1] > 3 * s[0, 3]  # same class share far more neighbours than different classes
    with pytest.raises(ValueError, match="between 1 and the 5"):
        merge_clusters(probs, neighbors, 6)


def test_merged_head_sums_the_probabilities_of_each_group():
    head = torch.nn.Linear(3, 5)
    merged = MergedHead(head, [1, 0, 1, 2, 0])
    x = torch.randn(7, 3)
    p = head(x).softmax(1)
    expected = torch.stack([p[:, [1, 4]].sum(1), p[:, [0, 2]].sum(1), p[:, 3]], 1)
    assert torch.allclose(merged(x).softmax(1), expected, atol=1e-6)
    assert merged.n_clusters == 3
    with pytest.raises(ValueError, match="every group"):
        MergedHead(head, [0, 0, 2, 2, 0])  # group 1 unused


def _imbalanced_blobs():
    """Four Gaussian blobs of 16×16 'images' of 120, 60, 30, 30 samples; each blob its own pattern."""
    gen = torch.Generator().manual_seed(0)
    sizes = [120, 60, 30, 30]
    patterns = torch.rand(4, 1, 16, 16, generator=gen)
    x = torch.cat([patterns[c] + 0.08 * torch.randn(n, 1, 16, 16, generator=gen)
                   for c, n in enumerate(sizes)])
    return x.clamp(0, 1), np.repeat(np.arange(4), sizes)


@pytest.fixture(scope="module")
def overclustered():
    images, labels = _imbalanced_blobs()
    est = SCAN(4, overcluster=3, n_neighbors=5, width=8, warm_steps=20, steps=80, self_label_steps=20,
               refine_steps=20, batch_size=64, seed=0, device="cpu").fit(images)
    return est, images, labels


def test_overclustering_scan_trains_more_clusters_then_merges_them(overclustered):
    est, images, labels = overclustered
    assert est.groups_.shape == (12,) and sorted(set(est.groups_.tolist())) == [0, 1, 2, 3]
    assert est.predict_proba(images).shape == (240, 4)
    assert est.prior_.shape == (4,) and abs(float(est.prior_.sum()) - 1) < 1e-5
    assert "refine" in est.history_
    from tutorial_lib.metrics import clustering_scores

    # well-separated blobs of unequal sizes: each recovered as one group of its own size
    assert clustering_scores(labels, est.labels_)["acc"] >= 0.95
    assert sorted(np.bincount(est.labels_, minlength=4).tolist()) == [30, 30, 60, 120]


def test_an_overclustered_scan_saves_and_loads_with_the_same_labels(overclustered, tmp_path):
    est, images, _ = overclustered
    loaded = io.load_model(est.save(tmp_path / "scan.safetensors"))
    assert np.array_equal(loaded.predict(images), est.predict(images))
    assert np.array_equal(loaded.groups_, est.groups_)


def test_overcluster_is_checked():
    images, _ = _imbalanced_blobs()
    with pytest.raises(ValueError, match="overcluster"):
        SCAN(4, overcluster=0).fit(images)
    with pytest.raises(ValueError, match="sizes='equal'"):
        SCAN(4, overcluster=3, sizes="estimated").fit(images)


def test_neighbour_modularity_prefers_the_true_partition_to_a_split_or_a_merge():
    from tutorial_lib.cluster.merge import neighbour_modularity

    _, neighbors = _two_classes_in_five_clusters()
    truth = np.repeat([0, 1], [60, 20])
    split = np.repeat([0, 1, 2], [30, 30, 20])  # the large class cut in two
    merged = np.zeros(80, dtype=np.int64)
    q = {name: neighbour_modularity(lab, neighbors) for name, lab in
         {"truth": truth, "split": split, "merged": merged}.items()}
    assert q["truth"] > q["split"] and q["truth"] > q["merged"]
    assert abs(q["truth"] - (1 - (0.75 ** 2 + 0.25 ** 2))) < 1e-9  # every neighbour pair agrees


def test_auto_fits_both_and_keeps_the_higher_modularity(overclustered, monkeypatch):
    import tutorial_lib.cluster.merge as merge

    est, images, _ = overclustered
    monkeypatch.setattr(merge, "MIN_CLUSTER_SIZE", 10)  # 240 images then fill 5 * 4 clusters of 10
    auto = SCAN(4, overcluster="auto", n_neighbors=5, width=8, warm_steps=20, steps=80, self_label_steps=20,
                refine_steps=20, batch_size=64, seed=0, device="cpu").fit(images)
    q = {int(r): v for r, v in auto.size_choice_["modularity"].items()}
    assert set(q) == {1, 5} and auto.size_choice_["overcluster"] == merge.kept_factor(q)
    with pytest.raises(ValueError, match="'auto'"):
        SCAN(4, overcluster="sometimes").fit(images)


def test_the_merged_fit_is_kept_only_when_its_modularity_is_clearly_higher():
    from tutorial_lib.cluster.merge import MODULARITY_MARGIN, kept_factor

    assert kept_factor({1: 0.737, 5: 0.752}) == 5  # mnist-imbalanced: merging gained 0.015
    assert kept_factor({1: 0.8475, 5: 0.8476}) == 1  # digits, seed 2: a tie is no evidence
    assert kept_factor({1: 0.85, 5: 0.80}) == 1
    assert kept_factor({1: 0.5, 3: 0.5 + MODULARITY_MARGIN}) == 3  # the margin itself is enough
    assert kept_factor({1: 0.5, 3: 0.501}, margin=0.0) == 3
    assert kept_factor({1: 0.5}) == 1


def test_auto_tries_the_largest_factor_the_set_can_fill():
    from tutorial_lib.cluster.merge import AUTO_OVERCLUSTER, MIN_CLUSTER_SIZE, overcluster_factors

    enough = AUTO_OVERCLUSTER * 10 * MIN_CLUSTER_SIZE  # 5 clusters of 20 per class
    assert overcluster_factors("auto", 10, enough) == (1, AUTO_OVERCLUSTER)
    assert overcluster_factors("auto", 10, 10 * enough) == (1, AUTO_OVERCLUSTER)  # never above 5
    assert overcluster_factors("auto", 10, enough - 1) == (1, AUTO_OVERCLUSTER - 1)
    assert overcluster_factors("auto", 20, 1440) == (1, 3)  # COIL-20: 72 images per object
    assert overcluster_factors("auto", 10, 2 * 10 * MIN_CLUSTER_SIZE) == (1, 2)
    assert overcluster_factors("auto", 10, 2 * 10 * MIN_CLUSTER_SIZE - 1) == (1,)  # not even r = 2 fits
    assert overcluster_factors(3, 10, 50) == (3,)  # an explicit factor is the user's choice (capped later)
    images, _ = _imbalanced_blobs()
    images = images[::2]  # 120 images: too few for 2 * 4 clusters of MIN_CLUSTER_SIZE
    auto = SCAN(4, n_neighbors=5, width=8, warm_steps=20, steps=40, self_label_steps=10, batch_size=64,
                seed=0, device="cpu").fit(images)
    assert auto.size_choice_ is None and auto.groups_ is None
