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


# --------------------------------------------------------------------------------------------
# segmentation: hand-worked cases
# --------------------------------------------------------------------------------------------

# gt (2 classes)     pred (3 segments)
#   0 0 1 1            5 5 7 7
#   0 0 1 1            5 5 7 9
# pixel confusion (rows gt 0, 1; columns pred 5, 7, 9): gt0 [4, 0, 0], gt1 [0, 3, 1]
# Hungarian on overlaps: 5->0, 7->1; segment 9 unmatched (its pixel counts as wrong)
#   IoU(0) = 4 / (4 + 4 - 4) = 1;  IoU(1) = 3 / (4 + 3 - 3) = 3/4  -> mIoU = 7/8
#   pixel accuracy = (4 + 3) / 8 = 7/8
GT = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
PRED = np.array([[5, 5, 7, 7], [5, 5, 7, 9]])


def test_segmentation_scores_hand_worked():
    s = M.segmentation_scores(PRED, GT)
    assert s["miou"] == pytest.approx(7 / 8)
    assert s["pixel_acc"] == pytest.approx(7 / 8)


def test_segmentation_scores_fewer_segments_than_classes():
    # gt 0 0 1 2 / pred all one segment: it matches class 0 (overlap 2 of 4 pixels)
    # IoU(0) = 2 / 4, IoU(1) = IoU(2) = 0 (no segment left) -> mIoU = 1/6; pixel acc = 2/4
    s = M.segmentation_scores(np.zeros((1, 4), int), np.array([[0, 0, 1, 2]]))
    assert s["miou"] == pytest.approx(1 / 6)
    assert s["pixel_acc"] == pytest.approx(0.5)


def test_segmentation_scores_ignore_index():
    # the ignored pixel (255) is the one pixel of segment 9: without it the match is perfect
    gt = GT.copy()
    gt[1, 3] = 255
    assert M.segmentation_scores(PRED, gt, ignore_index=255) == {"miou": 1.0, "pixel_acc": 1.0}


def test_covering_hand_worked():
    # gt regions: A (gt 0, 4 px), B (gt 1, 4 px); pred regions 5 (4 px), 7 (3 px), 9 (1 px)
    # best IoU for A: with 5 -> 4/4 = 1; for B: with 7 -> 3/4 (with 9: 1/4)
    # covering = (4 * 1 + 4 * 3/4) / 8 = 7/8
    assert M.segmentation_covering(PRED, GT) == pytest.approx(7 / 8)
    # covering is not symmetric: the prediction covered by gt is
    # (4 * 1 + 3 * 3/4 + 1 * 1/4) / 8 = 6.5 / 8
    assert M.segmentation_covering(GT, PRED) == pytest.approx(6.5 / 8)


def test_rand_index_hand_worked():
    # 8 pixels -> 28 pairs. together in gt: 2 * C(4,2) = 12; in pred: C(4,2) + C(3,2) + 0 = 9;
    # together in both: contingency cells 4, 3, 1 -> 6 + 3 + 0 = 9.
    # agreements = 28 + 2 * 9 - 12 - 9 = 25 -> RI = 25/28
    assert M.probabilistic_rand_index(PRED, GT) == pytest.approx(25 / 28)
    # two ground truths: the mean of their Rand indices (the second agrees fully: 1.0)
    assert M.probabilistic_rand_index(PRED, [GT, PRED + 1]) == pytest.approx((25 / 28 + 1) / 2)
    assert M.probabilistic_rand_index(PRED, np.stack([GT, PRED + 1])) == pytest.approx((25 / 28 + 1) / 2)


def test_voi_hand_worked():
    # H(gt | pred): segments 5 and 9 are pure, segment 7 too (all gt 1) -> 0
    # H(pred | gt): gt 0 is pure; gt 1 (prob 1/2) splits 3/4, 1/4 -> 1/2 * H(3/4, 1/4)
    h = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    assert M.variation_of_information(PRED, GT) == pytest.approx(0.5 * h)


# --------------------------------------------------------------------------------------------
# segmentation: agreement with scikit-learn / scikit-image and properties
# --------------------------------------------------------------------------------------------


def _noisy_pair(seed: int, shape=(40, 50), n_gt=4, n_pred=6):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, n_gt, shape)
    pred = np.where(rng.random(shape) < 0.6, gt * 3 + 1, rng.integers(0, n_pred, shape))
    return pred, gt


def test_rand_index_and_voi_agree_with_libraries():
    from skimage.metrics import variation_of_information as sk_voi

    for seed in range(3):
        pred, gt = _noisy_pair(seed)
        ri = skm.rand_score(gt.ravel(), pred.ravel())
        assert M.probabilistic_rand_index(pred, gt) == pytest.approx(ri)
        # scikit-image reports the two conditional entropies in bits; ours is in nats
        bits = float(np.sum(sk_voi(gt, pred)))
        assert M.variation_of_information(pred, gt) == pytest.approx(np.log(2) * bits)


def test_miou_pixel_acc_agree_with_clustering_view():
    # pixel accuracy is the one-to-one cluster accuracy of the flattened maps
    pred, gt = _noisy_pair(4)
    s = M.segmentation_scores(pred, gt)
    assert s["pixel_acc"] == pytest.approx(M.cluster_acc(gt.ravel(), pred.ravel()))
    # mIoU from the matched confusion: IoU_c = tp / (row + col - tp) on relabelled maps
    mapped = M.relabel(pred, M.match_clusters(gt.ravel(), pred.ravel())).ravel()
    ious = [np.sum((gt.ravel() == c) & (mapped == c)) / np.sum((gt.ravel() == c) | (mapped == c))
            for c in np.unique(gt)]
    assert s["miou"] == pytest.approx(np.mean(ious))


def test_segmentation_permutation_scores_one():
    rng = np.random.default_rng(7)
    gt = np.repeat(np.repeat(rng.integers(0, 5, (8, 8)), 4, axis=0), 4, axis=1)
    pred = (rng.permutation(5) * 10 + 3)[gt]
    assert M.segmentation_scores(pred, gt) == {"miou": 1.0, "pixel_acc": 1.0}
    assert M.segmentation_covering(pred, gt) == pytest.approx(1.0)
    assert M.probabilistic_rand_index(pred, gt) == pytest.approx(1.0)
    assert M.variation_of_information(pred, gt) == pytest.approx(0.0, abs=1e-12)
    report = M.segmentation_report([pred, pred[:16, :20]], [gt, gt[:16, :20]], regions=True)
    assert report == pytest.approx(
        {"miou": 1.0, "pixel_acc": 1.0, "n_images": 2, "covering": 1.0, "pri": 1.0, "voi": 0.0}
    )


def test_over_segmentation():
    # splitting each gt region (64 px) in two halves (32 px): pixel acc and mIoU drop to 1/2,
    # VOI = H(pred | gt) = log 2, PRI drops, covering = best IoU 32/64 for each gt region
    gt = np.repeat([[0] * 8 + [1] * 8], 8, axis=0)
    split = gt * 2 + (np.arange(16) % 8 >= 4)
    s = M.segmentation_scores(split, gt)
    assert s["pixel_acc"] == pytest.approx(0.5)
    assert s["miou"] == pytest.approx(0.5)
    assert M.variation_of_information(split, gt) == pytest.approx(np.log(2))
    assert M.probabilistic_rand_index(split, gt) < 1.0
    assert M.segmentation_covering(split, gt) == pytest.approx(0.5)
    # merging is penalised the same way: gt covered by one segment -> IoU 64/128 per region
    assert M.segmentation_covering(np.zeros_like(gt), gt) == pytest.approx(0.5)


def test_segmentation_report_protocols():
    # image 1 (8 px): PRED vs GT, mIoU 7/8, acc 7/8.  image 2 (2 px): perfect -> 1, 1
    p2, g2 = np.array([[3, 4]]), np.array([[0, 1]])
    r = M.segmentation_report([PRED, p2], [GT, g2])
    assert r["miou"] == pytest.approx((7 / 8 + 1) / 2)
    assert r["pixel_acc"] == pytest.approx((7 / 8 + 1) / 2)
    assert r["n_images"] == 2
    # dataset: class 0: inter 4 + 1, union 4 + 1 -> 1; class 1: inter 3 + 1, union 4 + 1 -> 4/5
    d = M.segmentation_report([PRED, p2], [GT, g2], protocol="dataset")
    assert d["miou"] == pytest.approx((1 + 4 / 5) / 2)
    assert d["pixel_acc"] == pytest.approx(9 / 10)


def test_segmentation_tensors_and_numpy_agree():
    pred, gt = _noisy_pair(8)
    ref = M.segmentation_scores(pred, gt)
    assert M.segmentation_scores(torch.from_numpy(pred), torch.from_numpy(gt).long()) == ref
    ref_report = M.segmentation_report([pred], [gt], regions=True)
    # a batch tensor N×H×W iterates as a list of H×W maps
    batch = M.segmentation_report(torch.from_numpy(pred)[None], torch.from_numpy(gt)[None], regions=True)
    assert batch == ref_report
    assert M.segmentation_covering(torch.from_numpy(pred), torch.from_numpy(gt)) == pytest.approx(
        M.segmentation_covering(pred, gt))


def test_segmentation_512_fast():
    import time

    pred, gt = _noisy_pair(9, shape=(512, 512), n_gt=21, n_pred=30)
    start = time.perf_counter()
    M.segmentation_scores(pred, gt)
    M.segmentation_covering(pred, gt)
    M.probabilistic_rand_index(pred, gt)
    M.variation_of_information(pred, gt)
    assert time.perf_counter() - start < 5.0


def test_region_metrics_many_regions():
    # every pixel its own region (a 256×256 over-segmentation): sparse tables, no N^2 memory
    gt = np.repeat(np.arange(4), 256 * 64).reshape(256, 256)
    pred = np.arange(256 * 256).reshape(256, 256)
    assert M.segmentation_covering(pred, gt) == pytest.approx(1 / (256 * 64))
    assert M.variation_of_information(pred, gt) == pytest.approx(np.log(256 * 64))
    n = 256 * 256
    # agreements: pairs in different gt regions (pred also splits them)
    assert M.probabilistic_rand_index(pred, gt) == pytest.approx(
        (n * (n - 1) / 2 - 4 * (n / 4) * (n / 4 - 1) / 2) / (n * (n - 1) / 2))


@pytest.mark.parametrize(
    ("pred", "gt", "message"),
    [
        (np.zeros((4, 4), int), np.zeros((4, 5), int), "same shape"),
        (np.zeros((0, 0), int), np.zeros((0, 0), int), "empty"),
        (np.zeros((2, 4, 4), int), np.zeros((2, 4, 4), int), r"shape \(H, W\)"),
        (np.zeros(4, int), np.zeros(4, int), r"shape \(H, W\)"),
        (np.full((2, 2), 0.5), np.zeros((2, 2), int), "non-integer"),
    ],
)
def test_bad_segmentation_inputs(pred, gt, message):
    with pytest.raises(ValueError, match=message):
        M.segmentation_scores(pred, gt)
    for fn in (M.segmentation_covering, M.probabilistic_rand_index, M.variation_of_information):
        if pred.ndim == 3:  # a K×H×W gt is several ground truths there; pred must still be H×W
            continue
        with pytest.raises(ValueError, match=message):
            fn(pred, gt)


def test_bad_report_inputs():
    with pytest.raises(ValueError, match="same length"):
        M.segmentation_report([GT, GT], [GT])
    with pytest.raises(ValueError, match="empty"):
        M.segmentation_report([], [])
    with pytest.raises(ValueError, match=r"preds\[1\] and gts\[1\] must have the same shape"):
        M.segmentation_report([GT, GT], [GT, GT[:, :2]])
    with pytest.raises(ValueError, match="protocol"):
        M.segmentation_report([GT], [GT], protocol="global")
    with pytest.raises(ValueError, match="empty list"):
        M.probabilistic_rand_index(GT, [])
    with pytest.raises(ValueError, match="single"):
        M.segmentation_report(PRED, GT)


def test_gt_as_nested_lists_is_one_ground_truth():
    assert M.probabilistic_rand_index(PRED.tolist(), GT.tolist()) == pytest.approx(25 / 28)
    assert M.segmentation_covering(PRED, [GT, GT]) == pytest.approx(7 / 8)
    assert M.segmentation_covering(PRED, [torch.from_numpy(GT), GT]) == pytest.approx(7 / 8)
