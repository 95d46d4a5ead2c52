"""What the two deep-feature segmenters share: descriptors, their whitening, pseudo-labels, labelling.

Taught in notebook 04_pixel_segmentation (the deep-feature method, :mod:`.deep_features`).

Both :class:`~.deep_set.SetFeatureClustering` (textures, clusters shared by the whole set) and
:class:`~.deep_image.ImageFeatureClustering` (flat-coloured objects, clusters per image) follow the
same steps:

1. Describe each pixel once (:func:`.descriptors.describe_pixels`): its coherent colour and its local
   texture, the texture PCA-whitened over the set.
2. Cluster the pixels of the whole set with k-means into ``n_pseudo`` groups: the pseudo-labels.
3. Train a network on the pseudo-labels (the subclass's ``_learn``) and cluster its features.
4. Refine with a majority vote inside SLICO superpixels and drop segments smaller than ``min_share``.
"""

from __future__ import annotations

import numpy as np

from .. import runtime
from ..base import reject_labels, seeded
from .base import Segmenter, as_images, pack_maps, relabel_consecutive
from .descriptors import (
    PixelDescriptors,
    describe_pixels,
    drop_small_segments,
    kmeans,
    sample_rows,
    superpixel_vote,
    superpixels,
)


class DeepFeatureBase(Segmenter):
    """Base of the deep-feature segmenters (see the module notes); not used on its own.

    A subclass stores its parameters (at least those read here: ``max_segments``, ``n_pseudo``,
    ``colour_weight``, ``texture_weight``, ``texture_sigma``, ``n_components``, ``n_superpixels``,
    ``compactness``, ``slic_zero``, ``min_majority``, ``min_share``, ``seed``, ``device``,
    ``progress``) and implements ``_auto_n_pseudo``, ``_learn``, ``_label`` and ``_new_features``.

    Attributes
    ----------
    colour_coherence_ : float, mean colour coherence ``r`` of the images
    pca_ : sklearn PCA, the whitening of the texture descriptors (when ``texture_sigma > 0``)
    n_pseudo_ : int, the number of pseudo-classes
    n_segments_ : list of int, the number of clusters each image was labelled with
    labels_ : label maps of the images given to :meth:`fit`
    """

    progress_name = "deep_features"

    # -- descriptors --------------------------------------------------------------------------
    def _describe(self, arrays: list[np.ndarray]) -> list[PixelDescriptors]:
        return [describe_pixels(im, self.texture_sigma) for im in arrays]

    def _fit_whitening(self, textures: list[np.ndarray], rng: np.random.Generator) -> None:
        from sklearn.decomposition import PCA

        sample = np.concatenate([sample_rows(t.reshape(-1, t.shape[2]), 5000, rng) for t in textures])
        n = int(min(self.n_components, sample.shape[1], len(sample)))
        self.pca_ = PCA(n, whiten=True, random_state=self.seed).fit(sample)

    def _inputs(self, desc: PixelDescriptors) -> np.ndarray:
        """``(3 + n_components, H, W)`` descriptors of one image: weighted colour, whitened texture."""
        colour = desc.colour * self.colour_weight
        if desc.texture is None:
            return np.ascontiguousarray(colour.transpose(2, 0, 1))
        h, w, d = desc.texture.shape
        tex = self.pca_.transform(desc.texture.reshape(-1, d)).reshape(h, w, -1).astype(np.float32)
        # The texture block's total standard deviation is texture_weight, whatever n_components is.
        tex *= self.texture_weight / np.sqrt(tex.shape[2])
        return np.ascontiguousarray(np.concatenate([colour, tex], axis=2).transpose(2, 0, 1))

    def _pseudo_labels(self, descs: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        """k-means labels ``(H, W)`` of the ``(H, W, D)`` descriptors of every image, fitted on the set."""
        sample = np.concatenate([sample_rows(d.reshape(-1, d.shape[2]), 4000, rng) for d in descs])
        k = self._auto_n_pseudo(sample) if self.n_pseudo == "auto" else self.n_pseudo
        self.n_pseudo_ = int(min(k, len(sample)))
        km = kmeans(sample, self.n_pseudo_, self.seed)
        return [km.predict(d.reshape(-1, d.shape[2])).reshape(d.shape[:2]) for d in descs]

    # -- the steps a subclass provides --------------------------------------------------------------
    def _auto_n_pseudo(self, sample: np.ndarray) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _learn(self, arrays: list[np.ndarray], descs: list[PixelDescriptors], inputs: list[np.ndarray],
               pseudo: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        """Train the network; return the ``(H, W, D)`` features of each image that are clustered."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _label(self, image: np.ndarray, feats: np.ndarray) -> tuple[np.ndarray, int]:
        """Labels ``(H, W)`` of one image from its features, and the number of clusters used."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _new_features(self, image: np.ndarray) -> np.ndarray:
        """The features of an image not seen in ``fit`` (for :meth:`predict`)."""
        raise NotImplementedError  # pragma: no cover - abstract

    # -- fit and predict ----------------------------------------------------------------------------
    def fit(self, images, y=None) -> DeepFeatureBase:
        """Train the feature network on ``images`` (one image or a set) and segment them.

        Parameters
        ----------
        images : (C, H, W) image or a batch, float in [0, 1]
        y : ignored

        Returns
        -------
        self
        """
        reject_labels(self, y)
        arrays = as_images(images)
        # Everything from the descriptors on draws from one seeded stream (network initialisation and
        # train.fit use the global generators): the same seed gives the same result whatever the
        # caller's random state, which is restored afterwards.
        with seeded(self.seed, runtime.device(self.device)):
            return self._fit_described(images, arrays, self._describe(arrays))

    def _fit_described(self, images, arrays: list[np.ndarray], descs: list[PixelDescriptors]):
        """``fit`` once the descriptors of each image are known (the facade computes them to choose).

        Runs inside the caller's ``base.seeded`` block (:meth:`fit`, or the facade's ``fit``)."""
        self.colour_coherence_ = float(np.mean([d.coherence for d in descs]))
        rng = np.random.default_rng(self.seed)
        if self.texture_sigma > 0:
            self._fit_whitening([d.texture for d in descs], rng)
        inputs = [self._inputs(d) for d in descs]
        pseudo = self._pseudo_labels([x.transpose(1, 2, 0) for x in inputs], rng)
        feats = self._learn(arrays, descs, inputs, pseudo, rng)
        results = self._each_image(self._label, len(arrays) > 1, arrays, feats)
        self.n_segments_ = [k for _, k in results]
        self.labels_ = pack_maps([labels for labels, _ in results], images)
        return self

    def predict(self, images):
        """Segment new images with the trained network (fitted state is left unchanged).

        Parameters
        ----------
        images : (C, H, W) image or a batch, float in [0, 1], with the channels of the fitted images

        Returns
        -------
        label maps shaped as in :meth:`fit`, int64
        """
        self._check_fitted("model_")
        arrays = as_images(images)
        return pack_maps([self._label(im, self._new_features(im))[0] for im in arrays], images)

    # -- labelling ----------------------------------------------------------------------------------
    def _assign(self, image: np.ndarray, feats: np.ndarray, centres: np.ndarray) -> np.ndarray:
        """Each pixel to its nearest centre, then the superpixel vote and the small-segment drop.

        Parameters
        ----------
        image : ndarray (H, W, C), for the superpixels
        feats : ndarray (H, W, D)
        centres : ndarray (K, D)

        Returns
        -------
        ndarray (H, W), int64, labels 0..K'-1
        """
        h, w, d = feats.shape
        x = feats.reshape(-1, d)
        scores = -((x[:, None, :] - centres[None]) ** 2).sum(axis=2).reshape(h, w, -1)
        labels = scores.argmax(axis=2)
        if self.n_superpixels > 0:
            n = max(1, int(self.n_superpixels * h * w / 1e5))
            labels = superpixel_vote(labels, superpixels(image, n, self.compactness, self.slic_zero),
                                     self.min_majority)
        return relabel_consecutive(drop_small_segments(scores, labels, self.min_share))
