"""Every widget panel of the notebooks, driven in a real browser: JupyterLab + Chromium + Playwright.

The test starts JupyterLab on 127.0.0.1 (a free port, a random token) over a copy of the notebooks,
in fast mode, opens each notebook that shows a panel, runs it up to its last panel, changes every
control of every panel once and checks that the panel's image and text change: what a learner
does, with the widget front end, the kernel and the comm between them all real.

Chromium comes from the system (Debian: ``apt-get install -y chromium``; ``playwright install``
needs a download that these machines cannot make); without it the test is skipped, saying so.
``.ci/run`` installs it first, so CI always runs this test. Teaches nothing itself: it checks the
panels of notebooks 00_overview to 04_pixel_segmentation.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
INSTALL_HINT = ("Chromium not found: install it with `apt-get install -y chromium` (Debian/Ubuntu) or set "
                "TUTORIAL_CHROMIUM=/path/to/chrome, and `pip install playwright` "
                "(or `pip install -e '.[dev]'`)")
PANEL = ".jp-OutputArea-output .widget-vbox:has(.widget-image)"
RUN_TIMEOUT_S = 420  # running one notebook in fast mode up to its last panel
UPDATE_TIMEOUT_S = 120  # one control change (a Run button trains a network)


def _chromium() -> str | None:
    found = os.environ.get("TUTORIAL_CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    return found if found and Path(found).exists() else None


playwright_api = pytest.importorskip("playwright.sync_api", reason=INSTALL_HINT)
if _chromium() is None:
    pytest.skip(INSTALL_HINT, allow_module_level=True)


def _panel_notebooks() -> list[str]:
    """The notebooks with a ``*_panel(`` call in a code cell."""
    names = []
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        if any(c["cell_type"] == "code" and "_panel(" in "".join(c["source"]) for c in cells):
            names.append(path.name)
    return names


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over a copy of notebooks/ (so nothing it saves touches the repository)."""
    work = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", work / "notebooks")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "TUTORIAL_FAST": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
           "JUPYTER_CONFIG_DIR": str(work / "config"), "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env.setdefault("TUTORIAL_DATA_DIR", str(ROOT / "data"))
    shared = ROOT.parent / "shared" / "data"
    if "TUTORIAL_DATA_DIR" not in os.environ and shared.is_dir():
        env["TUTORIAL_DATA_DIR"] = str(shared)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work / 'notebooks'}",
           "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False",
           "--FileContentsManager.delete_to_trash=False", "--allow-root"]
    log = open(work / "lab.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work / "notebooks")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError as err:
                if server.poll() is not None or time.time() > deadline:
                    tail = (work / "lab.log").read_text()[-3000:]
                    raise RuntimeError("JupyterLab did not start:\n" + tail) from err
                time.sleep(0.5)
        yield {"url": url, "token": token, "log": work / "lab.log"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=_chromium(), headless=True,
                                    args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield chrome
        chrome.close()


RUN_UP_TO = """async (last) => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  await panel.sessionContext.ready;
  const nb = panel.content;
  nb.activeCellIndex = last;
  await app.commands.execute('notebook:run-all-above');
  nb.activeCellIndex = last;
  await app.commands.execute('notebook:run-cell');
}"""

KERNEL_BUSY = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const pending = [...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'));
  return !kernel || kernel.status !== 'idle' || pending;
}"""

ERRORS = """() => [...document.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
  .map(e => e.textContent).filter(t => /Error|Traceback/.test(t)).join('\\n---\\n')"""


def _panel_cells(name: str) -> list[int]:
    cells = json.loads((ROOT / "notebooks" / name).read_text())["cells"]
    return [i for i, c in enumerate(cells) if c["cell_type"] == "code" and "_panel(" in "".join(c["source"])]


def _open_and_run(page, lab, name: str) -> None:
    page.goto(f"{lab['url']}/lab/tree/{name}?token={lab['token']}&reset")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext", timeout=120_000)
    page.wait_for_function("() => { const s = window.jupyterapp.shell.currentWidget.sessionContext;"
                           " return s.session && s.session.kernel && s.session.kernel.status === 'idle'; }",
                           timeout=120_000)
    page.evaluate(RUN_UP_TO, _panel_cells(name)[-1])
    deadline = time.time() + RUN_TIMEOUT_S
    time.sleep(2)
    while page.evaluate(KERNEL_BUSY):
        assert time.time() < deadline, f"{name} did not finish running in {RUN_TIMEOUT_S} s"
        time.sleep(1)
    errors = page.evaluate(ERRORS)
    assert not errors, f"{name} raised while running:\n{errors[:3000]}"


def _state(panel) -> tuple[str, str]:
    """(image source, visible text of the panel's HTML outputs): what the learner sees change."""
    image = panel.locator(".widget-image").first.get_attribute("src") or ""
    text = " | ".join(panel.locator(".widget-html").all_inner_texts())
    return image, text


def _wait_change(panel, before: tuple[str, str], what: str, ready=lambda: True) -> tuple[str, str]:
    """Wait until the panel's image differs from ``before`` and ``ready()`` holds."""
    deadline = time.time() + UPDATE_TIMEOUT_S
    while True:
        now = _state(panel)
        if now[0] and now[0] != before[0] and ready():
            return _state(panel)
        assert time.time() < deadline, f"{what}: no change in {UPDATE_TIMEOUT_S} s ({now[1][:300]})"
        time.sleep(0.3)


def _change_dropdown(control) -> str:
    select = control.locator("select")
    options = select.locator("option").all_inner_texts()
    current = select.input_value()
    values = select.evaluate("s => [...s.options].map(o => o.value)")
    new = next(v for v in values if v != current)
    select.select_option(new)
    return f"{control.inner_text().split(chr(10))[0]} -> {options[values.index(new)]}"


def _change_slider(control, to_minimum: bool) -> str:
    handle = control.locator(".noUi-handle").first
    now, lo, hi = (float(handle.get_attribute(f"aria-value{a}")) for a in ("now", "min", "max"))
    readout = control.locator(".widget-readout")
    label = control.locator(".widget-label").first.inner_text()
    if to_minimum and now > lo:  # a training budget (epochs, iterations): an integer slider
        readout.click()
        readout.press("Control+a")
        readout.type(f"{lo:g}")
        readout.press("Enter")
        return f"{label} -> {lo:g}"
    handle.focus()
    handle.press("ArrowLeft" if now >= hi else "ArrowRight")
    return f"{label}: one step"


def _change_text(control) -> str:
    box = control.locator("input")
    value = box.input_value()
    new = str(int(value) + 1) if re.fullmatch(r"-?\d+", value) else value + "1"
    box.fill(new)
    box.press("Enter")
    return f"text -> {new}"


def _exercise(panel, name: str, index: int) -> list[str]:
    """Change every control of one panel once; return what changed. A panel with a Run button is
    set up (controls changed, budgets to their minimum) and then run."""
    button = panel.locator(".widget-button")
    runs = button.count() > 0
    done = []
    controls = panel.locator(".widget-hbox > .widget-inline-hbox")
    first_text = _state(panel)[1]
    for k in range(controls.count()):
        control = controls.nth(k)
        classes = control.get_attribute("class") or ""
        before = _state(panel)
        if "widget-dropdown" in classes:
            what = _change_dropdown(control)
        elif "widget-hslider" in classes:
            label = control.locator(".widget-label").first.inner_text().lower()
            what = _change_slider(control, to_minimum=runs and ("epoch" in label or "iter" in label))
        elif "widget-text" in classes:
            what = _change_text(control)
        else:
            continue
        where = f"{name} panel {index}: {what}"
        if not runs:  # every change recomputes at once
            _wait_change(panel, before, where)
        done.append(what)
    if runs:
        before = _state(panel)
        button.first.click()
        # The button is disabled while the work runs; live panels redraw before the end.
        _wait_change(panel, before, f"{name} panel {index}: the Run button", ready=button.first.is_enabled)
        done.append("run")
    assert _state(panel)[1] != first_text, f"{name} panel {index}: its text never changed"
    return done


@pytest.mark.parametrize("name", _panel_notebooks())
def test_every_panel_responds_in_jupyterlab(lab, browser, name):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_and_run(page, lab, name)
        panels = page.locator(PANEL)
        expected = len(_panel_cells(name))
        page.wait_for_function(f"() => document.querySelectorAll({json.dumps(PANEL)}).length >= {expected}",
                               timeout=60_000)
        changed = []
        for index in range(panels.count()):
            panel = panels.nth(index)
            panel.scroll_into_view_if_needed()
            changed.append(_exercise(panel, name, index))
        assert len(changed) == expected and all(changed), changed
    finally:
        page.close()
