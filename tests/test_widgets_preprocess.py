"""Tests for the preprocessing panels in tutorial_lib.widgets: the plain callbacks, and the panels
driven through their controls as a user would."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from skimage import data  # noqa: E402

from tutorial_lib import preprocess as pp  # noqa: E402
from tutorial_lib import widgets as W  # noqa: E402

PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def camera() -> torch.Tensor:
    """scikit-image's camera, 128x128, shape (1, 128, 128)."""
    return torch.tensor(data.camera()[::4, ::4] / 255.0, dtype=torch.float32)[None]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --- denoise ---------------------------------------------------------------------------------------

def test_denoise_view_computes_and_draws(camera):
    r = W.denoise_view(camera, noise="gaussian", level=0.1, method="tv", seed=0)
    assert r["clean"].shape == r["noisy"].shape == r["denoised"].shape == (1, 1, 128, 128)
    assert r["params"] == {"weight": 0.1}
    assert r["psnr"] > r["psnr_noisy"] and r["ssim"] > r["ssim_noisy"]
    assert r["psnr_noisy"] == pytest.approx(float(pp.psnr(r["clean"], r["noisy"])[0]))
    assert len(r["figure"].axes) == 3 and "PSNR" in r["summary"]
    again = W.denoise_view(camera, noise="gaussian", level=0.1, method="tv", seed=0, draw=False)
    assert again["figure"] is None and again["psnr"] == r["psnr"]
    other = W.denoise_view(camera, noise="gaussian", level=0.1, method="tv", seed=1, draw=False)
    assert other["psnr_noisy"] != r["psnr_noisy"]


@pytest.mark.parametrize("method", sorted(W.DENOISE_PARAMS))
def test_denoise_view_every_filter_helps_at_its_default(method, camera):
    noise = "salt_pepper" if method == "median" else "gaussian"
    r = W.denoise_view(camera, noise=noise, level=0.1, method=method, draw=False)
    assert r["psnr"] > r["psnr_noisy"]


def test_denoise_view_parameters(camera):
    assert W.denoise_view(camera, method="median", param=4.2, draw=False)["params"] == {"size": 5}
    weak = W.denoise_view(camera, method="gaussian", param=0.3, draw=False)
    strong = W.denoise_view(camera, method="gaussian", param=3.0, draw=False)
    assert weak["params"] == {"sigma": 0.3} and strong["ssim"] != weak["ssim"]
    with pytest.raises(ValueError, match="unknown denoiser"):
        W.denoise_view(camera, method="wiener")
    with pytest.raises(ValueError, match="one image"):
        W.denoise_view(torch.rand(2, 1, 8, 8))


def test_denoise_panel_follows_its_controls(camera, recwarn, capsys):
    panel = W.denoise_panel(camera)
    assert isinstance(panel, ipywidgets.VBox)
    assert set(panel.controls) == {"noise", "level", "method", "param", "seed"}
    assert bytes(panel.image.value).startswith(PNG) and "PSNR" in panel.status.value
    first_png, first = panel.image.value, panel.result
    panel.controls["level"].value = 0.3
    assert panel.result["psnr_noisy"] < first["psnr_noisy"]
    assert panel.image.value != first_png
    panel.controls["noise"].value = "salt_pepper"
    assert panel.result["noisy"].unique().numel() > 2
    seeded = panel.result["psnr_noisy"]
    panel.controls["seed"].value = 7
    assert panel.result["psnr_noisy"] != seeded
    # Choosing another filter resets the parameter slider to that filter's range and default.
    calls = []
    compute = panel.compute
    panel.compute = lambda **kw: calls.append(kw) or compute(**kw)
    panel.controls["method"].value = "gaussian"
    assert len(calls) == 1 and calls[0]["method"] == "gaussian" and calls[0]["param"] == 1.0
    slider = panel.controls["param"]
    assert slider.description == "sigma" and (slider.min, slider.max) == (0.2, 3.0)
    assert panel.result["params"] == {"sigma": 1.0}
    slider.value = 2.0
    assert panel.result["params"] == {"sigma": 2.0}
    assert panel.values()["param"] == 2.0
    assert not recwarn.list and capsys.readouterr() == ("", "")


# --- contrast --------------------------------------------------------------------------------------

def test_contrast_view(camera):
    dull = 0.4 + 0.2 * camera
    for method in W.CONTRAST_PARAMS:
        r = W.contrast_view(dull, method=method, draw=False)
        assert r["enhanced"].shape == (1, 1, 128, 128) and r["figure"] is None
    assert W.contrast_view(dull, "equalize_hist", draw=False)["std_after"] > 2 * dull.std()
    assert W.contrast_view(dull, "clahe", draw=False)["std_after"] > 2 * dull.std()
    bright = W.contrast_view(dull, "gamma", param=0.5, draw=False)
    assert bright["mean_after"] > bright["mean_before"] and bright["params"] == {"gamma": 0.5}
    assert W.contrast_view(dull, "equalize_hist", param=31.6, draw=False)["params"] == {"nbins": 32}
    drawn = W.contrast_view(camera, "clahe")
    assert len(drawn["figure"].axes) == 4 and "RMS contrast" in drawn["summary"]
    with pytest.raises(ValueError, match="unknown contrast"):
        W.contrast_view(camera, "retinex")


def test_contrast_panel_follows_its_controls(camera, recwarn, capsys):
    panel = W.contrast_panel(camera, method="gamma")
    assert set(panel.controls) == {"method", "param"}
    assert panel.result["params"] == {"gamma": 0.5}
    panel.controls["param"].value = 2.0
    assert panel.result["mean_after"] < panel.result["mean_before"]
    panel.controls["method"].value = "clahe"
    assert panel.result["params"] == {"clip_limit": 0.01}
    assert panel.controls["param"].description == "clip_limit"
    png = panel.image.value
    panel.controls["param"].value = 0.05
    assert panel.result["params"] == {"clip_limit": 0.05} and panel.image.value != png
    assert not recwarn.list and capsys.readouterr() == ("", "")


def test_panel_hold_batches_updates(camera):
    panel = W.contrast_panel(camera, method="gamma")
    calls = []
    compute = panel.compute
    panel.compute = lambda **kw: calls.append(kw) or compute(**kw)
    with panel.hold():
        panel.controls["param"].value = 1.5
        panel.controls["param"].value = 2.5
    assert len(calls) == 1 and panel.result["params"] == {"gamma": 2.5}
