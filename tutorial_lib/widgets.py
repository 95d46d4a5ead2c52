"""Interactive panels for the notebooks.

The pattern: a ``*_panel(...)`` function builds ipywidgets controls and returns a container; the
work each control triggers is a plain library function (no widget in its signature), so tests
call it directly and can also set the controls' values and read what the panel computed.

How to write a panel (copy ``denoise_view`` / ``denoise_panel`` below)
-------------------------------------------------------------------------
1. The work is a plain function ``thing_view(data, knob=..., other=..., draw=True) -> dict``
   that returns what it computed (tensors, scores), a ``"summary"`` line (HTML allowed) and a
   ``"figure"`` (a matplotlib Figure from :mod:`tutorial_lib.viz`, or None when ``draw=False``).
2. The panel builds one control per keyword argument, named like the argument, and returns
   ``Panel(controls, functools.partial(thing_view, data), title=...)``. :class:`Panel` is an
   ``ipywidgets.VBox``: it calls the function on every change, keeps the returned dict in
   ``panel.result``, renders the figure to PNG in ``panel.image`` and the summary in
   ``panel.status``. Use ``continuous_update=False`` on sliders whose callback is slow.
   ``with panel.hold(): ...`` changes several controls with one recompute.
3. In the notebook, show the panel and, beside it, a plain call that reads in any viewer::

       denoise_panel(image)                                   # NBVAL_IGNORE_OUTPUT cell
       r = denoise_view(image, level=0.2); plt.show()          # or print(r["psnr"])

4. Test the function directly, and the panel through its controls (observers run at once)::

       panel = denoise_panel(image)
       panel.controls["level"].value = 0.3
       assert panel.result["psnr_noisy"] < before

Panels never print or warn: everything they show goes into their own widgets.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from contextlib import contextmanager

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from . import preprocess as pp
from . import viz

# --- preprocessing panels -----------------------------------------------------------------------

class Panel(widgets.VBox):
    """An ipywidgets container wired to one plain function: the base of every ``*_panel``.

    Each change of a control calls ``compute(**values)``, where ``values`` maps the control names
    to their current values, stores the returned dict in :attr:`result`, shows ``result["figure"]``
    (a matplotlib Figure, rendered to PNG in :attr:`image`) and ``result["summary"]`` (text, in
    :attr:`status`).

    Parameters
    ----------
    controls : dict str -> ipywidgets.ValueWidget
        The keyword arguments of ``compute`` that the user can change.
    compute : callable
        A plain library function ``compute(**values) -> dict`` (optionally with ``figure`` and
        ``summary`` keys); other arguments are bound beforehand with ``functools.partial``.
    title : str, optional
        Shown above the controls.

    Attributes
    ----------
    controls : dict
    result : dict
        The last thing ``compute`` returned.
    image : ipywidgets.Image
        The last figure, as PNG bytes.
    status : ipywidgets.HTML
        The last summary.
    """

    def __init__(self, controls: dict, compute: Callable[..., dict], title: str | None = None):
        self.controls = dict(controls)
        self.compute = compute
        self.result: dict = {}
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.status = widgets.HTML()
        self._holding = False
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        header = [widgets.HTML(f"<b>{title}</b>")] if title else []
        boxes = list(self.controls.values())
        rows = [widgets.HBox(boxes[i:i + 3]) for i in range(0, len(boxes), 3)]
        super().__init__(header + rows + [self.status, self.image])
        self.update()

    def values(self) -> dict:
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    @contextmanager
    def hold(self):
        """Change several controls at once with a single update at the end."""
        self._holding = True
        try:
            yield self
        finally:
            self._holding = False
        self.update()

    def _on_change(self, change) -> None:
        if not self._holding:
            self.update()

    def update(self) -> dict:
        """Recompute from the current values, redraw, and return the result."""
        self.result = self.compute(**self.values())
        fig = self.result.get("figure")
        if fig is not None:
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=72)
            plt.close(fig)  # drawn into the panel only, not again by the notebook's inline backend
            self.image.value = buf.getvalue()
        self.status.value = self.result.get("summary", "")
        return self.result


def _as_batch(image: torch.Tensor) -> torch.Tensor:
    """(C, H, W) or (1, C, H, W) -> (1, C, H, W)."""
    if isinstance(image, torch.Tensor) and image.ndim == 3:
        image = image[None]
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[0] != 1:
        shape = tuple(image.shape) if hasattr(image, "shape") else type(image).__name__
        raise ValueError(f"expected one image, shape (C, H, W) or (1, C, H, W); got {shape}")
    return image


# Main parameter of each denoiser: name, slider min, max, step, default.
DENOISE_PARAMS: dict[str, tuple[str, float, float, float, float]] = {
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


def _param_follows_method(panel: Panel, table: dict[str, tuple[str, float, float, float, float]]) -> None:
    """When the panel's ``method`` dropdown changes, give its ``param`` slider that method's name,
    range, step and default from ``table`` (name, low, high, step, default), with one recompute."""
    controls = panel.controls
    slider = controls["param"]

    def on_method(change):
        pname, plo, phi, pstep, pdefault = table[change["new"]]
        with panel.hold():
            # widen first, so the new value is never clipped by the old range
            slider.min, slider.max = min(plo, slider.min), max(phi, slider.max)
            slider.value, slider.step = pdefault, pstep
            slider.min, slider.max, slider.description = plo, phi, pname

    # Replaces the panel's own observer, so hold() covers the slider changes.
    controls["method"].unobserve(panel._on_change, names="value")
    controls["method"].observe(on_method, names="value")


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

    _param_follows_method(panel, DENOISE_PARAMS)
    return panel


CONTRAST_PARAMS: dict[str, tuple[str, float, float, float, float]] = {
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

    _param_follows_method(panel, CONTRAST_PARAMS)
    return panel


# --- feature learning and clustering panels ----------------------------------------------------

ACTIVATION_CHOICES = ("relu", "leaky_relu", "gelu", "silu", "elu", "tanh")


def _history_summary(history, seconds: float) -> str:
    if not len(history):
        return "no epoch trained"
    last = history.records[-1]
    extras = "".join(f", {k} {last[k]:.3f}" for k in history.keys()
                     if k not in ("epoch", "loss", "lr", "seconds") and k in last)
    flag = " (interrupted)" if history.interrupted else ""
    return (f"{len(history)} epochs in {seconds:.1f} s{flag}: loss {history.losses[0]:.4g} → "
            f"{history.losses[-1]:.4g}{extras}")


def train_view(train_fn: Callable, images: torch.Tensor, *, lr: float = 1e-3, epochs: int = 10,
               depth: int = 3, activation: str = "relu", plot_keys=("loss",),
               on_epoch: Callable | None = None, draw: bool = True, **train_kwargs) -> dict:
    """Train a model with the given settings and return it with its curves (the training panel's work).

    Parameters
    ----------
    train_fn : callable
        ``train_fn(images, *, lr, epochs, depth, activation, progress, on_epoch_end, **train_kwargs)
        -> (model, history)``, e.g. ``features.train_simclr`` or ``features.train_autoencoder``.
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    lr, epochs, depth, activation
        The settings the panel exposes.
    plot_keys : sequence of str
        History quantities to plot (``"loss"``, ``"knn_acc"``, ``"acc"``...).
    on_epoch : callable ``(history) -> None``, optional
        Called after each epoch (the panel redraws its live plot there).
    draw : bool
        Build the final figure.
    **train_kwargs
        Passed on to ``train_fn`` (e.g. ``monitor_labels=labels``, ``width=16``).

    Returns
    -------
    dict
        ``model``, ``history``, ``seconds``, ``summary`` (one line) and ``figure`` (or None).
    """
    import time

    def each_epoch(epoch, model, history):
        if on_epoch is not None:
            on_epoch(history)

    start = time.perf_counter()
    model, history = train_fn(images, lr=lr, epochs=epochs, depth=depth, activation=activation,
                              progress=False, on_epoch_end=each_epoch, **train_kwargs)
    seconds = time.perf_counter() - start
    figure = viz.plot_history(history, keys=plot_keys) if draw else None
    return {"model": model, "history": history, "seconds": seconds, "figure": figure,
            "summary": _history_summary(history, seconds)}


class TrainingPanel(widgets.VBox):
    """Training settings, a Train button and a live loss plot; built by :func:`training_panel`.

    Attributes
    ----------
    controls : dict str -> widget
        ``lr``, ``epochs``, ``depth``, ``activation`` (and ``method`` when several trainers are given).
    button : ipywidgets.Button
    result : dict
        The last :func:`train_view` result (``model``, ``history``, ...); empty before training.
    image, status : ipywidgets.Image, ipywidgets.HTML
        The live plot and the summary line.
    """

    def __init__(self, trainers: dict, images: torch.Tensor, controls: dict, plot_keys, train_kwargs: dict,
                 title: str):
        self.trainers, self.images, self.controls = trainers, images, controls
        self.plot_keys, self.train_kwargs = tuple(plot_keys), dict(train_kwargs)
        self.result: dict = {}
        self.button = widgets.Button(description="Train", button_style="primary", icon="play")
        self.button.on_click(lambda _: self.train())
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="480px"))
        self.status = widgets.HTML("Choose the settings and press <b>Train</b>.")
        boxes = list(controls.values())
        rows = [widgets.HBox(boxes[i:i + 3]) for i in range(0, len(boxes), 3)]
        super().__init__([widgets.HTML(f"<b>{title}</b>"), *rows, self.button, self.status, self.image])

    def _draw(self, history) -> None:
        fig = viz.plot_history(history, keys=self.plot_keys)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        plt.close(fig)  # shown in the panel only
        self.image.value = buf.getvalue()

    def _live(self, history) -> None:
        self._draw(history)
        total = self.controls["epochs"].value
        self.status.value = f"epoch {len(history)} / {total}: loss {history.losses[-1]:.4g}"

    def train(self) -> dict:
        """What the button does: train with the current settings, drawing the curves after each epoch."""
        values = {name: c.value for name, c in self.controls.items()}
        train_fn = self.trainers[values.pop("method", next(iter(self.trainers)))]
        self.button.disabled = True
        self.status.value = "training..."
        try:
            self.result = train_view(train_fn, self.images, plot_keys=self.plot_keys, on_epoch=self._live,
                                     draw=False, **values, **self.train_kwargs)
        except Exception as err:  # shown in the panel: a bad setting must not kill the widget
            self.status.value = f"<span style='color:#b00'>training failed: {err}</span>"
            raise
        finally:
            self.button.disabled = False
        self._draw(self.result["history"])
        self.status.value = self.result["summary"]
        return self.result


def training_panel(train_fn: Callable | dict, images: torch.Tensor, *, lr: float = 2e-3, epochs: int = 10,
                   depth: int = 2, activation: str = "relu", max_epochs: int = 100, plot_keys=("loss",),
                   title: str = "Training", **train_kwargs) -> TrainingPanel:
    """A training panel: learning rate, epochs, encoder depth, activation, a Train button, a live loss plot.

    Nothing is trained until the button is pressed; each epoch redraws the curves.

    Parameters
    ----------
    train_fn : callable or dict of name -> callable
        A trainer with the :func:`train_view` signature; with a dict, a ``method`` dropdown picks one.
    images : Tensor, shape (N, C, H, W), float in [0, 1]
        Training images.
    lr, epochs, depth, activation
        Starting values of the controls.
    max_epochs : int
        Upper end of the epochs slider.
    plot_keys : sequence of str
        Quantities drawn live, e.g. ``("loss", "knn_acc")``.
    title : str
    **train_kwargs
        Fixed arguments passed to the trainer (e.g. ``monitor_labels=labels``, ``width=16``).

    Returns
    -------
    TrainingPanel
        ``panel.train()`` does what the button does; ``panel.result["model"]`` is the last model.

    Examples
    --------
    >>> panel = training_panel({"SimCLR": features.train_simclr}, images, monitor_labels=labels,
    ...                        plot_keys=("loss", "knn_acc"))                      # doctest: +SKIP
    """
    if isinstance(train_fn, dict):
        trainers = dict(train_fn)
    else:
        trainers = {getattr(train_fn, "__name__", "model"): train_fn}
    if not trainers:
        raise ValueError("training_panel needs at least one trainer")
    style = {"description_width": "initial"}
    controls = {
        "lr": widgets.FloatLogSlider(value=lr, base=10, min=-4, max=-1, step=0.25, style=style,
                                     description="learning rate", readout_format=".1e",
                                     continuous_update=False),
        "epochs": widgets.IntSlider(value=epochs, min=1, max=max(max_epochs, epochs), description="epochs",
                                    continuous_update=False),
        "depth": widgets.IntSlider(value=depth, min=1, max=4, description="encoder depth", style=style,
                                   continuous_update=False),
        "activation": widgets.Dropdown(options=ACTIVATION_CHOICES, value=activation,
                                       description="activation"),
    }
    if len(trainers) > 1:
        controls["method"] = widgets.Dropdown(options=list(trainers), description="method")
    return TrainingPanel(trainers, images, controls, plot_keys, train_kwargs, title)


CLUSTER_METHODS = ("kmeans", "pca-kmeans", "tsne-kmeans")


def cluster_view(images: torch.Tensor, labels=None, *, method: str = "tsne-kmeans", n_clusters: int = 10,
                 classes=None, seed: int = 0, n_per_cluster: int = 8, features: dict | None = None,
                 cache: dict | None = None, draw: bool = True) -> dict:
    """Cluster ``images`` with k-means on one feature space and show what came out (the explorer's work).

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float in [0, 1]
    labels : Tensor (N,) of int, optional
        Hidden classes, used only to score and to frame wrongly clustered images in the gallery.
    method : str
        ``"kmeans"`` (pixels), ``"pca-kmeans"``, ``"tsne-kmeans"``, or a key of ``features``.
    n_clusters : int
        k of k-means (it may differ from the number of classes: then some clusters stay unmatched
        in the one-to-one accuracy, while the many-to-one accuracy lets each cluster vote).
    classes : list of str, optional
    seed : int
    n_per_cluster : int
        Images per gallery row.
    features : dict str -> Tensor (N, D), optional
        Extra precomputed feature spaces (e.g. a trained network's embeddings) offered as methods.
    cache : dict, optional
        Feature spaces already computed (t-SNE takes seconds); filled in place.
    draw : bool

    Returns
    -------
    dict
        ``clusters`` (Tensor (N,)), ``scores`` (``acc``, ``acc_many_to_one``, ``nmi``, ``ari``, or {}
        without labels), ``summary`` and ``figure`` (the cluster gallery, or None).
    """
    from . import cluster, metrics

    extra = dict(features or {})
    cache = cache if cache is not None else {}
    if method in extra:
        feats = extra[method]
    elif method in CLUSTER_METHODS:
        name = {"kmeans": "pixels", "pca-kmeans": "pca", "tsne-kmeans": "tsne"}[method]
        if name not in cache:
            cache[name] = cluster.FEATURES[name](seed=seed, device="cpu").fit_transform(images)
        feats = cache[name]
    else:
        raise ValueError(f"unknown method {method!r}; choose one of {list(CLUSTER_METHODS) + list(extra)}")
    clusters = cluster.KMeans(n_clusters, seed=seed).fit_predict(feats)
    sizes = sorted(torch.bincount(clusters).tolist())
    scores, summary = {}, f"{method}, k = {n_clusters}: cluster sizes {sizes}"
    if labels is not None:
        scores = metrics.clustering_scores(labels, clusters)
        scores["acc_many_to_one"] = metrics.cluster_acc(labels, clusters, many_to_one=True)
        summary = (f"{method}, k = {n_clusters}: matched accuracy {scores['acc']:.3f} (many-to-one "
                   f"{scores['acc_many_to_one']:.3f}), NMI {scores['nmi']:.3f}, ARI {scores['ari']:.3f}")
    figure = viz.plot_cluster_gallery(images, clusters, n_per_cluster=n_per_cluster, labels=labels,
                                      classes=classes, seed=seed) if draw else None
    return {"clusters": clusters, "scores": scores, "summary": summary, "figure": figure}


def cluster_panel(images: torch.Tensor, labels=None, *, classes=None, n_clusters: int = 10,
                  method: str = "tsne-kmeans", features: dict | None = None, max_clusters: int = 20,
                  seed: int = 0, n_per_cluster: int = 8) -> Panel:
    """The cluster explorer: number of clusters and method; shows the scores and a gallery per cluster.

    Feature spaces are computed once and cached by the panel (t-SNE takes a few seconds).

    Parameters
    ----------
    images, labels, classes, seed, n_per_cluster
        As in :func:`cluster_view`.
    n_clusters, method : starting values of the controls.
    features : dict str -> Tensor (N, D), optional
        Extra feature spaces to offer in the method menu (e.g. ``{"SCAN network": embeddings}``).
    max_clusters : int
        Upper end of the slider.

    Returns
    -------
    Panel
        ``panel.controls["n_clusters"]``, ``panel.controls["method"]``; ``panel.result`` as returned by
        :func:`cluster_view`.
    """
    options = list(CLUSTER_METHODS) + list(features or {})
    if method not in options:
        raise ValueError(f"method {method!r} is not among {options}")
    controls = {
        "n_clusters": widgets.IntSlider(value=n_clusters, min=2, max=max(max_clusters, n_clusters),
                                        description="clusters", continuous_update=False),
        "method": widgets.Dropdown(options=options, value=method, description="method"),
    }
    compute = functools.partial(cluster_view, images, labels, classes=classes, seed=seed,
                                n_per_cluster=n_per_cluster, features=features, cache={})
    return Panel(controls, compute, title="Cluster explorer")


# --- segmentation panels ------------------------------------------------------------------------

def segmentation_view(image, gt=None, *, max_iter: int = 100, min_labels: int = 3, mu: float = 5.0,
                      n_channels: int = 32, seed: int = 0, draw: bool = True, **params) -> dict:
    """Segment one image with the Kanezaki method (differentiable feature clustering) and show it.

    The callback of :func:`segmentation_panel`; call it directly for the same result without widgets.

    Parameters
    ----------
    image : Tensor or array, shape (C, H, W), float in [0, 1]
    gt : array or Tensor, shape (H, W), int, optional
        Ground truth: adds the matched mIoU and pixel accuracy and a ground-truth panel.
    max_iter, min_labels, mu, n_channels, seed
        The settings of :class:`tutorial_lib.segment.DifferentiableFeatureClustering`.
    draw : bool
    **params
        Other settings of the method (e.g. ``max_pixels``).

    Returns
    -------
    dict with ``labels`` (ndarray (H, W)), ``n_segments``, ``n_iter``, ``seconds``, ``history``
    (loss and number of labels per iteration), ``miou`` and ``pixel_acc`` (with ``gt``), ``summary``,
    ``figure`` (Figure or None).
    """
    import time

    from . import segment
    from .metrics import segmentation_scores

    seg = segment.DifferentiableFeatureClustering(n_channels=int(n_channels), max_iter=int(max_iter),
                                                  min_labels=int(min_labels), mu=float(mu), seed=int(seed),
                                                  **params)
    start = time.perf_counter()
    labels = seg.fit_predict(image)
    seconds = time.perf_counter() - start
    out = {"labels": labels, "n_segments": int(labels.max()) + 1, "n_iter": seg.n_iter_[0],
           "seconds": seconds, "history": seg.history_[0]}
    out["summary"] = (f"{out['n_segments']} segments after {out['n_iter']} iterations "
                      f"({seconds:.1f} s)")
    if gt is not None:
        out.update(segmentation_scores(labels, gt))
        out["summary"] += f"; mIoU {out['miou']:.3f}, pixel accuracy {out['pixel_acc']:.3f}"
    out["figure"] = viz.plot_segmentation(image, labels, gt, out["history"]) if draw else None
    return out


class SegmentationPanel(widgets.VBox):
    """Settings of the Kanezaki method, a Run button and the segmentation; built by
    :func:`segmentation_panel`.

    Attributes
    ----------
    controls : dict str -> widget
        ``max_iter``, ``min_labels``, ``mu``, ``n_channels``, ``seed``.
    button : ipywidgets.Button
    result : dict
        The last :func:`segmentation_view` result; empty before the first run.
    image, status : ipywidgets.Image, ipywidgets.HTML
    """

    def __init__(self, image, gt, controls: dict, params: dict, title: str):
        self.source, self.gt, self.controls, self.params = image, gt, controls, dict(params)
        self.result: dict = {}
        self.button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.button.on_click(lambda _: self.run())
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.status = widgets.HTML("Choose the settings and press <b>Run</b>.")
        boxes = list(controls.values())
        rows = [widgets.HBox(boxes[i:i + 3]) for i in range(0, len(boxes), 3)]
        super().__init__([widgets.HTML(f"<b>{title}</b>"), *rows, self.button, self.status, self.image])

    def run(self) -> dict:
        """What the button does: segment with the current settings and redraw."""
        values = {name: c.value for name, c in self.controls.items()}
        self.button.disabled = True
        self.status.value = "running..."
        try:
            self.result = segmentation_view(self.source, self.gt, **values, **self.params)
        except Exception as err:  # shown in the panel: a bad setting must not kill the widget
            self.status.value = f"<span style='color:#b00'>segmentation failed: {err}</span>"
            raise
        finally:
            self.button.disabled = False
        buf = io.BytesIO()
        self.result["figure"].savefig(buf, format="png", dpi=72)
        plt.close(self.result["figure"])  # shown in the panel only
        self.image.value = buf.getvalue()
        self.status.value = self.result["summary"]
        return self.result


def segmentation_panel(image, gt=None, *, max_iter: int = 100, min_labels: int = 3, mu: float = 5.0,
                       n_channels: int = 32, seed: int = 0, title: str = "Differentiable feature clustering",
                       **params) -> SegmentationPanel:
    """A panel for the Kanezaki method: iterations, minimum number of labels, continuity weight,
    feature channels, seed, a Run button, and the segmentation redrawn after each run.

    Nothing runs until the button is pressed (each run trains a network, a few seconds).

    Parameters
    ----------
    image : Tensor or array, shape (C, H, W), float in [0, 1]
    gt : array or Tensor, shape (H, W), int, optional
        Ground truth, for the mIoU in the summary.
    max_iter, min_labels, mu, n_channels, seed
        Starting values of the controls (see :func:`segmentation_view`).
    title : str
    **params
        Fixed settings of the method.

    Returns
    -------
    SegmentationPanel
        ``panel.run()`` does what the button does.
    """
    style = {"description_width": "initial"}
    controls = {
        "max_iter": widgets.IntSlider(value=max_iter, min=5, max=500, step=5, description="iterations",
                                      style=style, continuous_update=False),
        "min_labels": widgets.IntSlider(value=min_labels, min=1, max=12, description="min labels",
                                        style=style, continuous_update=False),
        "mu": widgets.FloatSlider(value=mu, min=0.0, max=20.0, step=0.5, description="continuity μ",
                                  style=style, continuous_update=False),
        "n_channels": widgets.IntSlider(value=n_channels, min=4, max=100, step=4, style=style,
                                        description="feature channels", continuous_update=False),
        "seed": widgets.IntText(value=seed, description="seed"),
    }
    return SegmentationPanel(image, gt, controls, params, title)



# --- dataset browser (overview) -----------------------------------------------------------------

BROWSABLE = ("digits", "mnist", "shapes", "mosaic", "scenes")


def dataset_view(name: str = "digits", n: int = 16, seed: int = 0, root=None, draw: bool = True) -> dict:
    """Load ``n`` examples of a dataset and show them with their labels (or masks).

    The callback of :func:`dataset_panel`.

    Parameters
    ----------
    name : str
        A name for :func:`tutorial_lib.data.load` (recognition sets) or
        :func:`tutorial_lib.data.load_segmentation` (``mosaic``, ``scenes``, ``segfolder:PATH``).
    n : int
        How many examples (a seeded random subset).
    seed : int
    root : str or Path, optional
        The data folder (see :func:`tutorial_lib.runtime.data_root`).
    draw : bool

    Returns
    -------
    dict with ``data`` (the loaded set), ``shape`` (tuple, one image's C×H×W), ``summary`` and
    ``figure`` (Figure or None). Segmentation sets show each image beside its mask.
    """
    from . import data

    segmentation = name in ("mosaic", "scenes") or name.startswith("segfolder:")
    if segmentation:
        ds = data.load_segmentation(name, root=root, limit=max(1, n // 2), seed=seed)
        shape = tuple(ds.images[0].shape)
        panels, titles = [], []
        for image, mask in zip(ds.images, ds.masks, strict=True):
            panels += [image, mask[None].float()]
            titles += ["image", f"mask ({int(mask.max()) + 1} regions)"]
        detail = f"{len(ds)} images with masks, classes: {', '.join(map(str, ds.classes))}"
    else:
        ds = data.load(name, split="test" if name == "mnist" else "train", root=root, limit=n, seed=seed)
        shape = tuple(ds.images.shape[1:])
        panels = ds.images
        titles = [ds.classes[int(y)] for y in ds.labels] if ds.labels is not None else None
        detail = f"{len(ds)} images, {len(ds.classes)} classes"
    summary = f"<code>{name}</code>: {detail}; one image is {'×'.join(map(str, shape))}"
    figure = viz.image_grid(panels, ncols=8, titles=titles, rescale=True) if draw else None
    return {"data": ds, "shape": shape, "summary": summary, "figure": figure}


def dataset_panel(names=BROWSABLE, root=None, n: int = 16) -> Panel:
    """Dataset browser: pick a dataset, the number of examples and a seed.

    Returns
    -------
    Panel
        ``controls`` keys: ``name``, ``n``, ``seed``; ``result`` is the last :func:`dataset_view` dict.
    """
    controls = {
        "name": widgets.Dropdown(options=list(names), value=names[0], description="dataset"),
        "n": widgets.IntSlider(value=n, min=4, max=32, step=4, description="examples",
                               continuous_update=False),
        "seed": widgets.IntSlider(value=0, min=0, max=9, description="seed", continuous_update=False),
    }
    return Panel(controls, functools.partial(dataset_view, root=root), title="Datasets")
