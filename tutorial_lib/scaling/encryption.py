"""Saved models encrypted at rest: AES-256-GCM around the safetensors bytes, in memory.

Taught in notebook 06_scaling_up (section "shipping a model safely"). A model trained on private images
keeps something of them (k-means centres are averages of images, an autoencoder can redraw them), so a
model file may need the same care as the images. :func:`tutorial_lib.io.save_model` (and
``model.save``) encrypt when they are given a key (``key=``, or ``TUTORIAL_MODEL_KEY``, the path of a key
file); :func:`tutorial_lib.io.load_model` and :func:`~tutorial_lib.io.model_info` recognise an encrypted
file by its first bytes and decrypt it in memory. No plaintext copy of the model touches the disk.

>>> generate_key("~/keys/models.key")                 # or: python -m tutorial_lib keygen ~/keys/models.key
>>> model.save("digits.safetensors", key="~/keys/models.key")
>>> again = tutorial_lib.load_model("digits.safetensors", key="~/keys/models.key")

The key file
------------
One line: the 256-bit key as 64 hex digits (base64 is read too), file mode 0o600 (readable by its owner
only; Windows ignores the mode). Keep it away from the models: :func:`~tutorial_lib.io.save_model`
refuses a key file in the model's own folder, since whoever copies the folder would copy the key too.
Lose the key and the models encrypted with it cannot be read by anyone.

The envelope
------------
``MAGIC`` (``b"TLENC1\\n"``), the length of a JSON header (4 bytes, big-endian), the header
(``{"algorithm": "AES-256-GCM", "key_id": ..., "nonce": ...}``), then the ciphertext with its 16-byte GCM
tag. ``key_id`` is the first 8 hex digits of the key's SHA-256: it names the key a file needs without
revealing it, so a wrong key is told apart from a damaged file. The nonce (96 bits) is drawn anew for
every save. Everything before the ciphertext is GCM's associated data, so the header cannot be changed
either: any altered byte fails authentication. Unlike the model format's SHA-256 (which anyone can
recompute), the GCM tag is also proof of origin: only a holder of the key can make a file that passes.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from pathlib import Path

from ..io import ModelFileError

MAGIC = b"TLENC1\n"
"""The first bytes of an encrypted model file."""

ALGORITHM = "AES-256-GCM"
KEY_BYTES = 32
"""AES-256: a 32-byte (256-bit) key."""

KEY_ENV = "TUTORIAL_MODEL_KEY"
"""The environment variable holding the path of a key file, used when no ``key=`` is given."""

_NONCE_BYTES = 12  # GCM's standard 96-bit nonce
_MAX_HEADER = 4096  # the header is under 200 bytes; a larger length field is damage
_MAX_KEY_FILE = 4096  # a key file is one short line; anything bigger is another file given by mistake
_MAKE_ONE = "make one with: python -m tutorial_lib keygen FILE"


class KeyFileError(ValueError):
    """A key that cannot be used: no key file at the path, a folder, an unreadable, empty, short or
    malformed file, bytes of the wrong length, or a key file kept in the model's own folder. The message
    names the file and says how to make a key (``python -m tutorial_lib keygen FILE``)."""


class KeyRequiredError(ModelFileError):
    """An encrypted model file was read without a key (no ``key=`` and no ``TUTORIAL_MODEL_KEY``)."""


class WrongKeyError(ModelFileError):
    """An encrypted model file was read with another key than the one it was saved with; the message gives
    both key ids."""


# --- keys ----------------------------------------------------------------------------------------


def key_id(key: bytes) -> str:
    """The first 8 hex digits of the SHA-256 of ``key``: names a key without revealing it."""
    return hashlib.sha256(key).hexdigest()[:8]


def generate_key(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a new random 256-bit key to a key file (64 hex digits and a newline, mode 0o600).

    Parameters
    ----------
    path : str or path-like
        The key file to create (``~`` is expanded; its folder is created if needed). Keep it away from
        the models it will encrypt (not in their folder).
    overwrite : bool, default False
        Replace an existing file. The models encrypted with the old key can then no longer be read.

    Returns
    -------
    Path
        The key file written.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False (nothing is changed).
    IsADirectoryError
        ``path`` is a folder.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder: give the key file's name, e.g. {path / 'models.key'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (secrets.token_bytes(KEY_BYTES).hex() + "\n").encode()
    if overwrite:  # written beside it with mode 0600 (mkstemp's), then renamed over it
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            _write_private(fd, line)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path
    try:  # O_EXCL: an existing file is never replaced, even by a race
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise FileExistsError(f"key file {path} already exists; it is not replaced (models encrypted with "
                              "it need it): choose another name (from Python, generate_key(path, "
                              "overwrite=True) replaces it)") from None
    _write_private(fd, line)
    return path


def _write_private(fd: int, data: bytes) -> None:
    if hasattr(os, "fchmod"):  # not on Windows; elsewhere it makes 0600 whatever the umask was
        os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def how_to_use(path: Path) -> str:
    """What ``python -m tutorial_lib keygen FILE`` prints: where the key is and how to use it."""
    return (f"wrote a new AES-256 key to {path} (key id {key_id(read_key(path))}, readable by you only).\n"
            "Keep it away from the models and back it up: without it their files cannot be read. Use it:\n"
            f"  python -m tutorial_lib cluster ... --save-model MODEL --key {path}\n"
            f"  python -m tutorial_lib predict --model MODEL --key {path} ...\n"
            f"  export {KEY_ENV}={path}    # or model.save(path, key=...), load_model(path, key=...)")


def locate_key(key: bytes | str | os.PathLike | None = None) -> tuple[bytes | None, Path | None]:
    """The key to use and the key file it came from: ``key`` itself (bytes, no file), the key file
    ``key`` names, else the key file ``TUTORIAL_MODEL_KEY`` names, else ``(None, None)``.

    Raises :class:`KeyFileError` as :func:`read_key`."""
    if key is None:
        named = os.environ.get(KEY_ENV, "").strip()
        if not named:
            return None, None
        path = Path(named).expanduser()
        return _read_key_file(path, f" (named by {KEY_ENV})"), path
    if isinstance(key, (bytes, bytearray, memoryview)):
        key = bytes(key)
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"key= bytes must be {KEY_BYTES} bytes long (AES-256), got {len(key)}: pass "
                               f"the path of a key file instead ({_MAKE_ONE})")
        return key, None
    if isinstance(key, (str, os.PathLike)):
        path = Path(key).expanduser()
        return _read_key_file(path, ""), path
    raise TypeError(f"key must be the path of a key file, 32 bytes or None, got {type(key).__name__}")


def read_key(key: bytes | str | os.PathLike | None = None) -> bytes | None:
    """The 32-byte key to encrypt or decrypt with.

    Parameters
    ----------
    key : bytes (32), str or path-like, optional
        The key itself, or the path of a key file (written by :func:`generate_key`). Default: the key
        file named by the environment variable ``TUTORIAL_MODEL_KEY``, if it is set.

    Returns
    -------
    bytes or None
        The 32-byte key; None when no key is given and ``TUTORIAL_MODEL_KEY`` is not set.

    Raises
    ------
    KeyFileError (a ValueError)
        No key file there, a folder, an unreadable, empty, short or malformed key file, or bytes of
        another length than 32. The message names the file (never its content) and says how to make one.
    TypeError
        ``key`` is neither bytes, a path nor None.
    """
    return locate_key(key)[0]


def _read_key_file(path: Path, origin: str) -> bytes:
    """The key in the key file ``path``; ``origin`` says where the path came from, for the messages."""
    where = f"key file {path}{origin}"
    if not path.exists():
        looks_like_a_key = len(path.name) in (44, 64) and path.parent == Path(".")
        hint = (" (key= takes a key file's path, or the key as bytes: bytes.fromhex(...))"
                if looks_like_a_key else "")
        # the name is not echoed when it may be the key itself
        shown = "the key= text given" if looks_like_a_key else where
        raise KeyFileError(f"no {shown} found{hint}: {_MAKE_ONE}")
    if path.is_dir():
        raise KeyFileError(f"{where} is a folder, not a key file: give the file's path ({_MAKE_ONE})")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_MAX_KEY_FILE + 1)
    except OSError as err:
        raise KeyFileError(f"{where} cannot be read ({err.strerror or err})") from None
    if len(raw) > _MAX_KEY_FILE:
        raise KeyFileError(f"{where} is too large to be a key file (a key file is one line of 64 hex "
                           f"digits): is it a model or another file? {_MAKE_ONE}")
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        text = None
    if not text:
        raise KeyFileError(f"{where} is {'empty' if text == '' else 'not text'}: a key file is one line of "
                           f"64 hex digits; {_MAKE_ONE}")
    return _parse_key(text, where)


def _parse_key(text: str, where: str) -> bytes:
    """The key written in ``text`` (64 hex digits, or base64 of 32 bytes); errors never quote it."""
    import base64
    import binascii

    if all(c in "0123456789abcdefABCDEF" for c in text):
        if len(text) != 2 * KEY_BYTES:
            size = "too short" if len(text) < 2 * KEY_BYTES else "too long"
            raise KeyFileError(f"{where} holds {len(text)} hex digits, {size}: an AES-256 key is "
                               f"{2 * KEY_BYTES} ({KEY_BYTES} bytes); {_MAKE_ONE}")
        return bytes.fromhex(text)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{where} is not a key file (expected one line of {2 * KEY_BYTES} hex digits, "
                           f"or base64); {_MAKE_ONE}") from None
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"{where} holds a base64 key of {len(key)} bytes: an AES-256 key is {KEY_BYTES} "
                           f"bytes; {_MAKE_ONE}")
    return key


def check_key_placement(key_file: Path | None, model_path: str | os.PathLike) -> None:
    """Refuse (:class:`KeyFileError`) a key file in the same folder as the model file it encrypts: who
    copies or shares that folder would hand out the key with the model."""
    if key_file is None:
        return
    model_folder = Path(model_path).expanduser().resolve().parent
    if key_file.resolve().parent == model_folder:
        raise KeyFileError(f"key file {key_file} is in the model's folder {model_folder}: keep the key away "
                           "from the model (e.g. ~/.config/tutorial_lib/models.key), so that copying the "
                           "folder does not copy the key")


# --- the envelope --------------------------------------------------------------------------------


def is_encrypted(data: bytes) -> bool:
    """Whether ``data`` (a file's bytes) starts like an encrypted model file."""
    return data.startswith(MAGIC)


def encrypt(plaintext: bytes, key: bytes) -> bytes:
    """``plaintext`` sealed with AES-256-GCM in a self-describing envelope (see the module notes).

    Parameters
    ----------
    plaintext : bytes
        What to encrypt (a safetensors file's bytes), under 2 GiB (GCM's limit in ``cryptography``).
    key : bytes
        32 bytes (:func:`read_key`).

    Returns
    -------
    bytes
        ``MAGIC``, the header length (4 bytes), the JSON header, the ciphertext and its 16-byte tag:
        ``len(plaintext) + len(MAGIC) + 4 + len(header) + 16`` bytes.
    """
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = _check_key_bytes(key)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    header = json.dumps({"algorithm": ALGORITHM, "key_id": key_id(key), "nonce": nonce.hex()},
                        sort_keys=True).encode()
    preamble = MAGIC + len(header).to_bytes(4, "big") + header
    try:
        sealed = AESGCM(key).encrypt(nonce, bytes(plaintext), preamble)
    except OverflowError:
        raise ValueError(f"cannot encrypt {len(plaintext)} bytes in one piece: AES-GCM here takes under "
                         "2 GiB; save this model without a key on an encrypted disk instead") from None
    return preamble + sealed


def decrypt(blob: bytes, key: bytes, path: str | os.PathLike) -> bytes:
    """The plaintext sealed in ``blob`` by :func:`encrypt`, authenticated (nothing altered).

    Parameters
    ----------
    blob : bytes
        An encrypted model file's bytes.
    key : bytes
        32 bytes (:func:`read_key`).
    path : str or path-like
        The file ``blob`` was read from, named in the messages.

    Returns
    -------
    bytes
        The plaintext (a safetensors file's bytes), in memory only.

    Raises
    ------
    WrongKeyError (a ModelFileError)
        The file was encrypted with another key: the message gives both key ids.
    ModelFileError (a ValueError)
        Truncated, a damaged header, an algorithm this version does not read, or authentication failed
        (a byte of the file was altered or damaged).
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = _check_key_bytes(key)
    header, start = _read_envelope(blob, path)
    if header["key_id"] != key_id(key):
        raise WrongKeyError(f"{path} was encrypted with key id {header['key_id']}, you gave key id "
                            f"{key_id(key)}: pass the key file it was saved with")
    try:
        return AESGCM(key).decrypt(header["nonce"], blob[start:], blob[:start])
    except InvalidTag:
        raise ModelFileError(f"{path}: authentication failed: the file was altered or damaged after it "
                             "was saved (AES-GCM tag mismatch); save the model again or restore a "
                             "backup") from None


def _read_envelope(blob: bytes, path) -> tuple[dict, int]:
    """The checked header of an envelope (``nonce`` as bytes) and where its ciphertext starts."""
    damaged = f"{path}: damaged encryption header"
    if not is_encrypted(blob):
        raise ModelFileError(f"{path} is not an encrypted tutorial_lib model (its first bytes are not "
                             f"{MAGIC!r})")
    at = len(MAGIC)
    size = int.from_bytes(blob[at:at + 4], "big")
    if len(blob) < at + 4 + size + 16 or size > _MAX_HEADER:
        what = "is truncated" if size <= _MAX_HEADER else "has a damaged header length"
        raise ModelFileError(f"{path} {what} ({len(blob)} bytes, an encrypted model's header and tag "
                             "alone need more); save the model again or restore a backup")
    try:
        header = json.loads(blob[at + 4:at + 4 + size].decode("utf-8"))
        algorithm, kid, nonce = header["algorithm"], header["key_id"], bytes.fromhex(header["nonce"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise ModelFileError(f"{damaged} ({type(err).__name__}); the file was altered or damaged") from None
    if algorithm != ALGORITHM:
        raise ModelFileError(f"{path} is encrypted with {algorithm!r}; this tutorial_lib reads {ALGORITHM} "
                             "only: update tutorial_lib to load it")
    if not isinstance(kid, str) or len(nonce) != _NONCE_BYTES:
        raise ModelFileError(f"{damaged} (key id or nonce malformed); the file was altered or damaged")
    return {**header, "nonce": nonce}, at + 4 + size


def _check_key_bytes(key) -> bytes:
    if not isinstance(key, (bytes, bytearray, memoryview)) or len(key) != KEY_BYTES:
        size = f" of {len(key)} bytes" if hasattr(key, "__len__") else ""
        raise KeyFileError(f"the key must be {KEY_BYTES} bytes (read it with read_key(path)); got "
                           f"{type(key).__name__}{size}")
    return bytes(key)


__all__ = ["ALGORITHM", "KEY_BYTES", "KEY_ENV", "MAGIC", "KeyFileError", "KeyRequiredError", "WrongKeyError",
           "check_key_placement", "decrypt", "encrypt", "generate_key", "how_to_use", "is_encrypted",
           "key_id", "locate_key", "read_key"]
