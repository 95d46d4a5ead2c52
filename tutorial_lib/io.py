"""Saving a fitted model and loading it back: one safetensors file with JSON metadata, no pickle.

Taught in notebook 03_clustering_classification, section "your own folder": cluster a folder, save
the model, label new images with it later. The set-level deep-feature segmenter of notebook
04_pixel_segmentation is saved the same way. ``python -m tutorial_lib cluster --save-model FILE`` and
``python -m tutorial_lib predict --model FILE`` are built on it.

>>> model = SCAN(10).fit(images)
>>> model.save("digits.safetensors")                    # = tutorial_lib.io.save_model(model, path)
>>> again = tutorial_lib.load_model("digits.safetensors")
>>> (again.predict(new_images) == model.predict(new_images)).all()
True

What can be saved
-----------------
Every estimator that can label new images: :class:`~tutorial_lib.cluster.KMeans`;
:class:`~tutorial_lib.cluster.DeepClusterPipeline` on ``"pixels"``, ``"pca"`` or ``"autoencoder"``
features (or such a feature step passed as an object) with the default k-means (or a ``KMeans``
passed as ``clusterer``); :class:`~tutorial_lib.cluster.DEC`; :class:`~tutorial_lib.cluster.SCAN`;
:class:`~tutorial_lib.segment.SetFeatureClustering` and
:class:`~tutorial_lib.segment.DeepFeatureClustering` fitted in set scope; and the feature steps
``PixelFeatures``, ``PCAFeatures`` and ``AutoencoderFeatures`` on their own. The methods that cannot
label new images refuse with :class:`UnsupportedModelError`, saying why and what to do instead:
t-SNE features (t-SNE has no ``transform``: it places only the images it was fitted on), the UMAP
baselines (``UMAPPipeline``, ``UMAPFeatures``: UMAP's state cannot be stored without pickle), the Kanezaki
method and the classic segmenters (each image is fitted on its own), ``ImageFeatureClustering`` and
``DeepFeatureClustering`` in image scope (k-means per image). An estimator not fitted yet raises
:class:`~tutorial_lib.base.NotFittedError`.

What is kept: the constructor parameters, what ``predict`` needs (network weights, centres, the PCA)
and, for the clustering models, the training labels ``labels_``. Not kept: training histories, the
training features ``features_``, SCAN's ``neighbors_`` and ``init_labels_``, the segmenters' ``labels_``
and ``pca_``. Parameters that are not plain JSON values (callables such as SCAN's ``augment`` and
``on_epoch_end``, a network passed as DEC's ``autoencoder``) are saved as null and listed under
``dropped``: the loaded estimator has None there, which matters only if it is fitted again (it then
uses the defaults). Paths (``checkpoint_dir``) are saved as strings.

The file
--------
A `safetensors <https://huggingface.co/docs/safetensors>`_ file: the weights and fitted arrays as named
tensors, and in its header metadata (``__metadata__``, all strings):

* ``format``: ``"tutorial_lib.model"``; ``format_version``: ``"1"`` (:data:`FORMAT_VERSION`);
* ``class``: the estimator's module and class, e.g. ``"tutorial_lib.cluster.scan.SCAN"``;
* ``config``: JSON ``{"class", "params", "dropped", "fitted", "versions", "extra"}``: the parameters, the
  fitted values and shapes each network is rebuilt from (nested estimators, such as a pipeline's feature
  step and clusterer, in the same form), the library versions that wrote the file, and what the caller
  gave as ``save_model(..., extra=)``;
* ``sha256``: a SHA-256 of the four entries above and of every tensor (name, dtype, shape, bytes),
  checked on load.

Loading never unpickles and runs nothing from the file: the class is looked up in the library's own
table of savable classes (:mod:`tutorial_lib.io_adapters`), not imported by the name the file gives.
A flipped byte, a truncated file, a file of another kind (an image, a ``torch.save`` archive, a pickle,
a training checkpoint) or of a newer format is refused with :class:`ModelFileError`, naming the file and
what is wrong. The hash detects damage, not a deliberate forgery (anyone can recompute it); even a
forged file can only choose parameter values, never code. Saving writes a temporary file in the
destination folder and renames it over the destination (``os.replace``), so a crash never leaves a
half-written model behind.

Encrypted files
---------------
Given a key (``key=``: a key file's path or 32 bytes; else the key file named by ``TUTORIAL_MODEL_KEY``),
:func:`save_model` builds the safetensors bytes in memory and writes them sealed with AES-256-GCM
(:mod:`tutorial_lib.scaling.encryption`, notebook 06_scaling_up): no plaintext copy touches the disk, and
a key file in the model's own folder is refused. Loading recognises the envelope by its first bytes,
decrypts in memory and runs the same checks. A wrong key (:class:`~tutorial_lib.scaling.encryption.
WrongKeyError`, naming both key ids), a missing one (``KeyRequiredError``) and an altered byte
("authentication failed") are refused as :class:`ModelFileError`. A ``key=`` given explicitly also
demands an encrypted file, so a plain file put in its place is refused; a key from ``TUTORIAL_MODEL_KEY``
alone leaves plain files readable.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from .checkpoint import write_atomically

FORMAT = "tutorial_lib.model"
"""The ``format`` entry of a model file's metadata."""

FORMAT_VERSION = 1
"""The format version written; files of this version or older are read."""

SUFFIX = ".safetensors"
"""The suggested file suffix (any name is accepted)."""

_HASHED = ("format", "format_version", "class", "config")
_MAX_HEADER = 100_000_000  # the largest header safetensors itself accepts
_SAVE_AGAIN = "save the model again (model.save(path)) or restore a backup"


class ModelFileError(ValueError):
    """A file :func:`load_model` cannot read as a model: not a model file (an image, a pickle, a
    ``torch.save`` archive, a safetensors file without tutorial_lib metadata), truncated, altered
    (SHA-256 mismatch), of a newer format version, or holding a class this version cannot rebuild. The
    message names the file and says what is wrong."""


class UnsupportedModelError(TypeError):
    """An estimator that cannot be saved: it cannot label new images (t-SNE features, the per-image
    segmenters), or it is not one of the library's savable classes. The message says why and what to
    do instead."""


# --- saving --------------------------------------------------------------------------------------


def save_model(model, path: str | os.PathLike, extra: dict | None = None, *, key=None) -> Path:
    """Save a fitted estimator to one safetensors file: weights as tensors, configuration as JSON.

    The same as ``model.save(path)``. Nothing is pickled; see the module notes for what is kept, and
    for encryption.

    Parameters
    ----------
    model : Estimator
        A fitted estimator that can label new images: ``KMeans``, ``DeepClusterPipeline`` (pixels, PCA
        or autoencoder features, k-means), ``DEC``, ``SCAN``, ``SetFeatureClustering``,
        ``DeepFeatureClustering`` fitted in set scope, or a feature step (``PixelFeatures``,
        ``PCAFeatures``, ``AutoencoderFeatures``).
    path : str or path-like
        The file to write (suffix ``.safetensors`` suggested); its folder is created if needed. An
        existing file is replaced only once the new one is completely written (a temporary file in the
        same folder, then ``os.replace``).
    extra : dict, optional
        JSON values to keep with the model and read back with :func:`model_info` (``info["extra"]``),
        e.g. what the command line needs to load new images like the training ones (image shape, class
        names). Covered by the hash like the rest.
    key : str, path-like or bytes, optional
        Encrypt the file with AES-256-GCM: the path of a key file (``python -m tutorial_lib keygen
        FILE``; not in the model's folder) or the 32-byte key. Default: the key file named by the
        environment variable ``TUTORIAL_MODEL_KEY`` if it is set, else no encryption.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    NotFittedError
        ``model`` was not fitted yet.
    UnsupportedModelError
        ``model`` cannot label new images (t-SNE features, the Kanezaki method, the classic segmenters,
        the image-scope deep-feature segmenter) or is not a class the library saves; the message says
        why and what to do instead. Nothing is written.
    TypeError
        ``extra`` holds something that is not a JSON value.
    KeyFileError (a ValueError)
        The key file is missing, malformed or in the model's folder (the message says how to make one).
        Nothing is written.

    Examples
    --------
    >>> model = DeepClusterPipeline("pca", n_clusters=10).fit(images)   # images (N, C, H, W) in [0, 1]
    >>> save_model(model, "pca-kmeans.safetensors")
    PosixPath('pca-kmeans.safetensors')
    """
    import safetensors.torch

    from . import io_adapters
    from .scaling import encryption

    secret, key_file = encryption.locate_key(key)  # key problems refused before any work
    encryption.check_key_placement(key_file, path)
    tensors: dict[str, torch.Tensor] = {}
    node = io_adapters.dump(model, io_adapters.Writer(tensors))
    try:
        config = json.dumps({**node, "versions": _versions(), "extra": extra or {}}, sort_keys=True)
    except TypeError as err:
        raise TypeError(f"extra must hold JSON values only (numbers, strings, lists, dicts): {err}") from None
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "class": node["class"],
                "config": config}
    metadata["sha256"] = content_hash(metadata, tensors)
    path = Path(path)
    data = safetensors.torch.save(tensors, metadata)  # bytes in memory: encrypted before any write
    write_atomically(path, data if secret is None else encryption.encrypt(data, secret))
    return path


def _versions() -> dict[str, str]:
    import numpy
    import safetensors
    import sklearn

    from . import __version__

    return {"tutorial_lib": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__, "safetensors": safetensors.__version__}


def content_hash(metadata: dict[str, str], tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 (hex) of a model file's content: its ``format``, ``format_version``, ``class`` and
    ``config`` metadata, then every tensor in name order (name, dtype, shape and raw bytes)."""
    digest = hashlib.sha256()
    for key in _HASHED:
        digest.update(f"{key}={metadata.get(key, '')}\0".encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{list(t.shape)}\0".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


# --- loading -------------------------------------------------------------------------------------


def load_model(path: str | os.PathLike, device: str | None = None, *, key=None):
    """Load an estimator saved by :func:`save_model` (or ``model.save``), fitted and ready to ``predict``.

    The file's integrity (SHA-256) is checked first; nothing in it is unpickled or executed. Its
    ``predict`` gives exactly the labels the saved model gave (same weights, same computation; on
    another kind of device, such as a GPU instead of a CPU, floating-point rounding may differ).

    Parameters
    ----------
    path : str or path-like
        A model file.
    device : str, optional
        Replace the saved ``device`` parameter (of the estimator and of the estimators inside it), e.g.
        ``"cpu"`` for a model saved with ``device="cuda"`` on a machine without a GPU. Default: the
        saved one (usually ``"auto"``: CUDA, else MPS, else the CPU). The networks are placed there.
    key : str, path-like or bytes, optional
        For an encrypted file: the path of its key file, or the 32-byte key. Default: the key file
        named by ``TUTORIAL_MODEL_KEY``. Given explicitly, the file must be encrypted.

    Returns
    -------
    Estimator
        The saved class, built with the saved parameters (those saved as null get None, see
        :func:`save_model`) and its fitted attributes; the random state of the caller is left as it was.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError (a ValueError)
        Not a model file (an image, a pickle, a ``torch.save`` archive, a training checkpoint, a
        safetensors file without tutorial_lib metadata), truncated, altered or damaged (its SHA-256 does
        not match), of a newer format version, or holding a class or parameters this version of
        tutorial_lib cannot rebuild. The message names the file and says what is wrong. Encrypted: no
        key given (``KeyRequiredError``), another key than the one it was saved with (``WrongKeyError``,
        naming both key ids), "authentication failed" (altered or damaged); a plain file with ``key=``.
    KeyFileError (a ValueError)
        The key file is missing or malformed.
    ValueError
        The saved device (e.g. ``"cuda"``) is not available here: pass ``device="cpu"``.

    Examples
    --------
    >>> model = load_model("pca-kmeans.safetensors")
    >>> labels = model.predict(new_images)                 # (N,) int64
    """
    from . import io_adapters
    from .base import seeded

    path = Path(path)
    metadata, tensors = _read_verified(path, key)
    config = _config(path, metadata)
    # Networks are built with random weights before the saved ones are copied in: seeded, so the
    # caller's random state is left as it was.
    with seeded(0):
        try:
            return io_adapters.restore(config, io_adapters.Reader(tensors, path, device=device))
        except (KeyError, TypeError, AttributeError) as err:
            raise ModelFileError(f"{path}: its configuration does not describe a model this version of "
                                 f"tutorial_lib can rebuild ({type(err).__name__}: {err})") from None


def model_info(path: str | os.PathLike, *, key=None) -> dict:
    """What a model file holds, checked but not built: cheap (no network is constructed).

    Parameters
    ----------
    path : str or path-like
    key : str, path-like or bytes, optional
        For an encrypted file, as :func:`load_model`.

    Returns
    -------
    dict
        ``class`` (module and name), ``kind`` (``"cluster"``, ``"segment"`` or ``"features"``),
        ``params``, ``dropped`` (parameters saved as null), ``fitted`` (shapes and fitted values),
        ``versions`` (of the libraries that wrote it), ``extra`` (what ``save_model`` was given, ``{}``
        by default) and ``format_version``.

    Raises
    ------
    FileNotFoundError, ModelFileError, KeyFileError
        As :func:`load_model`.
    """
    from . import io_adapters

    path = Path(path)
    metadata, _ = _read_verified(path, key)
    config = _config(path, metadata)
    return {"extra": {}, **config, "kind": io_adapters.kind_of(config["class"], path),
            "format_version": int(metadata["format_version"])}


_FOREIGN = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a zip archive, such as a torch.save file (a pickle inside: never opened here, it "
                    "could run code)"),
    (b"TUTORIAL_LIB_CHECKPOINT", "a tutorial_lib training checkpoint: read it with "
                                 "tutorial_lib.checkpoint.load_checkpoint"),
    (b"\x1f\x8b", "a gzip file"),
    (b"%PDF", "a PDF document"),
)


def _what_it_is(data: bytes) -> str | None:
    """What kind of foreign file ``data`` starts like, or None."""
    for magic, what in _FOREIGN:
        if data.startswith(magic):
            return what
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return "a Python pickle (never unpickled here: it could run code)"
    return None


def _not_a_model(path: Path, data: bytes) -> ModelFileError:
    """The error for a file whose first bytes are not a safetensors header."""
    what = _what_it_is(data)
    if what is not None:
        return ModelFileError(f"{path} is not a tutorial_lib model file: it is {what}. Model files are "
                              "written by model.save(path) or tutorial_lib.io.save_model")
    if len(data) < 9:
        return ModelFileError(f"{path} is truncated or empty ({len(data)} bytes): {_SAVE_AGAIN}")
    size = int.from_bytes(data[:8], "little")
    if data[8:9] == b"{" and size > len(data) - 8:
        return ModelFileError(f"{path} is truncated: its header needs {size} bytes, only {len(data) - 8} "
                              f"follow; {_SAVE_AGAIN}")
    return ModelFileError(f"{path} is not a tutorial_lib model file (no safetensors header). Model files "
                          "are written by model.save(path) or tutorial_lib.io.save_model")


def _read_header(path: Path, data: bytes) -> tuple[dict, int]:
    """The parsed safetensors header of ``data`` and where its tensor data starts."""
    size = int.from_bytes(data[:8], "little") if len(data) >= 8 else 0
    if len(data) < 9 or data[8:9] != b"{" or size > min(len(data) - 8, _MAX_HEADER):
        raise _not_a_model(path, data)
    try:
        header = json.loads(data[8:8 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ModelFileError(f"{path}: damaged header ({err}); the file was altered or is not a model "
                             f"file: {_SAVE_AGAIN}") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: damaged header (not a JSON object); {_SAVE_AGAIN}")
    return header, 8 + size


def _check_metadata(path: Path, header: dict) -> dict:
    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path} is a safetensors file but not a tutorial_lib model (no "
                             f"format={FORMAT!r} in its metadata): read its tensors with "
                             "safetensors.torch.load_file")
    try:
        version = int(metadata["format_version"])
    except (KeyError, TypeError, ValueError):
        raise ModelFileError(f"{path}: damaged metadata (format_version "
                             f"{metadata.get('format_version')!r}); {_SAVE_AGAIN}") from None
    if version > FORMAT_VERSION or version < 1:
        raise ModelFileError(f"{path} has model format version {version}; this tutorial_lib reads versions "
                             f"1 to {FORMAT_VERSION}: update tutorial_lib to load it")
    return metadata


def _data_length(path: Path, header: dict) -> int:
    """Bytes of tensor data the header describes (the end of the last tensor)."""
    try:
        ends = [int(info["data_offsets"][1]) for name, info in header.items() if name != "__metadata__"]
    except (KeyError, TypeError, ValueError, IndexError):
        raise ModelFileError(f"{path}: damaged header (a tensor without data offsets); "
                             f"{_SAVE_AGAIN}") from None
    return max(ends, default=0)


def _read_verified(path: Path, key=None) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """The metadata and tensors of a model file, decrypted in memory if it is encrypted (with ``key``, or
    the key file ``TUTORIAL_MODEL_KEY`` names), its structure, version and SHA-256 checked."""
    from .scaling import encryption

    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file")
    data = path.read_bytes()
    if encryption.is_encrypted(data):
        secret = encryption.read_key(key)
        if secret is None:
            raise encryption.KeyRequiredError(
                f"{path} is encrypted: pass its key file (load_model(path, key=KEYFILE), --key KEYFILE) or "
                f"set {encryption.KEY_ENV} to the key file's path")
        data = encryption.decrypt(data, secret, path)
    elif key is not None:  # asked for an encrypted file: a plain one in its place is not trusted
        raise ModelFileError(f"{path} is not encrypted, but a key was given: an encrypted model was expected "
                             "(someone may have replaced it); load it without key= if it is yours")
    return _verified_bytes(path, data)


def _verified_bytes(path: Path, data: bytes) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """The metadata and tensors of a model file's (plaintext) bytes, their structure, version and SHA-256
    checked; ``path`` is named in the messages."""
    import safetensors.torch

    header, start = _read_header(path, data)
    metadata = _check_metadata(path, header)
    expected, found = _data_length(path, header), len(data) - start
    if found < expected:
        raise ModelFileError(f"{path} is truncated: {found} bytes of tensor data, the header describes "
                             f"{expected}; {_SAVE_AGAIN}")
    if found > expected:
        raise ModelFileError(f"{path} has {found - expected} unexpected bytes after its tensors: it was "
                             f"altered or damaged; {_SAVE_AGAIN}")
    try:
        tensors = safetensors.torch.load(data)
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types; one answer for all
        raise ModelFileError(f"{path}: damaged tensor data ({err}); {_SAVE_AGAIN}") from None
    if content_hash(metadata, tensors) != metadata.get("sha256"):
        raise ModelFileError(f"{path} failed its integrity check (SHA-256 mismatch): it was altered or "
                             f"damaged after it was saved; {_SAVE_AGAIN}")
    return metadata, tensors


def _config(path: Path, metadata: dict[str, str]) -> dict:
    """The parsed ``config`` entry (already covered by the hash, so only a foreign writer gets here)."""
    try:
        config = json.loads(metadata["config"])
        if config["class"] != metadata["class"] or not isinstance(config["params"], dict):
            raise ValueError("class or params inconsistent")
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"{path}: damaged configuration metadata ({err}); {_SAVE_AGAIN}") from None
    return config


__all__ = ["FORMAT", "FORMAT_VERSION", "SUFFIX", "ModelFileError", "UnsupportedModelError", "content_hash",
           "load_model", "model_info", "save_model", "write_atomically"]
