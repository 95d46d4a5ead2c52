"""The two install paths (pip via pyproject.toml, conda via environment.yml) must agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = meta["optional-dependencies"]
    reqs = list(meta["dependencies"])
    for r in extras["dev"]:
        # `dev` pulls in other extras of this package ("tutorial_lib[export]"): list what they hold.
        included = re.fullmatch(r"tutorial_lib\[([\w,]+)\]", r.replace(" ", ""))
        if included:
            reqs += [x for name in included.group(1).split(",") for x in extras[name]]
        else:
            reqs.append(r)
    return {_name(r): r.replace(" ", "") for r in reqs}


def _environment_pip_section() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml needs exactly one pip: section"
    return pip_lists[0]


def test_environment_installs_the_package_with_dev_extra():
    assert "-e .[dev]" in _environment_pip_section()


def test_environment_uses_python_311():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


def test_environment_and_pyproject_list_the_same_requirements():
    pip = [r for r in _environment_pip_section() if not r.startswith("-e")]
    from_env = {_name(r): r.replace(" ", "") for r in pip}
    assert from_env == _pyproject_requirements()


def test_torch_pins_are_exact():
    reqs = _pyproject_requirements()
    assert reqs["torch"] == "torch==2.14.1"
    assert reqs["torchvision"] == "torchvision==0.29.1"
