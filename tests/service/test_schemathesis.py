"""Property-based tests of the contract: schemathesis generates requests for every operation of the
served /openapi.json (valid and invalid ones) and runs all its default checks on the answers: no 5xx,
status codes, content types, headers and bodies as documented, invalid data refused, valid data accepted.

Bounded (`MAX_EXAMPLES` per operation) so the suite stays fast. Retrain jobs are recorded but no
training process is started (the job process is not part of the HTTP contract).
"""

from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.slow  # about 50 s: it runs with the whole suite (make test, CI), not the fast tier

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

ADMIN = "admin-secret-token"  # the admin token of the app fixture (conftest.py)

MAX_EXAMPLES = 30
# Invalid data may be refused with a 413 too: a batch, text or body over its limit (declared in the document).
CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
            }
        }
    }
)


def _record_job_only(config, store, shadow=0):
    """`start_retrain` without the training process: the job is recorded (a second one is a 409)."""
    return store.get_job(store.create_job(None))


def _confident_fold_probabilities(dataset, *args, **kwargs):
    """GET /v1/label-issues without training fold models (seconds each, not part of the HTTP contract): the
    given labels as probabilities, which cleanlab's screen then runs on."""
    return dataset.Y * 0.8 + 0.1


# A labelling config's validity (XML with a <Choices> over a <Text> whose choices are the model's labels) is
# more than JSON Schema can say, so a schema-valid random config is rightly refused with a 400: on these
# routes every check runs except "schema-valid data must be accepted".
LS_CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
            },
            "positive_data_acceptance": {"enabled": False},
        }
    }
)
LS_USER, LS_PASSWORD = "label-studio", "ls-secret"
LS_PATHS = "/label-studio/"


@pytest.fixture
def api_schema(app_config, monkeypatch):
    """The /v1 routes on an app whose labels need a token, as the document declares (the default since issue 22;
    the other tests' apps leave labels open, HTA_LABELS_OPEN)."""
    from service import create_app

    app = create_app({**app_config, "LABELS_OPEN": False})
    monkeypatch.setattr("service.api.start_retrain", _record_job_only)
    monkeypatch.setattr("training.label_issues.out_of_fold", _confident_fold_probabilities)
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=CONFIG)


@pytest.fixture
def label_studio_schema(app_config, monkeypatch):
    """The Label Studio routes, on an app with HTTP Basic credentials (they use Basic, not bearer tokens)."""
    from service import create_app

    monkeypatch.setattr("service.label_studio.routes.start_retrain", _record_job_only)
    app = create_app({**app_config, "LS_BASIC_AUTH_USER": LS_USER, "LS_BASIC_AUTH_PASS": LS_PASSWORD})
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=LS_CONFIG)


schema = schemathesis.pytest.from_fixture("api_schema").exclude(path_regex=LS_PATHS)
ls_schema = schemathesis.pytest.from_fixture("label_studio_schema").include(path_regex=LS_PATHS)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_keeps_the_contract(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"})


@ls_schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_label_studio_operation_keeps_the_contract(case):
    token = base64.b64encode(f"{LS_USER}:{LS_PASSWORD}".encode()).decode("ascii")
    case.call_and_validate(headers={"Authorization": f"Basic {token}"})
