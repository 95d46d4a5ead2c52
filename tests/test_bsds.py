"""Tests for the BSDS500 loader (on a tiny fake release written with scipy), the nuclei set's message,
the region benchmark of a method (evaluation.regions) and ``bench segmentation --data bsds500:val``."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from tutorial_lib import data
from tutorial_lib.__main__ import main
from tutorial_lib.data import bsds
from tutorial_lib.evaluation.regions import SWEEPS, evaluate_regions

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared_bsds = pytest.mark.skipif(not (SHARED / "BSDS500" / "data" / "images" / "val").is_dir(),
                                       reason=f"BSDS500 not found in {SHARED}")


def _photo_and_truths(height: int, width: int, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """A photo of two flat colours (left, right) and three human maps, labels from 1 as the release's."""
    rng = np.random.default_rng(seed)
    left = np.zeros((height, width), bool)
    left[:, : width // 2] = True
    photo = np.where(left[..., None], [200, 40, 40], [30, 60, 190]) + rng.normal(0, 3, (height, width, 3))
    halves = np.where(left, 1, 2)
    finer = halves.copy()
    finer[: height // 2][~left[: height // 2]] = 5  # the right half cut in two; labels 1, 2, 5
    return np.clip(photo, 0, 255).astype(np.uint8), [halves, finer, np.ones((height, width), np.int64)]


def write_release(base: Path, split: str = "val", sizes=((24, 32), (32, 24))) -> list[str]:
    """A fake BSDS500 split under ``base`` (``.../data``): JPEG photos, .mat files shaped as the release's."""
    names = []
    for k, (h, w) in enumerate(sizes):
        name = f"{1000 + k}"
        photo, truths = _photo_and_truths(h, w, k)
        (base / "images" / split).mkdir(parents=True, exist_ok=True)
        (base / "groundTruth" / split).mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo).save(base / "images" / split / f"{name}.jpg", quality=95)
        cells = np.empty((1, len(truths)), dtype=object)
        for a, seg in enumerate(truths):
            cells[0, a] = {"Segmentation": seg.astype(np.uint16), "Boundaries": np.zeros(seg.shape, bool)}
        savemat(base / "groundTruth" / split / f"{name}.mat", {"groundTruth": cells})
        names.append(name)
    return names


def test_the_loader_reads_the_release_layout(tmp_path):
    names = write_release(tmp_path / "BSDS500" / "data")
    ds = data.load_segmentation("bsds500:val", root=tmp_path)
    assert ds.name == "bsds500-val" and len(ds) == 2
    assert [Path(p).stem for p in ds.paths] == names and all(Path(p).is_absolute() for p in ds.paths)
    assert [tuple(im.shape) for im in ds.images] == [(3, 24, 32), (3, 32, 24)]  # landscape and portrait
    for image, mask, stack in zip(ds.images, ds.masks, ds.annotations, strict=True):
        assert image.dtype == torch.float32 and 0 <= float(image.min()) and float(image.max()) <= 1
        assert mask.dtype == torch.int64 and stack.dtype == torch.int64
        assert stack.shape == (3, *image.shape[1:])
        assert torch.equal(mask, stack[0])  # masks: the first annotator
        # each annotator relabelled 0..K-1: halves (1, 2) -> (0, 1); the finer map (1, 2, 5) -> (0, 1, 2)
        assert [sorted(torch.unique(m).tolist()) for m in stack] == [[0, 1], [0, 1, 2], [0]]
    red = ds.images[0][:, :, :16].mean(dim=(1, 2))
    assert red[0] > 0.7 and red[2] < 0.25  # read as stored (RGB), colours where the maps put them
    assert ds.classes == ["0", "1"]


def test_subsets_keep_the_annotations_in_step(tmp_path):
    write_release(tmp_path / "BSR" / "BSDS500" / "data")  # the archive's own layout works too
    ds = data.load_segmentation("bsds500:val", root=tmp_path, limit=1, seed=3)
    assert len(ds) == 1 and len(ds.annotations) == 1 and ds.annotations[0].shape[1:] == ds.masks[0].shape
    full = data.load_bsds500("val", root=tmp_path)
    part = full.subset([1])
    assert part.paths == full.paths[1:] and torch.equal(part.annotations[0], full.annotations[1])
    with pytest.raises(ValueError, match="one stack per image"):
        data.SegmentationSet(full.images, full.masks, annotations=full.annotations[:1])


def test_a_missing_split_says_which_archive_to_unpack_where(tmp_path):
    write_release(tmp_path / "BSDS500" / "data", split="train")
    with pytest.raises(FileNotFoundError) as err:
        data.load_segmentation("bsds500:val", root=tmp_path, download=False)
    message = str(err.value)
    assert "BSR_bsds500.tgz" in message and bsds.BSDS_URL in message and str(tmp_path) in message
    assert "train" in message  # names the split that is there
    with pytest.raises(ValueError, match="splits train, val, test"):
        data.load_segmentation("bsds500:validation", root=tmp_path)
    # a photo whose .mat is missing: named, with the archive to unpack again
    (tmp_path / "BSDS500" / "data" / "groundTruth" / "train" / "1000.mat").unlink()
    with pytest.raises(FileNotFoundError, match="1000"):
        data.load_segmentation("bsds500:train", root=tmp_path)


def _archive(tmp_path: Path) -> bytes:
    """A fake BSR_bsds500.tgz: BSR/BSDS500/data/... plus bench code that must not be unpacked."""
    source = tmp_path / "source"
    write_release(source / "BSR" / "BSDS500" / "data", split="test")
    (source / "BSR" / "bench").mkdir(parents=True)
    (source / "BSR" / "bench" / "evaluation_reg_image.m").write_text("% not data\n")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(source / "BSR", arcname="BSR")
    return buffer.getvalue()


def test_an_archive_in_the_data_root_is_unpacked_without_going_online(tmp_path, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    (root / "BSR_bsds500.tgz").write_bytes(_archive(tmp_path))
    monkeypatch.setattr(bsds.urllib.request, "urlopen", lambda *a, **k: pytest.fail("went online"))
    ds = data.load_segmentation("bsds500:test", root=root, download=False)
    assert len(ds) == 2 and ds.annotations[0].shape[0] == 3
    assert (root / "BSR" / "BSDS500" / "data" / "images" / "test").is_dir()
    assert not (root / "BSR" / "bench").exists()  # only the data part is unpacked


def test_online_the_archive_is_downloaded_and_a_failure_says_what_to_do(tmp_path, monkeypatch):
    payload = _archive(tmp_path)
    seen = []

    def fake_urlopen(url, timeout):
        seen.append((url, timeout))
        return io.BytesIO(payload)

    monkeypatch.setattr(bsds.urllib.request, "urlopen", fake_urlopen)
    ds = data.load_segmentation("bsds500:test", root=tmp_path / "online")
    assert len(ds) == 2 and seen == [(bsds.BSDS_URL, data.DOWNLOAD_TIMEOUT_S)]
    assert (tmp_path / "online" / "BSR_bsds500.tgz").is_file()

    class Broken(io.BytesIO):  # the connection drops after the first bytes
        def read(self, *args):
            if self.tell():
                raise OSError("Network is unreachable")
            return super().read(10)

    monkeypatch.setattr(bsds.urllib.request, "urlopen", lambda url, timeout: Broken(payload))
    with pytest.raises(FileNotFoundError, match="archive failed: OSError: Network is unreachable"):
        data.load_segmentation("bsds500:val", root=tmp_path / "offline")
    assert list((tmp_path / "offline").iterdir()) == []  # no half-written archive is kept


def test_the_nuclei_set_says_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        data.load_segmentation("nuclei", root=tmp_path)
    message = str(err.value)
    assert "BBBC038" in message and "stage1_train" in message and data.NUCLEI_URL in message
    assert str(tmp_path / "nuclei" / "images") in message and "masks" in message
    for folder in ("images", "masks"):
        (tmp_path / "nuclei" / folder).mkdir(parents=True)
    for k in range(2):
        photo = Image.fromarray(np.full((8, 10, 3), 40 * k, np.uint8))
        photo.save(tmp_path / "nuclei" / "images" / f"{k}.png")
        mask = np.zeros((8, 10), np.uint8)
        mask[2:5, 3:7] = 1
        Image.fromarray(mask).save(tmp_path / "nuclei" / "masks" / f"{k}.png")
    ds = data.load_segmentation("nuclei", root=tmp_path)
    assert len(ds) == 2 and ds.classes == ["0", "1"] and int(ds.masks[0].sum()) == 12


def test_dataset_status_lists_bsds500_and_nuclei(tmp_path):
    rows = {r["name"]: r for r in data.dataset_status(tmp_path)}
    assert rows["bsds500:SPLIT"]["available"] is False
    assert "BSR_bsds500.tgz" in rows["bsds500:SPLIT"]["details"]
    assert rows["nuclei"]["available"] is False and "BBBC038" in rows["nuclei"]["details"]
    write_release(tmp_path / "BSDS500" / "data")
    row = {r["name"]: r for r in data.dataset_status(tmp_path)}["bsds500:SPLIT"]
    assert row["available"] is True
    assert "val 2 photos" in row["details"] and "test split missing" in row["details"]


@needs_shared_bsds
def test_the_real_release_here():
    ds = data.load_segmentation("bsds500:val", root=SHARED, limit=3)
    for image, stack in zip(ds.images, ds.annotations, strict=True):
        assert tuple(image.shape[1:]) in {(321, 481), (481, 321)}
        assert 4 <= stack.shape[0] <= 9 and stack.shape[1:] == image.shape[1:]


# --- the region benchmark of a method --------------------------------------------------------------
def test_evaluate_regions_sweeps_the_scale_and_scores_every_annotator(tmp_path):
    write_release(tmp_path / "BSDS500" / "data")
    merged = evaluate_regions("bsds500:val", root=tmp_path, method="rag-merge", progress=False)
    assert merged["settings"] == list(SWEEPS["rag-merge"][1]) and merged["parameter"] == "threshold"
    # the best setting per photo is never worse than the best single setting (VOI: lower is better)
    assert merged["covering_ods"] <= merged["covering_ois"] and merged["pri_ods"] <= merged["pri_ois"]
    assert merged["voi_ods"] >= merged["voi_ois"]
    # the two colour halves are the first annotator's map; the others disagree with it, so even a perfect
    # split of the halves cannot reach 1
    assert 0.5 < merged["covering_ods"] < 1 and merged["mean_segments"] >= 1
    assert merged["seconds_per_image"] == merged["sweep_seconds_per_image"]  # one tree, every cut
    otsu = evaluate_regions("bsds500:val", root=tmp_path, method="otsu", progress=False)
    assert otsu["settings"] == [None] and otsu["covering_ods"] == otsu["covering_ois"]
    fh = evaluate_regions("bsds500:val", root=tmp_path, method="felzenszwalb", settings=[50, 5000],
                          progress=False)
    assert fh["settings"] == [50, 5000] and fh["seconds_per_image"] < fh["sweep_seconds_per_image"]
    with pytest.raises(ValueError, match="unknown segmentation method"):
        evaluate_regions("bsds500:val", root=tmp_path, method="nope")


def test_evaluate_regions_with_auto_sweeps_the_method_it_picks(tmp_path, monkeypatch):
    from tutorial_lib.segment import auto

    write_release(tmp_path / "BSDS500" / "data")
    picked = []  # the fake photos are two flat halves (two-toned); make the rule pick the photo method

    def photo_method(stats, *thresholds):
        picked.append(stats)
        return "rag-merge"

    monkeypatch.setattr(auto, "choose_method", photo_method)
    result = evaluate_regions("bsds500:val", root=tmp_path, method="auto", progress=False)
    direct = evaluate_regions("bsds500:val", root=tmp_path, method="rag-merge", progress=False)
    assert result["method"] == "auto" and result["chosen_method"] == "rag-merge"
    assert len(picked) == 1 and len(picked[0]["two_tone"]) == 2  # one choice, on both photos
    assert result["parameter"] == "threshold" and result["covering_ods"] == direct["covering_ods"]
    assert 0 <= result["two_tone_mean"] < 0.65  # what the real rule would have read: two-toned


def test_bench_segmentation_on_bsds500_writes_the_region_table(tmp_path, capsys):
    write_release(tmp_path / "BSDS500" / "data")
    out = tmp_path / "results"
    assert main(["bench", "segmentation", "--data", "bsds500:val", "--root", str(tmp_path), "--limit", "2",
                 "--methods", "otsu", "rag-merge", "--out", str(out)]) == 0
    table = (out / "segmentation_bsds500_val.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| method"))
    for column in ("covering_ods", "covering_ois", "pri_ods", "pri_ois", "voi_ods", "voi_ois",
                   "seconds_per_image"):
        assert column in header
    assert "| rag-merge |" in table and "threshold=" in table and "ODS" in table
    payload = json.loads((out / "segmentation_bsds500_val.json").read_text())
    assert payload["seeds"] == [0]  # one seed by default for the region benchmark
    assert payload["runs"]["rag-merge"][0]["n_images"] == 2
    assert "covering_ods" in capsys.readouterr().out
