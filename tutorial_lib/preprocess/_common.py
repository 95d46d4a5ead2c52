"""What every preprocessing step shares: the image check and the bridge to NumPy / scikit-image.

Taught in notebook 01_preprocessing (through the steps that use it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..base import check_images


def as_images(images, name: str = "images") -> torch.Tensor:
    """Check an image batch with :func:`tutorial_lib.base.check_images`, keeping a tensor's own dtype.

    Preprocessing returns images on the input's device and in its dtype (float64 in, float64 out),
    so a float tensor that passes the check is returned as it is; a NumPy array comes back as the
    float32 tensor ``check_images`` makes of it.

    Parameters
    ----------
    images : Tensor or ndarray, shape (N, C, H, W), float
    name : str
        What the argument is called in the error message.

    Returns
    -------
    Tensor, shape (N, C, H, W), float

    Raises
    ------
    tutorial_lib.base.InputError
        Not 4-D, not float, or NaN / infinite values.
    """
    checked = check_images(images, name=name)
    return images if isinstance(images, torch.Tensor) else checked


def per_image_numpy(images: torch.Tensor, fn: Callable) -> torch.Tensor:
    """Apply ``fn(img, channel_axis)`` to each image as NumPy float64 and stack the results back.

    ``img`` is (H, W) for one channel with ``channel_axis=None``, (H, W, 3) for RGB with
    ``channel_axis=-1``; other channel counts are processed one plane at a time.

    Parameters
    ----------
    images : Tensor, shape (N, C, H, W), float
    fn : callable ``(ndarray, int | None) -> ndarray`` of the same shape

    Returns
    -------
    Tensor, shape (N, C, H, W), on the input's device and dtype
    """
    arr = images.detach().to("cpu", torch.float64).numpy()
    out = np.empty_like(arr)
    for i, im in enumerate(arr):
        if im.shape[0] == 3:
            out[i] = np.moveaxis(fn(np.moveaxis(im, 0, -1), -1), -1, 0)
        else:
            for c in range(im.shape[0]):
                out[i, c] = fn(im[c], None)
    return torch.from_numpy(out).to(images.device, images.dtype)
