"""The panel machinery every notebook's widgets share: :class:`Panel`, :class:`RunPanel` and helpers.

Taught in notebook 01_preprocessing (the first panels; every later notebook uses the same pattern).

The pattern: a ``*_panel(...)`` function builds ipywidgets controls and returns a container; the
work each control triggers is a plain library function (no widget in its signature), so tests
call it directly and can also set the controls' values and read what the panel computed.

How to write a panel (copy ``denoise_view`` / ``denoise_panel`` in :mod:`.preprocessing`)
------------------------------------------------------------------------------------------
1. The work is a plain function ``thing_view(data, knob=..., other=..., draw=True) -> dict``
   that returns what it computed (tensors, scores), a ``"summary"`` line (HTML allowed) and a
   ``"figure"`` (a matplotlib Figure from :mod:`tutorial_lib.viz`, or None when ``draw=False``).
2. The panel builds one control per keyword argument, named like the argument, and returns
   ``Panel(controls, functools.partial(thing_view, data), title=...)``. :class:`Panel` is an
   ``ipywidgets.VBox``: it calls the function on every change, keeps the returned dict in
   ``panel.result``, renders the figure to PNG in ``panel.image`` and the summary in
   ``panel.status``. Use ``continuous_update=False`` on sliders whose callback is slow.
   ``with panel.hold(): ...`` changes several controls with one recompute.
   Work that takes seconds or more (training a network) waits for a button instead:
   subclass :class:`RunPanel`.
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

import base64
import io
import re
from collections.abc import Callable
from contextlib import contextmanager

import ipywidgets as widgets
import matplotlib.pyplot as plt

ParamTable = dict[str, tuple[str, float, float, float, float]]
"""Method -> (parameter name, slider low, high, step, default): the main knob of each method."""


def figure_png(fig, dpi: int = 72) -> bytes:
    """``fig`` (a matplotlib Figure) as PNG bytes; the figure is closed.

    Closed, because it is shown in the panel only: the notebook's inline backend must not draw it
    a second time below the cell.
    """
    buf = io.BytesIO()
    # A tight box: a figure's two-line titles would otherwise be cut off at the top.
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)
    return buf.getvalue()


def readout_format(step: float) -> str:
    """The d3 format a slider with this ``step`` should show its value in: ``"d"`` for whole steps
    (a median size reads "3", not "3.00"), else as many decimals as the step has."""
    if float(step).is_integer():
        return "d"
    decimals = len(f"{float(step):.6f}".rstrip("0").split(".")[1])
    return f".{decimals}f"


def _static_bundle(widget: widgets.Widget, data: dict | None, title: str | None) -> dict | None:
    """``data`` (an ipywidgets mime bundle) with what a viewer that runs no widgets can show: the
    panel's last figure as ``image/png`` and a one-line ``text/plain`` instead of the widget repr.

    JupyterLab and VS Code prefer the widget view, so a live notebook is unchanged; GitHub and
    nbconvert, which cannot draw widgets, fall back to the stored figure.
    """
    if data is None:
        return None
    name = re.sub(r"<[^>]+>", "", title or type(widget).__name__)
    data["text/plain"] = f"{name} (an interactive panel: run the notebook to use it)"
    png = getattr(widget, "image", None)
    if png is not None and png.value:
        data["image/png"] = base64.b64encode(png.value).decode("ascii")
    return data


def control_rows(controls: dict, per_row: int = 3) -> list[widgets.HBox]:
    """The controls laid out ``per_row`` to a row, in their order."""
    boxes = list(controls.values())
    return [widgets.HBox(boxes[i:i + per_row]) for i in range(0, len(boxes), per_row)]


class Panel(widgets.VBox):
    """An ipywidgets container wired to one plain function: the base of every live ``*_panel``.

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
        self.title = title
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        header = [widgets.HTML(f"<b>{title}</b>")] if title else []
        super().__init__(header + control_rows(self.controls) + [self.status, self.image])
        self.update()

    def values(self) -> dict:
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def _repr_mimebundle_(self, **kwargs):
        return _static_bundle(self, super()._repr_mimebundle_(**kwargs), self.title)

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
            self.image.value = figure_png(fig)
        self.status.value = self.result.get("summary", "")
        return self.result


class RunPanel(widgets.VBox):
    """Controls, a button, a status line and an image: the base of the panels whose work is slow.

    Nothing runs when a control changes; the button (or a subclass's method that calls
    :meth:`_guarded`) does the work with the current values.

    Parameters
    ----------
    controls : dict str -> ipywidgets.ValueWidget
    title : str
    button : str
        The button's label (``"Train"``, ``"Run"``).
    image_width : str
        CSS ``max-width`` of the figure.

    Attributes
    ----------
    controls : dict
    button : ipywidgets.Button
    result : dict
        The last result; empty before the first run.
    image, status : ipywidgets.Image, ipywidgets.HTML
    """

    def __init__(self, controls: dict, title: str, button: str, image_width: str = "100%"):
        self.controls = controls
        self.result: dict = {}
        self.button = widgets.Button(description=button, button_style="primary", icon="play")
        self.button.on_click(lambda _: self._clicked())
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width=image_width))
        self.status = widgets.HTML(f"Choose the settings and press <b>{button}</b>.")
        self.title = title
        super().__init__([widgets.HTML(f"<b>{title}</b>"), *control_rows(controls), self.button, self.status,
                          self.image])

    def _clicked(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def values(self) -> dict:
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def _repr_mimebundle_(self, **kwargs):
        return _static_bundle(self, super()._repr_mimebundle_(**kwargs), self.title)

    def _guarded(self, work: Callable[[], dict], busy: str, failed: str) -> dict:
        """Run ``work()`` with the button disabled and ``busy`` shown; on an error show
        ``"<failed>: <error>"`` in the status line (a bad setting must not kill the widget) and
        re-raise. Returns what ``work`` returned."""
        self.button.disabled = True
        self.status.value = busy
        try:
            return work()
        except Exception as err:
            self.status.value = f"<span style='color:#b00'>{failed}: {err}</span>"
            raise
        finally:
            self.button.disabled = False


def param_follows_method(panel: Panel, table: ParamTable) -> None:
    """When the panel's ``method`` dropdown changes, give its ``param`` slider that method's name,
    range, step and default from ``table`` (name, low, high, step, default), with one recompute."""
    controls = panel.controls
    slider = controls["param"]
    slider.readout_format = readout_format(slider.step)

    def on_method(change):
        pname, plo, phi, pstep, pdefault = table[change["new"]]
        with panel.hold():
            # widen first, so the new value is never clipped by the old range
            slider.min, slider.max = min(plo, slider.min), max(phi, slider.max)
            slider.value, slider.step = pdefault, pstep
            slider.min, slider.max, slider.description = plo, phi, pname
            slider.readout_format = readout_format(pstep)

    # Replaces the panel's own observer, so hold() covers the slider changes.
    controls["method"].unobserve(panel._on_change, names="value")
    controls["method"].observe(on_method, names="value")
