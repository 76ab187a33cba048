"""Named analysts (issue 22): the analysts file, `add-analyst`, tokens on label routes, the annotator of labels."""

from __future__ import annotations

import threading

import pytest

from service.__main__ import main as service_main
from service.analysts import AnalystsFileError, Registry, add_analyst, parse_analysts, read_analysts, token_sha256
from service.startup import StartupError, check_analysts
from tests.conftest import ADMIN
from tests.service.test_queue import PASSAGES, add, assert_error

HASH = "a" * 64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ana analyst", "line 1: expected 'NAME ROLE SHA256' (3 fields), found 2"),
        (f"# team\n\nana boss {HASH}", "line 3: unknown role 'boss' (one of analyst, adjudicator, admin)"),
        ("ana analyst 1234", "line 1: the token hash must be 64 lowercase hex digits (sha256)"),
        (f"ana analyst {HASH}\nana admin {'b' * 64}", "line 2: analyst 'ana' is listed twice"),
        (f"ana analyst {HASH}\nbo admin {HASH}", "line 2: the token hash of 'bo' is another analyst's too"),
        (f"-ana analyst {HASH}", "line 1: invalid analyst name '-ana'"),
    ],
)
def test_a_malformed_analysts_file_names_the_line(text, message):
    with pytest.raises(AnalystsFileError) as caught:
        parse_analysts(text, "team.txt")
    assert str(caught.value).startswith(f"team.txt, {message}")


def test_add_analyst_prints_the_token_once_and_stores_only_its_hash(tmp_path, capsys, monkeypatch):
    path = tmp_path / "analysts"
    monkeypatch.setenv("HTA_ANALYSTS_FILE", str(path))
    assert service_main(["add-analyst", "ana", "--role", "analyst"]) == 0
    token = capsys.readouterr().out.strip()
    assert service_main(["add-analyst", "bo", "--role", "adjudicator"]) == 0
    second = capsys.readouterr().out.strip()
    text = path.read_text()
    assert token not in text and second not in text
    assert text == f"ana analyst {token_sha256(token)}\nbo adjudicator {token_sha256(second)}\n"
    assert (path.stat().st_mode & 0o777) == 0o600
    assert service_main(["add-analyst", "ana", "--role", "admin"]) == 2
    assert "analyst 'ana' is already in" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse refuses an unknown role
        service_main(["add-analyst", "cy", "--role", "boss"])
    assert path.read_text() == text  # refused adds change nothing


def test_concurrent_adds_keep_every_line(tmp_path):
    path = tmp_path / "analysts"
    tokens = {}

    def one(name):
        tokens[name] = add_analyst(path, name, "analyst")

    threads = [threading.Thread(target=one, args=(f"a{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    analysts = read_analysts(path)
    assert sorted(analysts) == sorted(tokens)
    assert all(analysts[name].token_sha256 == token_sha256(token) for name, token in tokens.items())


def test_the_registry_rereads_the_file_when_it_changes(tmp_path):
    path = tmp_path / "analysts"
    token = add_analyst(path, "ana", "analyst")
    registry = Registry(path)
    assert registry.resolve(token).name == "ana"
    assert registry.resolve("not-a-token") is None
    later = add_analyst(path, "bo", "admin")
    assert registry.resolve(later).role == "admin"
    path.write_text(f"bo admin {token_sha256(later)}\n")  # ana revoked
    assert registry.resolve(token) is None


def test_start_up_refuses_a_malformed_analysts_file(tmp_path, app_config):
    from service import create_app

    path = tmp_path / "analysts"
    path.write_text(f"ana analyst {HASH}\nbo reviewer {'b' * 64}\n")
    with pytest.raises(StartupError, match=r"analysts, line 2: unknown role 'reviewer'"):
        check_analysts({"ANALYSTS_FILE": str(path)})
    with pytest.raises(AnalystsFileError, match="line 2"):
        create_app({**app_config, "ANALYSTS_FILE": str(path)})
    with pytest.raises(StartupError, match="does not exist"):
        check_analysts({"ANALYSTS_FILE": str(tmp_path / "missing")})


@pytest.fixture
def team(tmp_path):
    """An analysts file with two analysts, an adjudicator and an admin; their tokens by name."""
    path = tmp_path / "analysts"
    roles = {"ana": "analyst", "bo": "analyst", "cy": "adjudicator", "di": "admin"}
    tokens = {name: add_analyst(path, name, role) for name, role in roles.items()}
    return path, tokens


@pytest.fixture
def team_client(app_config, team):
    from service import create_app

    config = {**app_config, "ANALYSTS_FILE": str(team[0]), "LABELS_OPEN": False}
    return create_app(config).test_client()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_labels_need_a_token_by_default(team_client, team):
    _path, tokens = team
    body = {"text": PASSAGES[0], "labels": ["sabotage_mention"]}
    assert_error(team_client.post("/v1/feedback", json=body), 401, "unauthorized", "missing bearer token")
    assert_error(team_client.post("/v1/feedback", json=body, headers=bearer("wrong")), 403, "forbidden",
                 "invalid token")  # fmt: skip
    assert team_client.get("/v1/feedback", headers=bearer(ADMIN)).get_json()["items"] == []
    assert team_client.post("/v1/feedback", json=body, headers=bearer(tokens["ana"])).status_code == 201
    assert team_client.post("/v1/feedback", json=body, headers=bearer(ADMIN)).status_code == 201
    rows = team_client.get("/v1/feedback", headers=bearer(ADMIN)).get_json()["items"]
    assert [row["annotator"] for row in rows] == ["ana", "admin"]


def test_a_revoked_token_is_refused_and_nothing_is_lost(team_client, team):
    path, tokens = team
    body = {"text": PASSAGES[0], "labels": []}
    assert team_client.post("/v1/feedback", json=body, headers=bearer(tokens["bo"])).status_code == 201
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if not line.startswith("bo ")))
    assert_error(team_client.post("/v1/feedback", json={"text": PASSAGES[1], "labels": []},
                                  headers=bearer(tokens["bo"])), 403, "forbidden", "invalid token")  # fmt: skip
    rows = team_client.get("/v1/feedback", headers=bearer(ADMIN)).get_json()["items"]
    assert [(row["text"], row["annotator"]) for row in rows] == [(PASSAGES[0], "bo")]


def test_a_malformed_file_after_start_answers_503_naming_the_line(team_client, team):
    path, tokens = team
    path.write_text(path.read_text() + "broken line\n")
    response = team_client.post("/v1/feedback", json={"text": PASSAGES[0], "labels": []}, headers=bearer(tokens["ana"]))
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "analysts_file_invalid"
    assert "line 5: expected 'NAME ROLE SHA256' (3 fields), found 2" in response.get_json()["error"]["message"]
    assert team_client.get("/v1/feedback", headers=bearer(ADMIN)).get_json()["items"] == []


def test_roles_on_admin_routes(team_client, team):
    _path, tokens = team
    assert_error(team_client.get("/v1/feedback", headers=bearer(tokens["ana"])), 403, "forbidden",
                 "analyst 'ana' (role analyst) may not use admin routes")  # fmt: skip
    assert_error(team_client.get("/v1/feedback", headers=bearer(tokens["cy"])), 403, "forbidden",
                 "analyst 'cy' (role adjudicator) may not use admin routes")  # fmt: skip
    assert team_client.get("/v1/feedback", headers=bearer(tokens["di"])).status_code == 200


def test_a_second_label_replaces_the_first_and_two_analysts_make_two_rows(team_client, team):
    _path, tokens = team

    def post(json, headers):
        return team_client.post("/v1/feedback", json=json, headers=headers)

    assert post({"text": PASSAGES[0], "labels": []}, bearer(tokens["ana"])).status_code == 201
    again = post({"text": f"  {PASSAGES[0]}\n", "labels": ["sabotage_mention"]}, bearer(tokens["ana"]))
    assert again.status_code == 201
    assert post({"text": PASSAGES[0], "labels": []}, bearer(tokens["bo"])).status_code == 201
    rows = team_client.get("/v1/feedback", headers=bearer(ADMIN)).get_json()["items"]
    assert [(row["annotator"], row["labels"], row["updated"] is not None) for row in rows] == [
        ("ana", ["sabotage_mention"], True),
        ("bo", [], False),
    ]
    only_bo = team_client.get("/v1/feedback?annotator=bo", headers=bearer(ADMIN)).get_json()["items"]
    assert [row["annotator"] for row in only_bo] == ["bo"]
    assert team_client.get("/v1/feedback?annotator=zed", headers=bearer(ADMIN)).get_json()["items"] == []


def test_queue_labels_record_their_annotator(team_client, team):
    _path, tokens = team
    [item_id] = add(team_client, bearer(ADMIN), passages=[{"text": PASSAGES[2]}])["ids"]
    path = f"/v1/queue/{item_id}/label"
    assert_error(team_client.post(path, json={"labels": []}), 401, "unauthorized", "missing bearer token")
    response = team_client.post(path, json={"labels": ["hybrid_threat_warning"]}, headers=bearer(tokens["ana"]))
    assert response.status_code == 200
    assert team_client.post(path, json={"labels": []}, headers=bearer(tokens["ana"])).status_code == 200
    rows = team_client.get("/v1/feedback?source=queue", headers=bearer(ADMIN)).get_json()["items"]
    assert [(row["annotator"], row["labels"], row["source_ref"]) for row in rows] == [("ana", [], str(item_id))]


def test_labels_disabled_without_any_token_configured(app_config):
    from service import create_app

    client = create_app({**app_config, "ADMIN_TOKEN": None, "LABELS_OPEN": False}).test_client()
    message = "labels need a token: configure HTA_ANALYSTS_FILE or HTA_ADMIN_TOKEN (or set HTA_LABELS_OPEN)"
    assert_error(client.post("/v1/feedback", json={"text": PASSAGES[0], "labels": []}), 403, "labels_disabled", message)


def test_labels_open_is_the_single_user_set_up(app_config):
    from service import create_app

    client = create_app({**app_config, "LABELS_OPEN": True}).test_client()
    assert client.post("/v1/feedback", json={"text": PASSAGES[0], "labels": []}).status_code == 201
    [row] = client.get("/v1/feedback", headers=bearer(ADMIN)).get_json()["items"]
    assert row["annotator"] is None
