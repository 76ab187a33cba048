"""Test helpers: model versions made by copying the bundled default model (no training), and corruption."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from classifier.artifacts import MANIFEST_FILE
from classifier.config import BUNDLED_MODELS_DIR

BUNDLED_VERSION = sorted(p.name for p in BUNDLED_MODELS_DIR.iterdir() if (p / MANIFEST_FILE).is_file())[-1]


def copy_version(target_dir: Path, name: str, created: str = "2030-01-01T00:00:00+00:00") -> Path:
    """A copy of the bundled model named `name` (manifest edited to match) in `target_dir`."""
    target = target_dir / name
    shutil.copytree(BUNDLED_MODELS_DIR / BUNDLED_VERSION, target)
    manifest = json.loads((target / MANIFEST_FILE).read_text())
    manifest.update(version=name, created=created)
    (target / MANIFEST_FILE).write_text(json.dumps(manifest))
    return target


def corrupt(path: Path) -> None:
    """Flip one byte of a file in place."""
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF
    path.write_bytes(bytes(data))
