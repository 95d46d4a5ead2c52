"""The shared panel machinery: figures to PNG, control layout, the live Panel and the button panel."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from tutorial_lib import widgets  # noqa: E402


def test_figure_png_renders_and_closes():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = widgets.figure_png(fig)
    assert png[:4] == b"\x89PNG"
    assert not plt.fignum_exists(fig.number)  # not drawn a second time by the notebook


def test_control_rows_three_per_row():
    controls = {str(i): ipywidgets.IntText(value=i) for i in range(7)}
    rows = widgets.control_rows(controls)
    assert [len(r.children) for r in rows] == [3, 3, 1]
    assert rows[2].children[0] is controls["6"]


def test_panel_recomputes_once_per_hold():
    calls = []

    def compute(a, b):
        calls.append((a, b))
        return {"summary": f"{a + b}"}

    panel = widgets.Panel({"a": ipywidgets.IntText(value=1), "b": ipywidgets.IntText(value=2)}, compute)
    assert calls == [(1, 2)] and panel.status.value == "3"
    with panel.hold():
        panel.controls["a"].value = 10
        panel.controls["b"].value = 20
    assert calls == [(1, 2), (10, 20)] and panel.result == {"summary": "30"}


def test_run_panel_guarded_shows_the_error_and_reenables_the_button():
    panel = widgets.RunPanel({"x": ipywidgets.IntText(value=3)}, "title", button="Go")
    assert "<b>Go</b>" in panel.status.value and panel.values() == {"x": 3}
    assert panel._guarded(lambda: {"ok": 1}, busy="working...", failed="it failed") == {"ok": 1}

    def broken():
        assert panel.button.disabled and panel.status.value == "working..."
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        panel._guarded(broken, busy="working...", failed="it failed")
    assert "it failed: boom" in panel.status.value and not panel.button.disabled
