"""Deep-feature segmentation over a set of textures: a patch network, clusters shared by the set.

Taught in notebook 04_pixel_segmentation (the deep-feature method on texture mosaics;
``DeepFeatureClustering(scope="set")``).

:class:`PatchNet` learns from the *raw* pixels (standardised per image) to classify square patches
where one pseudo-label dominates (:func:`pure_patches`), with random rotations, flips and contrast
(:class:`PatchStep`); its dense features are clustered over the whole set, so a cluster means the
same texture in every image; the clusters become new pseudo-labels for a few more rounds
(DeepCluster, Caron et al. 2018).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi
from torch import nn

from ..base import batched_forward
from .deep_base import DeepFeatureBase
from .descriptors import PixelDescriptors, estimate_n_segments, kmeans, sample_rows


class PatchNet(nn.Module):
    """Texture encoder of :class:`SetFeatureClustering`.

    Five 3×3 convolution blocks with two 2× max-poolings (a receptive field of about 24 pixels) map
    a ``patch``×``patch`` crop of the image to a feature map; its mean is the patch's feature
    (``2 * width`` values) and a linear head classifies it. :meth:`dense` gives every pixel the
    mean feature of the ``window``-pixel square around it, so a whole image is described at once;
    :meth:`hypercolumns` does the same with the maps of all three resolutions (Hariharan et al., 2015).

    Parameters
    ----------
    in_channels : int
    n_classes : int
        Pseudo-classes of the head (replaced by :meth:`new_head` between rounds).
    width : int
    """

    def __init__(self, in_channels: int, n_classes: int, width: int = 32):
        super().__init__()

        def block(c_in: int, c_out: int) -> nn.Sequential:
            """3×3 convolution, batch norm, ReLU."""
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="reflect"),
                                 nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))

        w = width
        self.body = nn.Sequential(block(in_channels, w), block(w, w), nn.MaxPool2d(2), block(w, 2 * w),
                                  block(2 * w, 2 * w), nn.MaxPool2d(2), block(2 * w, 2 * w))
        self.head = nn.Linear(2 * w, n_classes)

    STAGE_ENDS = (1, 4, 6)
    """Indices in ``body`` of the layers closing each stage: full, half and quarter resolution."""

    def new_head(self, n_classes: int) -> None:
        """A fresh classifier for a new set of pseudo-classes (DeepCluster re-initialises it)."""
        self.head = nn.Linear(self.head.in_features, n_classes).to(self.head.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, P, P)`` patches -> pseudo-class logits ``(N, n_classes)``."""
        return self.head(self.body(x).mean(dim=(2, 3)))

    def dense(self, x: torch.Tensor, window: int) -> torch.Tensor:
        """``(N, C, H, W)`` images -> unit-length features ``(N, 2 * width, H, W)``, each the mean of
        the feature map over the ``window``×``window`` square around the pixel."""
        f = self.body(x)
        k = max(1, window // 4)  # the map is at a quarter of the resolution
        f = F.avg_pool2d(f, k, stride=1, padding=k // 2, count_include_pad=False)
        f = F.interpolate(f, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return F.normalize(f, dim=1)

    def stage_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(N, C, H, W)`` images -> the maps closing each stage: ``(N, width, H, W)``,
        ``(N, 2 * width, H/2, W/2)`` and ``(N, 2 * width, H/4, W/4)`` (sizes rounded down)."""
        maps = []
        for i, layer in enumerate(self.body):
            x = layer(x)
            if i in self.STAGE_ENDS:
                maps.append(x)
        return maps

    def hypercolumns(self, x: torch.Tensor, window: int) -> torch.Tensor:
        """``(N, C, H, W)`` images -> unit-length hypercolumns ``(N, 5 * width, H, W)``.

        Each stage's map is averaged over the ``window``-pixel square around each pixel (a square of
        the same size in image pixels at every resolution), upsampled bilinearly to the image size and
        L2-normalised on its own, so each stage weighs the same whatever its width; the three are
        concatenated and divided by √3, so the whole vector has unit length like :meth:`dense`'s. The
        full-resolution stage sees a few pixels (edges, fine grain), the last one whole texture motifs.
        """
        maps = self.stage_maps(x)
        parts = []
        for f, scale in zip(maps, (1, 2, 4), strict=True):
            k = max(1, window // scale)
            f = F.avg_pool2d(f, k, stride=1, padding=k // 2, count_include_pad=False)
            f = F.interpolate(f, size=x.shape[-2:], mode="bilinear", align_corners=False)
            parts.append(F.normalize(f, dim=1))
        return torch.cat(parts, dim=1) / len(parts) ** 0.5


def check_flag(value, name: str) -> None:
    """Raise ``TypeError`` unless ``value`` is a bool (a string such as "no" would count as True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def standardise_image(image: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` image -> ``(C, H, W)`` float32, each channel with mean 0 and standard deviation 1
    (texture, not brightness or contrast, is what :class:`PatchNet` should see)."""
    x = image.transpose(2, 0, 1).astype(np.float32)
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = x.std(axis=(1, 2), keepdims=True)
    return np.ascontiguousarray((x - mean) / np.maximum(std, 1e-6))


def pure_patches(inputs: list[np.ndarray], pseudo: list[np.ndarray], size: int, purity: float = 0.9,
                 stride: int = 4, limit: int = 8192, rng: np.random.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Square patches whose pseudo-labels mostly agree, with that label: the training set of
    :class:`PatchNet`.

    Pseudo-labels from k-means on smoothed descriptors are wrong mostly near region boundaries;
    a patch where one label holds ``purity`` of the pixels is far from them, so its label is
    usually right (and a network trained on such patches learns the textures, not the errors).

    Parameters
    ----------
    inputs : list of (C, H, W) float arrays
    pseudo : list of (H, W) int arrays, labels 0..K-1
    size : int
        Patch side in pixels (at most the smallest image side).
    purity : float in (0, 1]
    stride : int
        Spacing of the candidate patch centres, in pixels.
    limit : int
        At most this many patches (a random subset).
    rng : numpy Generator

    Returns
    -------
    patches : Tensor, shape (M, C, size, size), float32 (M = 0 when no patch is pure enough)
    labels : Tensor, shape (M,), int64
    """
    rng = rng or np.random.default_rng(0)
    k = int(max(int(p.max()) for p in pseudo)) + 1
    found = []
    for i, p in enumerate(pseudo):
        h, w = p.shape
        shares = np.stack([ndi.uniform_filter((p == c).astype(np.float32), size, mode="constant")
                           for c in range(k)])
        half = size // 2
        ys, xs = np.mgrid[half:h - size + half + 1:stride, half:w - size + half + 1:stride]
        best = shares[:, ys, xs]
        keep = best.max(axis=0) >= purity
        for y, x, c in zip(ys[keep], xs[keep], best.argmax(axis=0)[keep], strict=True):
            found.append((i, y - half, x - half, c))
    if not found:
        c = inputs[0].shape[0]
        return torch.zeros(0, c, size, size), torch.zeros(0, dtype=torch.int64)
    picks = rng.permutation(len(found))[:limit]
    patches = np.stack([inputs[found[j][0]][:, found[j][1]:found[j][1] + size, found[j][2]:found[j][2] + size]
                        for j in picks])
    labels = np.array([found[j][3] for j in picks], dtype=np.int64)
    return torch.from_numpy(patches), torch.from_numpy(labels)


class PatchStep:
    """The objective of :class:`PatchNet`, a ``step(model, batch)`` for :func:`tutorial_lib.train.fit`:
    cross-entropy (with label smoothing, since pseudo-labels are noisy) on randomly rotated (by a
    multiple of 90°), flipped and contrast-scaled patches, so the features ignore orientation and
    contrast. The augmentations draw from torch's global generator, which ``train.fit`` seeds.

    Parameters
    ----------
    label_smoothing : float
    """

    def __init__(self, label_smoothing: float = 0.1):
        self.label_smoothing = label_smoothing

    def __call__(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Loss of one batch of patches ``(B, C, P, P)`` and their labels ``(B,)``."""
        x, y = batch
        x = torch.rot90(x, int(torch.randint(4, ())), dims=(2, 3))
        if bool(torch.rand(()) < 0.5):
            x = x.flip(3)
        x = x * torch.empty(len(x), 1, 1, 1, device=x.device).uniform_(0.8, 1.25)
        return F.cross_entropy(model(x), y, label_smoothing=self.label_smoothing)


class SetFeatureClustering(DeepFeatureBase):
    """k-means over a whole set of images on the features of a patch network trained on that set.

    1. Describe each pixel by its coherent colour and PCA-whitened local texture (see
       :mod:`tutorial_lib.segment.deep_base`); k-means of the set's descriptors into ``n_pseudo``
       groups gives the pseudo-labels.
    2. :class:`PatchNet` learns from the raw pixels (standardised per image) to classify
       ``patch``-pixel squares where one pseudo-label holds ``purity`` of the pixels
       (:func:`pure_patches`), with random rotations, flips and contrast.
    3. Its dense features (the mean over the square around each pixel; with ``hypercolumns``, those of
       all three stages) are clustered over the whole set, so a cluster means the same texture in every
       image; ``n_segments="auto"`` picks k by the
       silhouette, preferring the smaller k within ``tolerance``. ``rounds`` times more, the clusters
       become the new pseudo-labels and the network trains ``refine_steps`` batches with a fresh head.
    4. Majority vote inside SLICO superpixels (only where the majority is clear), then segments smaller
       than ``min_share`` are dropped.

    Parameters
    ----------
    n_segments : int or "auto"
        Clusters over the set.
    max_segments : int
        Largest number of clusters tried by "auto".
    n_pseudo : int or "auto"
        Pseudo-classes of step 1; "auto": ``max_segments`` (over-clustering: the network's features
        are clustered again afterwards).
    colour_weight, texture_weight : float
        Weights of the colour block and of the whitened texture block in the descriptors.
    texture_sigma : float
        Window of the texture statistics in pixels (0 disables texture descriptors).
    n_components : int
        PCA components kept of the texture descriptors.
    width : int
        Size of :class:`PatchNet`.
    steps : int
        Training batches of the first round (rounded to whole epochs over the patches).
    patch, patch_batch : int
        Patch side in pixels and patches per batch.
    window : int
        Side in pixels of the square the features are averaged over when each pixel is labelled: the
        clusters are found with ``patch``-pixel squares (steadier), pixels are assigned with
        ``window``-pixel squares (boundaries drawn closer to where they are).
    purity : float
        Share of one pseudo-label a training patch needs.
    rounds, refine_steps : int
        Re-clustering rounds and the training batches of each.
    tolerance : float
        Silhouette tolerance of ``n_segments="auto"``.
    lr : float
        Adam learning rate.
    hypercolumns : bool
        Describe each pixel by the hypercolumn of :class:`PatchNet` (:meth:`PatchNet.hypercolumns`: the
        maps of its three stages, each averaged over the square, upsampled to the image size and
        L2-normalised, concatenated: ``5 * width`` values) instead of its last stage only (``2 * width``).
        The network and its training are the same; every clustering (the rounds' and the final one)
        uses these features.
    n_superpixels, compactness, slic_zero, min_majority, min_share
        The superpixel vote and the small-segment drop, as in :class:`ImageFeatureClustering`.
    seed : int
    device : str
    progress : bool
        Progress bars for each round's training and over the images labelled.

    Attributes
    ----------
    model_ : PatchNet
    history_ : tutorial_lib.train.History of the last round
    histories_ : list of History, one per training round
    kmeans_ : the fitted k-means over the set (None when the set is one region)
    n_clusters_ : int, the number of clusters over the set
    n_segments_ : list of int, ``n_clusters_`` for each image of ``fit``
    n_pseudo_ : int
    patch_ : int, the patch side used
    colour_coherence_ : float, mean colour coherence ``r`` of the images
    labels_ : label maps of the images given to :meth:`fit`
    """

    def __init__(self, n_segments: int | str = "auto", max_segments: int = 8, n_pseudo: int | str = "auto",
                 colour_weight: float = 1.0, texture_weight: float = 1.0, texture_sigma: float = 10.0,
                 n_components: int = 16, width: int = 32, steps: int = 300, patch: int = 32,
                 window: int = 12, patch_batch: int = 128, purity: float = 0.9, rounds: int = 2,
                 refine_steps: int = 200, tolerance: float = 0.02, lr: float = 3e-3,
                 hypercolumns: bool = False,
                 n_superpixels: int = 1500, compactness: float = 10.0, slic_zero: bool = True,
                 min_majority: float = 0.85, min_share: float = 0.01, seed: int = 0, device: str = "auto",
                 progress: bool = False):
        self.n_segments = n_segments
        self.max_segments = max_segments
        self.n_pseudo = n_pseudo
        self.colour_weight = colour_weight
        self.texture_weight = texture_weight
        self.texture_sigma = texture_sigma
        self.n_components = n_components
        self.width = width
        self.steps = steps
        self.patch = patch
        self.window = window
        self.patch_batch = patch_batch
        self.purity = purity
        self.rounds = rounds
        self.refine_steps = refine_steps
        self.tolerance = tolerance
        self.lr = lr
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
        # Over-cluster, as DeepCluster does: with as many pseudo-classes as textures, k-means on weak
        # descriptors often puts two textures in one class, and the network then never learns to
        # tell them apart; finer classes are merged again when its features are clustered.
        return self.max_segments

    def _patch_size(self, arrays: list[np.ndarray]) -> int:
        """The patch side: ``patch``, shrunk to the smallest image, a multiple of 4 (two poolings)."""
        side = min(self.patch, *(min(a.shape[:2]) for a in arrays))
        return max(4, side // 4 * 4)

    def _dense(self, image: np.ndarray, window: int) -> np.ndarray:
        """``(H, W, D)`` unit-length :class:`PatchNet` features of one ``(H, W, C)`` image, averaged over
        ``window``-pixel squares: ``D = 2 * width``, or ``5 * width`` with ``hypercolumns``."""
        dev = next(self.model_.parameters()).device
        x = torch.from_numpy(standardise_image(image))[None]
        describe = self.model_.hypercolumns if self.hypercolumns else self.model_.dense
        f = batched_forward(lambda b: describe(b, window), x, dev, model=self.model_)
        return f[0].permute(1, 2, 0).numpy()

    def _cluster_set(self, feats: list[np.ndarray], rng: np.random.Generator,
                     final: bool = True) -> list[np.ndarray]:
        """k-means over the features of the whole set (k fixed or by the silhouette); the label maps.

        Only the ``final`` clustering prefers the smaller k among near-equal silhouettes: the clusters of
        an earlier round become pseudo-labels, and a network trained on two textures merged into one
        class never learns to tell them apart again, while two classes of one texture merge later."""
        sample = np.concatenate([sample_rows(f.reshape(-1, f.shape[2]), 3000, rng) for f in feats])
        k = self.n_segments
        if k == "auto":
            k = estimate_n_segments(sample, self.max_segments, seed=self.seed,
                                    tolerance=self.tolerance if final else 0.0)[0]
        self.n_clusters_ = int(max(1, k))
        self.kmeans_ = kmeans(sample, self.n_clusters_, self.seed) if self.n_clusters_ > 1 else None
        if self.kmeans_ is None:
            return [np.zeros(f.shape[:2], np.int64) for f in feats]
        return [self.kmeans_.predict(f.reshape(-1, f.shape[2])).reshape(f.shape[:2]) for f in feats]

    def _training_patches(self, raw: list[np.ndarray], pseudo: list[np.ndarray],
                          rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Pure patches of side ``patch_``, halved (down to 8 pixels) while regions are too small to
        give ``patch_batch`` of them; at the smallest side any patch, with its majority label."""
        while True:
            x, y = pure_patches(raw, pseudo, self.patch_, self.purity, rng=rng)
            if len(x) >= self.patch_batch:
                return x, y
            if self.patch_ <= 8:
                return (x, y) if len(x) else pure_patches(raw, pseudo, self.patch_, 0.0, rng=rng)
            self.patch_ = max(8, self.patch_ // 8 * 4)

    def _learn(self, arrays: list[np.ndarray], descs: list[PixelDescriptors], inputs: list[np.ndarray],
               pseudo: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        """Train :class:`PatchNet` on pure patches, cluster, re-train on the clusters."""
        from ..train import fit

        check_flag(self.hypercolumns, "hypercolumns")

        self.patch_ = self._patch_size(arrays)
        raw = [standardise_image(im) for im in arrays]
        self.model_ = PatchNet(raw[0].shape[0], int(max(p.max() for p in pseudo)) + 1, self.width)
        self.histories_ = []
        after_training: dict[str, torch.Tensor] = {}

        def keep_generator(epoch, model, history) -> None:
            after_training["state"] = torch.get_rng_state()

        for r in range(self.rounds + 1):
            x, y = self._training_patches(raw, pseudo, rng)
            if r > 0:
                # The fresh head starts from torch's generator where the previous round's training
                # left it: the stream the benchmarks were measured with (the whole fit runs inside
                # base.seeded, so the caller's generator is still restored afterwards).
                torch.set_rng_state(after_training["state"])
                self.model_.new_head(int(y.max()) + 1)
            steps = self.steps if r == 0 else self.refine_steps
            epochs = max(1, round(steps * self.patch_batch / len(x)))
            self.histories_.append(fit(self.model_, PatchStep(), (x, y), epochs=epochs, lr=self.lr,
                                       batch_size=min(self.patch_batch, len(x)), device=self.device,
                                       seed=self.seed + r, progress=self.progress, drop_last=True,
                                       on_epoch_end=keep_generator))
            self.model_.eval()
            pseudo = self._cluster_set([self._dense(im, self.patch_) for im in arrays], rng,
                                       final=r == self.rounds)
            if self.n_clusters_ <= 1:
                break
        self.history_ = self.histories_[-1]
        return [self._new_features(im) for im in arrays]

    def _new_features(self, image: np.ndarray) -> np.ndarray:
        # Only the network's features: no descriptors are needed to label an image.
        return self._dense(image, min(self.window, self.patch_))

    def _label(self, image: np.ndarray, feats: np.ndarray) -> tuple[np.ndarray, int]:
        if self.kmeans_ is None:
            return np.zeros(feats.shape[:2], np.int64), 1
        return self._assign(image, feats, self.kmeans_.cluster_centers_), self.n_clusters_
