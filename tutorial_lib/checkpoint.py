"""Saving and loading training state safely.

A checkpoint file is a one-line header (a magic word, then JSON with the SHA-256 of the payload)
followed by the payload, which is an ordinary ``torch.save`` stream. So:

* an interrupted save never corrupts the last good file: we write a temporary file in the same
  folder, ``fsync`` it, then ``os.replace`` it over the old one (an atomic rename on POSIX and Windows);
* a truncated or altered file is caught on load by the hash, with an error naming the file;
* loading never runs pickled code: the payload is read with ``torch.load(weights_only=True)``, so a
  state may hold tensors, numbers, strings, lists, tuples and dicts only (no arbitrary objects); a
  file holding anything else is refused with :class:`CheckpointError`, even when its header is valid;
* a process killed during a save leaves a hidden ``.NAME.*.tmp`` file; the next save of that
  checkpoint removes it.

Encryption (mentioned in the design) is not implemented: keep checkpoints of private data on an
encrypted disk instead. Notebook 02_feature_learning uses it (a training cell run twice resumes).
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

MAGIC = b"TUTORIAL_LIB_CHECKPOINT"
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file is missing its header, truncated, fails its integrity check, has another format
    version, or holds objects that loading would have to run code for."""


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; directories cannot be opened this way on Windows.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, ``fsync`` it, then
    ``os.replace`` it over ``path`` (atomic on POSIX and Windows). The temporary file is removed on any
    error, Ctrl-C included; the folder is created if needed; the file gets the permissions a plain
    ``open()`` would give it. Training checkpoints and saved models (:mod:`tutorial_lib.io`) both use it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        os.chmod(tmp_name, 0o666 & ~_current_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        # Also on KeyboardInterrupt: never leave a half-written temporary file behind.
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically, with a SHA-256 integrity hash.

    Parameters
    ----------
    path : str or path-like
        Destination file; its folder is created if needed. An existing file is replaced only once
        the new one is completely on disk.
    state : dict
        What to save: tensors, ``state_dict()`` results, numbers, strings, lists, tuples, dicts and
        None (the types ``torch.load(weights_only=True)`` accepts).

    Returns
    -------
    Path
        The path written.
    """
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    header = json.dumps({"format": FORMAT_VERSION, "sha256": hashlib.sha256(payload).hexdigest(),
                         "size": len(payload)})
    write_atomically(path, MAGIC + b" " + header.encode("ascii") + b"\n" + payload)
    _remove_stale_temporaries(path)
    return path


def _remove_stale_temporaries(path: Path) -> None:
    """Delete the ``.NAME.*.tmp`` files an earlier save of ``path`` left when its process was killed.

    Ours is already renamed over ``path``; checkpoints are written by one process at a time (rank 0).
    """
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            stale.unlink()
        except OSError:
            pass  # removed by someone else meanwhile, or not ours to remove: harmless either way


def _read_verified_payload(path: Path) -> bytes:
    with open(path, "rb") as fh:
        first_line = fh.readline()
        payload = fh.read()
    if not first_line.startswith(MAGIC + b" "):
        raise CheckpointError(
            f"{path} is not a tutorial_lib checkpoint (no header); it may be a plain torch.save file: "
            "read it with torch.load(path, weights_only=True)"
        )
    try:
        header = json.loads(first_line[len(MAGIC) + 1:].decode("ascii"))
        expected, size, version = header["sha256"], int(header["size"]), header["format"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: damaged checkpoint header ({err!r}); delete the file") from err
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {version!r}; this version of tutorial_lib reads format "
            f"{FORMAT_VERSION} only: use the tutorial_lib that wrote it, or delete it and train again"
        )
    if len(payload) != size:
        raise CheckpointError(
            f"{path} is truncated or corrupt: {len(payload)} bytes of payload, expected {size}; "
            "delete it (training restarts from scratch) or restore a backup"
        )
    if hashlib.sha256(payload).hexdigest() != expected:
        raise CheckpointError(
            f"{path} failed its integrity check (SHA-256 mismatch): the file was altered or damaged; "
            "delete it (training restarts from scratch) or restore a backup"
        )
    return payload


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, checking its integrity hash.

    Parameters
    ----------
    path : str or path-like
        The checkpoint file.
    map_location : str or torch.device or None
        Where tensors are placed (``"cpu"`` by default, so a GPU checkpoint opens on any machine).

    Returns
    -------
    dict
        The saved state.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CheckpointError
        If the file has no header, another format version, is truncated, its hash does not match, or
        it holds objects other than tensors and plain values (never unpickled).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    payload = _read_verified_payload(path)
    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - whatever the unpickler refused, the answer is the same
        # torch's own message advises weights_only=False, which would run the file's code: not ours.
        found = re.search(r"Unsupported (global|operand)[^\n]*", str(err))
        why = f" ({found.group(0).strip()})" if found else f" ({type(err).__name__})"
        raise CheckpointError(
            f"{path} holds something a checkpoint never does{why}: loading it could run code, so it was "
            "refused. Delete it unless you wrote it yourself; checkpoints hold tensors and plain values only"
        ) from None


def verify_checkpoint(path: str | os.PathLike) -> bool:
    """True if ``path`` is a complete checkpoint that :func:`load_checkpoint` reads: its header, format and
    hash are right and its payload loads weights-only. False otherwise (never raises)."""
    try:
        load_checkpoint(path, map_location="cpu")
    except (OSError, CheckpointError):
        return False
    return True
