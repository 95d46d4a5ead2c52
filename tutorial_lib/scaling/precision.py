"""What 16-bit floats do to gradients: underflow, overflow and rounding, with and without loss scaling.

Taught in notebook 06_scaling_up, section 1 (mixed precision), with the precision panel
(:func:`tutorial_lib.widgets.precision_panel`). Mixed-precision training computes gradients in float16 or
bfloat16; :func:`cast_report` measures, on real gradients, what share a 16-bit format loses, and how a
loss scale :math:`S` (the gradient scaler multiplies the loss by :math:`S`, so every gradient by
:math:`S`) moves them back into float16's range.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

FORMATS = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
"""The formats :func:`cast_report` knows, by name."""

MANTISSA_BITS = {"float16": 10, "bfloat16": 7, "float32": 23}
"""Stored fraction bits: the smallest subnormal is the smallest normal times 2 to minus this."""


def gradient_values(model: nn.Module, step: Callable, batch) -> torch.Tensor:
    """Every parameter-gradient entry of ``model`` for one batch, in float32.

    Parameters
    ----------
    model : nn.Module
    step : callable ``(model, batch) -> loss``
        A ``train.fit`` step, e.g. :func:`tutorial_lib.features.reconstruction_step`.
    batch : Tensor or tuple of Tensors, on the model's device

    Returns
    -------
    Tensor, shape (P,), float32, on the CPU: P is the number of parameters that receive a gradient.
    The model's own ``.grad`` fields are left as they were.
    """
    saved = [p.grad for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    out = step(model, batch)
    loss = out[0] if isinstance(out, tuple) else out
    loss.backward()
    values = torch.cat([p.grad.detach().flatten().float().cpu() for p in model.parameters()
                        if p.grad is not None])
    for p, g in zip(model.parameters(), saved, strict=True):
        p.grad = g
    return values


def cast_report(values: torch.Tensor, fmt: str = "float16", scale: float = 1.0) -> dict:
    """What casting ``scale * values`` to ``fmt`` does to them (the scaler divides by ``scale`` later).

    Parameters
    ----------
    values : Tensor, any shape
        Gradient entries (float32 or float64).
    fmt : {"float16", "bfloat16", "float32"}
    scale : float > 0
        The loss scale :math:`S`.

    Returns
    -------
    dict
        ``underflow``: share of the non-zero values that become 0; ``overflow``: share that become
        inf; ``rel_error``: median relative error of the others after unscaling; ``n``: non-zero
        values; ``fmt``, ``scale``; ``tiny`` and ``max``: the format's smallest positive (subnormal)
        and largest finite values.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    v = values.detach().double().flatten()
    v = v[v != 0]
    if len(v) == 0:
        raise ValueError("values holds no non-zero entry")
    dtype = FORMATS[fmt]
    cast = (v * scale).to(dtype).double()
    under, over = cast == 0, torch.isinf(cast)
    kept = ~(under | over)
    rel = ((cast[kept] / scale - v[kept]).abs() / v[kept].abs()).median() if kept.any() else torch.tensor(1.0)
    info = torch.finfo(dtype)
    return {"fmt": fmt, "scale": float(scale), "n": len(v), "underflow": float(under.double().mean()),
            "overflow": float(over.double().mean()), "rel_error": float(rel),
            "tiny": float(info.smallest_normal) * 2.0 ** -MANTISSA_BITS[fmt], "max": float(info.max)}


__all__ = ["FORMATS", "MANTISSA_BITS", "cast_report", "gradient_values"]
