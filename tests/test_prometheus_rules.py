"""The shipped Prometheus rules (deploy/prometheus/alerts.yml): checked and unit-tested by the real promtool
(Debian's prometheus package, installed by .ci/install-prometheus), and every metric they read is one the
service exports."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from classifier.config import PROJECT_ROOT

RULES = PROJECT_ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = PROJECT_ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "dashboard.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (bash .ci/install-prometheus installs Debian's prometheus)"
)


def _promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False)


@needs_promtool
def test_promtool_checks_the_rules():
    done = _promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 7 rules found" in done.stdout


@pytest.mark.slow
@needs_promtool
def test_promtool_unit_tests_pass():
    done = _promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_rule_has_a_unit_test():
    alerts = re.findall(r"^\s+- alert: (\w+)$", RULES.read_text(), flags=re.M)
    tested = set(re.findall(r"^\s+alertname: (\w+)$", RULE_TESTS.read_text(), flags=re.M))
    assert len(alerts) == 7 and set(alerts) == tested


def _exported(client) -> set[str]:
    sabotage = "Saboteurs cut the undersea cable and blew up the gas pipeline."  # fires sabotage_mention
    response = client.post("/v1/predict", json={"texts": [sabotage, "Bonjour tout le monde, comment ça va?"]})
    assert response.get_json()["results"][0]["labels"] == ["sabotage_mention"]
    text = client.get("/metrics").get_data(as_text=True)
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line.startswith("hta_")}


def test_the_rules_and_the_dashboard_read_only_metrics_the_service_exports(app_config):
    from service import create_app

    exported = _exported(create_app(app_config).test_client())
    for path in (RULES, DASHBOARD):
        used = set(re.findall(r"\bhta_[a-z_]+", path.read_text()))
        missing = {name for name in used if name not in exported and f"{name}_bucket" not in exported}
        assert not missing, (path.name, sorted(missing))


def test_the_dashboard_is_a_grafana_dashboard_of_prometheus_queries():
    import json

    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "hta-monitor" and dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and all(target["expr"].strip() for target in panel["targets"])
