"""Paths and defaults shared by the library, the training code and the service.

Every path can be moved with an environment variable, so an operator can keep models and data outside
the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES_DIR = PACKAGE_DIR / "resources"
PUNKT_DIR = RESOURCES_DIR / "punkt"

DATA_DIR = Path(os.environ.get("HTA_DATA_DIR", PROJECT_ROOT / "data"))
CORPUS_PATH = DATA_DIR / "corpus" / "corpus.jsonl"
MODELS_DIR = Path(os.environ.get("HTA_MODELS_DIR", PROJECT_ROOT / "models"))

DEFAULT_LABELS = ("hybrid_threat_warning", "sabotage_mention", "support_statement")

# Passages longer than this are cut at whitespace so evidence stays local and scoring stays linear.
MAX_PASSAGE_CHARS = 2000


def models_dir() -> Path:
    """The models directory in force now (`HTA_MODELS_DIR` read at call time, for tests and services)."""
    return Path(os.environ.get("HTA_MODELS_DIR", MODELS_DIR))
