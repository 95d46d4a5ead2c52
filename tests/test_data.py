"""Tests for tutorial_lib.data: every loader, the offline messages, and bad files in the user's folders."""

from __future__ import annotations

import dataclasses
import gzip
import pickle
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from tutorial_lib import data
from tutorial_lib.__main__ import main
from tutorial_lib.data import builtin

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared_mnist = pytest.mark.skipif(not (SHARED / "MNIST" / "raw").is_dir(),
                                        reason=f"real MNIST files not found in {SHARED / 'MNIST' / 'raw'}")
needs_shared_nuclei = pytest.mark.skipif(not (SHARED / "nuclei").is_dir(),
                                         reason=f"nuclei folder not found in {SHARED}")


def assert_images(images: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert images.dtype == torch.float32
    assert tuple(images.shape) == shape
    assert images.min() >= 0.0 and images.max() <= 1.0


# ---------------------------------------------------------------------------------------------------
# helpers that write small files in the formats the loaders read
# ---------------------------------------------------------------------------------------------------
def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def fake_mnist_test(root: Path, n: int = 20, gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    write_idx(raw / "t10k-images-idx3-ubyte", images, gz)
    write_idx(raw / "t10k-labels-idx1-ubyte", labels, gz)
    return images, labels


def save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(path)
    return path


# ---------------------------------------------------------------------------------------------------
# digits and subsets
# ---------------------------------------------------------------------------------------------------
def test_digits_shapes_range_and_classes():
    ds = data.load("digits")
    assert_images(ds.images, (1797, 1, 8, 8))
    assert ds.images.max() == 1.0  # 16/16: the scale is value / 16
    assert ds.labels.dtype == torch.int64 and ds.labels.shape == (1797,)
    assert ds.classes == [str(d) for d in range(10)]
    assert len(ds) == 1797 and ds.name == "digits"


def test_limit_is_seeded_stratified_and_reproducible():
    full = data.load("digits")
    a = data.load("digits", limit=100, seed=3)
    b = data.load("digits", limit=100, seed=3)
    c = data.load("digits", limit=100, seed=4)
    assert len(a) == 100
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    expected = torch.bincount(full.labels).double() * 100 / len(full)
    assert (torch.bincount(a.labels, minlength=10) - expected).abs().max() < 1.0


def test_subset_indices_edge_cases():
    assert np.array_equal(data.subset_indices(5, None), np.arange(5))
    assert np.array_equal(data.subset_indices(5, 10), np.arange(5))
    idx = data.subset_indices(50, 7, seed=1)
    assert len(np.unique(idx)) == 7 and idx.max() < 50 and np.all(np.diff(idx) > 0)
    labels = np.array([0] * 90 + [1] * 10)
    counts = np.bincount(labels[data.subset_indices(100, 20, labels, seed=0)])
    assert counts.tolist() == [18, 2]
    with pytest.raises(ValueError, match="limit"):
        data.subset_indices(5, 0)


def test_unknown_name_and_split_are_clear_errors():
    with pytest.raises(ValueError, match="unknown dataset 'nope'.*digits"):
        data.load("nope")
    with pytest.raises(ValueError, match="splits train, test"):
        data.load("mnist", split="validation", download=False)
    with pytest.raises(TypeError, match="digits takes no options; got size"):
        data.load("digits", size=32)
    with pytest.raises(ValueError, match="unknown segmentation set"):
        data.load_segmentation("nope")


# ---------------------------------------------------------------------------------------------------
# torchvision sets: real MNIST, idx files in both forms, the offline messages
# ---------------------------------------------------------------------------------------------------
@needs_shared_mnist
def test_real_mnist_test_split():
    ds = data.load("mnist", split="test", root=SHARED, download=False)
    assert_images(ds.images, (10000, 1, 28, 28))
    assert ds.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first test digits
    assert torch.bincount(ds.labels).tolist()[:2] == [980, 1135]
    assert abs(float(ds.images.mean()) - 0.1325) < 1e-3  # MNIST's published mean
    assert ds.name == "mnist-test" and ds.classes[7] == "7"
    small = data.load("mnist", split="test", root=SHARED, limit=200, seed=0)
    assert len(small) == 200 and torch.bincount(small.labels, minlength=10).min() >= 15


@needs_shared_mnist
def test_real_mnist_missing_train_split_message():
    with pytest.raises(FileNotFoundError) as err:
        data.load("mnist", split="train", root=SHARED, download=False)
    msg = str(err.value)
    assert "train-images-idx3-ubyte" in msg and "train-labels-idx1-ubyte" in msg
    assert str(SHARED / "MNIST" / "raw") in msg
    assert "Only the test split is there" in msg and "download=True" in msg


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_gzipped_or_unpacked(tmp_path, gz):
    images, labels = fake_mnist_test(tmp_path, gz=gz)
    ds = data.load("mnist", split="test", root=tmp_path, download=False)
    assert_images(ds.images, (20, 1, 28, 28))
    assert torch.equal(ds.labels, torch.as_tensor(labels, dtype=torch.int64))
    assert torch.allclose(ds.images[:, 0], torch.as_tensor(images) / 255.0)


def test_data_root_from_environment(tmp_path, monkeypatch):
    fake_mnist_test(tmp_path)
    monkeypatch.setenv("TUTORIAL_DATA_DIR", str(tmp_path))
    assert len(data.load("mnist", split="test", download=False)) == 20


def test_offline_message_names_files_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        data.load("fashion-mnist", split="test", root=tmp_path, download=False)
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte" in msg and str(tmp_path / "FashionMNIST" / "raw") in msg
    assert "download=True" in msg


def test_failed_download_becomes_the_clear_error_quickly(tmp_path, monkeypatch):
    seen_timeout = []

    def offline_fetch(root, split):
        seen_timeout.append(socket.getdefaulttimeout())
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: Name or service not known")

    remote = dataclasses.replace(builtin._REMOTES["mnist"], fetch=offline_fetch)
    monkeypatch.setitem(builtin._REMOTES, "mnist", remote)
    before = socket.getdefaulttimeout()
    with pytest.raises(FileNotFoundError, match=r"(?s)t10k-images-idx3-ubyte.*download failed.*Name or"):
        data.load("mnist", split="test", root=tmp_path, download=True)
    assert seen_timeout == [data.DOWNLOAD_TIMEOUT_S]  # no hanging on a dead network
    assert socket.getdefaulttimeout() == before


def test_cifar10_and_stl10_read_from_their_layouts(tmp_path):
    rng = np.random.default_rng(0)
    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    pixels = rng.integers(0, 256, size=(6, 3072)).astype(np.uint8)
    with open(cifar / "test_batch", "wb") as f:
        pickle.dump({"data": pixels, "labels": [0, 1, 2, 3, 4, 9]}, f)
    ds = data.load("cifar10", split="test", root=tmp_path, download=False)
    assert_images(ds.images, (6, 3, 32, 32))
    assert ds.labels.tolist() == [0, 1, 2, 3, 4, 9] and ds.classes[9] == "truck"
    assert torch.allclose(ds.images[1], torch.as_tensor(pixels[1].reshape(3, 32, 32)) / 255.0)

    stl = tmp_path / "stl10_binary"
    stl.mkdir()
    column_major = rng.integers(0, 256, size=(4, 3, 96, 96)).astype(np.uint8)
    column_major.tofile(stl / "test_X.bin")
    np.array([1, 2, 3, 10], np.uint8).tofile(stl / "test_y.bin")
    ds = data.load("stl10", split="test", root=tmp_path, download=False)
    assert_images(ds.images, (4, 3, 96, 96))
    assert ds.labels.tolist() == [0, 1, 2, 9]
    assert torch.allclose(ds.images[0, 0], torch.as_tensor(column_major[0, 0].T) / 255.0)
    with pytest.raises(FileNotFoundError, match="train_X.bin"):
        data.load("stl10", split="train", root=tmp_path, download=False)


# ---------------------------------------------------------------------------------------------------
# generated sets
# ---------------------------------------------------------------------------------------------------
def test_shapes_set():
    ds = data.load("shapes", n=60, size=32, seed=1)
    assert_images(ds.images, (60, 3, 32, 32))
    assert ds.classes == list(data.SHAPE_NAMES)
    assert torch.bincount(ds.labels).tolist() == [12] * 5
    again = data.load("shapes", n=60, size=32, seed=1)
    assert torch.equal(ds.images, again.images) and torch.equal(ds.labels, again.labels)
    assert not torch.equal(ds.images, data.load("shapes", n=60, size=32, seed=2).images)
    assert len(data.load("shapes", n=60, limit=10)) == 10


def test_shape_masks_have_the_right_area():
    area = {k: data.shape_mask(k, (200, 200), (100, 100), 60, angle=0.3).sum() / 60**2
            for k in data.SHAPE_NAMES}
    expected = {
        "circle": np.pi,
        "square": 2.0,  # half-diagonal r: area 2 r²
        "triangle": 3 * np.sqrt(3) / 4,
        "star": 10 * 0.5 * 0.45 * np.sin(np.pi / 5),  # ten triangles between radii 1 and 0.45
        "cross": 5 * (2 / 3) ** 2,  # five squares of side 2r/3
    }
    for kind, value in expected.items():
        assert abs(area[kind] / value - 1) < 0.04, kind


def test_mosaic_regions_are_equalised_and_reproducible():
    ds = data.load_segmentation("mosaic", n=4, size=64, seed=0)
    assert_images(ds.images, (4, 1, 64, 64))
    assert ds.masks.dtype == torch.int64 and ds.masks.shape == (4, 64, 64)
    assert ds.classes == list(data.MOSAIC_TEXTURES)
    for image, mask in zip(ds.images, ds.masks, strict=True):
        present = mask.unique()
        assert 3 <= len(present) <= 5 and present.max() < len(ds.classes)
        for label in present:
            values = image[0][mask == label]
            assert values.numel() >= 0.05 * 64 * 64
            assert abs(float(values.mean()) - 0.5) < 0.01 and abs(float(values.std()) - 0.15) < 0.015
    again = data.load_segmentation("mosaic", n=4, size=64, seed=0)
    assert torch.equal(ds.images, again.images) and torch.equal(ds.masks, again.masks)
    assert not torch.equal(ds.masks, data.load_segmentation("mosaic", n=4, size=64, seed=1).masks)
    assert len(data.load_segmentation("mosaic", n=4, size=64, limit=2)) == 2


def test_scenes_masks_match_the_shapes():
    ds = data.load_segmentation("scenes", n=3, size=96, seed=0)
    assert_images(ds.images, (3, 3, 96, 96))
    assert ds.classes == ["background", *data.SHAPE_NAMES]
    assert ds.masks.min() == 0 and ds.masks.max() <= len(data.SHAPE_NAMES)
    for image, mask in zip(ds.images, ds.masks, strict=True):
        assert (mask > 0).float().mean() > 0.02 and len(mask.unique()) >= 2
        # each object is painted in one colour (plus a little grain) exactly where its mask says
        for label in mask.unique()[1:]:
            objects, count = ndimage.label(mask.numpy() == int(label))
            for k in range(1, count + 1):
                pixels = image[:, torch.from_numpy(objects == k)]
                assert float(pixels.std(dim=1).max()) < 0.06
    again = data.load_segmentation("scenes", n=3, size=96, seed=0)
    assert torch.equal(ds.images, again.images) and torch.equal(ds.masks, again.masks)


# ---------------------------------------------------------------------------------------------------
# the user's files: conversion, bad files, folder layouts
# ---------------------------------------------------------------------------------------------------
def test_read_image_converts_grey_rgba_palette_16bit(tmp_path):
    grey = data.read_image(save(tmp_path / "g.png", np.full((5, 7), 51, np.uint8)))
    assert grey.shape == (5, 7, 3) and grey.dtype == np.float32 and np.allclose(grey, 0.2)

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 0
    rgba[0, 0, 3] = 255
    out = data.read_image(save(tmp_path / "a.png", rgba))
    assert np.allclose(out[0, 0], [1, 0, 0]) and np.allclose(out[1, 1], [1, 1, 1])  # transparent -> white

    palette = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), "P")
    palette.putpalette([0, 0, 255, 255, 255, 0] + [0] * 762)
    palette.save(tmp_path / "p.png")
    out = data.read_image(tmp_path / "p.png")
    assert np.allclose(out[0, 0], [0, 0, 1]) and np.allclose(out[0, 1], [1, 1, 0])

    deep = data.read_image(save(tmp_path / "d.png", np.full((3, 3), 32768, np.uint16)))
    assert np.allclose(deep, 32768 / 65535)


def test_read_image_skips_bad_files_with_one_warning_each(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"garbage" * 20)
    for name in ("empty.png", "notes.txt", "broken.jpg"):
        with pytest.warns(UserWarning, match=name) as record:
            assert data.read_image(tmp_path / name) is None
        assert len(record) == 1


def make_class_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    save(root / "cats" / "grey.png", (rng.random((40, 60)) * 255).astype(np.uint8))
    save(root / "cats" / "rgba.png", (rng.random((50, 50, 4)) * 255).astype(np.uint8))
    save(root / "dogs" / "palette.png", (rng.random((30, 80)) * 255).astype(np.uint8), mode="P")
    save(root / "dogs" / "deep.png", (rng.random((64, 64)) * 65535).astype(np.uint16))
    (root / "dogs" / "empty.png").write_bytes(b"")
    (root / "dogs" / "notes.txt").write_text("hello")
    (root / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    (root / "cats" / ".DS_Store").write_bytes(b"\0\1")
    return root


def test_folder_with_class_subfolders(tmp_path):
    folder = make_class_folder(tmp_path / "pets")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ds = data.load(f"folder:{folder}", size=24)
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 3
    for name, message in zip(["broken.png", "empty.png", "notes.txt"], messages, strict=True):
        assert name in message and "skipped" in message
    assert_images(ds.images, (4, 3, 24, 24))
    assert ds.classes == ["cats", "dogs"] and ds.labels.tolist() == [0, 0, 1, 1]
    assert ds.name == "folder:pets"


def test_flat_folder_has_no_labels_and_keeps_aspect(tmp_path):
    save(tmp_path / "flat" / "wide.png", np.tile(np.linspace(0, 255, 100).astype(np.uint8), (50, 1)))
    save(tmp_path / "flat" / "small.png", np.full((3, 2), 200, np.uint8))
    ds = data.load("folder:flat", root=tmp_path, size=(16, 16))
    assert_images(ds.images, (2, 1, 16, 16))  # every image grey: one channel
    assert ds.labels is None and ds.classes == []
    # the wide ramp is centre-cropped, not squashed: its left column is far from black
    assert 0.2 < float(ds.images[1, 0, :, 0].mean()) < 0.35
    rgb = data.load("folder:flat", root=tmp_path, size=(16, 16), channels=3)  # the former RGB output
    assert_images(rgb.images, (2, 3, 16, 16))
    assert torch.equal(rgb.images[:, :1], ds.images) and torch.equal(rgb.images[:, 2], ds.images[:, 0])


def test_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no files"):
        data.load(f"folder:{tmp_path / 'empty'}")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.txt").write_text("x")
    with pytest.warns(UserWarning, match="a.txt"), pytest.raises(ValueError, match="no readable image"):
        data.load(f"folder:{tmp_path / 'junk'}")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load(f"folder:{tmp_path / 'missing'}")


def make_segfolder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    save(root / "images" / "a.png", (rng.random((20, 30)) * 255).astype(np.uint8))
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 5:20] = 255
    save(root / "masks" / "a.png", mask)
    save(root / "images" / "b.png", (rng.random((16, 16, 4)) * 255).astype(np.uint8))
    save(root / "masks" / "b.png", np.full((16, 16), 255, np.uint8))
    (root / "images" / "c.png").write_bytes(b"")  # skipped with a warning, with its mask
    save(root / "masks" / "c.png", np.zeros((8, 8), np.uint8))
    return root


def test_segfolder_reads_pairs_and_relabels(tmp_path):
    folder = make_segfolder(tmp_path / "seg")
    with pytest.warns(UserWarning, match="c.png") as record:
        ds = data.load_segmentation(f"segfolder:{folder}")
    assert len(record) == 1
    assert isinstance(ds.images, list) and [tuple(im.shape) for im in ds.images] == [(3, 20, 30), (3, 16, 16)]
    assert ds.classes == ["0", "255"]  # the original values name the classes; masks hold 0..K-1
    assert ds.masks[0].dtype == torch.int64 and ds.masks[0].unique().tolist() == [0, 1]
    assert int(ds.masks[0].sum()) == 5 * 15 and bool((ds.masks[1] == 1).all())
    with pytest.warns(UserWarning):
        resized = data.load_segmentation(f"segfolder:{folder}", size=8)
    assert_images(resized.images, (2, 3, 8, 8))
    assert resized.masks.shape == (2, 8, 8) and resized.masks.dtype == torch.int64


@pytest.mark.filterwarnings("ignore:skipped .*c.png")  # the empty c.png of make_segfolder
def test_segfolder_errors(tmp_path):
    folder = make_segfolder(tmp_path / "seg")
    save(folder / "masks" / "a.png", np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match=r"(?s)masks/a.png is 10×10.*images/a.png is 30×20"):
        data.load_segmentation(f"segfolder:{folder}")
    save(folder / "masks" / "a.png", np.zeros((20, 30), np.uint8))
    (folder / "masks" / "b.png").unlink()
    with pytest.raises(ValueError, match="no mask .* b.png"):
        data.load_segmentation(f"segfolder:{folder}")
    (tmp_path / "bare" / "images").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="images/ and masks/"):
        data.load_segmentation(f"segfolder:{tmp_path / 'bare'}")
    (tmp_path / "bare" / "masks").mkdir()
    with pytest.raises(ValueError, match="is empty"):
        data.load_segmentation(f"segfolder:{tmp_path / 'bare'}")


@needs_shared_nuclei
def test_nuclei_segfolder():
    ds = data.load_segmentation("segfolder:nuclei", root=SHARED, limit=6, seed=0)
    assert len(ds) == 6 and ds.classes == ["0", "1"]
    for image, mask in zip(ds.images, ds.masks, strict=True):
        assert image.shape[0] == 3 and image.shape[1:] == mask.shape
        assert 0 < float(mask.float().mean()) < 1


# ---------------------------------------------------------------------------------------------------
# what is available here
# ---------------------------------------------------------------------------------------------------
@needs_shared_mnist
def test_dataset_table_on_shared_data(capsys):
    status = {row["name"]: row for row in data.dataset_status(SHARED)}
    assert status["mnist"]["available"] is True
    assert status["mnist"]["details"] == "test split, 10000 images; train split missing"
    assert status["fashion-mnist"]["available"] is False
    assert main(["datasets", "--root", str(SHARED)]) == 0
    out = capsys.readouterr().out
    mnist_row = next(line for line in out.splitlines() if line.startswith("mnist "))
    assert " yes " in mnist_row and "test split, 10000 images" in mnist_row


def test_dataset_table_offline_on_empty_root(tmp_path):
    rows = list(data.dataset_table(tmp_path))
    assert rows[0] == f"data root: {tmp_path}"
    mnist_row = next(line for line in rows if line.startswith("mnist "))
    assert " no " in mnist_row
    names = {line.split()[0] for line in rows[2:]}
    assert {"digits", "mnist", "fashion-mnist", "cifar10", "stl10", "shapes", "folder:PATH", "mosaic",
            "scenes", "segfolder:PATH"} <= names
    assert not (tmp_path / "MNIST").exists()  # checking downloads nothing and creates nothing


# ---------------------------------------------------------------------------------------------------
# the package layout
# ---------------------------------------------------------------------------------------------------
def test_old_public_names_are_still_exported():
    names = ["DOWNLOAD_TIMEOUT_S", "ImageSet", "SegmentationSet", "subset_indices", "read_idx", "read_image",
             "read_mask", "MOSAIC_TEXTURES", "MOSAIC_DEFAULTS", "make_mosaic", "SHAPE_NAMES",
             "SHAPES_DEFAULTS", "SCENES_DEFAULTS", "shape_mask", "make_shape_image", "make_scene", "load",
             "load_segmentation",
             "dataset_names", "dataset_status", "dataset_table"]
    assert not [n for n in names if not hasattr(data, n)]
    assert data.dataset_names() == ["digits", "mnist", "fashion-mnist", "cifar10", "stl10",
                                    "mnist-imbalanced", "coil20", "shapes", "folder:PATH"]


def test_module_docstrings_name_their_notebooks():
    import importlib

    for name in ("sets", "builtin", "generated", "folders", "catalog"):
        module = importlib.import_module(f"tutorial_lib.data.{name}")
        assert "notebook 0" in module.__doc__, name
    assert "notebook 00_overview" in data.__doc__


def test_loaders_leave_the_global_rng_alone():
    import random

    before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    data.load("digits", limit=50, seed=1)
    data.load("shapes", n=10, size=16, seed=2)
    data.load_segmentation("mosaic", n=2, size=32, seed=3)
    assert torch.equal(before[0], torch.get_rng_state())
    assert np.array_equal(before[1], np.random.get_state()[1]) and before[2] == random.getstate()
