"""What 16-bit formats do to gradients (notebook 06's precision panel)."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from tutorial_lib import widgets  # noqa: E402
from tutorial_lib.scaling import cast_report, gradient_values  # noqa: E402


def test_float16_loses_tiny_gradients_and_a_loss_scale_brings_them_back():
    values = torch.logspace(-12, -2, 1001, dtype=torch.float64)  # 1e-12 ... 1e-2
    plain = cast_report(values, "float16")
    assert 0.35 < plain["underflow"] < 0.45  # below 2**-24 ~ 6e-8: 4.2 of 10 decades
    scaled = cast_report(values, "float16", scale=2.0**16)
    assert scaled["underflow"] < 0.05 and scaled["overflow"] == 0.0
    assert cast_report(values, "float16", scale=2.0**40)["overflow"] > 0.2  # too large a scale: inf
    assert cast_report(values, "bfloat16")["underflow"] == 0.0  # float32's range
    assert cast_report(values, "bfloat16")["rel_error"] > scaled["rel_error"]  # 7 mantissa bits, not 10
    assert cast_report(values, "float32")["rel_error"] < 1e-7
    with pytest.raises(ValueError, match="fmt must be"):
        cast_report(values, "float8")
    with pytest.raises(ValueError, match="no non-zero"):
        cast_report(torch.zeros(3))


def test_gradient_values_are_every_entry_and_leave_the_model_grads_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1))
    x = torch.randn(8, 4)
    values = gradient_values(model, lambda m, b: m(b).pow(2).mean(), x)
    assert values.shape == (4 * 3 + 3 + 3 + 1,) and values.dtype == torch.float32
    assert all(p.grad is None for p in model.parameters())


def test_precision_panel_follows_its_controls():
    values = torch.logspace(-12, -2, 301)
    panel = widgets.precision_panel(values)
    before = panel.result["underflow"]
    panel.controls["scale_log2"].value = 16
    assert panel.result["underflow"] < before and "2^16" in panel.result["summary"]
    panel.controls["fmt"].value = "bfloat16"
    assert panel.result["underflow"] == 0.0
    assert widgets.precision_view(values, draw=False)["figure"] is None
