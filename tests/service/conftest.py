"""Fixtures of the service tests: a Flask app and test client (on `app_config`, tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN


@pytest.fixture
def app(app_config):
    from service import create_app

    return create_app(app_config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def shared_client(shared_app):
    """A client of the test module's shared app (tests/conftest.py): for requests that must change nothing
    (bad input, refused credentials, predictions)."""
    return shared_app().test_client()


@pytest.fixture
def admin_headers() -> dict:
    return {"Authorization": f"Bearer {ADMIN}"}
