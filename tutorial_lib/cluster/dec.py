"""Deep Embedded Clustering (Xie, Girshick & Farhadi, 2016) on a convolutional autoencoder.

Taught in notebook 03_clustering_classification: the first deep method, whose Student-t soft
assignments (:func:`soft_assignment`) are sharpened towards a target distribution
(:func:`target_distribution`) by minimising :func:`dec_loss`.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime
from ..base import Estimator, as_label_array, reject_labels, seeded
from ..features import check_training_images
from ..models import AutoencoderEncoder
from ..train import StopTraining
from ._common import (
    RANGE_HINT,
    check_k,
    epochs_for,
    fit_stage,
    forward_all,
    stage_checkpoints,
    warn_if_collapsed,
)
from .kmeans import KMeans, squared_distances
from .pipeline import AutoencoderFeatures


def soft_assignment(z: torch.Tensor, centers: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """DEC's Student-t soft assignment of embedded points to cluster centres.

    .. math:: q_{ij} = \\frac{(1 + \\|z_i - \\mu_j\\|^2 / \\alpha)^{-\\frac{\\alpha + 1}{2}}}
              {\\sum_{j'} (1 + \\|z_i - \\mu_{j'}\\|^2 / \\alpha)^{-\\frac{\\alpha + 1}{2}}}

    Parameters
    ----------
    z : Tensor, shape (N, D)
    centers : Tensor, shape (K, D)
    alpha : float
        Degrees of freedom of the Student-t kernel (1 in the paper).

    Returns
    -------
    Tensor, shape (N, K), rows sum to 1.
    """
    d2 = squared_distances(z, centers)
    q = (1.0 + d2 / alpha).pow(-(alpha + 1.0) / 2.0)
    return q / q.sum(1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """DEC's target: square the assignments, divide by cluster frequency, renormalise.

    .. math:: p_{ij} = \\frac{q_{ij}^2 / f_j}{\\sum_{j'} q_{ij'}^2 / f_{j'}}, \\qquad f_j = \\sum_i q_{ij}

    Squaring sharpens confident assignments; dividing by :math:`f_j` stops large clusters from
    swallowing the others.

    Parameters
    ----------
    q : Tensor, shape (N, K), rows sum to 1

    Returns
    -------
    Tensor, shape (N, K), rows sum to 1.
    """
    weight = q.pow(2) / q.sum(0, keepdim=True).clamp_min(1e-12)
    return weight / weight.sum(1, keepdim=True)


def dec_loss(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathrm{KL}(P \\| Q) = \\frac{1}{N} \\sum_i \\sum_j p_{ij} \\log \\frac{p_{ij}}{q_{ij}}`,
    the loss DEC minimises (``p`` is held fixed).

    Parameters
    ----------
    q, p : Tensor, shape (N, K), rows sum to 1

    Returns
    -------
    Tensor, scalar >= 0 (0 when ``q == p``).
    """
    if q.shape != p.shape:
        raise ValueError(f"q and p must have the same shape, got {tuple(q.shape)} and {tuple(p.shape)}")
    return F.kl_div(q.clamp_min(1e-12).log(), p, reduction="batchmean")


class DECModule(nn.Module):
    """An encoder and learnable cluster centres; ``forward`` gives the soft assignments ``q`` (N, K).

    Parameters
    ----------
    encoder : nn.Module
        Maps images (N, C, H, W) to codes (N, D).
    centers : Tensor, shape (K, D)
        Initial centres (copied into a parameter).
    alpha : float
        Student-t degrees of freedom.
    """

    def __init__(self, encoder: nn.Module, centers: torch.Tensor, alpha: float = 1.0):
        super().__init__()
        self.encoder = encoder
        self.centers = nn.Parameter(centers.clone().float())
        self.alpha = alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return soft_assignment(self.encoder(x), self.centers, self.alpha)


class DEC(Estimator):
    """Deep Embedded Clustering (Xie, Girshick & Farhadi, 2016) on a convolutional autoencoder.

    1. Train an autoencoder by reconstruction (``features.train_autoencoder``).
    2. k-means on its codes gives the initial centres :math:`\\mu_j`.
    3. Train the encoder and the centres together to minimise :math:`\\mathrm{KL}(P\\|Q)`, with
       :math:`Q` the Student-t soft assignments and :math:`P` the sharpened target, recomputed from
       the whole set at the start of each epoch; stop when fewer than ``tol`` of the labels change.

    Parameters
    ----------
    n_clusters : int
    latent_dim, width : int
        Autoencoder code size and first-layer channels.
    pretrain_epochs : int, optional
        Autoencoder epochs; None converts ``pretrain_steps`` to epochs for the data size.
    pretrain_steps, pretrain_min_epochs, pretrain_max_epochs : int
        Autoencoder budget when ``pretrain_epochs`` is None: about ``pretrain_steps`` optimisation
        steps, clipped to ``[pretrain_min_epochs, pretrain_max_epochs]`` epochs.
    epochs : int, optional
        Clustering epochs; None converts ``steps`` to epochs for the data size.
    steps, min_epochs, max_epochs : int
        Clustering budget when ``epochs`` is None (as for the autoencoder).
    lr : float
        Adam learning rate of the clustering phase.
    batch_size : int
    alpha : float
        Student-t degrees of freedom.
    tol : float
        Stop when the fraction of changed labels between epochs falls below this.
    autoencoder : ConvAutoencoder, optional
        A trained autoencoder to start from (step 1 is skipped); a copy is trained, not it.
    checkpoint_dir : path, optional
        Step 1 keeps its ``train.fit`` checkpoint in ``checkpoint_dir/autoencoder``, step 3 in
        ``checkpoint_dir/dec``. After an interruption (``train.TrainingInterrupted``), ``fit`` again with
        ``resume=True`` continues where it stopped, with the labels of an uninterrupted fit; with
        ``resume=False`` the old checkpoints are removed.
    resume : bool
        Continue from the checkpoints in ``checkpoint_dir`` (needs the same images and settings).
    standardized : bool
        The images are standardised on purpose: accept values outside [-0.5, 1.5] (otherwise refused:
        divide 8-bit images by 255).
    seed, device, progress
        The fit runs with the global generators seeded by ``seed`` (network weights, shuffling) and
        restores the caller's random state afterwards.

    A fit that puts more than 90 % of the images in one cluster warns (``UserWarning``).

    Attributes
    ----------
    autoencoder_ : ConvAutoencoder
    model_ : DECModule
    cluster_centers_ : Tensor, shape (n_clusters, latent_dim)
    labels_ : ndarray, shape (N,), int64
    init_labels_ : ndarray, shape (N,), int64: k-means of the pretrained codes, where DEC starts
    history_ : train.History of the clustering phase (``loss``, ``changed``)
    pretrain_history_ : train.History of the autoencoder, or None
    """

    def __init__(self, n_clusters: int = 10, latent_dim: int = 10, width: int = 32,
                 pretrain_epochs: int | None = None, pretrain_steps: int = 800, pretrain_min_epochs: int = 15,
                 pretrain_max_epochs: int = 100, epochs: int | None = None, steps: int = 500,
                 min_epochs: int = 5, max_epochs: int = 60, lr: float = 1e-4, batch_size: int = 256,
                 alpha: float = 1.0, tol: float = 0.001, autoencoder=None, checkpoint_dir=None,
                 resume: bool = False, standardized: bool = False, seed: int = 0, device: str = "auto",
                 progress: bool = False):
        self.n_clusters = n_clusters
        self.latent_dim = latent_dim
        self.width = width
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_steps = pretrain_steps
        self.pretrain_min_epochs = pretrain_min_epochs
        self.pretrain_max_epochs = pretrain_max_epochs
        self.epochs = epochs
        self.steps = steps
        self.min_epochs = min_epochs
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.alpha = alpha
        self.tol = tol
        self.autoencoder = autoencoder
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.standardized = standardized
        self.seed = seed
        self.device = device
        self.progress = progress

    def _pretrain(self, images: torch.Tensor, dev: torch.device, checkpoint_dir):
        """Step 1: the autoencoder and its codes (N, latent_dim) of ``images``."""
        if self.autoencoder is not None:
            from ..features import embed

            ae = copy.deepcopy(self.autoencoder)  # fit must not train the caller's network
            return ae, None, embed(ae, images, device=dev)
        feats = AutoencoderFeatures(latent_dim=self.latent_dim, width=self.width, epochs=self.pretrain_epochs,
                                    steps=self.pretrain_steps, min_epochs=self.pretrain_min_epochs,
                                    max_epochs=self.pretrain_max_epochs, batch_size=self.batch_size,
                                    checkpoint_dir=checkpoint_dir, resume=self.resume,
                                    standardized=self.standardized, seed=self.seed, device=dev,
                                    progress=self.progress)
        codes = feats.fit_transform(images)
        return feats.autoencoder_, feats.history_, codes

    def fit(self, images, y=None) -> DEC:
        """Cluster ``images``: Tensor or array (N, C, H, W), float in [0, 1].

        Raises ``train.TrainingInterrupted`` on Ctrl-C (with ``checkpoint_dir``, fit again with
        ``resume=True`` to continue) and ``train.TrainingDiverged`` on a NaN or infinite loss.
        """
        reject_labels(self, y)
        images = check_training_images(images, standardized=self.standardized, min_count=2)
        check_k(self.n_clusters, len(images))
        dev = runtime.device(self.device)
        folders = stage_checkpoints(self.checkpoint_dir, ("autoencoder", "dec"), self.resume)
        with seeded(self.seed, dev):
            ae, self.pretrain_history_, codes = self._pretrain(images, dev, folders["autoencoder"])
            km = KMeans(self.n_clusters, n_init=20, seed=self.seed, device=self.device).fit(codes)
            model = DECModule(AutoencoderEncoder(ae), km.cluster_centers_, self.alpha)
            self.history_ = self._cluster(model, images, torch.from_numpy(km.labels_), dev, folders["dec"])
        self.autoencoder_, self.model_ = ae, model.eval()
        self.init_labels_ = as_label_array(km.labels_)
        self.cluster_centers_ = model.centers.detach().cpu().clone()
        self.labels_ = as_label_array(forward_all(model, images, dev).argmax(1))
        warn_if_collapsed(self.labels_, self.n_clusters, "DEC",
                          f"a lower lr (now {self.lr:g}), a longer pretraining (pretrain_steps, now "
                          f"{self.pretrain_steps}); {RANGE_HINT}")
        return self

    def _cluster(self, model: DECModule, images: torch.Tensor, init_labels: torch.Tensor, dev,
                 checkpoint_dir):
        """Step 3: train encoder and centres on KL(P || Q); the ``train.History`` of this phase."""
        epochs = self.epochs or epochs_for(len(images), self.batch_size, self.steps,
                                           lo=self.min_epochs, hi=self.max_epochs)
        state = {"p": None, "labels": init_labels, "first": True}

        def refresh_target(epoch, net):
            if state.pop("first", False) and epoch > 0:
                # A resumed run: the labels the previous epoch ended with are those of the loaded weights.
                state["labels"] = forward_all(model, images, dev).argmax(1)
            state["p"] = target_distribution(forward_all(model, images, dev)).to(dev)

        def step(net, batch):
            x, idx = batch
            return dec_loss(net(x), state["p"][idx])

        def check_changes(epoch, net, history):
            labels = forward_all(model, images, dev).argmax(1)
            changed = float((labels != state["labels"]).float().mean())
            state["labels"] = labels
            if changed < self.tol:
                raise StopTraining
            return {"changed": changed}

        return fit_stage(model, step, (images, torch.arange(len(images))), epochs=epochs, lr=self.lr,
                         batch_size=self.batch_size, device=dev, seed=self.seed,
                         on_epoch_start=refresh_target, on_epoch_end=check_changes, progress=self.progress,
                         config={"model": "DEC"}, checkpoint_dir=checkpoint_dir, resume=self.resume)

    def predict_proba(self, images) -> torch.Tensor:
        """Soft assignments ``q`` (N, n_clusters), float32 tensor on the CPU, of images (N, C, H, W)."""
        self._check_fitted("model_")
        images = check_training_images(images, standardized=self.standardized)
        return forward_all(self.model_, images, runtime.device(self.device))

    def predict(self, images) -> np.ndarray:
        """Most likely cluster (N,), NumPy int64, of each image."""
        return as_label_array(self.predict_proba(images).argmax(1))
