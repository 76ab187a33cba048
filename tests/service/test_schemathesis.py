"""Property-based tests of the contract: schemathesis generates requests for every operation of the
served /openapi.json (valid and invalid ones) and runs all its default checks on the answers: no 5xx,
status codes, content types, headers and bodies as documented, invalid data refused, valid data accepted.

Bounded (`MAX_EXAMPLES` per operation) so the suite stays fast. Retrain jobs are recorded but no
training process is started (the job process is not part of the HTTP contract).
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

ADMIN = "admin-secret-token"  # the admin token of the app fixture (conftest.py)

MAX_EXAMPLES = 30


def _record_job_only(config, store):
    """`start_retrain` without the training process: the job is recorded (a second one is a 409)."""
    return store.get_job(store.create_job(None))


@pytest.fixture
def api_schema(app, monkeypatch):
    monkeypatch.setattr("service.api.start_retrain", _record_job_only)
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_keeps_the_contract(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"})
