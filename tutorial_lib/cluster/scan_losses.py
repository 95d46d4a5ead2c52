"""The parts SCAN is built from: neighbour mining, its losses, balanced pseudo-labels, its CNN, its views.

Taught in notebook 03_clustering_classification (SCAN, after Van Gansbeke et al., 2020, with
self-labelling): :func:`mine_neighbors`, :func:`scan_loss`, :func:`self_label_loss`,
:func:`equipartition`, :func:`scan_encoder`, :func:`build_scan_model`, :func:`scan_augment`, and the
``train.fit`` steps :class:`ScanStep` and :class:`SelfLabelStep`. :func:`reseed_from_global` is the one
place an augmentation's generator is re-seeded (it lives in tutorial_lib.base, shared with SimCLR).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..base import reseed_from_global
from ..models import (
    AutoencoderEncoder,
    ClusteringHead,
    ConvAutoencoder,
    ConvEncoder,
    EncoderWithHead,
    SqueezeExcite,
    check_attention,
    make_activation,
    resnet18_small,
)
from ._common import as_matrix


def mine_neighbors(features, n_neighbors: int = 5, batch_size: int = 2048) -> torch.Tensor:
    """Indices ``(N, n_neighbors)`` of each sample's nearest neighbours by cosine similarity (itself
    excluded).

    Parameters
    ----------
    features : Tensor or array, shape (N, D)
    n_neighbors : int
        At most N - 1.
    batch_size : int
        Rows of the similarity matrix computed at once (memory: ``batch_size * N`` floats).

    Returns
    -------
    Tensor, shape (N, n_neighbors), int64, most similar first.
    """
    x = F.normalize(as_matrix(features, "features"), dim=1)
    n = len(x)
    if not 1 <= n_neighbors < n:
        raise ValueError(f"n_neighbors must be between 1 and N - 1 = {n - 1}, got {n_neighbors}")
    out = []
    for i in range(0, n, batch_size):
        sim = x[i:i + batch_size] @ x.T
        rows = torch.arange(i, min(i + batch_size, n))
        sim[rows - i, rows] = -float("inf")
        out.append(sim.topk(n_neighbors, dim=1).indices)
    return torch.cat(out)


def scan_loss(anchor_logits: torch.Tensor, neighbor_logits: torch.Tensor, entropy_weight: float = 5.0,
              prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SCAN's clustering loss: neighbours should agree, and every cluster should be used.

    With :math:`p_i = \\mathrm{softmax}(\\text{anchor logits}_i)`, :math:`p_{n(i)}` the same for a
    neighbour of sample :math:`i`, and :math:`\\bar p = \\frac{1}{B}\\sum_i p_i`:

    .. math:: \\mathcal{L} = -\\frac{1}{B}\\sum_i \\log \\langle p_i, p_{n(i)} \\rangle
              \\; - \\; \\lambda \\, H(\\bar p), \\qquad H(\\bar p) = -\\sum_k \\bar p_k \\log \\bar p_k

    Parameters
    ----------
    anchor_logits, neighbor_logits : Tensor, shape (B, K)
    entropy_weight : float
        :math:`\\lambda`; without it every sample would go to one cluster.
    prior : Tensor, shape (K,), optional
        Expected cluster shares :math:`\\pi` (summing to 1). The entropy term then becomes
        :math:`-\\lambda\\,\\mathrm{KL}(\\bar p \\,\\|\\, \\pi)
        = \\lambda\\,(H(\\bar p) + \\sum_k \\bar p_k \\log \\pi_k)`, which pulls :math:`\\bar p`
        towards :math:`\\pi` instead of towards equal shares (None: equal shares, the loss above).

    Returns
    -------
    (total, consistency, entropy) : scalar Tensors; ``entropy`` is :math:`H(\\bar p)` in [0, log K].
    """
    if anchor_logits.shape != neighbor_logits.shape or anchor_logits.ndim != 2:
        raise ValueError(f"logits must both have shape (B, K), got {tuple(anchor_logits.shape)} and "
                         f"{tuple(neighbor_logits.shape)}")
    p = anchor_logits.float().softmax(1)
    q = neighbor_logits.float().softmax(1)
    consistency = -torch.log((p * q).sum(1).clamp_min(1e-8)).mean()
    mean = p.mean(0)
    entropy = -(mean * torch.log(mean.clamp_min(1e-8))).sum()
    spread = entropy
    if prior is not None:
        spread = entropy + (mean * torch.log(prior.to(mean).clamp_min(1e-8))).sum()  # -KL(mean || prior)
    return consistency - entropy_weight * spread, consistency, entropy


def self_label_loss(logits: torch.Tensor, targets: torch.Tensor, confidence: torch.Tensor,
                    threshold: float = 0.99,
                    n_clusters: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy on confident pseudo-labels, each class weighted by the inverse of its count.

    .. math:: \\mathcal{L} = \\frac{\\sum_{i: c_i > \\tau} w_{y_i} \\,(-\\log p_{i, y_i})}
              {\\sum_{i: c_i > \\tau} w_{y_i}}, \\qquad w_k = 1 / |\\{i : c_i > \\tau, y_i = k\\}|

    Parameters
    ----------
    logits : Tensor, shape (B, K)
        Predictions on augmented views.
    targets : Tensor, shape (B,), int64
        Pseudo-labels (the model's own predictions on the clean images).
    confidence : Tensor, shape (B,), float in [0, 1]
        Probability of the pseudo-label.
    threshold : float
        :math:`\\tau`: only samples above it count.
    n_clusters : int, optional
        K (default: ``logits.shape[1]``).

    Returns
    -------
    (loss, fraction) : the loss (0 when no sample is confident) and the fraction of samples used.
    """
    k = n_clusters or logits.shape[1]
    mask = confidence > threshold
    if not bool(mask.any()):
        return logits.sum() * 0.0, mask.float().mean()
    counts = torch.bincount(targets[mask], minlength=k).float()
    weight = torch.where(counts > 0, 1.0 / counts.clamp_min(1), torch.zeros_like(counts))
    weight = weight * counts.sum() / (counts > 0).sum()  # mean weight per sample stays 1
    loss = F.cross_entropy(logits[mask].float(), targets[mask], weight=weight)
    return loss, mask.float().mean()


def equipartition(logits: torch.Tensor, n_iter: int = 100, prior: torch.Tensor | None = None) -> torch.Tensor:
    """The assignment closest to the predictions in which every cluster gets the same share of samples.

    Sinkhorn–Knopp (as in SeLa, Asano et al. 2020, and SwAV): starting from
    :math:`Q = \\mathrm{softmax}(\\text{logits})`, rescale its columns and rows in turn until every
    row sums to 1 and every column to :math:`N / K`, i.e. find
    :math:`Q = \\mathrm{diag}(\\alpha)\\, P \\,\\mathrm{diag}(\\beta)`. Each cluster's weight
    :math:`\\beta_k` grows when it is under-used, so small groups of samples that the model put in an
    over-full cluster (a writing style of one digit merged into another digit) move to the
    under-full cluster they resemble most.

    Parameters
    ----------
    logits : Tensor, shape (N, K)
    n_iter : int
        Row/column rescalings (computed in log space, float64).
    prior : Tensor, shape (K,), optional
        The shares the columns should have instead (summing to 1): column k sums to
        :math:`N \\pi_k`, for clusters of unequal sizes.

    Returns
    -------
    Tensor, shape (N, K), float32, rows sum to 1, columns sum to about N / K (or N times ``prior``).
    """
    if logits.ndim != 2 or len(logits) == 0:
        raise ValueError(f"logits must have shape (N, K) with N >= 1, got {tuple(logits.shape)}")
    n, k = logits.shape
    log_q = logits.double().log_softmax(1)
    shares = None if prior is None else prior.double().clamp_min(1e-12) / prior.sum()
    target = math.log(n / k) if shares is None else torch.log(n * shares)
    for _ in range(n_iter):
        log_q = log_q - log_q.logsumexp(0, keepdim=True) + target  # column sums: N / K, or N * prior
        log_q = log_q - log_q.logsumexp(1, keepdim=True)  # rows sum to 1
    return log_q.exp().float()


def scan_encoder(image_shape, width: int = 32, depth: int | None = None, activation: str = "relu",
                 feature_dim: int = 128, attention: str | None = None) -> nn.Module:
    """The CNN SCAN trains, sized by the images.

    Up to 12 pixels (8×8 digits): :class:`~tutorial_lib.models.ConvEncoder` (two 3×3 convolutions at
    full resolution per stage keep the few pixels there are; ``depth`` stages, default 2). Larger
    images: the stride-2 encoder of :class:`~tutorial_lib.models.ConvAutoencoder` (``depth`` stride-2
    layers, default 3 below 48 pixels else 4, and a linear layer to ``feature_dim``), several times
    cheaper per image on a CPU. Its initial weights come from torch's global generator.

    Parameters
    ----------
    image_shape : tuple (..., C, H, W)
    width : int
        Channels of the first layer (doubling at each stage).
    depth : int, optional
    activation : str
        See ``models.make_activation``.
    feature_dim : int
        Output size for the larger images.
    attention : {None, "se"}
        "se": a squeeze-and-excitation block (:class:`~tutorial_lib.models.SqueezeExcite`) after each
        stage of the small-image CNN, or after each stride-2 layer of the larger images' encoder. None
        builds exactly the network (and draws exactly the random numbers) it did before the option.

    Returns
    -------
    nn.Module mapping (N, C, H, W) to (N, D) features.
    """
    check_attention(attention)
    c, h, w = image_shape[-3:]
    if max(h, w) <= 12:
        return ConvEncoder(c, depth=depth or 2, width=width, activation=activation, attention=attention)
    depth = depth or (3 if min(h, w) < 48 else 4)
    ae = ConvAutoencoder(c, (h, w), latent_dim=feature_dim, width=width, depth=depth, activation=activation)
    # Only the encoder half is trained; drop the decoder so the optimiser and checkpoints skip it.
    ae.from_latent, ae.out_conv = nn.Identity(), nn.Identity()
    ae.up, ae.up_post = nn.ModuleList(), nn.ModuleList()
    if attention == "se":
        ae.encoder_conv = _with_squeeze_excite(ae.encoder_conv)
    return nn.Sequential(AutoencoderEncoder(ae), nn.BatchNorm1d(feature_dim), make_activation(activation))


def _with_squeeze_excite(layers: nn.Sequential) -> nn.Sequential:
    """``layers`` (conv, batch norm, activation, ...) with a ``SqueezeExcite`` after each activation."""
    out: list[nn.Module] = []
    channels = None
    for layer in layers:
        out.append(layer)
        if isinstance(layer, nn.Conv2d):
            channels = layer.out_channels
        elif not isinstance(layer, nn.BatchNorm2d):  # the activation closes a conv-BN-activation layer
            out.append(SqueezeExcite(channels))
    return nn.Sequential(*out)


def scan_augment(images: torch.Tensor, seed: int = 0):
    """SCAN's augmentation: a random rotation (±15°), shift (±10 %) and zoom (0.9–1.1) of each image,
    with brightness/contrast jitter, as ``preprocess.ContrastiveAugment`` with no crop or blur.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W)
        Used only to choose the preset (digits, MNIST-like, colour).
    seed : int
        Seed of the augmentation's own generator.

    Returns
    -------
    ContrastiveAugment : ``images (B, C, H, W) -> views (B, C, H, W)``
    """
    from ..preprocess import ContrastiveAugment, preset_for

    return ContrastiveAugment(preset_for(images), seed=seed, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0),
                              degrees=15.0, translate=0.1, affine_scale=(0.9, 1.1), blur_p=0.0)


class ScanStep:
    """``train.fit`` step of SCAN's stage 3: each anchor and a neighbour (or itself), both augmented.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W)
        All images (neighbours are looked up here).
    neighbors : Tensor, shape (N, n_neighbors), int64
    augment : callable
        ``images -> images`` random views.
    entropy_weight : float
        See :func:`scan_loss`.
    prior : Tensor, shape (K,), optional
        Expected cluster shares (see :func:`scan_loss`).
    """

    def __init__(self, images: torch.Tensor, neighbors: torch.Tensor, augment, entropy_weight: float,
                 prior: torch.Tensor | None = None):
        self.images, self.neighbors, self.augment = images, neighbors, augment
        self.entropy_weight = entropy_weight
        self.prior = prior

    def __call__(self, model: nn.Module, batch) -> tuple[torch.Tensor, dict]:
        """Loss of a batch ``(x (B, C, H, W), idx (B,))`` and its ``consistency`` and ``entropy`` terms."""
        x, idx = batch
        reseed_from_global(self.augment)
        k = self.neighbors.shape[1]
        # Each anchor is paired with a random one of its k neighbours, or with itself (pick == k).
        pick = torch.randint(0, k + 1, (len(idx),))
        nb = torch.where(pick == k, idx.cpu(), self.neighbors[idx.cpu(), pick.clamp(max=k - 1)])
        xn = self.images[nb].to(x.device)
        logits = model(torch.cat([self.augment(x), self.augment(xn)]))
        total, consistency, entropy = scan_loss(*logits.chunk(2), self.entropy_weight, self.prior)
        return total, {"consistency": consistency, "entropy": entropy}


class SelfLabelStep:
    """``train.fit`` step of SCAN's stage 4: cross-entropy of augmented views against pseudo-labels.

    Parameters
    ----------
    state : dict
        Filled before each epoch: ``state["targets"]`` (N,) int64, balanced labels of every sample,
        when present; else ``state["probs"]`` (N, K), whose confident rows become the targets.
    augment : callable
        ``images -> images`` random views.
    threshold : float
        Confidence needed by a pseudo-label taken from ``state["probs"]``.
    n_clusters : int
    """

    def __init__(self, state: dict, augment, threshold: float, n_clusters: int):
        self.state, self.augment = state, augment
        self.threshold, self.n_clusters = threshold, n_clusters

    def __call__(self, model: nn.Module, batch):
        """Loss of a batch ``(x (B, C, H, W), idx (B,))`` (and the ``confident`` share when thresholded)."""
        x, idx = batch
        reseed_from_global(self.augment)
        if "targets" in self.state:
            targets = self.state["targets"][idx.cpu()].to(x.device)
            return F.cross_entropy(model(self.augment(x)).float(), targets)
        probs = self.state["probs"][idx.cpu()].to(x.device)
        conf, targets = probs.max(1)
        loss, used = self_label_loss(model(self.augment(x)), targets, conf, self.threshold, self.n_clusters)
        return loss, {"confident": used}


ENCODERS = ("cnn", "resnet18")
"""Accepted values of ``build_scan_model(encoder=...)``."""


def build_scan_model(image_shape, n_clusters: int, width: int = 32, depth: int | None = None,
                     activation: str = "relu", attention: str | None = None,
                     encoder: str = "cnn") -> EncoderWithHead:
    """An encoder and a ``ClusteringHead`` of ``n_clusters`` logits (global-generator weights).

    Parameters
    ----------
    image_shape : tuple (..., C, H, W)
    n_clusters : int
    width, depth, activation
        The CNN's (see :func:`scan_encoder`); ignored by ``encoder="resnet18"``.
    attention : None or "se"
        Passed to :func:`scan_encoder` (the CNN only).
    encoder : {"cnn", "resnet18"}
        "cnn": :func:`scan_encoder`, sized by the images. "resnet18":
        :func:`~tutorial_lib.models.resnet18_small` with random weights: 11.2 M parameters against
        0.36 M, and 0.91 GFLOPs per forward pass of a 28×28 image against 4.8 MFLOPs (8×8: 69 against
        3.0), so beyond digits it is a GPU job.

    Returns
    -------
    EncoderWithHead: (N, C, H, W) images -> (N, n_clusters) logits.
    """
    if encoder == "cnn":
        net = scan_encoder(image_shape, width, depth, activation, attention=attention)
    elif encoder == "resnet18":
        if attention is not None:
            raise ValueError(f"attention={attention!r} is an option of the CNN only; use encoder='cnn' "
                             "or attention=None with encoder='resnet18'")
        net = resnet18_small(image_shape[-3])
    else:
        raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    return EncoderWithHead(net, ClusteringHead(_out_dim(net, image_shape), n_clusters))


def _out_dim(encoder: nn.Module, image_shape) -> int:
    dim = getattr(encoder, "out_dim", None)
    if dim is None:
        with torch.no_grad():
            dim = encoder.eval()(torch.zeros(2, *image_shape[1:])).shape[1]
        encoder.train()
    return int(dim)
