"""SCAN with self-labelling: the deep clustering method of the tutorial.

Taught in notebook 03_clustering_classification. After SCAN (Van Gansbeke et al., 2020), adapted
to a laptop CPU; its four stages are the functions :func:`~.neighbours.mine_pca_neighbors` (or
:func:`~.neighbours.mine_simclr_neighbors`), :func:`warm_start`,
:func:`train_neighbour_consistency` and :func:`train_self_labelling`, which :meth:`SCAN.fit` calls
in order. Losses, the CNN and the views are in :mod:`tutorial_lib.cluster.scan_losses`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime
from ..base import Estimator, as_label_array, reject_labels, reseed_from_global, seeded
from ..features import check_training_images
from ..train import History
from ._common import (
    RANGE_HINT,
    check_k,
    epochs_for,
    fit_stage,
    forward_all,
    stage_checkpoints,
    warn_if_collapsed,
)
from .merge import kept_factor, merge_model, neighbour_modularity, overcluster_factors, trained_clusters
from .neighbours import mine_pca_neighbors, mine_simclr_neighbors
from .pipeline import DeepClusterPipeline, TSNEFeatures
from .scan_losses import (  # noqa: F401  (ENCODERS, build_scan_model: re-exported, their old home)
    ENCODERS,
    ScanStep,
    SelfLabelStep,
    build_scan_model,
    equipartition,
    scan_augment,
)

SIZES = ("equal", "estimated")
INITS = ("tsne", None)
"""Accepted values of ``SCAN(init=...)``."""
NEIGHBOURS = ("pca", "simclr")
"""Spaces SCAN can mine its neighbours in: ``SCAN(neighbors=...)``."""

STAGES = ("warm", "scan", "self_label", "refine")
"""The training stages of :meth:`SCAN.fit`, each with its checkpoint folder ``checkpoint_dir/<stage>``."""


def stage_epochs(n: int, batch_size: int, steps: int) -> int:
    """Whole epochs for about ``steps`` optimisation steps on ``n`` samples: 0 for no steps, else 1 to 200.

    At most 200 epochs: on a few dozen images every step is an epoch.
    """
    return epochs_for(n, batch_size, steps, lo=1, hi=200) if steps else 0


def warm_start(model: nn.Module, images: torch.Tensor, n_clusters: int, augment: Callable, steps: int,
               fit_kwargs: dict, seed: int = 0, device: str | torch.device = "auto",
               sizes: str = "equal") -> tuple[np.ndarray, History]:
    """Stage 2: train ``model`` (in place) to predict a t-SNE + k-means partition on its clearest half.

    k-means on a t-SNE map of the pixels gives a first partition; the network learns it on the half
    of each cluster nearest its centre (the points most likely right), on augmented views.

    Parameters
    ----------
    model : nn.Module
        Images (B, C, H, W) -> logits (B, n_clusters).
    images : Tensor, shape (N, C, H, W)
    n_clusters : int
    augment : callable
        ``images -> images`` random views.
    steps : int
        Optimisation steps (converted by :func:`stage_epochs`).
    fit_kwargs : dict
        Settings for ``train.fit`` (lr, weight_decay, batch_size, device, seed, progress, grad_clip,
        and maybe checkpoint_dir and resume).
    seed, device
        Of t-SNE and k-means.
    sizes : {"equal", "estimated"}
        "estimated": the k-means partition is refined by a Gaussian mixture on the map, started from
        it (:func:`mixture_partition`): k-means prefers clusters of equal sizes and splits a large
        class, a mixture learns each cluster's weight and spread.

    Returns
    -------
    (labels, history) : the partition (N,) NumPy int64 and the ``train.History`` of this stage.
    """
    pipe = DeepClusterPipeline(TSNEFeatures(seed=seed), n_clusters=n_clusters, seed=seed,
                               device=device).fit(images)
    if sizes == "estimated":
        partition, dist = mixture_partition(pipe.features_, pipe.labels_, n_clusters, seed)
        labels = torch.from_numpy(partition)
    else:
        labels = torch.from_numpy(pipe.labels_)
        dist = pipe.clusterer_.transform(pipe.features_).gather(1, labels[:, None])[:, 0]
    keep = torch.cat([idx[dist[idx].argsort()[: max(1, (len(idx) + 1) // 2)]]
                      for idx in (torch.nonzero(labels == c)[:, 0] for c in range(n_clusters))
                      if len(idx)])

    def step(net, batch):
        x, y = batch
        reseed_from_global(augment)  # views from the RNG train.fit saves: a resume draws the same ones
        return F.cross_entropy(net(augment(x)), y)

    epochs = stage_epochs(len(keep), fit_kwargs["batch_size"], steps)
    history = fit_stage(model, step, (images[keep], labels[keep]), epochs=epochs, **fit_kwargs)
    return labels.numpy(), history


def mixture_partition(features: torch.Tensor, labels: np.ndarray, n_clusters: int,
                      seed: int = 0) -> tuple[np.ndarray, torch.Tensor]:
    """A Gaussian mixture (full covariances) fitted to ``features`` from the partition ``labels``.

    Component k starts at cluster k's mean, share and covariance, so it keeps cluster k's number; EM then
    moves the boundaries to where the densities cross, and the weights to the sizes the data has.

    Parameters
    ----------
    features : Tensor, shape (N, D), D small (a t-SNE map)
    labels : ndarray, shape (N,), int64, a partition into ``n_clusters``
    n_clusters : int
    seed : int

    Returns
    -------
    (partition, distance) : the mixture's most likely component (N,) NumPy int64, and each point's
    Mahalanobis distance to that component's mean (N,) Tensor (small: typical of the cluster).
    """
    from sklearn.mixture import GaussianMixture

    x = features.double().cpu().numpy()
    present = [c for c in range(n_clusters) if (labels == c).sum() > x.shape[1]]
    if len(present) < n_clusters:  # a cluster too small for a covariance: keep the k-means partition
        centres = np.stack([x[labels == c].mean(0) if (labels == c).any() else x.mean(0)
                            for c in range(n_clusters)])
        return labels, torch.from_numpy(np.linalg.norm(x - centres[labels], axis=1))
    weights = np.bincount(labels, minlength=n_clusters) / len(labels)
    means = np.stack([x[labels == c].mean(0) for c in range(n_clusters)])
    precisions = np.stack([np.linalg.inv(np.cov(x[labels == c].T) + 1e-6 * np.eye(x.shape[1]))
                           for c in range(n_clusters)])
    gm = GaussianMixture(n_clusters, covariance_type="full", weights_init=weights, means_init=means,
                         precisions_init=precisions, random_state=seed, max_iter=200).fit(x)
    partition = gm.predict(x).astype(np.int64)
    diff = x - gm.means_[partition]
    maha = np.einsum("ni,nij,nj->n", diff, gm.precisions_[partition], diff)
    return partition, torch.from_numpy(np.sqrt(np.maximum(maha, 0.0)))


def train_neighbour_consistency(model: nn.Module, images: torch.Tensor, neighbors: torch.Tensor,
                                augment: Callable, entropy_weight: float, epochs: int, fit_kwargs: dict,
                                on_epoch_end: Callable | None = None,
                                prior: torch.Tensor | None = None) -> History:
    """Stage 3: minimise :func:`scan_loss` on augmented anchors and augmented neighbours (in place).

    Neighbours must share a cluster; the entropy term keeps every cluster in use.

    Parameters
    ----------
    model : nn.Module
    images : Tensor, shape (N, C, H, W)
    neighbors : Tensor, shape (N, k), int64
    augment : callable
    entropy_weight : float
    epochs : int
    fit_kwargs : dict
        Settings for ``train.fit``.
    on_epoch_end : callable, optional
        ``train.fit``'s hook ``(epoch, model, history) -> dict | None``.
    prior : Tensor, shape (K,), optional
        Expected cluster shares for the entropy term (see :func:`scan_loss`); None: equal shares.

    Returns
    -------
    train.History (``loss``, ``consistency``, ``entropy`` per epoch)
    """
    step = ScanStep(images, neighbors, augment, entropy_weight, prior)
    return fit_stage(model, step, (images, torch.arange(len(images))), epochs=epochs,
                     on_epoch_end=on_epoch_end, **fit_kwargs)


def train_self_labelling(model: nn.Module, images: torch.Tensor, augment: Callable, n_clusters: int,
                         epochs: int, fit_kwargs: dict, balance: bool = True,
                         threshold: float = 0.99, prior: torch.Tensor | None = None) -> History:
    """Stage 4: the model's own predictions on the clean images are the targets of augmented views.

    Before each epoch the predictions are refreshed; with ``balance`` they are rebalanced so every
    cluster gets the same share (:func:`equipartition`), else those above ``threshold`` are used
    (:func:`self_label_loss`).

    Parameters
    ----------
    model : nn.Module
    images : Tensor, shape (N, C, H, W)
    augment : callable
    n_clusters : int
    epochs : int
    fit_kwargs : dict
        Settings for ``train.fit`` (its ``device`` is where the predictions are computed).
    balance : bool
    threshold : float
    prior : Tensor, shape (K,), optional
        With ``balance``, the shares the targets are rebalanced to (None: equal shares).

    Returns
    -------
    train.History (``loss``, and ``confident`` when ``balance`` is False)
    """
    state: dict = {}
    dev = runtime.device(fit_kwargs["device"])

    def refresh_labels(epoch, net):
        logits = forward_all(model, images, dev)
        if balance:
            state["targets"] = equipartition(logits, prior=prior).argmax(1)
        else:
            state["probs"] = logits.softmax(1)

    step = SelfLabelStep(state, augment, threshold, n_clusters)
    return fit_stage(model, step, (images, torch.arange(len(images))), epochs=epochs,
                     on_epoch_start=refresh_labels, **fit_kwargs)


class SCAN(Estimator):
    """The deep method: a CNN clustering head trained by neighbour consistency, then self-labelling.

    After SCAN (Van Gansbeke et al., 2020), adapted to a laptop CPU:

    1. **Neighbours.** The ``n_neighbors`` nearest neighbours of each image by cosine similarity of
       its 50 principal components (:func:`mine_pca_neighbors`).
    2. **Warm start.** A t-SNE map of the pixels and k-means on it give a first partition
       (``init="tsne"``); the CNN is trained for a few steps to predict it on the half of each cluster
       nearest its centre (:func:`warm_start`). ``init=None`` starts from a random network.
    3. **SCAN.** Minimise :func:`scan_loss` on augmented anchors and augmented neighbours: neighbours
       must share a cluster, and the entropy term keeps all clusters in use
       (:func:`train_neighbour_consistency`).
    4. **Self-labelling.** The predictions on the clean images, rebalanced so that every cluster
       gets the same share (:func:`equipartition`, ``balance=True``), become targets for augmented
       views; the labels are refreshed every epoch. With ``balance=False``, predictions above
       ``threshold`` become the targets instead (:func:`train_self_labelling`).
    5. **Merging** (``overcluster > 1`` only). Stages 2–4 train K' > K clusters; they are joined into
       K groups that share neighbours, and stage 4 runs again on the groups, balanced to their own
       sizes (:func:`~.merge.merge_model`).

    Parameters
    ----------
    n_clusters : int
    n_neighbors : int
    neighbors : {"pca", "simclr"}
        Where stage 1 mines the neighbours: 50 principal components (the default) or the features of a
        SimCLR encoder trained on the images for ``neighbor_epochs`` (:func:`mine_simclr_neighbors`,
        the SCAN paper's pipeline and notebook 02's encoder); measured in
        ``bench/results/scan_neighbours.md``.
    neighbor_epochs : int
        SimCLR epochs when ``neighbors="simclr"``.
    entropy_weight : float
    init : {"tsne", None}
    warm_steps, steps, self_label_steps : int
        Optimisation steps of stages 2, 3 and 4 (converted to whole epochs for the data size, 1 to
        200; 0 skips the stage's training).
    balance : bool
        Self-label with equal-sized clusters (SCAN's entropy term assumes them too). On digits, stage
        3 merges a writing style of a few dozen images into another digit (open-loop 9s into the 4s
        or 7s); the balanced targets send it back (seed 0: 0.961 -> 0.974; MNIST-test 0.975 -> 0.977).
        Turn it off for sets whose classes have very different sizes.
    sizes : {"equal", "estimated"}
        The cluster shares that the warm start, the entropy term and the balanced targets aim at.
        "equal": every cluster ``1 / K`` (SCAN's assumption; right for MNIST). "estimated": the shares
        of a Gaussian mixture on the warm start's t-SNE map (:func:`mixture_partition`, needs
        ``init="tsne"``), kept as ``prior_``: the entropy term becomes a KL divergence to them and the
        targets are rebalanced to them, for sets whose classes have unequal sizes. Measured
        (``bench/results/scan_sizes.md``, seed 0): on ``mnist-imbalanced`` 0.673 against 0.625 for
        "equal", far from a fix (the t-SNE map's partitions already split the large classes), and on
        MNIST-test 0.840 against 0.978 (the mixture merged two digits): hence not the default.
    overcluster : int or "auto"
        An int r > 1: train ``K' = r * n_clusters`` clusters (at most one per ``MIN_CLUSTER_SIZE``
        images), join them into ``n_clusters`` groups by the neighbours they share
        (:func:`~.merge.merge_model`) and self-label the groups towards their own sizes for
        ``refine_steps``. The equal-size pushes then act on the K' clusters, where a large class just
        takes several, so the final sizes come from the data. 1: no over-clustering (equal sizes).
        "auto": fit both 1 and r = :func:`~.merge.auto_factor` (twice the time) and keep the partition
        with the higher :func:`~.merge.neighbour_modularity` on the neighbour graph (``size_choice_``),
        the merged one only when it is higher by ``MODULARITY_MARGIN`` (:func:`~.merge.kept_factor`):
        a label-free rule computed on the images themselves. Measured in ``bench/results/scan_sizes.md``.
        r is ``AUTO_OVERCLUSTER`` (5) on sets with ``MIN_CLUSTER_SIZE`` (20) images for each of its
        clusters (1,000 images for ten classes), the largest r that fills its clusters on smaller ones
        (3 on COIL-20's 1,440 images of 20 objects), and sets with fewer than ``2 * n_clusters *
        MIN_CLUSTER_SIZE`` images train only r = 1.
    refine_steps : int
        Optimisation steps of the self-labelling of the merged groups (``overcluster > 1`` only).
    threshold : float
        Confidence needed to become a pseudo-label when ``balance=False``.
    lr, self_label_lr, weight_decay, batch_size : training settings (Adam)
    width, encoder_depth, activation
        The CNN (see :func:`scan_encoder`).
    encoder : {"cnn", "resnet18"}
        The small CNN sized by the images, or the ResNet-18 for small images (notebook 06; about 30
        times the parameters, slower on a CPU; see :func:`build_scan_model`).
    attention : None or "se"
        Squeeze-and-excitation blocks in the CNN (notebook 06).
    amp, compile
        ``train.fit``'s mixed precision (CUDA only) and ``torch.compile`` flags, for every stage.
    epochs : int, optional
        Epochs of stage 3, overriding ``steps``.
    augment : callable, optional
        ``images -> images`` random views (default :func:`scan_augment`).
    on_epoch_end : callable, optional
        ``(epoch, model, history) -> dict | None`` after each epoch of stage 3 (``train.fit``'s hook).
    checkpoint_dir : path, optional
        Each training stage keeps its ``train.fit`` checkpoint in ``checkpoint_dir/<stage>``
        (``STAGES``). After an interruption (``train.TrainingInterrupted``), ``fit`` again with
        ``resume=True`` skips the finished stages and continues the interrupted one: the labels are
        those of an uninterrupted fit. With ``resume=False`` the stages' old checkpoints are removed.
        With ``overcluster="auto"`` the over-clustered fit keeps its own in
        ``checkpoint_dir/overcluster5/<stage>``.
    resume : bool
        Continue from the checkpoints in ``checkpoint_dir`` (needs the same images and settings).
    standardized : bool
        The images are standardised on purpose: accept values outside [-0.5, 1.5], which are
        otherwise refused (8-bit images must be divided by 255 first).
    seed, device, progress
        The fit runs with the global generators seeded by ``seed`` (network weights, shuffling,
        views) and restores the caller's random state afterwards.

    A fit that puts more than 90 % of the images in one cluster warns (``UserWarning``) with what to
    change; a NaN or infinite loss raises ``train.TrainingDiverged``.

    Attributes
    ----------
    neighbors_ : Tensor, shape (N, n_neighbors), int64
    init_labels_ : ndarray, shape (N,), int64, or None: the warm-start partition
    prior_ : Tensor, shape (n_clusters,), or None: the estimated cluster shares (``sizes="estimated"``,
        or the merged groups' shares with ``overcluster > 1``)
    groups_ : ndarray, shape (K',), int64, or None: the group of each trained cluster (``overcluster > 1``)
    size_choice_ : dict or None: with ``overcluster="auto"``, each factor's modularity and the one kept
    model_ : EncoderWithHead (encoder + ``ClusteringHead``)
    labels_ : ndarray, shape (N,), int64
    history_ : dict of train.History: ``"warm"`` (with ``init="tsne"``), ``"scan"``, ``"self_label"``,
        ``"refine"`` (``overcluster > 1``)
    """

    def __init__(self, n_clusters: int = 10, n_neighbors: int = 10, neighbors: str = "pca",
                 neighbor_epochs: int = 30, entropy_weight: float = 5.0,
                 init: str | None = "tsne", warm_steps: int = 60, steps: int = 600,
                 self_label_steps: int = 200, balance: bool = True, sizes: str = "equal",
                 overcluster: int | str = "auto", refine_steps: int = 200,
                 threshold: float = 0.99,
                 lr: float = 1e-3, self_label_lr: float = 1e-4,
                 weight_decay: float = 1e-4, batch_size: int = 256, width: int = 32,
                 encoder_depth: int | None = None, activation: str = "relu", encoder: str = "cnn",
                 attention: str | None = None, amp: bool | str = False, compile: bool | str = False,
                 epochs: int | None = None, augment=None, on_epoch_end: Callable | None = None,
                 checkpoint_dir=None,
                 resume: bool = False, standardized: bool = False, seed: int = 0, device: str = "auto",
                 progress: bool = False):
        self.n_clusters = n_clusters
        self.n_neighbors = n_neighbors
        self.neighbors = neighbors
        self.neighbor_epochs = neighbor_epochs
        self.entropy_weight = entropy_weight
        self.init = init
        self.warm_steps = warm_steps
        self.steps = steps
        self.self_label_steps = self_label_steps
        self.balance = balance
        self.sizes = sizes
        self.overcluster = overcluster
        self.refine_steps = refine_steps
        self.threshold = threshold
        self.lr = lr
        self.self_label_lr = self_label_lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.width = width
        self.encoder_depth = encoder_depth
        self.activation = activation
        self.encoder = encoder
        self.attention = attention
        self.amp = amp
        self.compile = compile
        self.epochs = epochs
        self.augment = augment
        self.on_epoch_end = on_epoch_end
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.standardized = standardized
        self.seed = seed
        self.device = device
        self.progress = progress

    def _fit_kwargs(self, dev: torch.device, checkpoint_dir, lr: float | None = None) -> dict:
        return dict(lr=lr or self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size, device=dev,
                    seed=self.seed, progress=self.progress, grad_clip=5.0, amp=self.amp,
                    compile=self.compile, checkpoint_dir=checkpoint_dir, resume=self.resume)

    def fit(self, images, y=None) -> SCAN:
        """Cluster ``images``: Tensor or array (N, C, H, W), float in [0, 1].

        Raises ``train.TrainingInterrupted`` on Ctrl-C (with ``checkpoint_dir``, fit again with
        ``resume=True`` to continue) and ``train.TrainingDiverged`` on a NaN or infinite loss.
        """
        reject_labels(self, y)
        images = check_training_images(images, standardized=self.standardized, min_count=2)
        n = len(images)
        check_k(self.n_clusters, n)
        if self.neighbors not in NEIGHBOURS:
            raise ValueError(f"neighbors must be one of {', '.join(NEIGHBOURS)}, got {self.neighbors!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be 'tsne' or None, got {self.init!r}")
        if self.sizes not in SIZES or (self.sizes == "estimated" and self.init != "tsne"):
            raise ValueError(f"sizes must be one of {', '.join(SIZES)} ('estimated' needs init='tsne'), "
                             f"got {self.sizes!r} with init={self.init!r}")
        factors = overcluster_factors(self.overcluster, self.n_clusters, n)
        if self.overcluster == "auto" and self.sizes != "equal":
            factors = (1,)  # sizes="estimated" sets the sizes itself
        elif max(factors) > 1 and self.sizes != "equal":
            raise ValueError("overcluster > 1 takes its cluster sizes from the data; "
                             "use it with sizes='equal'")
        dev = runtime.device(self.device)
        with seeded(self.seed, dev):
            if self.neighbors == "simclr":
                self.neighbors_ = mine_simclr_neighbors(images, self.n_neighbors, self.neighbor_epochs,
                                                        self.seed, dev, self.progress)
            else:
                self.neighbors_ = mine_pca_neighbors(images, self.n_neighbors, self.seed)
        fits = {}
        for r in factors:
            where = self.checkpoint_dir
            if where is not None and len(factors) > 1 and r > 1:  # "auto": the second fit's own folder
                where = Path(where) / f"overcluster{r}"
            folders = stage_checkpoints(where, STAGES, self.resume)
            fits[r] = self._train(images, trained_clusters(self.n_clusters, n, r), dev, folders)
        self.size_choice_, best = None, factors[0]
        if len(fits) > 1:  # overcluster="auto": the fit whose clusters hold the neighbour graph best
            q = {r: neighbour_modularity(fit["labels"], self.neighbors_) for r, fit in fits.items()}
            best = kept_factor(q)
            self.size_choice_ = {"modularity": {str(r): round(v, 4) for r, v in q.items()},
                                 "overcluster": best}
        fit = fits[best]
        self.model_, self.labels_ = fit["model"], fit["labels"]
        self.init_labels_, self.prior_, self.groups_, self.history_ = (
            fit["init_labels"], fit["prior"], fit["groups"], fit["history"])
        warn_if_collapsed(self.labels_, self.n_clusters, "SCAN",
                          f"a lower lr (now {self.lr:g}) or self_label_lr (now {self.self_label_lr:g}), a "
                          f"larger entropy_weight (now {self.entropy_weight:g}); {RANGE_HINT}")
        return self

    def _train(self, images: torch.Tensor, k_train: int, dev: torch.device, folders: dict) -> dict:
        """Stages 2–5 for ``k_train`` trained clusters: the network, its labels and what :meth:`fit` keeps."""
        n, history = len(images), {}
        with seeded(self.seed, dev):  # the same seed gives the same initial network and views
            model = build_scan_model(images.shape, k_train, self.width, self.encoder_depth,
                                     self.activation, attention=self.attention, encoder=self.encoder)
            init_labels = prior = groups = None
            if self.init == "tsne":
                init_labels, history["warm"] = warm_start(
                    model, images, k_train, self.augment or scan_augment(images, self.seed),
                    self.warm_steps, self._fit_kwargs(dev, folders["warm"]), seed=self.seed,
                    device=self.device, sizes=self.sizes)
            if self.sizes == "estimated":
                counts = np.bincount(init_labels, minlength=self.n_clusters) + 1.0
                prior = torch.from_numpy(counts / counts.sum()).float()
            augment = self.augment or scan_augment(images, self.seed)
            epochs = self.epochs if self.epochs is not None else stage_epochs(n, self.batch_size, self.steps)
            history["scan"] = train_neighbour_consistency(
                model, images, self.neighbors_, augment, self.entropy_weight, epochs,
                self._fit_kwargs(dev, folders["scan"]), on_epoch_end=self.on_epoch_end, prior=prior)
            history["self_label"] = train_self_labelling(
                model, images, augment, k_train, stage_epochs(n, self.batch_size, self.self_label_steps),
                self._fit_kwargs(dev, folders["self_label"], self.self_label_lr), balance=self.balance,
                threshold=self.threshold, prior=prior)
            if k_train > self.n_clusters:
                groups, prior = merge_model(model, images, self.n_clusters, self.n_neighbors, dev)
                refine_epochs = stage_epochs(n, self.batch_size, self.refine_steps)
                history["refine"] = train_self_labelling(
                    model, images, augment, self.n_clusters, refine_epochs,
                    self._fit_kwargs(dev, folders["refine"], self.self_label_lr), balance=self.balance,
                    threshold=self.threshold, prior=prior)
        model.eval()
        labels = as_label_array(forward_all(model, images, dev).argmax(1))
        return {"model": model, "labels": labels, "init_labels": init_labels, "prior": prior,
                "groups": groups, "history": history}

    def predict_proba(self, images) -> torch.Tensor:
        """Cluster probabilities (N, n_clusters), float32 tensor on the CPU, of images (N, C, H, W)."""
        self._check_fitted("model_")
        images = check_training_images(images, standardized=self.standardized)
        return forward_all(self.model_, images, runtime.device(self.device)).softmax(1)

    def predict(self, images) -> np.ndarray:
        """Most likely cluster (N,), NumPy int64, of each image."""
        return as_label_array(self.predict_proba(images).argmax(1))
