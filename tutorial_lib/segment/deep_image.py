"""Deep-feature segmentation per image: a pixel network on the set's descriptors, k-means per image.

Taught in notebook 04_pixel_segmentation (the deep-feature method on flat-coloured objects: nuclei,
scenes, photos; ``DeepFeatureClustering(scope="image")``).

:class:`FeatureNet` is trained on random crops of the descriptors to predict the pseudo-labels
(with the continuity loss of the Kanezaki method, :class:`PseudoLabelStep`); each image is then
clustered on its own, on the descriptors plus the network's features, with k picked per image.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..base import batched_forward
from .deep_base import DeepFeatureBase
from .deep_set import check_flag
from .descriptors import PixelDescriptors, describe_pixels, estimate_n_segments, kmeans, sample_rows
from .kanezaki import continuity_loss


class FeatureNet(nn.Module):
    """Fully convolutional per-pixel feature network of :class:`ImageFeatureClustering`.

    Three 3×3 convolution blocks with dilations 1, 2 and 4 (a 15-pixel receptive field at full
    resolution, without pooling so the map keeps the image's size), a 1×1 projection to
    ``embed_dim`` unit-length features, and a 1×1 classifier over the pseudo-classes.
    :meth:`hypercolumns` adds the maps of the first two blocks (3- and 7-pixel receptive fields).

    Parameters
    ----------
    in_channels : int
    n_classes : int
        Number of pseudo-classes the head predicts during training.
    width : int
    embed_dim : int
    """

    def __init__(self, in_channels: int, n_classes: int, width: int = 32, embed_dim: int = 16):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for dilation in (1, 2, 4):
            layers += [nn.Conv2d(c, width, 3, padding=dilation, dilation=dilation, padding_mode="reflect"),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            c = width
        layers.append(nn.Conv2d(width, embed_dim, 1))
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(embed_dim, n_classes, 1)

    STAGE_ENDS = (2, 5)
    """Indices in ``body`` of the activations closing the first two blocks (dilations 1 and 2)."""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` -> unit-length features ``(N, embed_dim, H, W)``."""
        return F.normalize(self.body(x), dim=1)

    def hypercolumns(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` -> unit-length hypercolumns ``(N, 2 * width + embed_dim, H, W)``.

        The maps of the first two blocks and the embedding, each L2-normalised on its own (so each
        weighs the same whatever its width), concatenated and divided by √3 (unit length overall, like
        :meth:`embed`). Every map already has the image's size: the network never pools.
        """
        parts = []
        for i, layer in enumerate(self.body):
            x = layer(x)
            if i in self.STAGE_ENDS:
                parts.append(F.normalize(x, dim=1))
        parts.append(F.normalize(x, dim=1))
        return torch.cat(parts, dim=1) / len(parts) ** 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pseudo-class logits ``(N, n_classes, H, W)``; a fixed scale of 5 on the unit features acts
        as a softmax temperature of 0.2."""
        return self.head(self.embed(x) * 5.0)


def random_crops(inputs: list[np.ndarray], targets: list[np.ndarray], n: int, size: int,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random ``size``×``size`` crops of (C, H, W) inputs and their (H, W) targets, images
    picked in proportion to their area; images smaller than ``size`` are reflect-padded first.

    Returns
    -------
    crops : Tensor (n, C, size, size), float32
    targets : Tensor (n, size, size), int64
    """
    areas = np.array([t.size for t in targets], dtype=np.float64)
    picks = rng.choice(len(inputs), size=n, p=areas / areas.sum())
    xs, ys = [], []
    for i in picks:
        x, y = inputs[i], targets[i]
        ph, pw = max(0, size - y.shape[0]), max(0, size - y.shape[1])
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="reflect")
            y = np.pad(y, ((0, ph), (0, pw)), mode="reflect")
        top = rng.integers(0, y.shape[0] - size + 1)
        left = rng.integers(0, y.shape[1] - size + 1)
        xs.append(x[:, top:top + size, left:left + size])
        ys.append(y[top:top + size, left:left + size])
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)).long()


class PseudoLabelStep:
    """The training objective of :class:`FeatureNet`, a ``step(model, batch)`` for
    :func:`tutorial_lib.train.fit`: cross-entropy against the pseudo-labels plus ``mu`` times the
    spatial-continuity loss of the logits (the same term as the Kanezaki method).

    Parameters
    ----------
    mu : float
    """

    def __init__(self, mu: float = 1.0):
        self.mu = mu

    def __call__(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]):
        """Loss of one batch of crops ``(B, C, P, P)`` and pseudo-labels ``(B, P, P)``, and its parts."""
        x, y = batch
        logits = model(x)
        ce = F.cross_entropy(logits, y)
        cont = continuity_loss(logits)
        return ce + self.mu * cont, {"cross_entropy": ce.detach(), "continuity": cont.detach()}


class ImageFeatureClustering(DeepFeatureBase):
    """k-means per image on descriptors and the features of a pixel network trained on the set.

    1. Describe each pixel by its coherent colour and PCA-whitened local texture (see
       :mod:`tutorial_lib.segment.deep_base`).
    2. Pseudo-labels: k-means of the set's descriptors into ``n_pseudo`` groups.
    3. :class:`FeatureNet` learns to predict them from random ``crop``-pixel crops of the descriptors,
       with the continuity loss weighted by ``mu`` (:func:`tutorial_lib.train.fit` runs it).
    4. Each image is clustered on its own: k-means on the descriptors plus the network's features (its
       embedding, or with ``hypercolumns`` :meth:`FeatureNet.hypercolumns`),
       texture and network features weighted by ``1 - r`` with ``r`` the image's colour coherence (an
       image of flat-coloured objects is split by colour); ``n_segments="auto"``: k by the silhouette
       for each image.
    5. Majority vote inside SLICO superpixels (only where the majority is clear), then segments smaller
       than ``min_share`` are dropped.

    Parameters
    ----------
    n_segments : int or "auto"
        Clusters per image.
    max_segments : int
        Largest number of clusters tried by "auto".
    n_pseudo : int or "auto"
        Pseudo-classes of step 2; "auto": picked by the silhouette score on the set's descriptors.
    colour_weight, texture_weight : float
        Weights of the colour block and of the whitened texture block (its total standard deviation).
    embed_weight : float
        Weight of the network's features beside the descriptors.
    texture_sigma : float
        Window of the texture statistics in pixels (0 disables texture descriptors).
    n_components : int
        PCA components kept of the texture descriptors.
    width, embed_dim : int
        Size of :class:`FeatureNet`.
    steps : int
        Training batches (rounded to whole epochs over a fixed pool of crops).
    crop, batch_size : int
        Crop side in pixels and crops per batch.
    lr : float
        Adam learning rate.
    mu : float
        Weight of the continuity loss.
    hypercolumns : bool
        Take the network's features from its first two blocks as well as its embedding
        (:meth:`FeatureNet.hypercolumns`, ``2 * width + embed_dim`` values, unit length) instead of the
        embedding alone; the network and its training are the same.
    n_superpixels : int
        SLIC superpixels per 100,000 pixels for the vote (0: no vote).
    compactness : float
        SLIC compactness.
    slic_zero : bool
        Use SLICO, which adapts the compactness to each superpixel.
    min_majority : float
        Vote only in superpixels whose majority holds this share.
    min_share : float
        Drop segments smaller than this share of the image.
    seed : int
    device : str
    progress : bool
        Progress bars for the network's training and over the images labelled.

    Attributes
    ----------
    model_ : FeatureNet
    history_ : tutorial_lib.train.History of the training
    histories_ : list of one History (the same shape as :class:`SetFeatureClustering`'s)
    n_pseudo_ : int
    n_segments_ : list of int, the k each image of ``fit`` was clustered with
    colour_coherence_ : float, mean colour coherence ``r`` of the images
    labels_ : label maps of the images given to :meth:`fit`
    """

    def __init__(self, n_segments: int | str = "auto", max_segments: int = 8, n_pseudo: int | str = "auto",
                 colour_weight: float = 1.0, texture_weight: float = 1.0, embed_weight: float = 1.0,
                 texture_sigma: float = 10.0, n_components: int = 16, width: int = 32, embed_dim: int = 16,
                 steps: int = 300, crop: int = 64, batch_size: int = 8, lr: float = 3e-3, mu: float = 1.0,
                 hypercolumns: bool = False, n_superpixels: int = 1500, compactness: float = 10.0,
                 slic_zero: bool = True,
                 min_majority: float = 0.85, min_share: float = 0.01, seed: int = 0, device: str = "auto",
                 progress: bool = False):
        self.n_segments = n_segments
        self.max_segments = max_segments
        self.n_pseudo = n_pseudo
        self.colour_weight = colour_weight
        self.texture_weight = texture_weight
        self.embed_weight = embed_weight
        self.texture_sigma = texture_sigma
        self.n_components = n_components
        self.width = width
        self.embed_dim = embed_dim
        self.steps = steps
        self.crop = crop
        self.batch_size = batch_size
        self.lr = lr
        self.mu = mu
        self.hypercolumns = hypercolumns
        self.n_superpixels = n_superpixels
        self.compactness = compactness
        self.slic_zero = slic_zero
        self.min_majority = min_majority
        self.min_share = min_share
        self.seed = seed
        self.device = device
        self.progress = progress

    def _auto_n_pseudo(self, sample: np.ndarray) -> int:
        return max(2, estimate_n_segments(sample, self.max_segments, sample=4000, seed=self.seed)[0])

    def _learn(self, arrays: list[np.ndarray], descs: list[PixelDescriptors], inputs: list[np.ndarray],
               pseudo: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        from ..train import fit

        check_flag(self.hypercolumns, "hypercolumns")
        n_classes = int(max(p.max() for p in pseudo)) + 1
        pool = max(self.batch_size, min(512, self.steps * self.batch_size // 4))
        x, y = random_crops(inputs, pseudo, pool, self.crop, rng)
        epochs = max(1, round(self.steps * self.batch_size / pool))
        net = FeatureNet(x.shape[1], n_classes, self.width, self.embed_dim)
        self.history_ = fit(net, PseudoLabelStep(self.mu), (x, y), epochs=epochs, lr=self.lr,
                            batch_size=self.batch_size, device=self.device, seed=self.seed,
                            progress=self.progress, drop_last=True)
        self.histories_ = [self.history_]
        self.model_ = net.eval()
        return [self._features(x, d.coherence) for x, d in zip(inputs, descs, strict=True)]

    def _features(self, inputs: np.ndarray, coherence: float) -> np.ndarray:
        """``(H, W, D + E)`` features of one image from its ``(D, H, W)`` descriptors: the descriptors
        plus the network's ``E`` features (``embed_dim``, or ``2 * width + embed_dim`` with
        ``hypercolumns``), texture and network weighted like texture.

        Texture and learnt features count where colour does not: weight ``1 - r``, with r the
        colour's coherence (an image of flat-coloured objects is split by colour).
        """
        dev = next(self.model_.parameters()).device
        describe = self.model_.hypercolumns if self.hypercolumns else self.model_.embed
        emb = batched_forward(describe, torch.from_numpy(inputs)[None], dev, model=self.model_)
        emb = emb[0].permute(1, 2, 0).numpy()
        desc = inputs.transpose(1, 2, 0).copy()
        desc[..., 3:] *= 1.0 - coherence
        return np.concatenate([desc, emb * (self.embed_weight * (1.0 - coherence))], axis=2)

    def _new_features(self, image: np.ndarray) -> np.ndarray:
        desc = describe_pixels(image, self.texture_sigma)
        return self._features(self._inputs(desc), desc.coherence)

    def _label(self, image: np.ndarray, feats: np.ndarray) -> tuple[np.ndarray, int]:
        x = feats.reshape(-1, feats.shape[2])
        k = self.n_segments
        if k == "auto":
            k = estimate_n_segments(x, self.max_segments, seed=self.seed)[0]
        k = int(k)
        if k <= 1:
            return np.zeros(feats.shape[:2], np.int64), k
        centres = kmeans(sample_rows(x, 20000, np.random.default_rng(self.seed)), k,
                         self.seed).cluster_centers_
        return self._assign(image, feats, centres), k
