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


def test_every_file_of_the_bundled_version_is_in_the_wheel_data():
    """A file the bundled manifest lists but the wheel leaves out makes an installed copy refuse its model."""
    from fnmatch import fnmatch

    from classifier.artifacts import read_manifest

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = patterns["classifier.bundled.models"]
    versions = [path for path in (ROOT / "models").iterdir() if path.is_dir()]
    assert versions
    for version in versions:
        names = ["manifest.json", *read_manifest(version)["files"]]
        left_out = [name for name in names if not any(fnmatch(f"{version.name}/{name}", p) for p in patterns)]
        assert left_out == [], version.name
