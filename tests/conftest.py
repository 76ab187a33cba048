"""Shared fixtures: one model trained once per test session on the bundled corpus, in a temp dir.

Tests never write into the project's own `models/`: every fixture that needs a models directory
points `HTA_MODELS_DIR` (or an explicit path) at a temporary one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from classifier.config import CORPUS_PATH


@pytest.fixture(scope="session")
def trained_models_dir(tmp_path_factory) -> Path:
    """A models directory holding one current version trained on the bundled corpus (3-fold CV)."""
    from training.train import train_model

    models = tmp_path_factory.mktemp("models")
    train_model(CORPUS_PATH, models_dir=models, cv=3, progress=None)
    return models


@pytest.fixture(scope="session")
def trained_version_dir(trained_models_dir) -> Path:
    """The directory of the session's trained model version."""
    from classifier.artifacts import resolve_version_dir

    return resolve_version_dir(trained_models_dir)


@pytest.fixture(scope="session")
def predictor(trained_version_dir):
    """A `Predictor` on the session's trained model."""
    from classifier.predictor import Predictor

    return Predictor.load(trained_version_dir)


@pytest.fixture
def models_copy(trained_models_dir, tmp_path) -> Path:
    """A private copy of the trained models directory, for tests that change or break it."""
    target = tmp_path / "models"
    shutil.copytree(trained_models_dir, target)
    return target
