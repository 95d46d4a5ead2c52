"""Datasets as tensors: bundled sets, torchvision sets, generated sets and the user's own folders.

Taught in notebook 00_overview (``data.dataset_table()``, ``data.load``, ``data.load_segmentation``)
and used by every notebook: 01_preprocessing and 02_feature_learning (digits, MNIST),
03_clustering_classification (digits), 04_pixel_segmentation (mosaic, scenes, segfolder:, nuclei,
bsds500:).

Every loader ends in one of two small containers (:mod:`.sets`):

- :class:`ImageSet` for recognition: ``images`` (float N×C×H×W in [0, 1]), ``labels`` (long N or None),
  ``classes``, ``name`` and ``paths`` (each image's file for the user's folders, else None);
- :class:`SegmentationSet` for segmentation: ``images``, integer ``masks`` and ``paths``.

Two entry points choose the loader from a name (:mod:`.catalog`): :func:`load` and
:func:`load_segmentation`. :func:`dataset_table` says, without downloading anything, which datasets
are available here. The loaders themselves: :mod:`.builtin` (digits and the torchvision sets),
:mod:`.generated` (shapes, mosaic, scenes), :mod:`.folders` (the user's ``folder:`` and
``segfolder:`` files, :func:`read_image`, :func:`read_mask`), :mod:`.bsds` (BSDS500 photos with every
human segmentation) and :mod:`.nuclei` (the BBBC038 microscopy subset).

Files that must be downloaded live under the data root (:func:`tutorial_lib.runtime.data_root`: the
``root`` argument, else ``$TUTORIAL_DATA_DIR``, else ``data/`` in the project), in torchvision's layout.
"""

from .bsds import BSDS_ARCHIVE, BSDS_URL, load_bsds500, read_ground_truth
from .builtin import DOWNLOAD_TIMEOUT_S, read_idx
from .catalog import dataset_names, dataset_status, dataset_table, load, load_segmentation
from .export import write_folder
from .generated import (
    MOSAIC_DEFAULTS,
    MOSAIC_TEXTURES,
    SCENES_DEFAULTS,
    SHAPE_NAMES,
    SHAPES_DEFAULTS,
    make_mosaic,
    make_scene,
    make_shape_image,
    shape_mask,
)
from .nuclei import NUCLEI_URL, load_nuclei
from .reading import read_image, read_mask
from .sets import ImageSet, SegmentationSet, subset_indices

__all__ = [
    "DOWNLOAD_TIMEOUT_S", "ImageSet", "SegmentationSet", "subset_indices", "read_idx", "read_image",
    "read_mask", "MOSAIC_TEXTURES", "MOSAIC_DEFAULTS", "make_mosaic", "SHAPE_NAMES", "SHAPES_DEFAULTS",
    "SCENES_DEFAULTS", "shape_mask", "make_shape_image", "make_scene", "load", "load_segmentation",
    "dataset_names", "dataset_status", "dataset_table", "BSDS_ARCHIVE", "BSDS_URL", "load_bsds500",
    "read_ground_truth", "NUCLEI_URL", "load_nuclei", "write_folder",
]
