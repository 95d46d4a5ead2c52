"""Tests for tutorial_lib.evaluation.preprocessing: preprocessing choices scored with the library's
own k-means, the text table, and the deprecated path through tutorial_lib.preprocess."""

from __future__ import annotations

import pytest
import torch

from tutorial_lib import preprocess as pp
from tutorial_lib.evaluation.preprocessing import compare_on_kmeans, format_comparison


@pytest.fixture(scope="module")
def digits400():
    from sklearn.datasets import load_digits

    d = load_digits()
    return torch.tensor(d.images[:400] / 16.0, dtype=torch.float32)[:, None], torch.tensor(d.target[:400])


def test_compare_on_kmeans(digits400):
    x, y = digits400

    def destroy(t):  # keep no trace of the digit: pure noise
        return 1e-3 * torch.rand(t.shape, generator=torch.Generator().manual_seed(0))

    choices = {"raw": None, "blur": pp.Pipeline([("gaussian", {"sigma": 0.5})]), "zca": pp.ZCAWhitening(1.0),
               "destroyed": destroy}
    rows = compare_on_kmeans(x, y, choices, n_runs=2, seed=0)
    assert [r["preprocessing"] for r in rows] == list(choices)
    for r in rows:
        assert set(r) >= {"acc", "nmi", "ari", "acc_std", "nmi_std", "ari_std", "seconds"}
        assert 0 <= r["acc"] <= 1 and r["acc_std"] >= 0
    assert rows[0]["acc"] > 0.6  # k-means on raw digits: about 70-80 %
    assert rows[3]["acc"] < rows[0]["acc"] - 0.3  # images with the signal removed cluster at chance
    threads = torch.get_num_threads()
    again = compare_on_kmeans(x, y, {"raw": None}, n_runs=2, seed=0, threads=None)
    assert again[0]["acc"] == rows[0]["acc"]  # same seed, same figures, whatever the thread count
    assert torch.get_num_threads() == threads  # the thread limit is undone afterwards
    table = format_comparison(rows, title="digits")
    assert table.splitlines()[0] == "digits" and "zca" in table and "±" in table
    with pytest.raises(ValueError, match="labels"):
        compare_on_kmeans(x, y[:10], {"raw": None})


def test_compare_on_kmeans_uses_the_librarys_kmeans(digits400, monkeypatch):
    import sklearn.cluster

    from tutorial_lib import cluster

    def refuse(*args, **kwargs):
        raise AssertionError("scikit-learn's KMeans must not be used")

    monkeypatch.setattr(sklearn.cluster, "KMeans", refuse)
    seeds = []
    real = cluster.KMeans

    class Spy(real):
        def fit(self, X, y=None):
            seeds.append((self.n_clusters, self.seed, self.device))
            return super().fit(X)

    monkeypatch.setattr(cluster, "KMeans", Spy)
    x, y = digits400
    rows = compare_on_kmeans(x[:200], y[:200], {"raw": None, "gamma": pp.gamma_correct}, n_runs=3, seed=5)
    assert len(rows) == 2
    assert seeds == [(10, 5, "cpu"), (10, 6, "cpu"), (10, 7, "cpu")] * 2


def test_preprocess_path_still_works_with_a_warning(digits400):
    x, y = digits400
    with pytest.warns(DeprecationWarning, match="evaluation.preprocessing"):
        fn = pp.compare_on_kmeans
    assert fn is compare_on_kmeans
    with pytest.warns(DeprecationWarning):
        assert pp.format_comparison is format_comparison
