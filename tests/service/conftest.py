"""Fixtures of the service tests: a Flask app and test client on a private copy of the trained models."""

from __future__ import annotations

import pytest

ADMIN = "admin-secret-token"


@pytest.fixture
def app_config(models_copy, corpus_slice, tmp_path, monkeypatch) -> dict:
    monkeypatch.setenv("HTA_BUNDLED_MODELS_DIR", "")  # only the test's models directory
    monkeypatch.setenv("HTA_HOME", str(tmp_path / "hta-home"))
    return {
        "TESTING": True,
        "MODELS_DIR": models_copy,
        "FEEDBACK_DB": tmp_path / "service.sqlite3",
        "ADMIN_TOKEN": ADMIN,
        "PREDICT_TOKEN": None,
        "ACCESS_LOG": False,
        "RETRAIN_CV": 2,
        "RETRAIN_DATA": corpus_slice,  # the test model's own data: a retrain with nothing new reproduces it
    }


@pytest.fixture
def app(app_config, monkeypatch):
    for name in ("HTA_ADMIN_TOKEN", "HTA_PREDICT_TOKEN", "HTA_FEEDBACK_REQUIRES_ADMIN", "HTA_MAX_BATCH"):
        monkeypatch.delenv(name, raising=False)
    from service import create_app

    return create_app(app_config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin_headers() -> dict:
    return {"Authorization": f"Bearer {ADMIN}"}
