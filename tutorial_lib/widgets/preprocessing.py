"""Preprocessing explorers: noise and denoising with PSNR/SSIM, contrast enhancement with histograms.

Taught in notebook 01_preprocessing.
"""

from __future__ import annotations

import functools

import ipywidgets as widgets
import torch

from .. import preprocess as pp
from .. import viz
from .panel import Panel, ParamTable, param_follows_method


def _as_batch(image: torch.Tensor) -> torch.Tensor:
    """(C, H, W) or (1, C, H, W) -> (1, C, H, W)."""
    if isinstance(image, torch.Tensor) and image.ndim == 3:
        image = image[None]
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[0] != 1:
        shape = tuple(image.shape) if hasattr(image, "shape") else type(image).__name__
        raise ValueError(f"expected one image, shape (C, H, W) or (1, C, H, W); got {shape}")
    return image


# Main parameter of each denoiser: name, slider min, max, step, default.
DENOISE_PARAMS: ParamTable = {
    "gaussian": ("sigma", 0.2, 3.0, 0.1, 1.0),
    "median": ("size", 1, 9, 2, 3),
    "nl_means": ("h", 0.01, 0.3, 0.01, 0.08),
    "tv": ("weight", 0.01, 0.5, 0.01, 0.1),
}


def denoise_view(image: torch.Tensor, noise: str = "gaussian", level: float = 0.1, method: str = "median",
                 param: float | None = None, seed: int = 0, draw: bool = True) -> dict:
    """Add noise to one image, denoise it, and measure both against the clean image.

    The callback of :func:`denoise_panel`; call it directly for the same result without widgets.

    Parameters
    ----------
    image : Tensor, shape (C, H, W) or (1, C, H, W), float in [0, 1]
        The clean image.
    noise : {"gaussian", "salt_pepper", "poisson"}
    level : float
        Noise level, as in ``preprocess.add_noise``.
    method : {"gaussian", "median", "nl_means", "tv"}
    param : float, optional
        The filter's main parameter (:data:`DENOISE_PARAMS`: Gaussian ``sigma``, median ``size``
        rounded to an odd integer, non-local means ``h``, TV ``weight``); its default if None.
    seed : int
        Noise seed.
    draw : bool
        Also draw the clean / noisy / denoised figure.

    Returns
    -------
    dict with ``clean``, ``noisy``, ``denoised`` (Tensors, shape (1, C, H, W)); ``psnr``, ``ssim``
    (denoised vs clean, floats, dB and [-1, 1]); ``psnr_noisy``, ``ssim_noisy``; ``params`` (what
    the filter got); ``summary`` (str); ``figure`` (Figure, or None if not ``draw``).
    """
    if method not in DENOISE_PARAMS:
        raise ValueError(f"unknown denoiser {method!r}; choose one of {sorted(DENOISE_PARAMS)}")
    clean = _as_batch(image)
    name, *_, default = DENOISE_PARAMS[method]
    value = default if param is None else param
    value = int(round(value)) // 2 * 2 + 1 if method == "median" else float(value)
    params = {name: value}
    noisy = pp.add_noise(clean, noise, level, seed=seed)
    denoised = pp.denoise(noisy, method, **params)
    out = {"clean": clean, "noisy": noisy, "denoised": denoised, "params": params,
           "psnr": float(pp.psnr(clean, denoised)[0]), "ssim": float(pp.ssim(clean, denoised)[0]),
           "psnr_noisy": float(pp.psnr(clean, noisy)[0]), "ssim_noisy": float(pp.ssim(clean, noisy)[0])}
    noisy_label, filter_label = f"{noise} {level:g}", f"{method} {name}={value:g}"
    out["summary"] = (f"{noisy_label}: PSNR {out['psnr_noisy']:.2f} dB, SSIM {out['ssim_noisy']:.3f}"
                      f" &rarr; {filter_label}: PSNR {out['psnr']:.2f} dB, SSIM {out['ssim']:.3f}")
    out["figure"] = None
    if draw:
        out["figure"] = viz.compare_grid(
            {"clean": clean, noisy_label: noisy, filter_label: denoised},
            captions={noisy_label: [f"PSNR {out['psnr_noisy']:.1f} dB, SSIM {out['ssim_noisy']:.2f}"],
                      filter_label: [f"PSNR {out['psnr']:.1f} dB, SSIM {out['ssim']:.2f}"]},
            panel_size=3.0)
    return out


def denoise_panel(image: torch.Tensor, noise: str = "gaussian", level: float = 0.1, method: str = "median",
                  seed: int = 0) -> Panel:
    """Noise-and-denoise explorer: noise type and level, filter and its parameter, PSNR/SSIM live.

    Parameters
    ----------
    image : Tensor, shape (C, H, W) or (1, C, H, W), float in [0, 1]
    noise, level, method, seed
        Starting values of the controls (see :func:`denoise_view`).

    Returns
    -------
    Panel
        ``controls`` keys: ``noise``, ``level``, ``method``, ``param``, ``seed``; ``result`` is the
        last :func:`denoise_view` dict. Changing ``method`` resets ``param`` to that filter's range
        and default.
    """
    clean = _as_batch(image)
    name, lo, hi, step, default = DENOISE_PARAMS[method]
    style = {"description_width": "initial"}
    controls = {
        "noise": widgets.Dropdown(options=sorted(pp.NOISE_MODELS), value=noise, description="noise"),
        "level": widgets.FloatSlider(value=level, min=0.0, max=0.5, step=0.01, description="level",
                                     continuous_update=False),
        "method": widgets.Dropdown(options=list(DENOISE_PARAMS), value=method, description="filter"),
        "param": widgets.FloatSlider(value=default, min=lo, max=hi, step=step, description=name,
                                     continuous_update=False, style=style),
        "seed": widgets.IntText(value=seed, description="seed"),
    }
    panel = Panel(controls, functools.partial(denoise_view, clean), title="Noise and denoise")

    param_follows_method(panel, DENOISE_PARAMS)
    return panel


CONTRAST_PARAMS: ParamTable = {
    "gamma": ("gamma", 0.2, 3.0, 0.05, 0.5),
    "equalize_hist": ("nbins", 16, 256, 16, 256),
    "clahe": ("clip_limit", 0.005, 0.1, 0.005, 0.01),
}


def contrast_view(image: torch.Tensor, method: str = "clahe", param: float | None = None,
                  draw: bool = True) -> dict:
    """Enhance one image's contrast and compare the intensity histograms before and after.

    The callback of :func:`contrast_panel`.

    Parameters
    ----------
    image : Tensor, shape (C, H, W) or (1, C, H, W), float in [0, 1]
    method : {"gamma", "equalize_hist", "clahe"}
    param : float, optional
        ``gamma``, ``nbins`` (rounded) or ``clip_limit`` (:data:`CONTRAST_PARAMS`); default if None.
    draw : bool

    Returns
    -------
    dict with ``image``, ``enhanced`` (Tensors, shape (1, C, H, W)); ``params``; ``std_before``,
    ``std_after`` (the RMS contrast, floats); ``mean_before``, ``mean_after``; ``summary``;
    ``figure`` (Figure or None).
    """
    if method not in CONTRAST_PARAMS:
        raise ValueError(f"unknown contrast method {method!r}; choose one of {sorted(CONTRAST_PARAMS)}")
    img = _as_batch(image)
    name, *_, default = CONTRAST_PARAMS[method]
    value = default if param is None else param
    value = int(round(value)) if method == "equalize_hist" else float(value)
    enhanced = pp.CONTRAST[method](img, **{name: value})
    out = {"image": img, "enhanced": enhanced, "params": {name: value},
           "std_before": float(img.std()), "std_after": float(enhanced.std()),
           "mean_before": float(img.mean()), "mean_after": float(enhanced.mean())}
    label = f"{method} {name}={value:g}"
    out["summary"] = (f"{label}: mean {out['mean_before']:.3f} &rarr; {out['mean_after']:.3f}, "
                      f"RMS contrast {out['std_before']:.3f} &rarr; {out['std_after']:.3f}")
    out["figure"] = viz.compare_with_histograms(img, enhanced, ("original", label)) if draw else None
    return out


def contrast_panel(image: torch.Tensor, method: str = "clahe") -> Panel:
    """Contrast explorer: method (gamma, histogram equalisation, CLAHE) and its parameter, with
    histograms.

    Parameters
    ----------
    image : Tensor, shape (C, H, W) or (1, C, H, W), float in [0, 1]
    method : str
        Starting method (see :func:`contrast_view`).

    Returns
    -------
    Panel
        ``controls`` keys: ``method``, ``param``; ``result`` is the last :func:`contrast_view` dict.
    """
    img = _as_batch(image)
    name, lo, hi, step, default = CONTRAST_PARAMS[method]
    controls = {
        "method": widgets.Dropdown(options=list(CONTRAST_PARAMS), value=method, description="method"),
        "param": widgets.FloatSlider(value=default, min=lo, max=hi, step=step, description=name,
                                     continuous_update=False, readout_format=".3f",
                                     style={"description_width": "initial"}),
    }
    panel = Panel(controls, functools.partial(contrast_view, img), title="Contrast")

    param_follows_method(panel, CONTRAST_PARAMS)
    return panel
