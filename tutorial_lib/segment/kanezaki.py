"""Differentiable feature clustering (Kanezaki 2018; Kim, Kanezaki and Tanaka 2020), with scribbles.

Taught in notebook 04_pixel_segmentation.

A small CNN (:class:`PixelNet`) is trained *on the one image* so that its own argmax labels become
both consistent in feature space (:func:`similarity_loss`) and spatially continuous
(:func:`continuity_loss`); optional user scribbles (:func:`check_scribbles`) guide it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime
from ..base import InputError, seeded
from .base import MIN_SIDE, Segmenter, as_images, is_batch, pack_maps, relabel_consecutive, to_numpy
from .descriptors import drop_small_segments


class PixelNet(nn.Module):
    """The per-image network of Kim, Kanezaki and Tanaka (2020).

    ``n_conv`` blocks of 3×3 convolution, ReLU and batch norm, then a 1×1 convolution and batch
    norm giving ``channels`` responses per pixel; the argmax over them is the pixel's label, so
    ``channels`` is also the largest possible number of segments.

    Parameters
    ----------
    in_channels : int
    channels : int
    n_conv : int, >= 1
    """

    def __init__(self, in_channels: int, channels: int = 32, n_conv: int = 2):
        super().__init__()
        if n_conv < 1 or channels < 2:
            raise ValueError(f"need n_conv >= 1 and channels >= 2, got {n_conv=}, {channels=}")
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(n_conv):
            layers += [nn.Conv2d(c, channels, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(channels)]
            c = channels
        layers += [nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` -> responses ``(N, channels, H, W)``."""
        return self.body(x)


def similarity_loss(response: torch.Tensor, target: torch.Tensor,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    """Feature-similarity loss: cross-entropy between the responses and their own argmax labels.

    Parameters
    ----------
    response : Tensor, shape (N, q, H, W)
    target : Tensor, shape (N, H, W), long, the argmax labels (no gradient flows through them)
    mask : Tensor, shape (N, H, W), bool, optional; only these pixels count

    Returns
    -------
    Tensor, scalar
    """
    logits = response.permute(0, 2, 3, 1).reshape(-1, response.shape[1])
    target = target.reshape(-1)
    if mask is not None:
        keep = mask.reshape(-1)
        if not bool(keep.any()):
            return response.sum() * 0.0
        logits, target = logits[keep], target[keep]
    return F.cross_entropy(logits, target)


def continuity_loss(response: torch.Tensor) -> torch.Tensor:
    """Spatial-continuity loss: mean absolute difference of vertically and of horizontally adjacent
    responses (an L1 total variation), which favours labels that form connected regions.

    Parameters
    ----------
    response : Tensor, shape (N, q, H, W)

    Returns
    -------
    Tensor, scalar
    """
    dy = (response[:, :, 1:, :] - response[:, :, :-1, :]).abs().mean()
    dx = (response[:, :, :, 1:] - response[:, :, :, :-1]).abs().mean()
    return dy + dx


def standardise_channels(x: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit standard deviation per image and channel of an ``(N, C, H, W)`` tensor
    (constant channels become 0), so the network sees contrast, not absolute brightness."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = x.std(dim=(2, 3), keepdim=True) if x.shape[2] * x.shape[3] > 1 else torch.ones_like(mean)
    return (x - mean) / (std + 1e-3)


def working_size(height: int, width: int, max_pixels: int | None) -> tuple[int, int]:
    """The size ``(h, w)`` in pixels with the same aspect ratio and at most ``max_pixels`` pixels
    (no upscaling)."""
    if not max_pixels or height * width <= max_pixels:
        return height, width
    s = (max_pixels / (height * width)) ** 0.5
    return max(MIN_SIDE, int(round(height * s))), max(MIN_SIDE, int(round(width * s)))


def scribbles_at(scribbles: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """Move the pixels of an ``(H, W)`` scribble map to a smaller ``(h, w)`` grid; each keeps its class
    (thin strokes survive, unlike nearest-neighbour resizing). Returns ``(h, w)`` long, -1 where
    unlabelled."""
    h, w = size
    out = torch.full((h, w), -1, dtype=torch.long)
    ys, xs = np.nonzero(scribbles >= 0)
    if len(ys):
        H, W = scribbles.shape
        yi = torch.as_tensor(ys * h // H)
        xi = torch.as_tensor(xs * w // W)
        out[yi, xi] = torch.as_tensor(scribbles[ys, xs], dtype=torch.long)
    return out


def check_scribbles(scribbles, shape: tuple[int, int], n_channels: int) -> np.ndarray:
    """Validate a scribble map: ``(H, W)`` ints, -1 = unlabelled, class ids ``0..n_channels-1`` elsewhere.

    Returns
    -------
    ndarray, shape (H, W), int64

    Raises
    ------
    InputError (a ValueError)
        Wrong size, non-integer values, or class ids out of range.
    """
    arr = to_numpy(scribbles)
    if arr.shape != tuple(shape):
        raise InputError(f"scribbles have shape {arr.shape} but the image is {shape[0]}×{shape[1]} "
                         "(H×W); draw them on the image's own grid")
    if arr.dtype.kind not in "iub":
        raise InputError(f"scribbles must be integers (-1 unlabelled, class ids elsewhere), got {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.min() < -1 or arr.max() >= n_channels:
        raise InputError(f"scribble values must lie in -1..{n_channels - 1} (-1 = unlabelled), got "
                         f"{arr.min()}..{arr.max()}")
    return arr


class DifferentiableFeatureClustering(Segmenter):
    """Unsupervised segmentation of one image by differentiable feature clustering.

    A small CNN (:class:`PixelNet`) maps the image to ``n_channels`` responses per pixel. Each
    iteration takes the argmax labels as targets and minimises

        loss = similarity_loss(r, argmax r) + mu * continuity_loss(r)
               [+ scribble_weight * cross-entropy on the scribbled pixels]

    so pixels with similar features share a label and labels form connected regions. The number of
    distinct labels shrinks as training goes on; training stops when it is at most ``min_labels``
    or after ``max_iter`` iterations (Kim, Kanezaki and Tanaka, IEEE TIP 2020).

    Speed-ups over the published setting (100 channels, up to 1000 iterations on a GPU at full
    resolution): fewer channels, and the network runs on a copy of the image with at most
    ``max_pixels`` pixels; its responses are upsampled bilinearly to full size before the argmax.
    Segments smaller than ``min_share`` of the image are then dropped (their pixels take their
    next-best label).

    Parameters
    ----------
    n_channels : int
        Feature channels of the network (and the largest number of segments).
    n_conv : int
        Number of 3×3 convolution blocks.
    max_iter : int
        Most iterations (the training budget).
    min_labels : int
        Stop as soon as the argmax uses this many labels or fewer.
    mu : float
        Weight of the continuity loss: larger gives fewer, smoother regions.
    lr : float
        SGD learning rate (momentum 0.9), as in the paper.
    max_pixels : int or None
        Working resolution (None: full resolution).
    min_share : float
        Drop segments smaller than this share of the image.
    scribble_weight : float
        Weight of the scribble cross-entropy when scribbles are given to :meth:`fit`.
    seed : int
        Seed of each image's network (every image starts from the same weights).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"``.
    progress : bool
        Progress bar over the images of a batch.

    Attributes
    ----------
    labels_ : ndarray (H, W) or a batch of them
    n_iter_ : list of int, iterations used per image
    history_ : list of dict per image: ``loss`` and ``n_labels`` per iteration
    model_ : PixelNet, the network of the last image
    """

    progress_name = "kanezaki"

    def __init__(self, n_channels: int = 32, n_conv: int = 2, max_iter: int = 100, min_labels: int = 3,
                 mu: float = 5.0, lr: float = 0.1, max_pixels: int | None = 20000, min_share: float = 0.01,
                 scribble_weight: float = 1.0, seed: int = 0, device: str = "auto", progress: bool = False):
        self.n_channels = n_channels
        self.n_conv = n_conv
        self.max_iter = max_iter
        self.min_labels = min_labels
        self.mu = mu
        self.lr = lr
        self.max_pixels = max_pixels
        self.min_share = min_share
        self.scribble_weight = scribble_weight
        self.seed = seed
        self.device = device
        self.progress = progress

    def fit(self, images, scribbles=None) -> DifferentiableFeatureClustering:
        """Segment each image (its own network, trained from scratch with the same seed).

        Parameters
        ----------
        images : (C, H, W) image or a batch, float in [0, 1]
        scribbles : array-like (H, W) of int for one image, or a list of them (None entries allowed)
            -1 marks unlabelled pixels; ``0..n_channels-1`` marks pixels the user assigned to that
            class. Scribbled pixels are pulled to their class by an extra cross-entropy term.

        Returns
        -------
        self
        """
        batch = is_batch(images)
        arrays = as_images(images)
        if scribbles is None:
            scribbles = [None] * len(arrays)
        elif not batch:
            scribbles = [scribbles]
        if len(scribbles) != len(arrays):
            raise InputError(f"got {len(scribbles)} scribble maps for {len(arrays)} images")
        dev = runtime.device(self.device)
        results = self._each_image(lambda im, scr: self._fit_one(im, scr, dev), batch, arrays, scribbles)
        self.n_iter_ = [len(history["loss"]) for _, history, _ in results]
        self.history_ = [history for _, history, _ in results]
        self.model_ = results[-1][2]
        self.labels_ = pack_maps([relabel_consecutive(labels) for labels, _, _ in results], images)
        return self

    def fit_predict(self, images, scribbles=None):
        """``fit(images, scribbles)`` and return ``labels_`` (see :meth:`fit`)."""
        return self.fit(images, scribbles=scribbles).labels_

    def _fit_one(self, image: np.ndarray, scribbles, dev: torch.device) -> tuple[np.ndarray, dict, PixelNet]:
        """Train a fresh network on one ``(H, W, C)`` image; its labels ``(H, W)``, history and network."""
        H, W = image.shape[:2]
        scr_full = None if scribbles is None else check_scribbles(scribbles, (H, W), self.n_channels)
        x = standardise_channels(torch.from_numpy(image.transpose(2, 0, 1).copy())[None])
        h, w = working_size(H, W, self.max_pixels)
        if (h, w) != (H, W):
            x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        x = x.to(dev)
        scr = None if scr_full is None else scribbles_at(scr_full, (h, w)).to(dev)[None]
        # The network's initial weights come from torch's global generator: seeded per image, and the
        # caller's generators are put back afterwards.
        with seeded(self.seed, dev):
            net = PixelNet(x.shape[1], self.n_channels, self.n_conv).to(dev)
            history = self._train(net, x, scr)
            with torch.no_grad():
                # Same batch-norm mode as in training: the statistics of this one image.
                response = net(x)
                if (h, w) != (H, W):
                    response = F.interpolate(response, size=(H, W), mode="bilinear", align_corners=False)
        scores = response[0].permute(1, 2, 0).cpu().numpy()
        labels = scores.argmax(axis=2)
        if scr_full is not None:  # the user's strokes are kept as drawn
            return np.where(scr_full >= 0, scr_full, labels), history, net
        return drop_small_segments(scores, labels, self.min_share), history, net

    def _train(self, net: PixelNet, x: torch.Tensor, scr: torch.Tensor | None) -> dict:
        """At most ``max_iter`` steps on the one image ``x`` (1, C, h, w); ``loss`` and ``n_labels`` per step.

        Its own small loop rather than train.fit: one "batch" (the whole image) seen again at every
        iteration, targets recomputed from the network's own argmax each time, and a stopping rule on
        the number of labels checked after every step. train.fit's epochs over a dataset, shuffling,
        checkpoints and DDP have nothing to act on in a few-second fit of one image.
        """
        opt = torch.optim.SGD(net.parameters(), lr=self.lr, momentum=0.9)
        history: dict = {"loss": [], "n_labels": []}
        net.train()
        for _ in range(self.max_iter):
            response = net(x)
            target = response.detach().argmax(dim=1)
            n_labels = int(torch.unique(target).numel())
            if scr is None:
                loss = similarity_loss(response, target)
            else:
                labelled = scr >= 0
                loss = similarity_loss(response, target, ~labelled)
                loss = loss + self.scribble_weight * similarity_loss(response, scr.clamp(min=0), labelled)
            loss = loss + self.mu * continuity_loss(response)
            opt.zero_grad()
            loss.backward()
            opt.step()
            history["loss"].append(float(loss.detach()))
            history["n_labels"].append(n_labels)
            if n_labels <= self.min_labels:
                break
        return history
