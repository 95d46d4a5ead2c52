"""Encrypted model files (tutorial_lib.scaling.encryption through tutorial_lib.io): the round trip gives
the same labels; the file on disk holds no plaintext and no plaintext file is ever written; a wrong key,
a missing key, a flipped or cut byte and a plain file in place of an encrypted one are refused with
ModelFileError; bad key files are refused naming the file; keygen writes a private key and never
replaces one; a key beside the model is refused; loading never unpickles."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tutorial_lib import io as model_io
from tutorial_lib.__main__ import main
from tutorial_lib.cluster import DeepClusterPipeline, KMeans
from tutorial_lib.io import ModelFileError, load_model, model_info, save_model
from tutorial_lib.scaling.encryption import (
    KEY_ENV,
    MAGIC,
    KeyFileError,
    KeyRequiredError,
    WrongKeyError,
    decrypt,
    encrypt,
    generate_key,
    key_id,
    read_key,
)


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().data[:200] / 16).float().view(-1, 1, 8, 8)
    return x[:120], x[120:]  # fitted on the first 120, the other 80 are new images


@pytest.fixture(scope="module")
def fitted(digits):
    return {"kmeans": KMeans(4, n_init=2, seed=0, device="cpu").fit(digits[0]),
            "pca": DeepClusterPipeline("pca", n_clusters=4, seed=0, device="cpu").fit(digits[0])}


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Path:
    """A key folder apart from the models' folders, with two keys: models.key and other.key."""
    folder = tmp_path_factory.mktemp("keys")
    generate_key(folder / "models.key")
    generate_key(folder / "other.key")
    return folder


@pytest.fixture(scope="module")
def sealed(fitted, keys, tmp_path_factory) -> tuple[Path, bytes]:
    path = fitted["pca"].save(tmp_path_factory.mktemp("sealed") / "pca.safetensors", key=keys / "models.key")
    return path, path.read_bytes()


# --- the round trip ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["kmeans", "pca"])
def test_an_encrypted_model_loads_back_with_its_key_and_gives_the_same_labels(name, fitted, digits, keys,
                                                                              tmp_path, no_unpickling):
    path = fitted[name].save(tmp_path / f"{name}.safetensors", key=keys / "models.key")
    assert path.read_bytes().startswith(MAGIC)
    for key in (keys / "models.key", str(keys / "models.key"), read_key(keys / "models.key")):
        loaded = load_model(path, key=key)
        assert type(loaded) is type(fitted[name])
        assert np.array_equal(loaded.predict(digits[1]), fitted[name].predict(digits[1]))
    info = model_info(path, key=keys / "models.key")
    assert info["class"].endswith(type(fitted[name]).__name__) and info["kind"] == "cluster"


def test_the_file_on_disk_holds_no_plaintext_and_no_plaintext_file_is_written(fitted, keys, tmp_path,
                                                                              monkeypatch):
    import safetensors.torch

    written, opened = [], []

    def record(path, data):
        written.append(bytes(data))
        real_write(path, data)

    def audit(event, args):  # every file opened for writing while saving (open() and os.open alike)
        if recording and event == "open" and args[0] is not None and not isinstance(args[0], int):
            mode, flags = args[1], args[2]
            if (mode and any(c in str(mode) for c in "wax+")) or (flags or 0) & (os.O_WRONLY | os.O_RDWR):
                opened.append(Path(os.fsdecode(args[0])))

    def forbidden(*args, **kwargs):
        raise AssertionError("safetensors wrote a file: the plaintext must stay in memory")

    real_write, recording = model_io.write_atomically, True
    monkeypatch.setattr(model_io, "write_atomically", record)
    monkeypatch.setattr(safetensors.torch, "save_file", forbidden)
    sys.addaudithook(audit)
    folder = tmp_path / "models"
    try:
        path = save_model(fitted["kmeans"], folder / "km.safetensors", key=keys / "models.key")
    finally:
        recording = False
    data = path.read_bytes()
    assert written == [data] and data.startswith(MAGIC)
    centres = fitted["kmeans"].cluster_centers_
    centres = centres.numpy() if isinstance(centres, torch.Tensor) else np.asarray(centres)
    for plain in (b"tutorial_lib.model", b"cluster_centers", b"sha256", b"KMeans",
                  centres.astype(np.float32).tobytes()[:32]):
        assert plain not in data
    assert opened and all(p.parent == folder and p.name.startswith(".km.safetensors.") for p in opened)
    assert [p.name for p in folder.iterdir()] == ["km.safetensors"]


def test_encrypt_and_decrypt_seal_bytes_with_a_fresh_nonce_each_time(keys):
    key = read_key(keys / "models.key")
    one, two = encrypt(b"some model bytes", key), encrypt(b"some model bytes", key)
    assert one != two and one.startswith(MAGIC) and b"some model bytes" not in one
    assert decrypt(one, key, "x") == decrypt(two, key, "x") == b"some model bytes"
    header = re.search(rb"\{.*?\}", one).group()
    assert b'"AES-256-GCM"' in header and key_id(key).encode() in header


# --- refusals: wrong key, missing key, damage ----------------------------------------------------


def test_a_wrong_key_is_refused_naming_both_key_ids(sealed, keys, no_unpickling):
    saved_with, given = read_key(keys / "models.key"), read_key(keys / "other.key")
    with pytest.raises(WrongKeyError) as err:
        load_model(sealed[0], key=keys / "other.key")
    message = str(err.value)
    assert isinstance(err.value, ModelFileError) and isinstance(err.value, ValueError)
    assert f"was encrypted with key id {key_id(saved_with)}, you gave key id {key_id(given)}" in message
    assert str(sealed[0]) in message
    with pytest.raises(WrongKeyError):
        model_info(sealed[0], key=os.urandom(32))


def _spots(data: bytes) -> dict[str, int]:
    size = int.from_bytes(data[len(MAGIC):len(MAGIC) + 4], "big")
    start = len(MAGIC) + 4 + size
    nonce = data.index(b'"nonce": "') + len(b'"nonce": "')
    return {"magic": 0, "header-length": len(MAGIC) + 3, "header-brace": len(MAGIC) + 4, "nonce": nonce,
            "ciphertext-start": start, "ciphertext-middle": (start + len(data)) // 2,
            "tag-last": len(data) - 1}


@pytest.mark.parametrize("spot", ["magic", "header-length", "header-brace", "nonce", "ciphertext-start",
                                  "ciphertext-middle", "tag-last"])
def test_a_flipped_byte_is_refused(spot, sealed, keys, tmp_path, no_unpickling):
    data = bytearray(sealed[1])
    where = _spots(sealed[1])[spot]
    if spot == "nonce":  # another hex digit (the nonce is random): still valid JSON and hex
        data[where] = ord("0") if data[where] != ord("0") else ord("1")
    else:
        data[where] ^= 0x01
    path = tmp_path / "flipped.safetensors"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as err:
        load_model(path, key=keys / "models.key")
    message = str(err.value)
    assert str(path) in message
    if spot in ("nonce", "ciphertext-start", "ciphertext-middle", "tag-last"):
        assert "authentication failed: the file was altered or damaged" in message


@pytest.mark.parametrize("keep", [len(MAGIC) + 2, len(MAGIC) + 20, -1])
def test_a_truncated_encrypted_file_is_refused(keep, sealed, keys, tmp_path):
    path = tmp_path / "cut.safetensors"
    path.write_bytes(sealed[1][:keep])
    with pytest.raises(ModelFileError, match="truncated|authentication failed"):
        load_model(path, key=keys / "models.key")


def test_an_encrypted_file_without_a_key_is_refused_with_the_hint(sealed):
    for read in (load_model, model_info):
        with pytest.raises(KeyRequiredError) as err:
            read(sealed[0])
        message = str(err.value)
        assert str(sealed[0]) in message and "is encrypted" in message
        assert "key=" in message and KEY_ENV in message and isinstance(err.value, ModelFileError)


def test_a_plain_file_given_with_a_key_is_refused_but_loads_without(fitted, digits, keys, tmp_path,
                                                                    monkeypatch):
    plain = fitted["kmeans"].save(tmp_path / "plain.safetensors")
    assert plain.read_bytes()[8:9] == b"{"  # still an ordinary safetensors file
    with pytest.raises(ModelFileError, match="is not encrypted, but a key was given"):
        load_model(plain, key=keys / "models.key")
    monkeypatch.setenv(KEY_ENV, str(keys / "models.key"))  # the environment alone: plain files still read
    assert np.array_equal(load_model(plain).predict(digits[1]), fitted["kmeans"].predict(digits[1]))


# --- where the key comes from --------------------------------------------------------------------


def test_the_key_comes_from_TUTORIAL_MODEL_KEY(fitted, digits, keys, tmp_path, monkeypatch):
    assert read_key() is None
    monkeypatch.setenv(KEY_ENV, str(keys / "models.key"))
    assert read_key() == read_key(keys / "models.key")
    path = save_model(fitted["kmeans"], tmp_path / "km.safetensors")  # no key=: the environment's
    assert path.read_bytes().startswith(MAGIC)
    assert np.array_equal(load_model(path).predict(digits[1]), fitted["kmeans"].predict(digits[1]))
    monkeypatch.setenv(KEY_ENV, str(keys / "missing.key"))
    missing = re.escape(str(keys / "missing.key"))
    with pytest.raises(KeyFileError, match=f"no key file {missing} \\(named by {KEY_ENV}\\) found: make one "
                                           "with: python -m tutorial_lib keygen"):
        load_model(path)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(KeyRequiredError):
        load_model(path)


def test_a_key_beside_the_model_is_refused_and_nothing_is_written(fitted, tmp_path, monkeypatch):
    key = generate_key(tmp_path / "beside.key")
    with pytest.raises(KeyFileError, match="keep the key away from the model"):
        save_model(fitted["kmeans"], tmp_path / "km.safetensors", key=key)
    monkeypatch.setenv(KEY_ENV, str(key))
    with pytest.raises(KeyFileError, match="keep the key away from the model"):
        fitted["kmeans"].save(tmp_path / "km.safetensors")
    assert [p.name for p in tmp_path.iterdir()] == ["beside.key"]


@pytest.mark.parametrize("content, said", [
    (None, "no key file"),
    ("folder", "is a folder"),
    ("", "is empty"),
    ("ab" * 16 + "\n", "holds 32 hex digits, too short"),
    ("ab" * 31 + "a\n", "holds 63 hex digits, too short"),
    ("not a key at all\n", "is not a key file"),
    ("x" * 5000, "too large to be a key file"),
    (b"\xff\xfe\x00key", "is not text"),
])
def test_bad_key_files_are_refused_naming_the_file_and_how_to_make_one(content, said, tmp_path):
    path = tmp_path / "bad.key"
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(KeyFileError) as err:
        read_key(path)
    message = str(err.value)
    assert said in message and str(path) in message and "python -m tutorial_lib keygen FILE" in message
    if isinstance(content, str) and content.startswith("ab"):
        assert content.strip() not in message  # a key, even a broken one, is never quoted


def test_key_bytes_and_base64_key_files(tmp_path):
    import base64

    key = os.urandom(32)
    (tmp_path / "b64.key").write_text(base64.b64encode(key).decode() + "\n")
    assert read_key(tmp_path / "b64.key") == read_key(key) == key
    with pytest.raises(KeyFileError, match="must be 32 bytes long.*got 16"):
        read_key(os.urandom(16))
    with pytest.raises(TypeError, match="key must be the path of a key file"):
        read_key(1234)
    with pytest.raises(KeyFileError) as err:
        read_key(key.hex())  # the key's text instead of bytes: a hint, and the text is not echoed
    assert "bytes.fromhex" in str(err.value) and key.hex() not in str(err.value)


# --- the command line ----------------------------------------------------------------------------


def test_keygen_writes_a_private_key_and_never_replaces_one(tmp_path, capsys):
    path = tmp_path / "keys" / "models.key"
    old_umask = os.umask(0)  # the mode is 0600 whatever the umask
    try:
        assert main(["keygen", str(path)]) == 0
    finally:
        os.umask(old_umask)
    out = capsys.readouterr().out
    text = path.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}\n", text)
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o600
    assert str(path) in out and KEY_ENV in out and key_id(bytes.fromhex(text.strip())) in out
    assert main(["keygen", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err and path.read_text() == text
    generate_key(path, overwrite=True)
    assert path.read_text() != text and [p.name for p in path.parent.iterdir()] == ["models.key"]
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o600


def test_predict_reads_an_encrypted_model_with_key_and_refuses_it_without(keys, tmp_path, capsys):
    from tutorial_lib.evaluation import clustering as evaluation

    model = evaluation.make_estimator("pca-kmeans", n_clusters=2, device="cpu").fit(torch.rand(20, 1, 8, 8))
    path = save_model(model, tmp_path / "pca.safetensors", extra={"image_shape": [1, 8, 8]},
                      key=keys / "models.key")
    argv = ["predict", "--model", str(path), "--data", "digits", "--limit", "30", "--device", "cpu"]
    assert main([*argv, "--out", str(tmp_path / "no-key")]) == 2
    err = capsys.readouterr().err
    assert "is encrypted" in err and "--key" in err and "Traceback" not in err
    assert not (tmp_path / "no-key").exists()
    assert main([*argv, "--key", str(keys / "models.key"), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "assignments.csv").exists()


def test_cluster_refuses_a_bad_key_before_it_trains(tmp_path, monkeypatch, capsys):
    from tutorial_lib.evaluation import clustering as evaluation

    def never(*args, **kwargs):
        raise AssertionError("trained before the key was checked")

    monkeypatch.setattr(evaluation, "evaluate", never)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    beside = generate_key(tmp_path / "beside.key")
    model = tmp_path / "km.safetensors"
    cases = [(["--save-model", str(model), "--key", str(beside)], "keep the key away from the model"),
             (["--save-model", str(model), "--key", str(tmp_path / "none.key")], "no key file"),
             (["--key", str(beside)], "give it with --save-model")]
    for extra, said in cases:
        assert main(["cluster", "--data", "digits", "--method", "kmeans", *extra]) == 2
        assert said in capsys.readouterr().err
    assert not model.exists()


def test_cluster_saves_an_encrypted_model_end_to_end(keys, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = tmp_path / "models" / "km.safetensors"
    assert main(["cluster", "--data", "digits", "--method", "kmeans", "--limit", "100", "--device", "cpu",
                 "--save-model", str(model), "--key", str(keys / "models.key")]) == 0
    assert f"wrote {model}" in capsys.readouterr().out
    assert model.read_bytes().startswith(MAGIC)
    assert model_info(model, key=keys / "models.key")["extra"]["n_trained"] == 100
