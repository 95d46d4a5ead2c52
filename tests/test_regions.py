"""Tests for the BSDS500 region benchmark (tutorial_lib.metrics.regions) on hand-worked cases, and for the
region-merging hierarchy (tutorial_lib.segment.hierarchy) whose one threshold the benchmark sweeps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tutorial_lib import metrics, segment
from tutorial_lib.metrics import regions
from tutorial_lib.metrics.regions import RegionScorer, region_benchmark, region_scores, region_sweep

LOG2_3 = math.log2(3)

# One row of four pixels, two human regions, and a prediction that moves the border by one pixel:
#   gt   = 0 0 1 1        contingency n_ij (rows gt, columns pred): [[2, 0], [1, 1]]
#   pred = 0 0 0 1        gt areas a = (2, 2), segment areas b = (3, 1), N = 4, 6 pixel pairs
GT_A = np.array([[0, 0, 1, 1]])
PRED = np.array([[0, 0, 0, 1]])
# A second annotator of the same row: gt2 = 0 1 1 1, contingency [[1, 0], [2, 1]], a = (1, 3), b = (3, 1)
GT_B = np.array([[0, 1, 1, 1]])


def test_one_annotator_by_hand():
    r = region_scores(PRED, [GT_A])
    # covering: region {0,1} is best matched by segment {0,1,2}: IoU 2/3; region {2,3} by segment {3}:
    # IoU 1/2 (segment {0,1,2} gives 1/4); area-weighted: (2 * 2/3 + 2 * 1/2) / 4 = 7/12
    assert r["covering"] == pytest.approx(7 / 12)
    assert r["covering_num"] == pytest.approx(7 / 3) and r["covering_den"] == 4
    # Rand index: of the 6 pairs, (0,1) same-same, (0,3) and (1,3) different-different agree; (0,2),
    # (1,2) and (2,3) disagree: 3/6. The release's formula: 1 - (8/2 + 10/2 - 6) / 6 = 1/2
    assert r["pri"] == pytest.approx(0.5)
    # VOI = 2 H(joint) - H(gt) - H(pred) = 2 * 1.5 - 1 - (2 - 3/4 log2 3) = 3/4 log2 3 bits
    assert r["voi"] == pytest.approx(0.75 * LOG2_3)


def test_several_annotators_pool_covering_and_average_pri_and_voi():
    r = region_scores(PRED, [GT_A, GT_B])
    # gt2: region {0} best IoU 1/3 (with {0,1,2}); region {1,2,3} best 2/4 (with {0,1,2}); numerator
    # 1 * 1/3 + 3 * 1/2 = 11/6. Every region of both annotators: (7/3 + 11/6) / (4 + 4) = 25/48
    assert r["covering_num"] == pytest.approx(7 / 3 + 11 / 6)
    assert r["covering_den"] == 8
    assert r["covering"] == pytest.approx(25 / 48)
    # gt2's Rand index: (1,2) same-same and (0,3) different-different agree, the 4 other pairs do not: 1/3
    assert r["pri"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    # gt2's VOI: 2 * 1.5 - 2 * (2 - 3/4 log2 3) = 3/2 log2 3 - 1
    assert r["voi"] == pytest.approx((0.75 * LOG2_3 + 1.5 * LOG2_3 - 1) / 2)
    # an (A, H, W) stack and tensors give the same
    stacked = region_scores(torch.from_numpy(PRED), torch.from_numpy(np.stack([GT_A, GT_B])))
    assert stacked == pytest.approx(r)


def test_agreement_up_to_renaming_is_perfect_and_label_names_do_not_matter():
    gt = np.array([[0, 0, 1, 1], [2, 2, 1, 1]])
    renamed = np.array([[-5, -5, 70, 70], [3, 3, 70, 70]])  # negative and sparse names
    r = region_scores(renamed, [gt, gt])
    assert r["covering"] == pytest.approx(1.0) and r["pri"] == pytest.approx(1.0)
    assert r["voi"] == pytest.approx(0.0, abs=1e-12)
    one = region_scores(np.zeros_like(gt), [gt])
    # one region: each human region's IoU is its share of the image (4/8, 2/8... weighted: (16+4+4)/8/8)
    assert one["covering"] == pytest.approx((4 * 0.5 + 2 * 0.25 + 2 * 0.25) / 8)


def test_matches_the_pairwise_scores_and_skimage_on_random_maps():
    from skimage.metrics import variation_of_information as skimage_voi
    from sklearn.metrics import rand_score

    rng = np.random.default_rng(0)
    gt = rng.integers(1, 6, (30, 40))
    pred = rng.integers(0, 9, (30, 40))
    r = region_scores(pred, [gt])
    assert r["pri"] == pytest.approx(rand_score(gt.ravel(), pred.ravel()))
    assert r["pri"] == pytest.approx(metrics.probabilistic_rand_index(pred, gt))
    assert r["voi"] == pytest.approx(sum(skimage_voi(gt, pred)))  # skimage: both conditional entropies, bits
    assert r["voi"] == pytest.approx(metrics.variation_of_information(pred, gt) / math.log(2))
    assert r["covering"] == pytest.approx(metrics.segmentation_covering(pred, gt))


def test_sparse_tables_give_the_dense_answer(monkeypatch):
    rng = np.random.default_rng(1)
    gts = [rng.integers(0, 7, (20, 25)) for _ in range(3)]
    preds = [rng.integers(0, k, (20, 25)) for k in (3, 40, 400)]
    dense = region_sweep(preds, gts)
    monkeypatch.setattr(regions, "_DENSE_LIMIT", 0)
    sparse = region_sweep(preds, gts)
    for field in ("covering_num", "covering_den", "pri", "voi"):
        np.testing.assert_allclose(getattr(sparse, field), getattr(dense, field))
    assert sparse.covering_best_num == pytest.approx(dense.covering_best_num)


def test_the_scorer_adds_one_setting_at_a_time_like_region_sweep():
    scorer = RegionScorer([GT_A, GT_B])
    with pytest.raises(ValueError, match="no segmentation added"):
        scorer.sweep()
    for pred in (PRED, GT_A, np.zeros_like(PRED)):
        scorer.add(pred)
    once = region_sweep([PRED, GT_A, np.zeros_like(PRED)], [GT_A, GT_B])
    np.testing.assert_allclose(scorer.sweep().covering, once.covering)
    np.testing.assert_allclose(scorer.sweep().voi, once.voi)
    assert once.covering[1] > once.covering[0]  # GT_A itself covers better than the shifted border


def test_covering_pools_over_images_of_different_sizes():
    # image 1: the row above (covering 7/12 on 4 pixels); image 2: a 2x4 image segmented exactly (8 pixels)
    gt2 = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    sweeps = [region_sweep([PRED], [GT_A]), region_sweep([gt2], [gt2])]
    out = region_benchmark(sweeps)
    # pooled: (7/3 + 8) / (4 + 8) = 31/36, not the mean of the two coverings (7/12 + 1) / 2 = 19/24
    assert out["covering_ods"] == pytest.approx(31 / 36)
    assert out["pri_ods"] == pytest.approx((0.5 + 1.0) / 2)  # PRI and VOI: means over images


def test_ods_and_ois_on_two_settings_where_they_differ():
    # image A: 1x4, gt 0 0 1 1; setting 0 gives the gt itself, setting 1 one region
    # image B: 1x8, gt one region; setting 0 cuts it in two halves, setting 1 gives one region
    gt_a, gt_b = np.array([[0, 0, 1, 1]]), np.zeros((1, 8), np.int64)
    sweeps = [region_sweep([gt_a, np.zeros_like(gt_a)], [gt_a]),
              region_sweep([np.repeat([[0, 1]], 4, axis=1), gt_b], [gt_b])]
    out = region_benchmark(sweeps, settings=["fine", "coarse"])
    # covering numerators: A (4, 2 * 1/2 + 2 * 1/2 = 2), B (8 * 1/2 = 4, 8); denominators 4 and 8
    # ODS: fine (4 + 4) / 12 = 2/3, coarse (2 + 8) / 12 = 5/6 -> coarse; OIS: A fine, B coarse: 12/12
    assert out["covering_ods"] == pytest.approx(5 / 6) and out["covering_ods_setting"] == "coarse"
    assert out["covering_ois"] == pytest.approx(1.0)
    # PRI: A fine 1, coarse 2/6 (only the two same-region pairs agree); B fine 12/28, coarse 1.
    # means: fine (1 + 3/7) / 2 = 5/7, coarse (1/3 + 1) / 2 = 2/3 -> PRI chooses fine: its own setting
    assert out["pri_ods"] == pytest.approx(5 / 7) and out["pri_ods_setting"] == "fine"
    assert out["pri_ois"] == pytest.approx(1.0)
    # VOI: A fine 0, coarse 1 bit; B fine 1 bit, coarse 0: a tie at 1/2 goes to the first setting
    assert out["voi_ods"] == pytest.approx(0.5) and out["voi_ods_setting"] == "fine"
    assert out["voi_ois"] == pytest.approx(0.0, abs=1e-12)
    assert out["ois_settings"]["covering"] == ["fine", "coarse"]
    assert out["covering_best"] == pytest.approx(1.0)
    assert out["covering_ods"] < out["covering_ois"] and out["pri_ods"] < out["pri_ois"]


def test_bad_input_says_what_is_wrong():
    with pytest.raises(ValueError, match="same size|shape"):
        region_scores(np.zeros((2, 3), np.int64), [GT_A])
    with pytest.raises(ValueError, match="at least one human"):
        region_scores(PRED, [])
    with pytest.raises(ValueError, match="one map per setting"):
        region_sweep(PRED, [GT_A])
    with pytest.raises(ValueError, match="non-integer"):
        region_scores(PRED + 0.5, [GT_A])
    with pytest.raises(ValueError, match="same settings"):
        region_benchmark([region_sweep([PRED], [GT_A]), region_sweep([PRED, PRED], [GT_A])])
    with pytest.raises(ValueError, match="settings given"):
        region_benchmark([region_sweep([PRED], [GT_A])], settings=[1, 2])


def test_a_bsds_sized_image_with_five_annotators_is_quick():
    import time

    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:321, :481]
    gts = [((yy // rng.integers(20, 80)) * 10 + xx // rng.integers(20, 80)) for _ in range(5)]
    preds = [(yy // s) * 100 + xx // s for s in (8, 16, 32, 64)]
    started = time.perf_counter()
    sweep = region_sweep(preds, gts)
    assert time.perf_counter() - started < 5.0  # milliseconds per setting; generous for a busy machine
    assert np.all(np.diff(sweep.pri) != 0)


# --- the hierarchy ---------------------------------------------------------------------------------
def stripes(size: int = 48, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Three vertical stripes of different colours with mild noise, 3×size×size, and their labels."""
    rng = np.random.default_rng(seed)
    gt = np.repeat(np.arange(3), size // 3)[None, :].repeat(size, 0)
    colours = np.array([[0.8, 0.2, 0.2], [0.2, 0.7, 0.3], [0.2, 0.3, 0.9]])
    image = np.clip(colours[gt] + rng.normal(0, 0.03, (size, size, 3)), 0, 1)
    return torch.from_numpy(image.transpose(2, 0, 1)).float(), gt


def _nested(fine: np.ndarray, coarse: np.ndarray) -> bool:
    """Every region of ``fine`` lies inside one region of ``coarse``."""
    pairs = np.unique(np.stack([fine.ravel(), coarse.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1]


def test_the_hierarchy_is_registered_and_the_default_chooses_it_for_photos():
    assert segment.METHODS["rag-merge"] is segment.RegionMerging
    assert segment.DEFAULT_METHOD == "auto"  # rag-merge for photos: tests/test_segment_auto.py


def test_cuts_go_from_fine_to_coarse_and_are_nested():
    image, gt = stripes()
    model = segment.RegionMerging(base_scale=20.0, base_min_share=0.0)
    thresholds = [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 1e9]
    maps = model.labels_at(image, thresholds)
    counts = [int(m.max()) + 1 for m in maps]
    assert counts == sorted(counts, reverse=True) and counts[-1] == 1 and counts[0] > 3
    for fine, coarse in zip(maps, maps[1:], strict=False):
        assert _nested(fine, coarse)
    tree = model.hierarchy(image)
    assert np.all(np.diff(tree.heights) >= 0) and len(tree.merges) == int(tree.base.max())
    assert counts[0] == int(tree.base.max()) + 1  # threshold 0 keeps the over-segmentation
    assert not hasattr(model, "labels_")  # labels_at and hierarchy leave the model unfitted
    # the stripes are found at some threshold, and the default one finds them too
    assert max(metrics.segmentation_scores(m, gt)["miou"] for m in maps) > 0.95
    labels = segment.RegionMerging().fit_predict(image)
    assert metrics.segmentation_scores(labels, gt)["miou"] > 0.95
    assert np.array_equal(labels, segment.RegionMerging().labels_at(image, [6.5])[0])


def test_the_hierarchy_on_other_over_segmentations():
    image, gt = stripes()
    slic = segment.RegionMerging(base="slic", n_superpixels=100).labels_at(image, [0.0, 7.0])
    assert slic[0].max() + 1 > 10 and metrics.segmentation_scores(slic[1], gt)["miou"] > 0.9
    # any method's segments: k-means colour clusters (not connected) are split into connected pieces
    noisy = image.clone()
    noisy[:, :, 20:28] = noisy[:, :, 0:8]  # a piece of the first stripe's colour inside the second
    clusters = segment.ColourKMeans(n_segments=3)
    tree = segment.RegionMerging(base=clusters).hierarchy(noisy)
    # 3 colours in 5 connected pieces: the first colour twice, the second on both sides of the piece
    assert int(tree.base.max()) + 1 == 5
    assert not hasattr(clusters, "labels_")  # the method given as base is copied, not fitted
    with pytest.raises(ValueError, match="base must be"):
        segment.RegionMerging(base="watershed").fit_predict(image)
    with pytest.raises(ValueError, match="threshold must be"):
        segment.RegionMerging(threshold=float("nan")).fit_predict(image)


def test_the_hierarchy_takes_batches_and_grey_images():
    image, _ = stripes(size=24)
    maps = segment.RegionMerging().fit_predict([image, image[:1]])
    assert isinstance(maps, list) and maps[0].shape == (24, 24) and maps[0].dtype == np.int64
    assert maps[1].shape == (24, 24)
