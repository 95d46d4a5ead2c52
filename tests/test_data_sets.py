"""The benchmark sets beyond digits and MNIST: COIL-20 (the shared folder, the conversion of the official
zip, the offline and failed-download messages) and mnist-imbalanced (its class sizes, seeded)."""

from __future__ import annotations

import urllib.error
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tutorial_lib import data
from tutorial_lib.data import builtin, coil

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared_coil = pytest.mark.skipif(not (SHARED / "COIL20" / "obj20").is_dir(),
                                       reason=f"COIL-20 not found in {SHARED / 'COIL20'}")
needs_shared_mnist = pytest.mark.skipif(not (SHARED / "MNIST" / "raw").is_dir(),
                                        reason=f"real MNIST files not found in {SHARED / 'MNIST' / 'raw'}")


def release_image(obj: int, pose: int, side: int) -> np.ndarray:
    """A grey image of the fake release: different for every (object, pose), with detail finer than the
    4×4 blocks the conversion averages."""
    rng = np.random.default_rng(1000 * obj + pose)
    return rng.integers(0, 256, size=(side, side), dtype=np.uint8)


def write_release_zip(path: Path, items, side: int = 128, junk: bool = True) -> Path:
    """A zip laid out as coil-20-proc.zip: ``coil-20-proc/objN__P.png`` for each (N, P) of ``items``."""
    import io

    with zipfile.ZipFile(path, "w") as archive:
        for obj, pose in items:
            buffer = io.BytesIO()
            Image.fromarray(release_image(obj, pose, side)).save(buffer, format="PNG")
            archive.writestr(f"coil-20-proc/obj{obj}__{pose}.png", buffer.getvalue())
        if junk:  # what real archives also hold: folders, macOS resource forks, notes
            archive.writestr("coil-20-proc/", b"")
            archive.writestr("__MACOSX/coil-20-proc/._obj1__0.png", b"not an image")
            archive.writestr("coil-20-proc/README.txt", b"COIL-20")
    return path


def all_items():
    return [(obj, pose) for obj in range(1, 21) for pose in range(72)]


# --- COIL-20 -----------------------------------------------------------------------------------------
@needs_shared_coil
def test_coil20_from_the_shared_folder():
    ds = data.load("coil20", root=SHARED, download=False)
    assert tuple(ds.images.shape) == (1440, 1, 32, 32) and ds.images.dtype == torch.float32
    assert 0.0 <= float(ds.images.min()) and float(ds.images.max()) <= 1.0
    assert torch.bincount(ds.labels).tolist() == [72] * 20 and ds.labels.dtype == torch.int64
    assert ds.classes == [f"obj{k:02d}" for k in range(1, 21)] and ds.name == "coil20"
    assert ds.paths[0] == str((SHARED / "COIL20" / "obj01" / "obj01__00.png").resolve())
    assert ds.paths[-1].endswith("obj20/obj20__71.png") and len(set(ds.paths)) == 1440
    first = np.asarray(Image.open(ds.paths[100]), dtype=np.float32) / 255.0
    assert np.allclose(ds.images[100, 0].numpy(), first)  # image i is the file paths[i]
    assert ds.labels[100] == 1 and "obj02" in ds.paths[100]
    small = data.load("coil20", root=SHARED, limit=200, seed=0)
    assert len(small) == 200 and torch.bincount(small.labels).tolist() == [10] * 20
    assert [small.paths[i] for i in range(3)] == sorted(small.paths)[:3]  # subsets keep the file order
    with pytest.raises(TypeError, match="coil20 takes no options"):
        data.load("coil20", root=SHARED, size=64)


def test_conversion_of_the_official_zip_shrinks_by_area_average(tmp_path):
    items = [(1, 0), (2, 5), (20, 71)]
    archive = write_release_zip(tmp_path / "coil-20-proc.zip", items)
    out = coil.convert_coil20(archive, tmp_path / "root")
    assert out == tmp_path / "root" / "COIL20"
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["obj01/obj01__00.png", "obj02/obj02__05.png", "obj20/obj20__71.png"]
    for obj, pose in items:
        small = np.asarray(Image.open(out / f"obj{obj:02d}" / f"obj{obj:02d}__{pose:02d}.png"))
        assert small.shape == (32, 32) and small.dtype == np.uint8
        blocks = release_image(obj, pose, 128).reshape(32, 4, 32, 4).astype(np.float64).mean(axis=(1, 3))
        assert np.abs(small - blocks).max() <= 0.5 + 1e-9  # each pixel: its 4×4 block's mean, rounded


def test_conversion_reads_the_unpacked_folder_too_and_refuses_what_is_not_the_release(tmp_path):
    folder = tmp_path / "coil-20-proc"
    folder.mkdir()
    Image.fromarray(release_image(3, 7, 128)).save(folder / "obj3__7.png")
    Image.fromarray(release_image(3, 8, 128)).save(folder / "photo.png")  # not a release name: ignored
    out = coil.convert_coil20(folder, tmp_path)
    assert [p.name for p in out.rglob("*.png")] == ["obj03__07.png"]
    with pytest.raises(FileNotFoundError, match="holds no COIL-20 image"):
        coil.convert_coil20(write_release_zip(tmp_path / "other.zip", [], junk=True), tmp_path / "r2")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 this download stopped half-way")
    with pytest.raises(ValueError, match="not a complete zip file"):
        coil.convert_coil20(broken, tmp_path / "r3")


def test_offline_message_says_what_to_download_and_where(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        data.load("coil20", root=tmp_path, download=False)
    msg = str(err.value)
    assert "coil-20-proc.zip" in msg and coil.COIL20_URL in msg and str(tmp_path / "COIL20") in msg
    assert "download=True" in msg and str(tmp_path / "coil-20-proc") in msg
    assert not (tmp_path / "COIL20").exists()  # nothing created offline


def test_a_release_in_the_data_root_is_converted_on_first_load(tmp_path):
    write_release_zip(tmp_path / coil.COIL20_ZIP, all_items(), side=64, junk=False)
    status = {r["name"]: r for r in data.dataset_status(tmp_path)}["coil20"]
    assert status["available"] is True and "converted to 32×32 on first load" in status["details"]
    ds = data.load("coil20", root=tmp_path, download=False)  # no download needed: the zip is there
    assert tuple(ds.images.shape) == (1440, 1, 32, 32) and torch.bincount(ds.labels).tolist() == [72] * 20
    expected = release_image(5, 9, 64).reshape(32, 2, 32, 2).mean(axis=(1, 3)) / 255.0
    assert np.abs(ds.images[4 * 72 + 9, 0].numpy() - expected).max() <= 0.5 / 255 + 1e-6
    status = {r["name"]: r for r in data.dataset_status(tmp_path)}["coil20"]
    assert status["details"] == "1440 images, 1×32×32, 20 classes"


def test_download_when_online_and_the_clear_error_when_it_fails(tmp_path, monkeypatch):
    fetched = []

    def fake_fetch(url, target):
        fetched.append(url)
        write_release_zip(target, all_items(), side=32, junk=False)

    monkeypatch.setattr(coil, "_fetch", fake_fetch)
    ds = data.load("coil20", root=tmp_path / "online")
    assert fetched == [coil.COIL20_URL] and len(ds) == 1440
    assert data.load("coil20", root=tmp_path / "online") is not None and len(fetched) == 1  # kept

    def offline(url, target):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(coil, "_fetch", offline)
    with pytest.raises(FileNotFoundError, match=r"(?s)coil-20-proc.zip.*download failed.*URLError"):
        data.load("coil20", root=tmp_path / "offline")


def test_an_incomplete_folder_is_reported_with_what_is_missing(tmp_path):
    write_release_zip(tmp_path / "part.zip", [(1, p) for p in range(72)], side=32, junk=False)
    coil.convert_coil20(tmp_path / "part.zip", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"72 of the 1440 images are there; first missing: .*obj02__"):
        data.load("coil20", root=tmp_path, download=False)
    row = {r["name"]: r for r in data.dataset_status(tmp_path)}["coil20"]
    assert row["available"] is False and row["details"].startswith("72 of 1440 images here")


# --- mnist-imbalanced ------------------------------------------------------------------------------
def fake_mnist_test(root: Path, per_class: int = 900) -> np.ndarray:
    """An MNIST test split whose image i stores i in its first two pixels; returns the labels."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    n = 10 * per_class
    labels = (np.arange(n) * 7 % 10).astype(np.uint8)
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 0, 0], images[:, 0, 1] = np.arange(n) % 256, np.arange(n) // 256
    for name, array in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
        (raw / name).write_bytes(header + array.tobytes())
    return labels


def source_index(ds) -> np.ndarray:
    pixels = torch.round(ds.images[:, 0, 0, :2] * 255).long().numpy()
    return pixels[:, 0] + 256 * pixels[:, 1]


def test_imbalanced_subset_has_the_sizes_in_a_seeded_order(tmp_path):
    source_labels = fake_mnist_test(tmp_path)
    ds = data.load("mnist-imbalanced", root=tmp_path, download=False)
    sizes = torch.bincount(ds.labels, minlength=10).tolist()
    assert sorted(sizes, reverse=True) == list(builtin.IMBALANCED_SIZES) and len(ds) == 3757
    order = np.random.default_rng(0).permutation(10)  # digit order[i] gets the i-th size
    assert [sizes[d] for d in order] == list(builtin.IMBALANCED_SIZES)
    index = source_index(ds)
    assert np.all(np.diff(index) > 0)  # distinct images, in MNIST-test's order
    assert np.array_equal(source_labels[index], ds.labels.numpy())  # each keeps its own label
    assert ds.name == "mnist-imbalanced" and ds.paths is None and ds.classes == [str(d) for d in range(10)]
    again = data.load("mnist-imbalanced", root=tmp_path, download=False)
    assert torch.equal(again.images, ds.images)
    other = data.load("mnist-imbalanced", root=tmp_path, download=False, seed=1)
    other_sizes = torch.bincount(other.labels, minlength=10).tolist()
    assert sorted(other_sizes) == sorted(sizes) and other_sizes != sizes  # the seed moves the sizes
    small = data.load("mnist-imbalanced", root=tmp_path, download=False, limit=376)
    assert len(small) == 376 and set(source_index(small)) <= set(index)
    counts = torch.bincount(small.labels, minlength=10)
    assert counts.max() >= 8 * counts.min()  # the subset keeps the imbalance


def test_imbalanced_subset_offline_message_and_status(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        data.load("mnist-imbalanced", root=tmp_path, download=False)
    row = {r["name"]: r for r in data.dataset_status(tmp_path)}["mnist-imbalanced"]
    assert row["available"] is False and "needs MNIST's test split" in row["details"]
    assert "mnist-imbalanced" in data.dataset_names() and "coil20" in data.dataset_names()


@needs_shared_mnist
def test_imbalanced_subset_of_the_real_mnist_test():
    ds = data.load("mnist-imbalanced", root=SHARED, download=False)
    full = data.load("mnist", split="test", root=SHARED, download=False)
    assert Counter(torch.bincount(ds.labels).tolist()) == Counter(builtin.IMBALANCED_SIZES)
    # every image is one of MNIST-test's, with its label
    flat = full.images.flatten(1)
    for i in (0, 1000, 3756):
        match = torch.nonzero((flat == ds.images[i].flatten()).all(1)).flatten()
        assert len(match) >= 1 and int(full.labels[match[0]]) == int(ds.labels[i])
    row = {r["name"]: r for r in data.dataset_status(SHARED)}["mnist-imbalanced"]
    assert row["available"] is True and row["details"].startswith("3757 images of MNIST-test")
