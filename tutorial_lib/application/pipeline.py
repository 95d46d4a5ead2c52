"""The application's estimator: split foreground from background, find the objects, classify them without
labels, and split the background into regions.

Taught in notebook 05_foreground_background.

:class:`ObjectPipeline` runs the stages as named steps (:mod:`.foreground`, :mod:`.crops`):

1. ``preprocess``: an optional denoiser (``tutorial_lib.preprocess.denoise``);
2. ``fit_flatness``: a 2-component mixture of pixel flatness over the set (candidates: the flat one);
3. ``fit_contrast``: a 2-component mixture over the set of how much each candidate region stands out:
   its contrast with its surroundings against its own colour spread (:func:`~.foreground.standout`;
   objects: the higher component);
4. ``objects_of``: the object regions grown by their own colour, closed, cut into connected components
   of at least ``min_size`` pixels;
5. ``fit_recogniser``: the objects' normalised crops of the whole set clustered by a method of
   ``tutorial_lib.cluster.METHODS`` (default SCAN; the number of classes chosen by the silhouette when
   ``"auto"``);
6. ``predict``: the same stages on a new image with the fitted models, a class and a confidence per
   object, and the background split by Felzenszwalb's segmenter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..base import Estimator, InputError, as_label_array, check_image_list, reject_labels
from .crops import bounding_boxes, object_crops
from .foreground import (
    Mixture1D,
    find_objects,
    flat_regions,
    flatness,
    grow_regions,
    keep_regions,
    region_contrast,
    region_spread,
    standout,
)

FOREGROUND_METHODS = ("flat-contrast", "flat")
"""``flat-contrast`` (default): flat candidates kept when the mixture of how much they stand out (contrast
against their own colour spread) puts them in the higher component;
``flat``: every flat candidate region is an object (the baseline the notebook compares with)."""



@dataclass
class SceneParse:
    """What :meth:`ObjectPipeline.predict` finds in one image.

    Attributes
    ----------
    foreground : ndarray, shape (H, W), bool
    objects : ndarray, shape (H, W), int64; 0 = background, k = object k (1..K)
    classes : ndarray, shape (K,), int64; the cluster of object k at ``classes[k - 1]``
    confidence : ndarray, shape (K,), float32 in [0, 1]
    boxes : ndarray, shape (K, 4), int64; (top, left, bottom, right), bottom and right exclusive
    areas : ndarray, shape (K,), int64; pixels of each object
    regions : ndarray, shape (H, W), int64; 0 on the foreground, 1..R the background regions
    """

    foreground: np.ndarray
    objects: np.ndarray
    classes: np.ndarray
    confidence: np.ndarray
    boxes: np.ndarray
    areas: np.ndarray
    regions: np.ndarray

    def __len__(self) -> int:
        return len(self.classes)


class ObjectPipeline(Estimator):
    """Segment the background, find the foreground objects and classify them, with no labels.

    Parameters
    ----------
    foreground : {"flat-contrast", "flat"}
        How candidate regions become objects (see :data:`FOREGROUND_METHODS`).
    threshold : float
        Posterior of the flat component a pixel needs to be a candidate (0..1).
    min_size : int
        Fewest pixels an object has.
    max_share : float
        Flat regions larger than this share of the image are background (sky, walls).
    n_clusters : int or "auto"
        Object classes; ``"auto"``: the best silhouette of k-means on the crops' PCA codes, 2..max_clusters.
    max_clusters : int
    clusterer : str
        A name of ``tutorial_lib.cluster.METHODS``. Default ``scan``: on the matched crops of 100
        ``photo-objects`` scenes it labelled 0.656 / 0.807 of them right (seeds 0 / 1) against 0.540 /
        0.564 for ``pca-kmeans``, 0.517 for ``umap-kmeans`` and 0.557 for ``n2d`` (seed 0), and 0.437
        against 0.356 with ``shapes`` as the objects; about 45 s on 2 CPU cores for 450 crops.
    clusterer_params : dict, optional
        Extra parameters of the clusterer.
    denoise : str or None
        ``tutorial_lib.preprocess.denoise`` method applied first (``"median"``,
        ``"gaussian"``...); None: none.
    region_scale : float
        Felzenszwalb's scale for the background regions (larger: fewer regions).
    seed, device, progress
        As every estimator.

    Attributes
    ----------
    flatness_mixture_ : Mixture1D, of pixel flatness
    contrast_mixture_ : Mixture1D or None, of the candidate regions' :meth:`standouts` (None: one population)
    n_clusters_ : int
    recogniser_ : the fitted clusterer
    labels_ : ndarray (M,), int64, the class of every object found in the training images
    n_objects_ : int
    """

    def __init__(self, foreground: str = "flat-contrast", threshold: float = 0.5, min_size: int = 60,
                 max_share: float = 0.1, n_clusters: int | str = "auto", max_clusters: int = 12,
                 clusterer: str = "scan", clusterer_params: dict | None = None,
                 denoise: str | None = None, region_scale: float = 300.0, seed: int = 0, device: str = "auto",
                 progress: bool = False):
        self.foreground = foreground
        self.threshold = threshold
        self.min_size = min_size
        self.max_share = max_share
        self.n_clusters = n_clusters
        self.max_clusters = max_clusters
        self.clusterer = clusterer
        self.clusterer_params = clusterer_params
        self.denoise = denoise
        self.region_scale = region_scale
        self.seed = seed
        self.device = device
        self.progress = progress

    # --- stages -------------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.foreground not in FOREGROUND_METHODS:
            raise ValueError(f"foreground must be one of {FOREGROUND_METHODS}, got {self.foreground!r}")
        if not 0.0 < float(self.threshold) < 1.0:
            raise ValueError(f"threshold must lie strictly between 0 and 1, got {self.threshold}")
        whole = isinstance(self.n_clusters, (int, np.integer)) and self.n_clusters >= 1
        if self.n_clusters != "auto" and not whole:
            raise ValueError(f"n_clusters must be 'auto' or a whole number >= 1, got {self.n_clusters!r}")

    def preprocess(self, image: torch.Tensor) -> np.ndarray:
        """``image`` (C, H, W) -> (H, W, 3) float32 in [0, 1], denoised when ``denoise`` is set."""
        if self.denoise:
            from ..preprocess.denoise import denoise

            image = denoise(image[None], method=self.denoise)[0].clamp(0, 1)
        pixels = image.permute(1, 2, 0).numpy()
        return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else np.ascontiguousarray(pixels[..., :3])

    def fit_flatness(self, flats: list[np.ndarray], per_image: int = 5000) -> Mixture1D:
        """The flatness mixture, fitted on ``per_image`` seeded random pixels of each flatness map."""
        rng = np.random.default_rng(self.seed)
        values = np.concatenate([f.ravel()[rng.choice(f.size, min(per_image, f.size), replace=False)]
                                 for f in flats])
        return Mixture1D.fit(values, seed=self.seed)

    def candidates(self, pixels: np.ndarray, flat: np.ndarray, mixture: Mixture1D) -> np.ndarray:
        """Flat regions of one image (H, W) int64, those smaller than half of ``min_size`` dropped."""
        regions = flat_regions(pixels, mixture.posterior(flat, 0), self.threshold, self.max_share)
        sizes = np.bincount(regions.ravel(), minlength=int(regions.max()) + 1)[1:]
        return keep_regions(regions, sizes >= max(1, self.min_size // 2))

    @staticmethod
    def standouts(pixels: np.ndarray, regions: np.ndarray) -> np.ndarray:
        """How much each candidate region stands out, (K,) float64: :func:`~.foreground.standout` of its
        contrast with the ring around it and its own colour spread."""
        return standout(region_contrast(pixels, regions), region_spread(pixels, regions))

    def fit_contrast(self, contrasts: list[np.ndarray], sizes: list[np.ndarray],
                     draws: int = 20000) -> Mixture1D | None:
        """The contrast mixture over the candidate regions of the set, each region weighted by its pixels
        (``draws`` seeded draws; a pixel-weighted mixture is not swamped by the many specks of flat photo
        texture). None when fewer than 4 regions were found or one Gaussian fits them better (every candidate
        is then an object)."""
        values = np.concatenate(contrasts) if contrasts else np.zeros(0)
        if len(values) < 4:
            return None
        weights = np.concatenate(sizes).astype(np.float64)
        rng = np.random.default_rng(self.seed)
        drawn = rng.choice(len(values), draws, p=weights / weights.sum())
        # the draws repeat len(values) regions: the BIC counts Kish's effective number of them
        n_effective = weights.sum() ** 2 / (weights ** 2).sum()
        return Mixture1D.fit(values[drawn], seed=self.seed, need_two=True, n_effective=n_effective)

    def objects_of(self, pixels: np.ndarray, regions: np.ndarray, contrast: np.ndarray,
                   mixture: Mixture1D | None) -> np.ndarray:
        """The objects (H, W) int64 of one image from its candidate regions and their contrasts."""
        if self.foreground == "flat-contrast" and mixture is not None and len(contrast):
            regions = keep_regions(regions, mixture.posterior(contrast, 1) >= 0.5)
        return find_objects(grow_regions(pixels, regions) > 0, self.min_size)

    def object_maps(self, images) -> list[np.ndarray]:
        """Stages 1-4 on every image with the fitted mixtures: each image's objects, no classes.

        Needs the two mixtures (:meth:`fit`, or :meth:`training_crops` alone, which fits only them: the
        foreground stage without training a recogniser).

        Parameters
        ----------
        images : list of Tensor (C, H, W), float in [0, 1]

        Returns
        -------
        list of ndarray (H, W), int64: 0 = background, 1..K the objects of that image
        """
        self._check_fitted("flatness_mixture_")
        out = []
        for image in check_image_list(images):
            pixels = self.preprocess(image)
            regions = self.candidates(pixels, flatness(pixels), self.flatness_mixture_)
            out.append(self.objects_of(pixels, regions, self.standouts(pixels, regions),
                                       self.contrast_mixture_))
        return out

    def _choose_k(self, crops: torch.Tensor) -> int:
        if self.n_clusters != "auto":
            return int(self.n_clusters)
        from ..cluster import PCAFeatures
        from ..segment.descriptors import estimate_n_segments

        codes = PCAFeatures(min(50, len(crops) - 1, crops[0].numel()), seed=self.seed).fit_transform(crops)
        k, _ = estimate_n_segments(codes.numpy(), max_segments=min(self.max_clusters, len(crops) - 1),
                                   sample=len(crops), seed=self.seed)
        return max(k, 2)

    def fit_recogniser(self, crops: torch.Tensor):
        """The clusterer of ``cluster.METHODS[clusterer]`` fitted on the crops (M, 1, 28, 28)."""
        from ..cluster import METHODS

        if self.clusterer not in METHODS:
            raise ValueError(f"clusterer must be one of {sorted(METHODS)}, got {self.clusterer!r}")
        self.n_clusters_ = self._choose_k(crops)
        model = METHODS[self.clusterer](n_clusters=self.n_clusters_, seed=self.seed, device=self.device,
                                        progress=self.progress, **(self.clusterer_params or {}))
        return model.fit(crops)

    # --- the estimator ------------------------------------------------------------------------------
    def fit(self, images, y=None) -> ObjectPipeline:
        """Learn the foreground mixtures and the recogniser on a set of images (no labels).

        Parameters
        ----------
        images : list of Tensor (C, H, W) or Tensor (N, C, H, W), float in [0, 1]
            C = 1 or 3; sizes may differ.

        Returns
        -------
        self
        """
        reject_labels(self, y)
        crops = self.training_crops(images)
        if len(crops) < 4:
            raise InputError(f"only {len(crops)} objects were found in {len(images)} images; at least 4 "
                             "are needed to learn their classes: lower threshold or min_size, or give more "
                             "images")
        self.recogniser_ = self.fit_recogniser(crops)
        self.labels_ = as_label_array(self.recogniser_.labels_)
        self.n_objects_ = len(crops)
        return self

    def training_crops(self, images) -> torch.Tensor:
        """Stages 1-4 of :meth:`fit`: fit the two mixtures on ``images`` (as :meth:`fit` takes them) and
        return the normalised crops of every object found, (M, 1, 28, 28) float32 in [0, 1] (what the
        recogniser learns from; e.g. to choose the number of classes on them)."""
        self._check_params()
        images = check_image_list(images)
        prepared = [self.preprocess(im) for im in images]
        flats = [flatness(p) for p in prepared]
        self.flatness_mixture_ = self.fit_flatness(flats)
        regions = [self.candidates(p, f, self.flatness_mixture_)
                   for p, f in zip(prepared, flats, strict=True)]
        contrasts = [self.standouts(p, r) for p, r in zip(prepared, regions, strict=True)]
        sizes = [np.bincount(r.ravel(), minlength=int(r.max()) + 1)[1:] for r in regions]
        self.contrast_mixture_ = self.fit_contrast(contrasts, sizes)
        objects = [self.objects_of(p, r, c, self.contrast_mixture_)
                   for p, r, c in zip(prepared, regions, contrasts, strict=True)]
        return torch.cat([object_crops(o) for o in objects])

    def classify(self, crops: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Class and confidence of each crop (M, 1, 28, 28): the recogniser's probability where it has
        one, else ``1 - d1 / d2`` from the distances to its two nearest centres. Returns (M,) int64 and
        (M,) float32 in [0, 1]."""
        self._check_fitted("recogniser_")
        if len(crops) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        model = self.recogniser_
        if hasattr(model, "predict_proba"):
            proba = torch.as_tensor(model.predict_proba(crops)).float()
            return as_label_array(proba.argmax(1)), proba.max(1).values.numpy()
        dist = torch.as_tensor(np.asarray(model.clusterer_.transform(model.feature_step_.transform(crops))))
        dist = dist.double()
        chosen = dist.argmin(1)
        if dist.shape[1] < 2:
            return as_label_array(chosen), np.ones(len(chosen), np.float32)
        two = dist.topk(2, dim=1, largest=False).values
        conf = (1 - two[:, 0] / two[:, 1].clamp_min(1e-12)).clamp(0, 1)
        return as_label_array(chosen), conf.float().numpy()

    def background_regions(self, image: torch.Tensor, foreground: np.ndarray) -> np.ndarray:
        """Felzenszwalb's regions of the background of ``image`` (C, H, W): (H, W) int64, 0 on the
        foreground, 1..R elsewhere."""
        from ..segment import Felzenszwalb

        labels = Felzenszwalb(scale=self.region_scale, seed=self.seed).fit_predict(image) + 1
        labels[foreground] = 0
        _, dense = np.unique(labels, return_inverse=True)
        dense = dense.reshape(labels.shape)
        return dense if foreground.any() else dense + 1

    def predict(self, image) -> SceneParse | list[SceneParse]:
        """Objects, their classes and the background regions of one image or of several.

        Parameters
        ----------
        image : Tensor (C, H, W), or a list of them / a batch (N, C, H, W); float in [0, 1]

        Returns
        -------
        SceneParse, or a list of them for several images
        """
        self._check_fitted("recogniser_")
        single = getattr(image, "ndim", 0) == 3
        images = check_image_list([image] if single else image)
        out = []
        for im, objects in zip(images, self.object_maps(images), strict=True):
            classes, confidence = self.classify(object_crops(objects))
            foreground = objects > 0
            areas = np.bincount(objects.ravel(), minlength=len(classes) + 1)[1:].astype(np.int64)
            out.append(SceneParse(foreground, objects, classes, confidence, bounding_boxes(objects), areas,
                                  self.background_regions(im, foreground)))
        return out[0] if single else out
