"""Feature learning: NT-Xent on hand-made inputs, trainers on tiny data, embeddings, kNN / linear probes."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tutorial_lib.features import (
    SimCLRStep,
    embed,
    feature_report,
    format_report,
    knn_accuracy,
    linear_probe_accuracy,
    nt_xent_loss,
    pixels,
    project_2d,
    reconstruct,
    train_autoencoder,
    train_simclr,
)
from tutorial_lib.models import ConvAutoencoder, ConvEncoder, EncoderWithHead, ProjectionHead
from tutorial_lib.train import StopTraining

torch.set_num_threads(1)


def reference_nt_xent(z1, z2, temperature):
    """SimCLR's loss written out term by term, straight from the paper's definition."""
    z = [F.normalize(v, dim=0) for v in torch.cat([z1, z2])]
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        num = math.exp(float(z[i] @ z[j]) / temperature)
        den = sum(math.exp(float(z[i] @ z[k]) / temperature) for k in range(2 * n) if k != i)
        total += -math.log(num / den)
    return total / (2 * n)


def test_nt_xent_matches_the_reference_on_random_inputs():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    for t in (0.1, 0.5, 1.0):
        assert nt_xent_loss(z1, z2, t).item() == pytest.approx(reference_nt_xent(z1, z2, t), rel=1e-5)


def test_nt_xent_hand_worked_orthogonal_case():
    # Pairs identical and all images orthogonal: the positive has similarity 1/t, the 2N - 2
    # negatives 0, so every term is -log(e^{1/t} / (e^{1/t} + 2N - 2)).
    n, t = 4, 0.5
    e = torch.eye(n)
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * n - 2))
    assert nt_xent_loss(e, e, t).item() == pytest.approx(expected, rel=1e-6)
    assert nt_xent_loss(3 * e, 0.2 * e, t).item() == pytest.approx(expected, rel=1e-6)  # scale-free


def test_nt_xent_low_for_matched_pairs_high_for_swapped_pairs():
    e = torch.eye(6)
    matched = nt_xent_loss(e, e, 0.1).item()
    swapped = nt_xent_loss(e, e[torch.tensor([1, 2, 3, 4, 5, 0])], 0.1).item()
    assert matched < 0.01
    assert swapped > 9.0  # the positive sits at 0 while a negative sits at 1/t = 10
    z1, z2 = torch.randn(5, 3), torch.randn(5, 3)
    assert nt_xent_loss(z1, z2).item() == pytest.approx(nt_xent_loss(z2, z1).item(), rel=1e-6)


def test_nt_xent_bad_inputs():
    with pytest.raises(ValueError, match="shape"):
        nt_xent_loss(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="at least 2"):
        nt_xent_loss(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent_loss(torch.randn(4, 3), torch.randn(4, 3), 0.0)


def _blobs(n_per=30, dim=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(3, dim) * 10
    x = np.concatenate([c + rng.normal(size=(n_per, dim)) for c in centres])
    return torch.tensor(x, dtype=torch.float32), torch.arange(3).repeat_interleave(n_per)


def test_knn_and_linear_probe_on_separated_and_shuffled_labels():
    x, y = _blobs()
    assert knn_accuracy(x, y, k=5) == 1.0
    assert knn_accuracy(x, y, k=5, metric="euclidean") == 1.0
    assert linear_probe_accuracy(x, y) == 1.0
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    assert knn_accuracy(x, shuffled) < 0.6
    xt, yt = _blobs(seed=1)
    assert knn_accuracy(x, y, xt, yt, k=3) == 1.0
    assert linear_probe_accuracy(x, y, xt, yt) == 1.0
    # A point placed among class 1's neighbours is voted class 1.
    assert knn_accuracy(x, y, torch.tensor([[0.0, 10.0, 0.0, 0.0]]), torch.tensor([1]), k=5) == 1.0


def test_knn_bad_inputs():
    x, y = _blobs()
    with pytest.raises(ValueError, match="labels"):
        knn_accuracy(x, y[:5])
    with pytest.raises(ValueError, match="both"):
        knn_accuracy(x, y, test_labels=y)
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        knn_accuracy(bad, y)


def test_feature_report_and_table():
    x, y = _blobs()
    report = feature_report({"good": x, "noise": torch.randn(len(x), 4)}, y, k=5)
    assert report["good"]["knn_acc"] == 1.0 and report["good"]["dim"] == 4
    assert report["noise"]["knn_acc"] < 0.7
    table = format_report(report)
    assert "knn_acc" in table and "linear_acc" in table and "noise" in table


def _tiny_images(n=48, size=8, seed=0):
    # Three classes of images: bright top rows, bright left columns, bright centre.
    g = torch.Generator().manual_seed(seed)
    x = 0.1 * torch.rand(n, 1, size, size, generator=g)
    y = torch.arange(n) % 3
    x[y == 0, :, : size // 3] += 0.8
    x[y == 1, :, :, : size // 3] += 0.8
    x[y == 2, :, size // 3: -size // 3, size // 3: -size // 3] += 0.8
    return x.clamp(0, 1), y


def test_train_autoencoder_lowers_the_reconstruction_error():
    x, y = _tiny_images()
    model, history = train_autoencoder(x, latent_dim=4, width=8, epochs=4, lr=5e-3, batch_size=16,
                                       progress=False, monitor_labels=y)
    assert len(history["knn_acc"]) == 4
    assert isinstance(model, ConvAutoencoder) and not model.training
    assert history.losses[-1] < history.losses[0]
    recon = reconstruct(model, x)
    assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 1
    assert embed(model, x).shape == (len(x), 4)


def test_train_simclr_runs_reports_and_resumes_exactly(tmp_path):
    x, y = _tiny_images(n=40)
    kwargs = dict(depth=1, width=8, projection_dim=8, epochs=3, batch_size=16, lr=1e-2, progress=False)
    full, h_full = train_simclr(x, monitor_labels=y, **kwargs)
    assert set(h_full.keys()) >= {"loss", "pair_acc", "knn_acc"} and len(h_full) == 3
    assert all(np.isfinite(h_full.losses)) and 0 <= h_full["knn_acc"][-1] <= 1
    assert embed(full, x).shape == (40, full.encoder.out_dim)

    def stop_after_one(epoch, model, history):
        raise StopTraining

    train_simclr(x, monitor_labels=y, checkpoint_dir=tmp_path, on_epoch_end=stop_after_one, **kwargs)
    resumed, h_res = train_simclr(x, monitor_labels=y, checkpoint_dir=tmp_path, resume=True, **kwargs)
    assert h_res.resumed_from == 1
    # Same augmentations after the resume, so the same weights as the uninterrupted run.
    for p, q in zip(full.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(p, q)


def test_simclr_step_returns_loss_and_pair_accuracy():
    enc = ConvEncoder(1, depth=1, width=4)
    model = EncoderWithHead(enc, ProjectionHead(enc.out_dim, 16, 8))
    loss, metrics = SimCLRStep(lambda im: im + 0.01 * torch.randn_like(im), 0.5)(model, _tiny_images(8)[0])
    assert loss.ndim == 0 and loss.requires_grad and 0 <= float(metrics["pair_acc"]) <= 1


def test_embed_uses_encoder_features_restores_mode_and_accepts_plain_encoders():
    x, _ = _tiny_images(10)
    enc = ConvEncoder(1, depth=2, width=4)
    model = EncoderWithHead(enc, ProjectionHead(enc.out_dim, 16, 3)).train()
    feats = embed(model, x, batch_size=3)
    assert feats.shape == (10, enc.out_dim) and feats.dtype == torch.float32 and model.training
    assert torch.allclose(feats, embed(enc, x, batch_size=7), atol=1e-6)  # eval mode: batch size irrelevant
    assert pixels(x).shape == (10, 64)
    with pytest.raises(ValueError, match="N, C, H, W"):
        embed(enc, x[0])


def test_project_2d():
    x, _ = _blobs(10)
    assert project_2d(x, "pca").shape == (30, 2)
    assert project_2d(x, "tsne").shape == (30, 2)
    with pytest.raises(ValueError, match="method"):
        project_2d(x, "umap")


def _rng_states():
    import random

    return random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()


def _same_rng_states(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and torch.equal(a[2], b[2])


def test_train_autoencoder_keeps_its_random_stream_and_the_callers_state():
    from tutorial_lib import runtime
    from tutorial_lib.features import reconstruction_step
    from tutorial_lib.train import fit

    x, _ = _tiny_images(24)
    kwargs = dict(epochs=2, lr=5e-3, batch_size=8, progress=False, device="cpu", seed=3)
    torch.manual_seed(123)
    before = _rng_states()
    model, history = train_autoencoder(x, latent_dim=4, width=8, **kwargs)
    assert _same_rng_states(before, _rng_states())
    # The stream it had when it called runtime.seed_everything(seed) itself: same weights, same losses.
    runtime.seed_everything(3)
    ref = ConvAutoencoder(1, (8, 8), latent_dim=4, width=8)
    ref_history = fit(ref, reconstruction_step, x, scheduler="cosine", config={}, **kwargs)
    for p, q in zip(model.state_dict().values(), ref.state_dict().values(), strict=True):
        assert torch.equal(p, q)
    assert history.losses == ref_history.losses
    other, _ = train_autoencoder(x, latent_dim=4, width=8, **{**kwargs, "seed": 4})
    assert not all(torch.equal(p, q) for p, q in zip(other.state_dict().values(), model.state_dict().values(),
                                                     strict=True))


def test_train_simclr_same_seed_same_weights_and_callers_state_unchanged():
    x, _ = _tiny_images(n=24)
    kwargs = dict(depth=1, width=4, projection_dim=4, epochs=1, batch_size=12, progress=False, device="cpu")
    torch.manual_seed(7)
    before = _rng_states()
    a, ha = train_simclr(x, seed=1, **kwargs)
    assert _same_rng_states(before, _rng_states())
    torch.manual_seed(8)  # another caller state must not matter
    b, hb = train_simclr(x, seed=1, **kwargs)
    c, _ = train_simclr(x, seed=2, **kwargs)
    pairs = list(zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert all(torch.equal(p, q) for p, q in pairs) and ha.losses == hb.losses
    assert not all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), c.state_dict().values(),
                                                     strict=True))


def test_arrays_are_accepted_and_bad_images_refused_clearly():
    from tutorial_lib.base import InputError

    x, _ = _tiny_images(6)
    enc = ConvEncoder(1, depth=1, width=4)
    assert torch.allclose(embed(enc, x.numpy()), embed(enc, x))
    assert torch.equal(pixels(x.numpy()), x.flatten(1))
    with pytest.raises(InputError, match="float"):
        pixels((x * 255).to(torch.uint8))
    with pytest.raises(InputError, match="NaN"):
        embed(enc, torch.full((2, 1, 8, 8), float("nan")))
