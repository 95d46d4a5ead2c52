"""Tests for tutorial_lib.preprocess: shapes, ranges, dtypes, devices, seeds, and that each step
does what it claims (against scipy / scikit-image where they implement the same thing)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import color, data, exposure

from tutorial_lib import preprocess as pp
from tutorial_lib.base import InputError, NotFittedError

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def camera() -> torch.Tensor:
    """A real grey photo, 128x128 (every 4th pixel of scikit-image's camera), shape (1, 1, 128, 128)."""
    return torch.tensor(data.camera()[::4, ::4] / 255.0, dtype=torch.float32)[None, None]


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    """A real RGB photo at its own resolution, the astronaut's face: shape (1, 3, 128, 128)."""
    return torch.tensor(data.astronaut()[40:168, 180:308] / 255.0, dtype=torch.float32).permute(2, 0, 1)[None]


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    from sklearn.datasets import load_digits

    return torch.tensor(load_digits().images[:64] / 16.0, dtype=torch.float32)[:, None]


def _check_out(out, like, unit=True):
    assert out.shape == like.shape
    assert out.dtype == like.dtype
    assert out.device == like.device
    assert torch.isfinite(out).all()
    if unit:
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


# --- input checks ----------------------------------------------------------------------------------

def test_bad_inputs_give_clear_errors():
    # One exception type for bad images, base.InputError, a ValueError.
    assert issubclass(InputError, ValueError)
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        pp.gaussian_filter(torch.rand(8, 8))
    with pytest.raises(InputError, match="float"):
        pp.median_filter(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(InputError, match="tensor or array"):
        pp.add_noise([[0.0, 1.0]])
    with pytest.raises(InputError, match="NaN"):
        pp.equalize_hist(torch.full((1, 1, 4, 4), float("nan")))
    with pytest.raises(InputError, match="reference"):
        pp.psnr(torch.rand(4, 4), torch.rand(1, 1, 4, 4))


def test_numpy_images_are_accepted(digits):
    """Arrays go through base.check_images and come back as float32 tensors; tensors keep their dtype."""
    arr = digits.double().numpy()
    out = pp.add_noise(arr, "gaussian", 0.1, seed=0)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert torch.allclose(out, pp.add_noise(digits, "gaussian", 0.1, seed=0), atol=1e-6)
    assert pp.gaussian_filter(digits.double()).dtype == torch.float64
    assert pp.preset_for(arr) == "digits8"


# --- noise -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(pp.NOISE_MODELS))
@pytest.mark.parametrize("device", DEVICES)
def test_noise_shape_range_seed(kind, device, digits):
    x = digits.to(device)
    a = pp.add_noise(x, kind, 0.2, seed=1)
    _check_out(a, x)
    assert torch.equal(a, pp.add_noise(x, kind, 0.2, seed=1))
    assert not torch.equal(a, pp.add_noise(x, kind, 0.2, seed=2))
    assert not torch.equal(a, x)


@pytest.mark.parametrize("kind", sorted(pp.NOISE_MODELS))
def test_noise_same_on_any_device_and_dtype(kind, digits):
    a = pp.add_noise(digits, kind, 0.2, seed=3)
    b = pp.add_noise(digits.double(), kind, 0.2, seed=3)
    assert b.dtype == torch.float64
    assert torch.allclose(a.double(), b, atol=1e-6)


def test_noise_statistics():
    grey = torch.full((4, 1, 64, 64), 0.5)
    g = pp.add_gaussian_noise(grey, sigma=0.05, seed=0)
    assert abs(float((g - grey).std()) - 0.05) < 0.002
    sp = pp.add_salt_pepper_noise(grey, amount=0.1, seed=0)
    hit = (sp != 0.5).float().mean()
    assert abs(float(hit) - 0.1) < 0.01
    assert set(torch.unique(sp).tolist()) == {0.0, 0.5, 1.0}
    po = pp.add_poisson_noise(grey, peak=100.0, seed=0)
    assert abs(float(po.mean()) - 0.5) < 0.01
    assert abs(float(po.var()) - 0.5 / 100) < 0.001  # Poisson: variance = mean / peak
    # add_noise's Poisson level is the std at intensity 1.
    assert abs(float(pp.add_noise(grey, "poisson", 0.1, seed=0).std()) - 0.1 * 0.5**0.5) < 0.003


def test_noise_level_zero_and_errors(digits):
    out = pp.add_noise(digits, "gaussian", 0.0)
    assert torch.equal(out, digits) and out.data_ptr() != digits.data_ptr()
    with pytest.raises(ValueError, match="unknown noise"):
        pp.add_noise(digits, "speckle", 0.1)
    with pytest.raises(ValueError):
        pp.add_gaussian_noise(digits, sigma=-1)
    with pytest.raises(ValueError):
        pp.add_poisson_noise(digits, peak=0)


# --- denoising -------------------------------------------------------------------------------------

@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.5])
def test_gaussian_filter_matches_scipy(sigma, camera):
    ours = pp.gaussian_filter(camera.double(), sigma=sigma)[0, 0].numpy()
    ref = ndimage.gaussian_filter(camera[0, 0].double().numpy(), sigma=sigma, mode="nearest", truncate=4.0)
    assert np.abs(ours - ref).max() < 1e-10


@pytest.mark.parametrize("size", [3, 5])
def test_median_filter_matches_scipy(size, camera):
    ours = pp.median_filter(camera, size=size)[0, 0].numpy()
    ref = ndimage.median_filter(camera[0, 0].numpy(), size=size, mode="nearest")
    assert np.array_equal(ours, ref)


def test_filters_keep_constants_and_validate():
    flat = torch.full((2, 3, 10, 10), 0.3)
    assert torch.allclose(pp.gaussian_filter(flat, 1.5), flat)
    assert torch.equal(pp.median_filter(flat, 3), flat)
    with pytest.raises(ValueError, match="odd"):
        pp.median_filter(flat, size=4)
    with pytest.raises(ValueError, match="unknown denoiser"):
        pp.denoise(flat, "wiener")


@pytest.mark.parametrize("method", sorted(pp.DENOISERS))
@pytest.mark.parametrize("device", DEVICES)
def test_every_denoiser_shapes_devices_dtypes(method, device, digits, astronaut):
    for x in (digits[:8].to(device), astronaut.to(device), astronaut.double().to(device)):
        out = pp.denoise(x, method)
        _check_out(out, x)


@pytest.mark.parametrize("method", sorted(pp.DENOISERS))
@pytest.mark.parametrize("image", ["camera", "astronaut"])
def test_every_denoiser_improves_psnr_at_default(method, image, request):
    clean = request.getfixturevalue(image)
    # The median filter is the one meant for impulse noise; the others for Gaussian noise.
    kind, level = ("salt_pepper", 0.1) if method == "median" else ("gaussian", 0.1)
    noisy = pp.add_noise(clean, kind, level, seed=0)
    before = pp.psnr(clean, noisy)[0]
    after = pp.psnr(clean, pp.denoise(noisy, method))[0]
    assert after > before + 1.0, (method, before, after)


def test_estimate_noise_sigma():
    grey = torch.full((3, 1, 64, 64), 0.5)
    for sigma in (0.02, 0.1):
        est = pp.estimate_noise_sigma(pp.add_gaussian_noise(grey, sigma, seed=0))
        assert est.shape == (3,)
        assert torch.allclose(est, torch.full((3,), sigma), rtol=0.1)
    assert float(pp.estimate_noise_sigma(grey).max()) < 1e-6


def test_nl_means_explicit_parameters(camera):
    noisy = pp.add_noise(camera, "gaussian", 0.1, seed=0)
    weak = pp.nl_means_denoise(noisy, h=0.01, sigma=0.1)
    strong = pp.nl_means_denoise(noisy, h=0.1, sigma=0.1)
    # A stronger filter smooths more: it leaves less of the noise's high-frequency energy.
    assert float(pp.estimate_noise_sigma(strong)) < float(pp.estimate_noise_sigma(weak))


def test_tv_weight_controls_smoothing(camera):
    noisy = pp.add_noise(camera, "gaussian", 0.1, seed=0)
    light, heavy = pp.tv_denoise(noisy, 0.02), pp.tv_denoise(noisy, 0.3)
    assert float(pp.estimate_noise_sigma(heavy)) < float(pp.estimate_noise_sigma(light))
    with pytest.raises(ValueError):
        pp.tv_denoise(noisy, 0)


# --- contrast --------------------------------------------------------------------------------------

def test_equalize_hist_matches_skimage(camera, astronaut):
    ours = pp.equalize_hist(camera.double())[0, 0].numpy()
    assert np.abs(ours - exposure.equalize_hist(camera[0, 0].double().numpy())).max() < 1e-6
    rgb = astronaut[0].permute(1, 2, 0).double().numpy()
    hsv = color.rgb2hsv(rgb)
    hsv[..., 2] = exposure.equalize_hist(hsv[..., 2])
    ours = pp.equalize_hist(astronaut.double())[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - color.hsv2rgb(hsv)).max() < 1e-6


@pytest.mark.parametrize("device", DEVICES)
def test_contrast_steps_shapes_and_effect(device, camera, astronaut, digits):
    dull = (0.4 + 0.2 * camera).to(device)  # low contrast: values in [0.4, 0.6]
    for fn in (pp.equalize_hist, pp.clahe):
        out = fn(dull)
        _check_out(out, dull)
        assert float(out.std()) > 2 * float(dull.std())
        _check_out(fn(astronaut.to(device)), astronaut.to(device))
        _check_out(fn(digits[:4].to(device)), digits[:4].to(device))
    flat = torch.full((1, 1, 8, 8), 0.5, device=device)
    assert torch.equal(pp.equalize_hist(flat), flat) and torch.equal(pp.clahe(flat), flat)


def test_gamma():
    x = torch.linspace(0, 1, 11).view(1, 1, 1, 11)
    assert torch.allclose(pp.gamma_correct(x, 2.0), x**2)
    assert torch.allclose(pp.gamma_correct(x, 1.0), x)
    assert float(pp.gamma_correct(x, 0.5).mean()) > float(x.mean())
    with pytest.raises(ValueError):
        pp.gamma_correct(x, 0.0)


def test_clahe_validates():
    with pytest.raises(ValueError, match="clip_limit"):
        pp.clahe(torch.rand(1, 1, 16, 16), clip_limit=0)


# --- normalisation ---------------------------------------------------------------------------------

def test_standardize_per_image(digits):
    z = pp.standardize_per_image(digits)
    flat = z.reshape(len(z), -1)
    assert torch.allclose(flat.mean(1), torch.zeros(len(z)), atol=1e-5)
    assert torch.allclose(flat.std(1, unbiased=False), torch.ones(len(z)), atol=1e-4)
    assert torch.equal(pp.standardize_per_image(torch.full((1, 1, 4, 4), 0.7)), torch.zeros(1, 1, 4, 4))


@pytest.mark.parametrize("per,shape", [("channel", (3, 1, 1)), ("pixel", (3, 8, 8)), ("global", (1, 1, 1))])
def test_standardizer(per, shape):
    train = torch.rand(50, 3, 8, 8) * torch.tensor([1.0, 0.5, 0.2]).view(1, 3, 1, 1)
    st = pp.Standardizer(per=per).fit(train)
    assert st.mean_.shape == shape and st.std_.shape == shape
    z = st.transform(train)
    assert abs(float(z.mean())) < 1e-5
    axes = {"channel": (0, 2, 3), "pixel": (0,), "global": (0, 1, 2, 3)}[per]
    assert torch.allclose(z.std(dim=axes, unbiased=False), torch.ones(1), atol=1e-3)
    assert torch.allclose(st.inverse_transform(z), train, atol=1e-5)
    other = torch.rand(5, 3, 8, 8)
    assert torch.allclose(st.transform(other), (other - st.mean_.float()) / (st.std_.float() + st.eps))


def test_standardizer_errors():
    with pytest.raises(NotFittedError, match="fit"):
        pp.Standardizer().transform(torch.rand(2, 1, 4, 4))
    assert issubclass(NotFittedError, RuntimeError)
    st = pp.Standardizer().fit(torch.rand(4, 3, 4, 4))
    with pytest.raises(InputError, match="channels"):
        st.transform(torch.rand(2, 1, 4, 4))
    # Parameters are checked by fit (the estimator convention: __init__ only stores them).
    bad = pp.Standardizer(per="row")
    with pytest.raises(ValueError, match="per must be"):
        bad.fit(torch.rand(4, 3, 4, 4))


def test_zca_whitens_and_inverts(digits):
    zca = pp.ZCAWhitening(epsilon=1e-4).fit(digits)
    assert zca.whitening_.shape == (64, 64) and zca.mean_.shape == (64,)
    assert torch.allclose(zca.whitening_, zca.whitening_.T)  # zero-phase: the matrix is symmetric
    w = zca.transform(digits.double())
    flat = w.reshape(len(w), -1)
    cov = flat.T @ flat / (len(w) - 1)
    # Whitened covariance is U diag(l / (l + eps)) U^T: its eigenvalues are l / (l + eps).
    expected = zca.eigenvalues_ / (zca.eigenvalues_ + zca.epsilon)
    assert torch.allclose(torch.linalg.eigvalsh(cov).flip(0), expected, atol=1e-6)
    assert torch.allclose(zca.inverse_transform(w), digits.double(), atol=1e-8)
    out = zca.transform(digits)
    assert out.dtype == torch.float32 and out.shape == digits.shape


def test_zca_epsilon_and_errors(digits):
    strong = pp.ZCAWhitening(1e-3).fit_transform(digits)
    mild = pp.ZCAWhitening(1.0).fit_transform(digits)
    assert float(strong.std()) > float(mild.std())
    with pytest.raises(InputError, match="max_features"):
        pp.ZCAWhitening(max_features=32).fit(digits)
    with pytest.raises(InputError, match="shape"):
        pp.ZCAWhitening().fit(digits).transform(torch.rand(2, 1, 4, 4))
    with pytest.raises(NotFittedError, match="fit"):
        pp.ZCAWhitening().transform(digits)
    with pytest.raises(ValueError, match="epsilon"):
        pp.ZCAWhitening(epsilon=0).fit(digits)


def test_to_unit_range():
    x = torch.randn(3, 2, 5, 5) * 4
    y = pp.to_unit_range(x)
    flat = y.reshape(3, -1)
    assert torch.allclose(flat.min(1).values, torch.zeros(3))
    assert torch.allclose(flat.max(1).values, torch.ones(3))


# --- quality figures -------------------------------------------------------------------------------

def test_psnr_and_ssim(camera, astronaut):
    noisy = pp.add_noise(camera, "gaussian", 0.05, seed=0)
    mse = float(((camera.double() - noisy.double()) ** 2).mean())
    assert pp.psnr(camera, noisy)[0] == pytest.approx(10 * np.log10(1 / mse), rel=1e-6)
    assert np.isinf(pp.psnr(camera, camera)[0])
    assert pp.ssim(camera, camera)[0] == pytest.approx(1.0)
    assert 0 < pp.ssim(camera, noisy)[0] < 0.9
    rgb = pp.ssim(astronaut, pp.add_noise(astronaut, "gaussian", 0.1, seed=0))
    assert rgb.shape == (1,) and 0 < rgb[0] < 1
    # A batch against one reference broadcasts; tiny images get a smaller SSIM window.
    batch = torch.cat([pp.add_noise(camera, "gaussian", s, seed=0) for s in (0.01, 0.1)])
    p = pp.psnr(camera, batch)
    assert p.shape == (2,) and p[0] > p[1]
    assert pp.ssim(torch.rand(2, 1, 5, 5), torch.rand(2, 1, 5, 5)).shape == (2,)
    with pytest.raises(ValueError, match="shape"):
        pp.psnr(camera, torch.rand(1, 1, 8, 8))


# --- contrastive augmentation ----------------------------------------------------------------------

@pytest.mark.parametrize("shape,preset", [((32, 1, 8, 8), "digits8"), ((16, 1, 28, 28), "grey28"),
                                          ((8, 3, 32, 32), "rgb32")])
@pytest.mark.parametrize("backend", ["batched", "torchvision"])
def test_contrastive_views(shape, preset, backend):
    x = torch.rand(shape)
    assert pp.preset_for(x) == preset
    aug = pp.ContrastiveAugment(seed=0, backend=backend)
    v1, v2 = aug.views(x, 2)
    for v in (v1, v2):
        _check_out(v, x)
    assert not torch.equal(v1, v2) and not torch.equal(v1, x)
    again = pp.ContrastiveAugment(seed=0, backend=backend).views(x, 2)
    assert torch.equal(again[0], v1) and torch.equal(again[1], v2)
    assert not torch.equal(pp.ContrastiveAugment(seed=1, backend=backend)(x), v1)


def test_contrastive_views_function_devices_dtypes(digits):
    for device in DEVICES:
        for dtype in (torch.float32, torch.float64):
            x = digits.to(device, dtype)
            views = pp.contrastive_views(x, n_views=3, seed=5)
            assert len(views) == 3
            for v in views:
                _check_out(v, x)
    a = pp.contrastive_views(digits, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a, pp.contrastive_views(digits, seed=5), strict=True))


def test_augment_geometry_is_right():
    """With everything off but the flip, a view is exactly the image or its mirror."""
    x = torch.rand(64, 1, 9, 9)
    aug = pp.ContrastiveAugment("digits8", seed=0, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip=True,
                                degrees=0.0, translate=0.0, affine_scale=(1.0, 1.0), jitter_p=0.0, blur_p=0.0)
    v = aug(x)
    same = (v - x).abs().amax(dim=(1, 2, 3)) < 1e-5
    mirrored = (v - x.flip(-1)).abs().amax(dim=(1, 2, 3)) < 1e-5
    assert bool((same | mirrored).all()) and 10 < int(mirrored.sum()) < 54
    # Digits must never be flipped: the preset keeps flip off.
    assert not pp.AUGMENT_PRESETS["digits8"].flip and not pp.AUGMENT_PRESETS["grey28"].flip


def test_augment_crop_zooms_in():
    """A 50% crop of a centred bright square makes the square bigger on average."""
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 6:10, 6:10] = 1.0
    aug = pp.ContrastiveAugment("grey28", seed=0, crop_scale=(0.25, 0.25), crop_ratio=(1.0, 1.0),
                                degrees=0.0, translate=0.0, affine_scale=(1.0, 1.0), jitter_p=0.0, blur_p=0.0)
    assert float(aug(x).mean()) > 1.5 * float(x.mean())


def test_augment_errors_and_repr():
    with pytest.raises(ValueError, match="preset"):
        pp.ContrastiveAugment("digits")
    with pytest.raises(ValueError, match="backend"):
        pp.ContrastiveAugment(backend="kornia")
    assert "digits8" in repr(pp.ContrastiveAugment("digits8", blur_p=0.0))
    assert pp.ContrastiveAugment("rgb32", blur_p=0.0).config_for(torch.rand(1, 3, 8, 8)).blur_p == 0.0
    tv = pp.ContrastiveAugment("rgb32").torchvision_transform((3, 32, 32))
    assert tv(torch.rand(3, 32, 32)).shape == (3, 32, 32)


def test_augment_reset_restarts_the_stream(digits):
    aug = pp.ContrastiveAugment(seed=2)
    first = aug(digits)
    aug(digits)
    assert torch.equal(aug.reset()(digits), first)


# --- pipeline --------------------------------------------------------------------------------------

def test_pipeline_chains_and_fits(digits):
    pipe = pp.Pipeline([("gaussian", {"sigma": 0.5}), "equalize_hist", pp.gamma_correct,
                        ("zca", {"epsilon": 0.1})])
    assert pipe.names[:2] == ["gaussian(sigma=0.5)", "equalize_hist"] and len(pipe) == 4
    with pytest.raises(RuntimeError, match="fit"):
        pipe(digits)
    train, test = digits[:48], digits[48:]
    out = pipe.fit_transform(train)
    zca = pipe.steps[-1][1]
    manual = pp.equalize_hist(pp.gaussian_filter(train, 0.5))
    assert torch.allclose(zca.mean_.float(), manual.reshape(48, -1).mean(0), atol=1e-6)
    assert torch.allclose(out, zca.transform(manual), atol=1e-5)
    assert pipe(test).shape == test.shape
    assert "Pipeline([" in repr(pipe)


def test_pipeline_accepts_estimators_nested_and_rejects_junk(digits):
    inner = pp.Pipeline([pp.Standardizer(per="pixel")])
    pipe = pp.Pipeline([("noise", {"kind": "gaussian", "level": 0.1, "seed": 0}), inner])
    a = pipe.fit(digits)(digits)
    assert a.shape == digits.shape and torch.equal(a, pipe(digits))
    with pytest.raises(ValueError, match="unknown pipeline step"):
        pp.Pipeline(["sharpen"])
    with pytest.raises(ValueError, match="kwargs"):
        pp.Pipeline([("gaussian", 1.0)])
    with pytest.raises(TypeError):
        pp.Pipeline([42])




# --- the estimator conventions of the fitted steps -----------------------------------------------

def _global_rng_states():
    import random

    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _assert_same_rng_states(before, after):
    assert torch.equal(before[0], after[0])
    assert before[1][0] == after[1][0] and np.array_equal(before[1][1], after[1][1])
    assert before[1][2:] == after[1][2:]
    assert before[2] == after[2]


@pytest.mark.parametrize("step", [pp.Standardizer(per="pixel"), pp.ZCAWhitening(epsilon=0.1)])
def test_fitted_steps_are_estimators(step, digits):
    from tutorial_lib.base import Estimator

    assert isinstance(step, Estimator)
    params = step.get_params()
    expected = {"per", "eps"} if isinstance(step, pp.Standardizer) else {"epsilon", "max_features"}
    assert set(params) == expected
    assert "per='pixel'" in repr(step) or "epsilon=0.1" in repr(step)
    before = _global_rng_states()
    fitted = step.fit(digits.numpy())  # arrays are accepted
    _assert_same_rng_states(before, _global_rng_states())
    assert fitted is step
    state = {k: v.clone() for k, v in vars(step).items() if k.endswith("_") and isinstance(v, torch.Tensor)}
    assert state, "fit stores its statistics with a trailing underscore"
    out = step.transform(digits[:10])
    again = step(digits[:10])
    assert torch.equal(out, again)
    # transform never changes the fitted state
    for k, v in state.items():
        assert torch.equal(getattr(step, k), v), k
    assert set(step.get_params()) == set(params)


def test_set_params_then_refit_changes_the_result(digits):
    zca = pp.ZCAWhitening(epsilon=1.0)
    mild = zca.fit_transform(digits)
    strong = zca.set_params(epsilon=1e-3).fit_transform(digits)
    assert zca.epsilon == 1e-3 and float(strong.std()) > float(mild.std())
    with pytest.raises(ValueError, match="no parameter"):
        zca.set_params(eps=1.0)


def test_noise_and_pipeline_leave_the_global_rng_alone(digits):
    before = _global_rng_states()
    pp.add_noise(digits, "salt_pepper", 0.1, seed=3)
    pp.Pipeline([("noise", {"kind": "poisson", "level": 0.1, "seed": 1}), "standardize", "zca"]).fit(digits)
    _assert_same_rng_states(before, _global_rng_states())


def test_module_docstrings_name_their_notebook():
    import importlib

    for name in ("noise", "denoise", "contrast", "normalise", "quality", "augment", "pipeline"):
        module = importlib.import_module(f"tutorial_lib.preprocess.{name}")
        assert "notebook 01_preprocessing" in module.__doc__, name
    assert "notebook 01_preprocessing" in pp.__doc__


def test_old_public_names_are_still_exported():
    names = ["add_gaussian_noise", "add_salt_pepper_noise", "add_poisson_noise", "add_noise", "NOISE_MODELS",
             "gaussian_filter", "median_filter", "estimate_noise_sigma", "nl_means_denoise", "tv_denoise",
             "denoise", "DENOISERS", "equalize_hist", "clahe", "gamma_correct", "CONTRAST",
             "standardize_per_image", "Standardizer", "ZCAWhitening", "to_unit_range", "psnr", "ssim",
             "AugmentConfig", "AUGMENT_PRESETS", "ContrastiveAugment", "contrastive_views", "preset_for",
             "Pipeline", "STEPS"]
    missing = [n for n in names if not hasattr(pp, n)]
    assert not missing
    assert type(pp.STEPS) is dict and pp.STEPS["zca"] is pp.ZCAWhitening
    with pytest.raises(AttributeError, match="no attribute"):
        pp.not_a_step  # noqa: B018
