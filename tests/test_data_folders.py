"""Tests for the user's folders (tutorial_lib.data.folders and .reading): file paths that travel with the
data, the size and channel rules of ``folder:``, reading one picture at a time, EXIF orientation, and
folders that would mislead (empty or looping class folders, two images for one mask, JPEG masks)."""

from __future__ import annotations

import os
import warnings
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tutorial_lib import data
from tutorial_lib.data import folders


def save(path: Path, array: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def grey_digits(folder: Path, per_class: int = 3, side: int = 28) -> Path:
    """``folder/<digit>/<i>.png``: grey side×side images, two classes."""
    rng = np.random.default_rng(0)
    for c in ("0", "1"):
        for i in range(per_class):
            save(folder / c / f"{i}.png", rng.integers(0, 256, (side, side)).astype(np.uint8))
    return folder


def quiet_load(name: str, **options):
    """data.load with warnings recorded (returned) and the report line collected (returned)."""
    lines: list[str] = []
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ds = data.load(name, report=lines.append, **options)
    return ds, [str(w.message) for w in record], lines


# ---------------------------------------------------------------------------------------------------
# 14.1: paths travel with the data
# ---------------------------------------------------------------------------------------------------
def test_folder_paths_name_each_image_through_skipped_files_and_limit(tmp_path):
    folder = grey_digits(tmp_path / "digits", per_class=4)
    (folder / "0" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)  # skipped with a warning
    full, messages, _ = quiet_load(f"folder:{folder}")
    assert any("bad.png" in m for m in messages)
    assert len(full.paths) == len(full) == 8
    assert all(Path(p).is_absolute() and "bad.png" not in p for p in full.paths)
    for image, label, path in zip(full.images, full.labels, full.paths, strict=True):
        assert Path(path).parent.name == full.classes[label]
        assert torch.equal(image[0], torch.from_numpy(data.read_image(path)[..., 0]))  # the file's pixels
    small, messages, _ = quiet_load(f"folder:{folder}", limit=3, seed=1)
    assert len(small.paths) == len(small) == 3 - any("bad.png" in m for m in messages)
    for image, label, path in zip(small.images, small.labels, small.paths, strict=True):
        j = full.paths.index(path)
        assert torch.equal(image, full.images[j]) and label == full.labels[j]


def test_subset_keeps_paths_labels_and_images_in_step(tmp_path):
    ds, _, _ = quiet_load(f"folder:{grey_digits(tmp_path / 'd')}")
    part = ds.subset([4, 0, 2])
    assert part.paths == [ds.paths[4], ds.paths[0], ds.paths[2]]
    assert torch.equal(part.images, ds.images[[4, 0, 2]])
    assert part.labels.tolist() == ds.labels[[4, 0, 2]].tolist()
    assert part.classes == ds.classes and part.note == ds.note
    with pytest.raises(ValueError, match="one file per item"):
        data.ImageSet(ds.images, ds.labels, ds.classes, "x", paths=ds.paths[:2])


def test_builtin_and_generated_sets_have_no_paths():
    assert data.load("digits", limit=20).paths is None
    assert data.load("shapes", n=10, size=16).paths is None
    assert data.load_segmentation("mosaic", n=2, size=32).paths is None
    assert data.load("digits").subset([0, 1]).paths is None


def test_segfolder_paths_follow_skipped_files_and_subsets(tmp_path):
    rng = np.random.default_rng(0)
    for stem in ("a", "b", "c", "d"):
        save(tmp_path / "seg" / "images" / f"{stem}.png", rng.integers(0, 256, (12, 12)).astype(np.uint8))
        save(tmp_path / "seg" / "masks" / f"{stem}.png", (rng.random((12, 12)) > 0.5).astype(np.uint8))
    (tmp_path / "seg" / "images" / "b.png").write_bytes(b"")
    with pytest.warns(UserWarning, match="b.png"):
        ds = data.load_segmentation(f"segfolder:{tmp_path / 'seg'}")
    assert [Path(p).name for p in ds.paths] == ["a.png", "c.png", "d.png"]
    for mask, path in zip(ds.masks, ds.paths, strict=True):
        mask_file = Path(path).parents[1] / "masks" / Path(path).name
        assert torch.equal(mask, torch.from_numpy(data.read_mask(mask_file)))
    part = ds.subset([2, 0])
    assert [Path(p).name for p in part.paths] == ["d.png", "a.png"]
    assert torch.equal(part.masks[0], ds.masks[2])


# ---------------------------------------------------------------------------------------------------
# 14.2: the folder loader keeps what the images are
# ---------------------------------------------------------------------------------------------------
def test_same_size_grey_folder_loads_at_its_size_in_one_channel(tmp_path, capsys):
    folder = grey_digits(tmp_path / "digits")
    ds = data.load(f"folder:{folder}")
    assert ds.images.shape == (6, 1, 28, 28) and ds.images.dtype == torch.float32
    first = np.asarray(Image.open(ds.paths[0]), dtype=np.float32) / 255
    assert torch.equal(ds.images[0, 0], torch.from_numpy(first))  # no resampling at all
    printed = capsys.readouterr().out.splitlines()
    assert printed == [ds.note]  # reported once, one line
    assert "6 images" in ds.note and "28×28" in ds.note and "grey" in ds.note and "6×1×28×28" in ds.note


def test_same_size_colour_folder_keeps_size_and_three_channels(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(3):
        save(tmp_path / "c" / f"{i}.png", rng.integers(0, 256, (20, 30, 3)).astype(np.uint8))
    ds, _, lines = quiet_load(f"folder:{tmp_path / 'c'}")
    assert ds.images.shape == (3, 3, 20, 30) and ds.labels is None
    assert len(lines) == 1 and "colour" in lines[0] and "20×30" in lines[0]


def test_grey_pictures_stored_as_rgb_are_grey_and_one_colour_picture_makes_all_colour(tmp_path):
    grey = np.repeat(np.arange(16 * 16, dtype=np.uint8).reshape(16, 16)[..., None], 3, axis=2)
    save(tmp_path / "f" / "a.png", grey)  # an RGB file holding a grey picture
    save(tmp_path / "f" / "b.png", grey[..., 0])
    ds, _, _ = quiet_load(f"folder:{tmp_path / 'f'}")
    assert ds.images.shape == (2, 1, 16, 16)
    colour = grey.copy()
    colour[0, 0] = (255, 0, 0)
    save(tmp_path / "f" / "c.png", colour)  # sorted last: the grey rows read before it get three channels
    ds, _, lines = quiet_load(f"folder:{tmp_path / 'f'}")
    assert ds.images.shape == (3, 3, 16, 16) and "colour" in lines[0]
    assert torch.equal(ds.images[0, 0], ds.images[0, 2]) and torch.equal(ds.images[0], ds.images[1])
    assert ds.images[2, :, 0, 0].tolist() == [1.0, 0.0, 0.0]


def test_mixed_sizes_are_fitted_to_the_default_size_and_an_explicit_size_wins(tmp_path):
    rng = np.random.default_rng(2)
    save(tmp_path / "m" / "a.png", rng.integers(0, 256, (30, 50, 3)).astype(np.uint8))
    save(tmp_path / "m" / "b.png", rng.integers(0, 256, (40, 40, 3)).astype(np.uint8))
    ds, _, lines = quiet_load(f"folder:{tmp_path / 'm'}")
    side = folders.DEFAULT_SIZE
    assert side == 64 and ds.images.shape == (2, 3, side, side)
    assert "2 sizes" in lines[0] and f"{side}×{side}" in lines[0] and "size=" in lines[0]
    ds, _, lines = quiet_load(f"folder:{tmp_path / 'm'}", size=(12, 20))
    assert ds.images.shape == (2, 3, 12, 20) and "size=(12, 20)" in lines[0]
    digits, _, _ = quiet_load(f"folder:{grey_digits(tmp_path / 'd')}", size=16)  # same-size folder too
    assert digits.images.shape == (6, 1, 16, 16)


def test_channels_option_forces_one_or_three(tmp_path):
    digits = grey_digits(tmp_path / "d")
    three, _, lines = quiet_load(f"folder:{digits}", channels=3)
    assert three.images.shape == (6, 3, 28, 28) and torch.equal(three.images[:, 0], three.images[:, 2])
    assert "channels=3" in lines[0]
    rgb = np.random.default_rng(3).integers(0, 256, (10, 10, 3)).astype(np.uint8)
    save(tmp_path / "c" / "a.png", rgb)
    one, _, _ = quiet_load(f"folder:{tmp_path / 'c'}", channels=1)
    luma = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32) / 255  # Pillow's own grey
    assert one.images.shape == (1, 1, 10, 10) and np.abs(one.images[0, 0].numpy() - luma).max() <= 1 / 255
    with pytest.raises(ValueError, match="channels must be"):
        data.load(f"folder:{digits}", channels=2)


def test_report_none_keeps_quiet_and_note_is_kept(tmp_path, capsys):
    ds = data.load(f"folder:{grey_digits(tmp_path / 'd')}", report=None)
    assert capsys.readouterr().out == "" and "28×28" in ds.note


# ---------------------------------------------------------------------------------------------------
# 14.2 and 14.7: large pictures are shrunk to the largest working side, one picture at a time
# ---------------------------------------------------------------------------------------------------
def test_large_same_size_pictures_are_shrunk_one_at_a_time(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    for i in range(12):
        save(tmp_path / "big" / f"{i:02d}.png", rng.integers(0, 256, (40, 60, 3)).astype(np.uint8))
    monkeypatch.setattr(folders, "MAX_SIDE", 32)  # 40×60 is "large" here: longer side over 32
    alive: list[weakref.ref] = []
    peak = [0]
    real = folders.read_image

    def counting_reader(path):  # full-size decoded pictures still alive when each new one is decoded
        pixels = real(path)
        alive.append(weakref.ref(pixels))
        peak[0] = max(peak[0], sum(ref() is not None for ref in alive))
        return pixels

    monkeypatch.setattr(folders, "read_image", counting_reader)
    ds, _, lines = quiet_load(f"folder:{tmp_path / 'big'}")
    assert ds.images.shape == (12, 3, 21, 32)  # aspect kept: 40×60 -> 21×32
    assert "shrunk" in lines[0] and "MAX_SIDE = 32" in lines[0]
    assert len(alive) == 12 and peak[0] == 1  # never two full-size pictures at once, let alone all twelve
    assert all(ref() is None for ref in alive)  # the result holds none of them
    assert folders.MAX_SIDE == 32 and abs(float(ds.images.mean()) - 0.5) < 0.05


def test_same_size_grey_pictures_are_copied_not_kept(tmp_path, monkeypatch):
    """At their own size nothing is resized: the result must still copy each picture, not keep it."""
    folder = grey_digits(tmp_path / "d", per_class=5)
    alive: list[weakref.ref] = []
    real = folders.read_image

    def counting_reader(path):
        pixels = real(path)
        assert all(ref() is None for ref in alive), "an earlier picture is still alive"
        alive.append(weakref.ref(pixels))
        return pixels

    monkeypatch.setattr(folders, "read_image", counting_reader)
    ds, _, _ = quiet_load(f"folder:{folder}")
    assert ds.images.shape == (10, 1, 28, 28) and len(alive) == 10


# ---------------------------------------------------------------------------------------------------
# 15.6: pictures as a viewer shows them; class folders that loop
# ---------------------------------------------------------------------------------------------------
def exif_rotated_jpeg(path: Path) -> np.ndarray:
    """A 20×40 (H×W) JPEG stored with EXIF orientation 6 (shown turned 90° clockwise, as 40×20); its
    top-left quarter is white. Returns the stored pixels."""
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:10, :20] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    save(path, stored, exif=exif, quality=95)
    return stored


def test_exif_orientation_is_applied_when_reading(tmp_path):
    exif_rotated_jpeg(tmp_path / "photo.jpg")
    shown = data.read_image(tmp_path / "photo.jpg")
    assert shown.shape == (40, 20, 3)  # as shown, not as stored (20, 40)
    assert shown[:20, 10:].mean() > 0.9 and shown[:20, :10].mean() < 0.1  # the white corner is top-right
    assert shown[20:].mean() < 0.1
    exif_rotated_jpeg(tmp_path / "mask.jpg")
    assert data.read_mask(tmp_path / "mask.jpg").shape == (40, 20)


def test_folder_of_exif_rotated_photos_loads_them_as_shown(tmp_path):
    for i in range(2):
        exif_rotated_jpeg(tmp_path / "photos" / f"{i}.jpg")
    ds, _, lines = quiet_load(f"folder:{tmp_path / 'photos'}")
    assert ds.images.shape[-2:] == (40, 20) and "40×20" in lines[0]
    assert float(ds.images[0, :, :20, 10:].mean()) > 0.9


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links here")
def test_class_folders_that_loop_or_repeat_are_not_classes(tmp_path):
    folder = grey_digits(tmp_path / "pets")
    (folder / "loop").symlink_to(folder, target_is_directory=True)  # the folder itself
    (folder / "up").symlink_to(tmp_path, target_is_directory=True)  # a folder above it
    (folder / "again").symlink_to(folder / "0", target_is_directory=True)  # a second name for class 0
    (folder / "dangling").symlink_to(tmp_path / "nowhere")
    (folder / "l1").symlink_to(folder / "l2")
    (folder / "l2").symlink_to(folder / "l1")  # a loop of links
    ds, messages, _ = quiet_load(f"folder:{folder}")
    assert ds.classes == ["0", "1"] and len(ds) == 6 and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    for name in ("loop", "up", "again", "dangling", "l1", "l2"):
        assert sum(f"{folder / name}:" in m for m in messages) == 1, name
    assert any("loop" in m and "not a class" in m for m in messages)


# ---------------------------------------------------------------------------------------------------
# 15.3: empty class folders, two images for one mask, JPEG masks
# ---------------------------------------------------------------------------------------------------
def test_empty_class_folders_are_not_classes(tmp_path):
    folder = grey_digits(tmp_path / "pets")
    (folder / "empty").mkdir()
    (folder / "nested" / "deeper").mkdir(parents=True)
    save(folder / "nested" / "deeper" / "x.png", np.zeros((28, 28), np.uint8))
    (folder / "unreadable").mkdir()
    (folder / "unreadable" / "notes.txt").write_text("not an image")
    ds, messages, _ = quiet_load(f"folder:{folder}")
    assert ds.classes == ["0", "1"] and sorted(ds.labels.unique().tolist()) == [0, 1]
    assert any(str(folder / "empty") in m and "not counted as a class" in m for m in messages)
    assert any(str(folder / "nested") in m and "only subfolders" in m for m in messages)
    assert any(str(folder / "unreadable") in m and "none of its 1 file" in m for m in messages)
    # an empty class sorted first must not shift the others' labels
    (folder / "0" / "0.png").rename(folder / "a0.png")
    for f in (folder / "0").iterdir():
        f.unlink()
    ds, _, _ = quiet_load(f"folder:{folder}")
    assert ds.classes == ["1"] and ds.labels.tolist() == [0, 0, 0]


def binary_segfolder(folder: Path, mask_name: str = "a.png") -> Path:
    rng = np.random.default_rng(0)
    save(folder / "images" / "a.png", rng.integers(0, 256, (32, 32, 3)).astype(np.uint8))
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 5:20] = 255
    save(folder / "masks" / mask_name, mask)
    return folder


def test_jpeg_masks_are_refused_naming_the_file_and_the_fix(tmp_path):
    folder = binary_segfolder(tmp_path / "seg", mask_name="a.jpg")
    with pytest.raises(ValueError, match=r"(?s)a\.jpg.*JPEG.*losslessly \(PNG"):
        data.load_segmentation(f"segfolder:{folder}")
    # a JPEG file named .png is found by its content
    (folder / "masks" / "a.jpg").rename(folder / "masks" / "a.png")
    with pytest.raises(ValueError, match=r"a\.png.*JPEG"):
        data.load_segmentation(f"segfolder:{folder}")


def test_lossless_masks_still_load(tmp_path):
    folder = binary_segfolder(tmp_path / "seg")
    ds = data.load_segmentation(f"segfolder:{folder}")
    assert ds.classes == ["0", "255"] and int(ds.masks[0].sum()) == 16 * 15


def test_two_images_with_one_stem_are_refused_naming_both(tmp_path):
    folder = binary_segfolder(tmp_path / "seg")
    save(folder / "images" / "a.jpg", np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match=r"(?s)a\.png and a\.jpg|a\.jpg and a\.png") as err:
        data.load_segmentation(f"segfolder:{folder}")
    assert "one file per stem" in str(err.value) and "images" in str(err.value)
    (folder / "images" / "a.jpg").unlink()
    save(folder / "masks" / "a.tif", np.zeros((32, 32), np.uint8))  # two masks for one image
    with pytest.raises(ValueError, match=r"(?s)masks.*a\.png and a\.tif"):
        data.load_segmentation(f"segfolder:{folder}")


def test_write_folder_round_trip(tmp_path):
    """A set written by data.write_folder loads back with the same shape, labels (by class folder) and
    pixels (to 1/255), grey as one channel."""
    from tutorial_lib import data

    ds = data.load("digits", limit=40, seed=0)
    paths = data.write_folder(ds, tmp_path / "digits")
    assert len(paths) == 40 and all(p.parent.name in ds.classes for p in paths)
    back = data.load(f"folder:{tmp_path / 'digits'}", report=None)
    assert back.images.shape == ds.images.shape
    order = [back.paths.index(str(p.resolve())) for p in paths]
    assert [back.classes[int(back.labels[j])] for j in order] == [ds.classes[int(c)] for c in ds.labels]
    assert torch.allclose(back.images[order], ds.images, atol=1 / 255 + 1e-6)


def test_write_folder_flat_and_refuses_two_channels(tmp_path):
    from tutorial_lib import data
    from tutorial_lib.data.sets import ImageSet

    ds = data.load("digits", limit=12, seed=0)
    paths = data.write_folder(ImageSet(ds.images, None), tmp_path / "flat")
    assert {p.parent for p in paths} == {tmp_path / "flat"}
    with pytest.raises(ValueError, match="1 or 3"):
        data.write_folder(ImageSet(torch.zeros(2, 2, 4, 4), None), tmp_path / "bad")
