"""The house rules of the library's layout: sizes, layers, who reads the environment, docstrings."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tutorial_lib import runtime

LIB = Path(__file__).resolve().parent.parent / "tutorial_lib"
MODULES = sorted(LIB.rglob("*.py"))
# The method layers: they must not read the environment nor import the layers above them.
METHOD_PARTS = ("cluster", "segment", "preprocess", "data", "metrics")
METHOD_FILES = ("features.py", "train.py", "train_utils.py", "models.py", "base.py", "checkpoint.py")
ABOVE = ("evaluation", "bench", "widgets", "viz", "__main__", "demo")


def _rel(path: Path) -> str:
    return path.relative_to(LIB).as_posix()


def _is_method_module(path: Path) -> bool:
    rel = _rel(path)
    return rel.split("/")[0] in METHOD_PARTS or rel in METHOD_FILES


def _imports(tree: ast.AST):
    """(module name, level, enclosing function) of every import, the compatibility shims excepted."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            node.body = []  # a lazy re-export of a moved name, for old import paths
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            yield from ((a.name, 0, []) for a in node.names)


def test_no_module_over_600_lines():
    long = {_rel(p): n for p in MODULES if (n := len(p.read_text().splitlines())) > 600}
    assert not long


@pytest.mark.parametrize("path", [p for p in MODULES if _is_method_module(p)], ids=_rel)
def test_methods_never_read_the_environment(path):
    text = path.read_text()
    # torchrun's RANK / WORLD_SIZE (train_utils.distributed_env) are the only variables read here.
    for banned in ("fast_mode(", "pick(", "TUTORIAL_FAST", "FAST_ENV"):
        assert banned not in text, f"{_rel(path)} uses {banned}: callers choose budgets, not methods"


@pytest.mark.parametrize("path", [p for p in MODULES if _is_method_module(p)], ids=_rel)
def test_methods_never_import_the_layers_above(path):
    for module, level, names in _imports(ast.parse(path.read_text())):
        parts = module.split(".")
        top = parts[0] if level else (parts[1] if parts[0] == "tutorial_lib" and len(parts) > 1 else "")
        targets = [top] if top else names
        assert not set(targets) & set(ABOVE), f"{_rel(path)} imports {module or names} (level {level})"


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_every_module_names_its_notebook(path):
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert "notebook" in doc.lower() or "README" in doc, f"{_rel(path)}: say which notebook teaches it"


def test_importing_every_package_in_a_fresh_process_has_no_cycle():
    code = ("import importlib, pkgutil, tutorial_lib\n"
            "for m in pkgutil.walk_packages(tutorial_lib.__path__, 'tutorial_lib.'):\n"
            "    if m.name != 'tutorial_lib.__main__': importlib.import_module(m.name)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_setup_seeds_and_reports(monkeypatch, tmp_path, capsys):
    import torch

    monkeypatch.setenv(runtime.DATA_ENV, str(tmp_path))
    monkeypatch.setenv(runtime.FAST_ENV, "1")
    out = runtime.setup(seed=3)
    first = torch.rand(1)
    runtime.setup(seed=3, verbose=False)
    assert torch.equal(first, torch.rand(1))
    assert out.data == tmp_path and out.fast and out.seed == 3 and out.device.type in ("cpu", "cuda", "mps")
    assert f"data folder: {tmp_path}" in capsys.readouterr().out


def test_every_notebook_starts_with_the_same_setup_cell():
    import json

    first_code = []
    for nb in sorted((LIB.parent / "notebooks").glob("[0-9]*.ipynb")):
        cells = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
        first_code.append("".join(cells[0]["source"]))
    assert len(set(first_code)) == 1 and "runtime.setup(" in first_code[0]
    assert "shared/data" not in first_code[0]
