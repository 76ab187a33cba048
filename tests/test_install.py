"""Installable (issue 10): `pip install .` and `pip install -e .` in a new virtual environment give
`hta-classify`, `hta-train` and `hta-serve` commands that work from any directory; the installed copy
predicts with its own bundled default model.

The new environment sees the test environment's already installed dependencies through a `.pth`
file (so nothing but the build backend is downloaded); the project is installed with `--no-deps`.
pip fetches the pinned setuptools from PyPI to build it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
LINE = '{"id": 1, "text": "Saboteurs cut the undersea cable. We stand with Ukraine."}\n'


def run(command: list, cwd: Path, env: dict, stdin: str = "") -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-3000:])
    return result


def new_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    site = Path(
        subprocess.run(
            [str(path / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    (site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return path / "bin"


def check_commands(bin_dir: Path, workdir: Path, env: dict, package_dir: Path) -> None:
    located = run([str(bin_dir / "python"), "-c", "import classifier; print(classifier.__file__)"], workdir, env)
    assert Path(located.stdout.strip()) == package_dir / "classifier" / "__init__.py"
    out = run([str(bin_dir / "hta-classify"), "predict", "--evidence", "0"], workdir, env, LINE)
    record = json.loads(out.stdout)
    bundled = sorted(p.name for p in (ROOT / "models").iterdir() if (p / "manifest.json").is_file())[-1]
    assert record["model_version"] == bundled
    assert record["labels"] == ["sabotage_mention", "support_statement"]
    assert "usage: python -m training" in run([str(bin_dir / "hta-train"), "--help"], workdir, env).stdout
    assert "usage: python -m service" in run([str(bin_dir / "hta-serve"), "--help"], workdir, env).stdout
    assert list(workdir.iterdir()) == []  # nothing written where the commands ran


def test_pip_install_and_editable_install_work_from_any_directory(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HTA_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HOME"] = str(tmp_path / "home")
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    source = tmp_path / "source"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(source)], check=True)

    bin_dir = new_venv(tmp_path / "venv")
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--no-deps", str(source)], workdir, env)
    site = Path(run([str(bin_dir / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    workdir, env).stdout.strip())  # fmt: skip
    check_commands(bin_dir, workdir, env, site)
    installed = site / "classifier" / "bundled"
    assert (installed / "corpus" / "corpus.jsonl").is_file()
    assert sorted(p.name for p in (installed / "models").iterdir()) == sorted(
        p.name for p in (ROOT / "models").iterdir() if p.is_dir()
    )
    assert not (tmp_path / "home" / ".local" / "share" / "hybrid-threat-alerts").exists()  # predict wrote nothing

    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(source)], workdir, env)
    check_commands(bin_dir, workdir, env, source)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=source, capture_output=True, text=True, check=True)
    assert status.stdout == ""
