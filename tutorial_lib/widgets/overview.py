"""The dataset browser of the overview: a few examples of each dataset, with labels or masks.

Taught in notebook 00_overview.
"""

from __future__ import annotations

import functools

import ipywidgets as widgets

from .. import viz
from .panel import Panel

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
    from .. import data

    segmentation = name in ("mosaic", "scenes") or name.startswith("segfolder:")
    if segmentation:
        ds = data.load_segmentation(name, root=root, limit=max(1, n // 2), seed=seed)
        shape = tuple(ds.images[0].shape)
        panels, titles = [], []
        for image, mask in zip(ds.images, ds.masks, strict=True):
            panels += [image, mask[None].float()]
            # The labels present in this mask, not the highest id: a mosaic may skip a texture.
            present = len(mask.unique())
            titles += ["image", f"mask ({present} region{'s' if present != 1 else ''})"]
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
