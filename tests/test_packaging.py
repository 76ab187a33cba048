"""The wheel's package list covers every package of the tree (the slow tests/test_install.py installs it)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_of_the_tree_is_in_the_wheel_list():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    in_tree = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("classifier", "training", "service")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert in_tree - listed == set()
