"""Learning features without labels, and measuring how good they are.

Taught in notebook 02_feature_learning; the trainers and :func:`embed` are also used by the deep
clustering methods of notebook 03_clustering_classification.

* Autoencoder: minimise the reconstruction error :math:`\\frac{1}{N}\\sum_i \\|x_i - g(f(x_i))\\|^2`.
* SimCLR: two random views of each image should have close embeddings, and views of different
  images far ones: the NT-Xent loss (:func:`nt_xent_loss`).
* Embeddings (:func:`embed`) and their quality with the labels we kept hidden: k-nearest-neighbour
  accuracy (:func:`knn_accuracy`) and a linear probe (:func:`linear_probe_accuracy`).

Both trainers run through :func:`tutorial_lib.train.fit`, so they get checkpoints, resume, mixed
precision on CUDA and DDP for free. They seed their network's initial weights with ``seed`` inside
:func:`tutorial_lib.base.seeded`, so the caller's random state is left as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import runtime
from .base import InputError, batched_forward, check_images, reseed_from_global, seeded
from .models import ConvAutoencoder, EncoderWithHead, ProjectionHead, build_encoder
from .train import History, fit, unwrap

# --- helpers -----------------------------------------------------------------------------------

IMAGE_RANGE = (-0.5, 1.5)
"""Values accepted by the methods that train on images (networks, views, learning rates set for [0, 1])
unless the data is standardised on purpose: room for noise, none for 0-255 pixels."""


def check_training_images(images, *, standardized: bool = False, min_count: int = 1,
                          name: str = "images") -> torch.Tensor:
    """``base.check_images`` (same ``min_count``, ``name``) for methods that train on images.

    ``images`` (N, C, H, W), float in [0, 1], is returned as float32; an ``InputError`` refuses what
    ``check_images`` does and, unless ``standardized`` (the data is standardised on purpose: any finite
    values), values outside ``IMAGE_RANGE``, saying to divide 8-bit images by 255.
    """
    images = check_images(images, name=name, min_count=min_count)
    if standardized:
        return images
    try:
        return check_images(images, name=name, value_range=IMAGE_RANGE)
    except InputError as err:  # only the range can fail now
        raise InputError(f"{err} (or pass standardized=True if the values are standardised on "
                         "purpose)") from None


def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _monitor(images: torch.Tensor, labels, user_callback: Callable | None, seed: int) -> Callable:
    """An ``on_epoch_end`` adding the 3-fold kNN accuracy of the current features (labels only score)."""

    def end_of_epoch(epoch, net, history):
        out = {}
        if labels is not None:
            feats = embed(net, images, device=next(net.parameters()).device)
            out["knn_acc"] = knn_accuracy(feats, labels, k=5, folds=3, seed=seed)
        if user_callback is not None:
            out.update(user_callback(epoch, net, history) or {})
        return out

    return end_of_epoch


# --- autoencoder -------------------------------------------------------------------------------

def reconstruction_step(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Mean squared reconstruction error of a batch, the autoencoder's loss (a ``train.fit`` step)."""
    return F.mse_loss(model(images), images)


def train_autoencoder(images: torch.Tensor, *, latent_dim: int = 32, width: int = 32,
                      depth: int | None = None, activation: str = "relu", epochs: int = 20, lr: float = 2e-3,
                      batch_size: int = 128, weight_decay: float = 0.0, seed: int = 0,
                      device: str | torch.device = "auto", amp: bool | str = False,
                      compile: bool | str = False,
                      checkpoint_dir: str | os.PathLike | None = None, resume: bool = False,
                      progress: bool = True, on_epoch_end: Callable | None = None,
                      monitor_labels: torch.Tensor | None = None, model: ConvAutoencoder | None = None,
                      standardized: bool = False) -> tuple[ConvAutoencoder, History]:
    """Train a :class:`~tutorial_lib.models.ConvAutoencoder` on ``images`` by reconstruction.

    Parameters
    ----------
    images : Tensor or ndarray, shape (N, C, H, W), float in [0, 1]
    latent_dim, width, depth, activation
        Architecture (see ``ConvAutoencoder``); ignored when ``model`` is given.
    epochs, lr, batch_size, weight_decay, seed, device, amp, compile, checkpoint_dir, resume, progress,
    on_epoch_end
        Passed to :func:`tutorial_lib.train.fit` (cosine learning-rate schedule).
    monitor_labels : Tensor (N,), optional
        Hidden labels of ``images``, used ONLY to report the kNN accuracy of the codes after each
        epoch (``history["knn_acc"]``); training never sees them.
    model : ConvAutoencoder, optional
        Continue training this model instead of building a new one.
    standardized : bool
        The images are standardised on purpose: accept values outside [-0.5, 1.5] (otherwise refused
        with :class:`~tutorial_lib.base.InputError`: divide 8-bit images by 255).

    Returns
    -------
    (ConvAutoencoder, History)
        The trained model (in eval mode) and its per-epoch losses.

    Raises
    ------
    tutorial_lib.train.TrainingInterrupted
        On Ctrl-C, once the state is saved in ``checkpoint_dir``: run the call again with
        ``resume=True`` to continue.
    """
    images = check_training_images(images, standardized=standardized)
    with seeded(seed, runtime.device(device)):  # the initial weights; fit seeds itself again
        if model is None:
            model = ConvAutoencoder(images.shape[1], tuple(images.shape[-2:]), latent_dim=latent_dim,
                                    width=width, depth=depth, activation=activation)
        config = {"model": "ConvAutoencoder", "latent_dim": model.latent_dim,
                  "image_size": list(model.image_size)}
        history = fit(model, reconstruction_step, images, epochs=epochs, lr=lr, batch_size=batch_size,
                      weight_decay=weight_decay, scheduler="cosine", device=device, amp=amp,
                      compile=compile, seed=seed,
                      checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
                      on_epoch_end=_monitor(images, monitor_labels, on_epoch_end, seed), config=config)
    return model.eval(), history


def reconstruct(model: ConvAutoencoder, images: torch.Tensor, batch_size: int = 512,
                device: str | torch.device = "auto") -> torch.Tensor:
    """Reconstructions ``(N, C, H, W)`` in [0, 1], on the CPU, of ``images`` (Tensor or ndarray,
    ``(N, C, H, W)``) by an autoencoder."""
    return _forward(model, model.forward, images, batch_size, device)


# --- SimCLR ------------------------------------------------------------------------------------

def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's normalised temperature-scaled cross-entropy.

    With :math:`u_i` the L2-normalised rows of ``cat(z1, z2)`` (2N vectors), :math:`s_{ij} = u_i^\\top
    u_j / \\tau`, and :math:`p(i)` the other view of sample :math:`i`:

    .. math:: \\ell = \\frac{1}{2N} \\sum_{i=1}^{2N} -\\log \\frac{\\exp s_{i,p(i)}}
              {\\sum_{j \\neq i} \\exp s_{ij}}

    Parameters
    ----------
    z1, z2 : Tensor, shape (N, D)
        Projections of the two views; row ``i`` of ``z1`` and of ``z2`` come from the same image.
    temperature : float
        :math:`\\tau > 0`; lower values weigh hard negatives more.

    Returns
    -------
    Tensor
        Scalar loss, at least 0; its minimum for a given N and τ is reached when each pair coincides
        and different images are far apart.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both have shape (N, D), got {tuple(z1.shape)}, {tuple(z2.shape)}")
    if len(z1) < 2:
        raise ValueError("NT-Xent needs at least 2 samples per batch (the other samples are the negatives)")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    n = len(z1)
    u = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    sim = u @ u.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=sim.device), float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(sim.device)
    return F.cross_entropy(sim, positives)


class SimCLRStep:
    """The ``train.fit`` step of SimCLR: two augmented views per image, one forward pass, NT-Xent.

    Parameters
    ----------
    augment : callable ``images -> images``
        Draws one random view of a batch, e.g. ``preprocess.ContrastiveAugment``. When it has a
        torch ``generator`` attribute, the generator is re-seeded from torch's global RNG at each
        step, so the views are reproducible and a resumed run sees the same views.
    temperature : float
        NT-Xent temperature.
    """

    def __init__(self, augment: Callable, temperature: float = 0.5):
        self.augment = augment
        self.temperature = temperature

    def __call__(self, model: nn.Module, images: torch.Tensor):
        reseed_from_global(self.augment)
        v1, v2 = self.augment(images), self.augment(images)
        # Both views in one batch, so batch norm sees the same statistics for both.
        z = model(torch.cat([v1, v2]))
        z1, z2 = z.chunk(2)
        loss = nt_xent_loss(z1, z2, self.temperature)
        with torch.no_grad():
            # Fraction of samples whose nearest other embedding is their own second view.
            u = F.normalize(z.float(), dim=1)
            sim = (u @ u.T).fill_diagonal_(-2)
            n = len(z1)
            partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
            pair_acc = (sim.argmax(1) == partner).float().mean()
        return loss, {"pair_acc": pair_acc}


def default_augment(images: torch.Tensor, seed: int = 0) -> Callable:
    """The contrastive augmentation for ``images``: ``preprocess.ContrastiveAugment``, preset by shape."""
    from .preprocess import ContrastiveAugment, preset_for

    return ContrastiveAugment(preset_for(images), seed=seed)


def train_simclr(images: torch.Tensor, *, encoder: nn.Module | str = "cnn", depth: int = 3, width: int = 32,
                 activation: str = "relu", projection_dim: int = 64, temperature: float = 0.5,
                 augment: Callable | None = None, epochs: int = 30, lr: float = 2e-3, batch_size: int = 256,
                 weight_decay: float = 1e-6, seed: int = 0, device: str | torch.device = "auto",
                 amp: bool | str = False, compile: bool | str = False,
                 checkpoint_dir: str | os.PathLike | None = None, resume: bool = False,
                 progress: bool = True, on_epoch_end: Callable | None = None,
                 monitor_labels: torch.Tensor | None = None,
                 standardized: bool = False) -> tuple[EncoderWithHead, History]:
    """Train an encoder with SimCLR (Chen et al., 2020) on unlabelled ``images``.

    Parameters
    ----------
    images : Tensor or ndarray, shape (N, C, H, W), float in [0, 1]
    encoder : nn.Module or {"cnn", "resnet18"}
        The encoder to train, or a name for :func:`~tutorial_lib.models.build_encoder` (``"cnn"`` uses
        ``depth``, ``width`` and ``activation``).
    projection_dim : int
        Output size of the projection head (the loss is computed there; features are taken before it).
    temperature : float
        NT-Xent temperature.
    augment : callable, optional
        Random view of a batch; default :func:`default_augment` (preset chosen from the image shape).
    epochs, lr, batch_size, weight_decay, seed, device, amp, compile, checkpoint_dir, resume, progress
        Passed to :func:`tutorial_lib.train.fit` (Adam, cosine schedule, last incomplete batch dropped).
    on_epoch_end : callable, optional
        Extra per-epoch callback ``(epoch, model, history) -> dict | None``.
    monitor_labels : Tensor (N,), optional
        Hidden labels of ``images``, used ONLY to report the 5-fold kNN accuracy of the features after
        each epoch (``history["knn_acc"]``); training never sees them.
    standardized : bool
        The images are standardised on purpose: accept values outside [-0.5, 1.5] (otherwise refused:
        divide 8-bit images by 255).

    Returns
    -------
    (EncoderWithHead, History)
        ``model.encoder`` gives the features; ``history`` has ``loss``, ``pair_acc`` and maybe ``knn_acc``.

    Raises
    ------
    tutorial_lib.train.TrainingInterrupted
        On Ctrl-C, once the state is saved in ``checkpoint_dir`` (run again with ``resume=True``).
    """
    images = check_training_images(images, standardized=standardized)
    with seeded(seed, runtime.device(device)):  # the initial weights; fit seeds itself again
        if isinstance(encoder, str):
            kwargs = {"depth": depth, "width": width, "activation": activation} if encoder == "cnn" else {}
            encoder = build_encoder(encoder, images.shape[1], **kwargs)
        head = ProjectionHead(encoder.out_dim, max(2 * projection_dim, 128), projection_dim)
        model = EncoderWithHead(encoder, head)
        step = SimCLRStep(augment if augment is not None else default_augment(images, seed), temperature)

        config = {"model": "SimCLR", "encoder": type(encoder).__name__, "projection_dim": projection_dim,
                  "temperature": temperature}
        history = fit(model, step, images, epochs=epochs, lr=lr, batch_size=min(batch_size, len(images)),
                      weight_decay=weight_decay, scheduler="cosine", device=device, amp=amp,
                      compile=compile, seed=seed,
                      drop_last=True, checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
                      on_epoch_end=_monitor(images, monitor_labels, on_epoch_end, seed), config=config)
    return model.eval(), history


# --- embeddings --------------------------------------------------------------------------------

def _embedding_fn(model: nn.Module) -> Callable:
    model = unwrap(model)
    if isinstance(model, EncoderWithHead):
        return model.features
    if isinstance(model, ConvAutoencoder):
        return model.encode
    return model


def _forward(model: nn.Module, fn: Callable, images, batch_size: int,
             device: str | torch.device) -> torch.Tensor:
    """``fn`` (a method of ``model``) on checked ``images``, with the model moved to ``device``."""
    dev = runtime.device(device)
    return batched_forward(fn, check_images(images), dev, batch_size, model=model.to(dev))


def embed(model: nn.Module, images: torch.Tensor, batch_size: int = 512,
          device: str | torch.device = "auto") -> torch.Tensor:
    """Features of ``images`` from a trained model, in eval mode and without gradients.

    Parameters
    ----------
    model : nn.Module
        An encoder (``ConvEncoder``, ResNet), an ``EncoderWithHead`` (its encoder's features, before
        the head, are used), or a ``ConvAutoencoder`` (its code ``z``).
    images : Tensor or ndarray, shape (N, C, H, W), float in [0, 1]
    batch_size : int
    device : str or torch.device
        Where the model runs (it is moved there).

    Returns
    -------
    Tensor, shape (N, D), float32, on the CPU
    """
    return _forward(model, _embedding_fn(model), images, batch_size, device)


def pixels(images: torch.Tensor) -> torch.Tensor:
    """Raw pixels as features: ``(N, C*H*W)`` float32, the baseline every learned space must beat."""
    return check_images(images).flatten(1)


# --- feature quality ---------------------------------------------------------------------------

def _check_features(feats, labels, name: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_numpy(feats).astype(np.float64), _as_numpy(labels).astype(np.int64).ravel()
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"{name}: features must be (N, D) and labels (N,), got {x.shape} and {y.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: features contain NaN or inf")
    return x, y


def _cv_score(make_model: Callable, x: np.ndarray, y: np.ndarray, folds: int, seed: int) -> float:
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    counts = np.bincount(y - y.min())
    folds = int(min(folds, counts[counts > 0].min()))
    if folds < 2:
        raise ValueError("cross-validation needs at least 2 samples of every class")
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(np.mean(cross_val_score(make_model(), x, y, cv=cv)))


def knn_accuracy(train_feats, train_labels, test_feats=None, test_labels=None, k: int = 5,
                 metric: str = "cosine", folds: int = 5, seed: int = 0) -> float:
    """Accuracy of a k-nearest-neighbour classifier on features: how well labels cluster there.

    With ``test_feats`` and ``test_labels``: fit on the train set, score on the test set. Without:
    stratified ``folds``-fold cross-validation on the train set.

    Parameters
    ----------
    train_feats, test_feats : Tensor or array, shape (N, D)
    train_labels, test_labels : Tensor or array of int, shape (N,)
    k : int
        Neighbours voting (majority, ties to the nearest).
    metric : str
        ``"cosine"`` (default: suits contrastive features, whose scale is arbitrary) or ``"euclidean"``.
    folds : int
        Folds of the cross-validation (reduced to the smallest class size if needed).
    seed : int
        Seed of the fold split.

    Returns
    -------
    float in [0, 1]
    """
    from sklearn.neighbors import KNeighborsClassifier

    x, y = _check_features(train_feats, train_labels, "train")

    def make():
        return KNeighborsClassifier(n_neighbors=k, metric=metric, algorithm="brute")

    if test_feats is None:
        if test_labels is not None:
            raise ValueError("give both test_feats and test_labels, or neither (cross-validation)")
        return _cv_score(make, x, y, folds, seed)
    xt, yt = _check_features(test_feats, test_labels, "test")
    if xt.shape[1] != x.shape[1]:
        raise ValueError(f"train and test features differ in size: {x.shape[1]} vs {xt.shape[1]}")
    return float(make().fit(x, y).score(xt, yt))


def linear_probe_accuracy(train_feats, train_labels, test_feats=None, test_labels=None, C: float = 1.0,
                          folds: int = 5, seed: int = 0, max_iter: int = 2000) -> float:
    """Accuracy of a logistic regression on standardised features (the "linear probe").

    Same conventions as :func:`knn_accuracy`: a test set if given, else cross-validation.

    Parameters
    ----------
    C : float
        Inverse L2 regularisation strength of scikit-learn's ``LogisticRegression``.
    max_iter : int
        Solver iterations.

    Returns
    -------
    float in [0, 1]
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _check_features(train_feats, train_labels, "train")

    def make():
        return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))

    if test_feats is None:
        return _cv_score(make, x, y, folds, seed)
    xt, yt = _check_features(test_feats, test_labels, "test")
    return float(make().fit(x, y).score(xt, yt))


def feature_report(spaces: dict, labels, k: int = 5, linear: bool = True, folds: int = 5,
                   seed: int = 0) -> dict[str, dict[str, float]]:
    """kNN (and linear-probe) cross-validated accuracy of several feature spaces of the same images.

    Parameters
    ----------
    spaces : dict of name -> Tensor (N, D_name)
        E.g. ``{"pixels": pixels(x), "autoencoder": embed(ae, x), "SimCLR": embed(simclr, x)}``.
    labels : Tensor (N,)
        The hidden labels, used only to score.

    Returns
    -------
    dict of name -> {"dim", "knn_acc"[, "linear_acc"]}
    """
    out = {}
    for name, feats in spaces.items():
        row = {"dim": int(feats.shape[1]),
               "knn_acc": knn_accuracy(feats, labels, k=k, folds=folds, seed=seed)}
        if linear:
            row["linear_acc"] = linear_probe_accuracy(feats, labels, folds=folds, seed=seed)
        out[name] = row
    return out


def format_report(report: dict[str, dict[str, float]]) -> str:
    """A small text table of :func:`feature_report`'s result."""
    cols = [c for c in ("dim", "knn_acc", "linear_acc") if any(c in r for r in report.values())]
    width = max(len(n) for n in report) + 2
    lines = [f"{'features':<{width}}" + "".join(f"{c:>12}" for c in cols)]
    for name, row in report.items():
        cells = "".join(f"{row[c]:>12d}" if c == "dim" else f"{row[c]:>12.3f}" for c in cols)
        lines.append(f"{name:<{width}}{cells}")
    return "\n".join(lines)


def project_2d(feats, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D coordinates of features for plotting: ``"pca"`` (linear, fast) or ``"tsne"`` (neighbourhoods).

    Parameters
    ----------
    feats : Tensor or array, shape (N, D)
    method : {"pca", "tsne"}
    seed : int
        t-SNE is slow beyond a few thousand points (about 30 s for 5,000 on 2 cores): subsample first.

    Returns
    -------
    ndarray, shape (N, 2)
    """
    x = _as_numpy(feats).astype(np.float32)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"need features of shape (N >= 3, D), got {x.shape}")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x)
    if method == "tsne":
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE

        if x.shape[1] > 50:  # the usual PCA-to-50 first: faster and less noisy
            x = PCA(n_components=50, random_state=seed).fit_transform(x)
        perplexity = min(30.0, (len(x) - 1) / 3)
        return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(x)
    raise ValueError(f"unknown method {method!r}; use 'pca' or 'tsne'")


__all__ = [
    "IMAGE_RANGE", "check_training_images", "reconstruction_step", "train_autoencoder", "reconstruct",
    "nt_xent_loss", "SimCLRStep",
    "default_augment", "train_simclr", "embed", "pixels", "knn_accuracy", "linear_probe_accuracy",
    "feature_report", "format_report", "project_2d",
]
