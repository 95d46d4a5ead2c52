"""Tests for tutorial_lib.metrics: hand-worked cases, agreement with scikit-learn, properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from tutorial_lib import metrics as M

# --------------------------------------------------------------------------------------------
# clustering: hand-worked cases
# --------------------------------------------------------------------------------------------

# 8 samples, 2 classes, 3 clusters.
#   contingency (rows: clusters 10, 20, 30; columns: classes 0, 1)
#     cluster 10: [3, 0]
#     cluster 20: [1, 2]
#     cluster 30: [0, 2]
# one-to-one best: 10->0 (3) + 20->1 (2) = 5, or 10->0 (3) + 30->1 (2) = 5; any other pair is worse
#   (20->0 + 30->1 = 3). acc = 5 / 8 = 0.625; the cluster of 20 / 30 left unmatched counts as wrong.
# many-to-one: 10->0 (3), 20->1 (2), 30->1 (2) -> 7 / 8 = 0.875.
Y_TRUE = np.array([0, 0, 0, 0, 1, 1, 1, 1])
Y_PRED = np.array([10, 10, 10, 20, 20, 20, 30, 30])


def test_cluster_acc_hand_worked_more_clusters_than_classes():
    assert M.cluster_acc(Y_TRUE, Y_PRED) == pytest.approx(5 / 8)
    assert M.cluster_acc(Y_TRUE, Y_PRED, many_to_one=True) == pytest.approx(7 / 8)


def test_match_clusters_hand_worked():
    one = M.match_clusters(Y_TRUE, Y_PRED)
    assert one[10] == 0
    # exactly one of clusters 20 / 30 is matched to class 1, the other is unmatched
    assert sorted([one[20], one[30]]) == [M.UNMATCHED, 1]
    assert M.match_clusters(Y_TRUE, Y_PRED, many_to_one=True) == {10: 0, 20: 1, 30: 1}


def test_cluster_acc_hand_worked_square():
    # y_true: 0 0 1 1 2 2, y_pred: 1 1 0 2 2 2
    # contingency (clusters x classes): c0: [0,1,0]  c1: [2,0,0]  c2: [0,1,2]
    # best one-to-one: c1->0 (2) + c0->1 (1) + c2->2 (2) = 5 -> 5/6
    assert M.cluster_acc([0, 0, 1, 1, 2, 2], [1, 1, 0, 2, 2, 2]) == pytest.approx(5 / 6)


def test_fewer_clusters_than_classes():
    # three classes, all put in one cluster: it matches the largest class (3 of 6 samples)
    assert M.cluster_acc([0, 0, 0, 1, 1, 2], [5, 5, 5, 5, 5, 5]) == pytest.approx(0.5)
    assert M.match_clusters([0, 0, 0, 1, 1, 2], [5] * 6) == {5: 0}


def test_matched_confusion_hand_worked():
    conf = M.matched_confusion(Y_TRUE, Y_PRED)
    assert conf.shape == (2, 2)
    # class 0: 3 in cluster 10 (matched to 0); its 4th sample is in cluster 20, which is either
    # matched to 1 (an off-diagonal count) or unmatched (left out)
    assert np.trace(conf) == 5
    assert conf[0, 0] == 3
    full = M.matched_confusion(Y_TRUE, Y_PRED, include_unmatched=True)
    assert full.shape == (2, 3)
    np.testing.assert_array_equal(full.sum(axis=1), [4, 4])
    assert full[:, :2].tolist() == conf.tolist()
    m2o = M.matched_confusion(Y_TRUE, Y_PRED, many_to_one=True)
    # many-to-one: 20 and 30 both -> class 1: class 0 row [3, 1], class 1 row [0, 4]
    assert m2o.tolist() == [[3, 1], [0, 4]]


def test_matched_confusion_trace_is_accuracy():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 5, 500)
    p = np.where(rng.random(500) < 0.7, t, rng.integers(0, 7, 500))
    conf = M.matched_confusion(t, p)
    assert conf.shape == (5, 5)
    assert np.trace(conf) / 500 == pytest.approx(M.cluster_acc(t, p))
    full = M.matched_confusion(t, p, include_unmatched=True)
    np.testing.assert_array_equal(full.sum(axis=1), np.bincount(t))


def test_per_class_precision_recall_hand_worked():
    # y_true 0 0 1 1 2 2, y_pred 1 1 0 2 2 2 -> matched 1->0, 0->1, 2->2; relabelled: 0 0 1 2 2 2
    # class 0: tp 2, fp 0, fn 0 -> p 1, r 1
    # class 1: tp 1, fp 0, fn 1 -> p 1, r 0.5, f1 2/3
    # class 2: tp 2, fp 1, fn 0 -> p 2/3, r 1, f1 0.8
    table = M.per_class_precision_recall([0, 0, 1, 1, 2, 2], [1, 1, 0, 2, 2, 2])
    assert list(table) == [0, 1, 2]
    assert table[0] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert table[1]["recall"] == pytest.approx(0.5)
    assert table[1]["f1"] == pytest.approx(2 / 3)
    assert table[2]["precision"] == pytest.approx(2 / 3)
    assert table[2]["f1"] == pytest.approx(0.8)
    text = M.format_precision_recall(table, class_names=["zero", "one", "two"])
    assert "zero" in text and "0.667" in text and len(text.splitlines()) == 4


def test_per_class_recall_counts_unmatched_as_missed():
    table = M.per_class_precision_recall(Y_TRUE, Y_PRED)
    # recall weighted by support is the one-to-one accuracy
    recall = sum(r["recall"] * r["support"] for r in table.values()) / len(Y_TRUE)
    assert recall == pytest.approx(M.cluster_acc(Y_TRUE, Y_PRED))


def test_relabel():
    out = M.relabel(np.array([[3, 4], [5, 3]]), {3: 0, 4: 1})
    assert out.tolist() == [[0, 1], [M.UNMATCHED, 0]]


# --------------------------------------------------------------------------------------------
# clustering: agreement with scikit-learn and properties
# --------------------------------------------------------------------------------------------


def test_nmi_ari_agree_with_sklearn():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 4, 300)
    p = np.where(rng.random(300) < 0.6, t + 10, rng.integers(0, 6, 300))
    assert M.nmi(t, p) == pytest.approx(skm.normalized_mutual_info_score(t, p))
    assert M.ari(t, p) == pytest.approx(skm.adjusted_rand_score(t, p))
    scores = M.clustering_scores(t, p)
    assert set(scores) == {"acc", "nmi", "ari"}
    assert all(isinstance(v, float) for v in scores.values())


def test_cluster_acc_against_brute_force():
    # the Hungarian answer equals the best of all 4! permutations
    from itertools import permutations

    rng = np.random.default_rng(2)
    t = rng.integers(0, 4, 200)
    p = np.where(rng.random(200) < 0.5, t, rng.integers(0, 4, 200))
    best = max(np.mean(np.array(perm)[p] == t) for perm in permutations(range(4)))
    assert M.cluster_acc(t, p) == pytest.approx(best)


def test_permuted_labels_score_one():
    rng = np.random.default_rng(3)
    t = rng.integers(0, 10, 1000)
    perm = rng.permutation(10) + 100
    p = perm[t]
    assert M.cluster_acc(t, p) == 1.0
    assert M.nmi(t, p) == pytest.approx(1.0)
    assert M.ari(t, p) == pytest.approx(1.0)
    np.testing.assert_array_equal(M.matched_confusion(t, p), np.diag(np.bincount(t)))
    assert all(r["f1"] == 1.0 for r in M.per_class_precision_recall(t, p).values())


def test_many_to_one_at_least_one_to_one():
    rng = np.random.default_rng(4)
    for k in (3, 5, 8, 20):
        t = rng.integers(0, 5, 400)
        p = rng.integers(0, k, 400)
        assert M.cluster_acc(t, p, many_to_one=True) >= M.cluster_acc(t, p)


def test_over_clustering_one_to_one_penalised():
    # each class split into two pure clusters: many-to-one is perfect, one-to-one keeps only half
    t = np.repeat([0, 1, 2], 4)
    p = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    assert M.cluster_acc(t, p, many_to_one=True) == 1.0
    assert M.cluster_acc(t, p) == pytest.approx(0.5)


def test_tensors_and_numpy_agree():
    rng = np.random.default_rng(5)
    t = rng.integers(0, 3, 100)
    p = rng.integers(0, 4, 100)
    ref = M.clustering_scores(t, p)
    assert M.clustering_scores(torch.from_numpy(t), torch.from_numpy(p)) == ref
    assert M.clustering_scores(t.tolist(), torch.from_numpy(p).int()) == ref
    # integral floats (e.g. a float tensor of labels) are accepted
    assert M.cluster_acc(t.astype(float), p) == ref["acc"]


def test_ten_thousand_samples_fast():
    import time

    rng = np.random.default_rng(6)
    t = rng.integers(0, 10, 10_000)
    p = rng.integers(0, 50, 10_000)
    start = time.perf_counter()
    M.clustering_scores(t, p)
    M.matched_confusion(t, p)
    M.per_class_precision_recall(t, p)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [
        ([0, 1, 2], [0, 1], "same length"),
        ([], [], "empty"),
        ([[0, 1]], [[0, 1]], "1-D"),
        ([0.5, 1.0], [0, 1], "non-integer"),
        ([0, float("nan")], [0, 1], "NaN"),
        (["a", "b"], [0, 1], "integer"),
    ],
)
def test_bad_clustering_inputs(y_true, y_pred, message):
    for fn in (M.cluster_acc, M.nmi, M.ari, M.clustering_scores, M.matched_confusion,
               M.per_class_precision_recall, M.match_clusters):
        with pytest.raises(ValueError, match=message):
            fn(y_true, y_pred)
