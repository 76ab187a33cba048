"""End-to-end test of the analyst's page (`GET /`) in a real browser.

Debian's Chromium (``/usr/bin/chromium``), driven by Playwright for Python, against the real service
started as a subprocess (``python -m service``) on a copy of the session's trained model. The page is
used as an analyst would: paste a document, analyse, read the highlighted passages and their label
badges, open a passage and send a correction, which must land in the service's SQLite feedback table.

`.ci/install-browser` installs Chromium and the pinned Playwright; without them this test is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from classifier.config import PROJECT_ROOT
from tests.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESULTS_DIR = PROJECT_ROOT / "test-results"
ADMIN_TOKEN = "e2e-admin-token"
MAX_TEXT_CHARS = 20_000
READY_TIMEOUT = 60.0
ANALYSTS = (("ana", "analyst"), ("bo", "analyst"), ("cy", "adjudicator"))

SABOTAGE = "Saboteurs cut the undersea cable between Finland and Estonia."
HYBRID = "Russia is running a disinformation campaign to interfere in the elections."
SUPPORT = "We stand with Ukraine and will keep sending military aid."
NEUTRAL = (
    "The ministry published its weekly bulletin on Monday.",
    "The next meeting is scheduled for March.",
)
# A heading, sentences and bullets; a non-BMP character (emoji) before the flagged passages checks that
# the page slices by code points, as the API's offsets are.
DOCUMENT = f"""Baltic security briefing

{SABOTAGE}
{NEUTRAL[0]} Officials said the weather was calm \N{GRINNING FACE} all week.

{HYBRID}

- {SUPPORT}
- {NEUTRAL[1]}
"""


def _wait_ready(base_url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"service exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    pytest.fail(f"service not ready within {READY_TIMEOUT:.0f} s:\n{log_path.read_text(errors='replace')[-4000:]}")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: run .ci/install-browser (apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright for Python is missing: run .ci/install-browser"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def service(browser, trained_models_dir, tmp_path_factory):
    """The real service on a free port: ``{"url", "db", "log"}``. Stopped (whole process group) at the end."""
    root = tmp_path_factory.mktemp("e2e-service")
    models = root / "models"
    shutil.copytree(trained_models_dir, models)
    db = root / "feedback.db"
    log_path = root / "service.log"
    from service.analysts import add_analyst

    analysts = root / "analysts"
    tokens = {name: add_analyst(analysts, name, role) for name, role in ANALYSTS}
    port = free_port()
    env = {
        **os.environ,
        "HTA_MODELS_DIR": str(models),
        "HTA_FEEDBACK_DB": str(db),
        "HTA_ADMIN_TOKEN": ADMIN_TOKEN,
        "HTA_LABELS_OPEN": "true",  # the single-user set-up most page tests drive
        "HTA_ANALYSTS_FILE": str(analysts),  # named analysts for the adjudication test
        "HTA_MAX_TEXT_CHARS": str(MAX_TEXT_CHARS),
        "PYTHONUNBUFFERED": "1",
    }
    for key in ("HTA_PREDICT_TOKEN", "HTA_FEEDBACK_REQUIRES_ADMIN"):
        env.pop(key, None)
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base_url, process, log_path)
        yield {"url": base_url, "db": db, "log": log_path, "tokens": tokens}
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(15_000)
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _model_version(base_url: str) -> str:
    with urllib.request.urlopen(f"{base_url}/v1/model", timeout=10) as response:
        return json.load(response)["version"]


def test_analyse_highlight_and_correct(page, service, tmp_path):
    from playwright.sync_api import expect

    version = _model_version(service["url"])
    page.goto(service["url"] + "/")
    expect(page.get_by_test_id("model-version")).to_have_text(version)
    legend = page.get_by_test_id("legend")
    for name in ("Hybrid-threat warning", "Sabotage mention", "Support statement"):
        expect(legend).to_contain_text(name)

    # Paste a document and analyse with the keyboard shortcut.
    textarea = page.get_by_label("Document text")
    textarea.fill(DOCUMENT)
    textarea.press("Control+Enter")
    expect(page.get_by_test_id("status")).to_contain_text("Analysis done")

    # The whole document is shown, with every passage kind, and exactly the three statements flagged.
    document = page.get_by_test_id("document")
    assert document.evaluate("el => el.textContent.replace(/\\[[A-Z]+\\]/g, '')") == DOCUMENT
    assert document.locator(".passage.heading").count() == 1
    assert document.locator(".passage.bullet").count() == 2
    assert document.locator(".passage.sentence").count() >= 3
    marks = document.locator("mark.flagged")
    expected = {SABOTAGE: ("sabotage_mention", "[SABOTAGE]"), HYBRID: ("hybrid_threat_warning", "[HYBRID]")}
    expected[f"- {SUPPORT}"] = ("support_statement", "[SUPPORT]")
    assert marks.count() == len(expected)
    for text, (label, badge) in expected.items():
        mark = marks.filter(has_text=text)
        expect(mark).to_have_count(1)
        assert mark.locator(".passage-text").inner_text() == text
        assert label in mark.get_attribute("data-labels").split()
        expect(mark.locator(".badge", has_text=badge)).to_have_count(1)
        expect(mark).to_have_attribute("tabindex", "0")
    for text in NEUTRAL:
        expect(marks.filter(has_text=text)).to_have_count(0)
        expect(document.locator(".passage", has_text=text)).to_have_count(1)

    # The summary: every label alerted, with a link to its passage.
    summary = page.get_by_test_id("summary")
    for label in ("hybrid_threat_warning", "sabotage_mention", "support_statement"):
        row = summary.locator(f'tr[data-label="{label}"]')
        expect(row).to_contain_text("Yes")
        expect(row.locator("a")).to_have_count(1)

    # Select the sabotage passage with the keyboard: the details panel shows scores and evidence.
    sabotage = marks.filter(has_text=SABOTAGE)
    sabotage.focus()
    page.keyboard.press("Enter")
    details = page.get_by_test_id("details")
    expect(details.locator("#details-text")).to_have_text(SABOTAGE)
    expect(sabotage).to_have_attribute("aria-pressed", "true")
    expect(details.locator("#details-scores li")).to_have_count(3)
    score = details.locator('#details-scores li[data-label="sabotage_mention"] .score-num').inner_text()
    assert float(score) >= 0.5
    expect(details.locator("#details-evidence .term").first).to_be_visible()
    expect(details.locator("#details-evidence")).to_contain_text("saboteurs")

    # Correct its labels: add "Hybrid-threat warning" and send.
    sabotage_box = page.get_by_role("checkbox", name="Sabotage mention")
    hybrid_box = page.get_by_role("checkbox", name="Hybrid-threat warning")
    expect(sabotage_box).to_be_checked()
    expect(page.locator("#feedback-send")).to_have_text("Confirm labels")
    hybrid_box.check()
    send = page.get_by_role("button", name="Send correction")
    expect(send).to_be_visible()
    with page.expect_response(re.compile(r"/v1/feedback$")) as response_info:
        send.click()
    response = response_info.value
    assert response.status == 201, response.text()
    stored_id = response.json()["ids"][0]
    status = page.get_by_test_id("feedback-status")
    expect(status).to_contain_text(f"Correction stored (id {stored_id})")

    # The correction is in the service's SQLite store.
    with sqlite3.connect(service["db"]) as conn:
        row = conn.execute(
            "SELECT text, labels, document_id, model_version FROM feedback WHERE id = ?", (stored_id,)
        ).fetchone()
    assert row is not None, f"feedback row {stored_id} not stored"
    text, labels, document_id, model_version = row
    assert text == SABOTAGE
    assert json.loads(labels) == ["hybrid_threat_warning", "sabotage_mention"]
    assert document_id and document_id.startswith("doc-")
    assert model_version == version

    page.evaluate("window.scrollTo(0, 0)")
    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    RESULTS_DIR.mkdir(exist_ok=True)
    shutil.copyfile(shot, RESULTS_DIR / "page.png")


def test_error_messages(page, service):
    from playwright.sync_api import expect

    page.goto(service["url"] + "/")
    status = page.get_by_test_id("status")
    expect(page.get_by_test_id("model-version")).not_to_have_text("loading…")

    # Empty text: told before anything is sent.
    page.get_by_role("button", name="Analyse").click()
    expect(status).to_contain_text("no text to analyse")

    # Over the service's limit: the service's own message (413) is shown.
    textarea = page.get_by_label("Document text")
    textarea.fill("Calm weather today. " * (MAX_TEXT_CHARS // 20 + 10))
    page.get_by_role("button", name="Analyse").click()
    expect(status).to_contain_text(f"the limit is {MAX_TEXT_CHARS}")
    expect(status).to_have_class(re.compile(r"\berror\b"))

    # Service down: the request fails at the network level.
    page.route(re.compile(r".*/v1/predict$"), lambda route: route.abort("connectionrefused"))
    textarea.fill(SABOTAGE)
    page.get_by_role("button", name="Analyse").click()
    expect(status).to_contain_text("Service unreachable")
    expect(page.locator("#results")).to_be_hidden()
    page.unroute(re.compile(r".*/v1/predict$"))

    # Feedback refused for want of a token (an operator may require one): the page says what to do.
    page.get_by_role("button", name="Analyse").click()
    expect(status).to_contain_text("Analysis done")
    page.locator("mark.flagged").first.click()
    unauthorized = {"error": {"code": "unauthorized", "message": "missing bearer token"}}
    page.route(
        re.compile(r".*/v1/feedback$"),
        lambda route: route.fulfill(status=401, content_type="application/json", body=json.dumps(unauthorized)),
    )
    page.get_by_role("button", name="Confirm labels").click()
    feedback_status = page.get_by_test_id("feedback-status")
    expect(feedback_status).to_contain_text("requires a feedback token")
    expect(feedback_status).to_contain_text("Access token")


REVIEW_DOCUMENT = (
    "Grid incident report\n\n"
    "Engineers found that the transformer fire at the northern substation was started deliberately. "
    "Hybrid cars now make up a third of new sales. "
    "The energy minister thanked allies for their steadfast support.\n\n"
    "Officials warned of a coordinated campaign of cyberattacks and disinformation against the grid operator."
)


def _api(base_url: str, method: str, path: str, body=None, token: str | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(f"{base_url}{path}", data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_review_mode_keyboard(page, service):
    from playwright.sync_api import expect

    base = service["url"]
    added = _api(base, "POST", "/v1/queue", {"documents": [{"id": "grid-7", "text": REVIEW_DOCUMENT}]}, ADMIN_TOKEN)
    assert added["added"] == 5 and added["duplicates"] == 0
    queue = _api(base, "GET", "/v1/queue?limit=10")
    first, second, third = queue["items"][:3]
    labels = queue["labels"]
    assert labels == ["hybrid_threat_warning", "sabotage_mention", "support_statement"]

    page.goto(base + "/")
    expect(page.get_by_test_id("model-version")).to_have_text(queue["model_version"])
    # Keyboard only: focus the mode switch and press Enter.
    page.get_by_role("button", name="Review queue").focus()
    page.keyboard.press("Enter")
    card = page.get_by_test_id("review-card")
    expect(card).to_be_visible()
    expect(card).to_be_focused()
    expect(page.locator("#analyse-form")).to_be_hidden()

    # The first passage of the ranking, in its document context, with scores, thresholds and key hints.
    expect(page.get_by_test_id("review-text")).to_have_text(first["text"])
    context = page.get_by_test_id("review-context")
    expect(context).to_have_text(first["context"]["before"] + first["text"] + first["context"]["after"])
    assert first["context"]["before"] or first["context"]["after"]
    expect(page.locator("#review-meta")).to_contain_text("Document grid-7")
    expect(page.locator("#review-meta")).to_contain_text("rank 1")
    scores = page.get_by_test_id("review-scores")
    expect(scores.locator("li")).to_have_count(3)
    for label in labels:
        shown = scores.locator(f'li[data-label="{label}"] .score-num').inner_text()
        assert shown == f"{first['scores'][label]:.3f}"
    expect(scores.locator(".bar-threshold")).to_have_count(3)
    boxes = page.get_by_test_id("review-labels")
    for key, name in (("1", "Hybrid-threat warning"), ("2", "Sabotage mention"), ("3", "Support statement")):
        expect(boxes.locator("label", has_text=name).locator("kbd")).to_have_text(key)
    expect(page.get_by_test_id("review-count")).to_have_text(
        f"Labelled 0 · skipped 0 in this session · {added['counts']['pending']} passages waiting in the queue."
    )

    # Toggle labels 1 and 2 with the keys, then Enter saves them as feedback.
    for key in ("1", "2"):
        page.keyboard.press(key)
    expected = sorted(set(first["labels"]) ^ {"hybrid_threat_warning", "sabotage_mention"})
    for label in labels:
        box = page.locator(f"#review-label-{label}")
        if label in expected:
            expect(box).to_be_checked()
        else:
            expect(box).not_to_be_checked()
    with page.expect_response(re.compile(rf"/v1/queue/{first['id']}/label$")) as response_info:
        page.keyboard.press("Enter")
    saved = response_info.value
    assert saved.status == 200, saved.text()
    feedback_id = saved.json()["feedback_id"]
    status = page.get_by_test_id("status")
    expect(status).to_contain_text(f"Saved as feedback (id {feedback_id})")

    # The next passage is shown; S skips it.
    expect(page.get_by_test_id("review-text")).to_have_text(second["text"])
    with page.expect_response(re.compile(rf"/v1/queue/{second['id']}/skip$")) as response_info:
        page.keyboard.press("s")
    assert response_info.value.status == 200
    expect(status).to_contain_text("Skipped")
    expect(page.get_by_test_id("review-text")).to_have_text(third["text"])
    pending = added["counts"]["pending"] - 2
    expect(page.get_by_test_id("review-count")).to_have_text(
        f"Labelled 1 · skipped 1 in this session · {pending} passages waiting in the queue."
    )

    # The label is a feedback row of the queue item, and the queue knows what was done.
    with sqlite3.connect(service["db"]) as conn:
        row = conn.execute(
            "SELECT text, labels, document_id, model_version, source, source_ref FROM feedback WHERE id = ?",
            (feedback_id,),
        ).fetchone()
        states = dict(conn.execute("SELECT id, state FROM queue_items WHERE id IN (?, ?)", (first["id"], second["id"])))
        linked = conn.execute("SELECT feedback_id FROM queue_items WHERE id = ?", (first["id"],)).fetchone()[0]
    assert row == (first["text"], json.dumps(expected), "grid-7", queue["model_version"], "queue", str(first["id"]))
    assert states == {first["id"]: "labelled", second["id"]: "skipped"}
    assert linked == feedback_id
    remaining = _api(base, "GET", "/v1/queue?limit=10")
    assert {item["id"] for item in remaining["items"]}.isdisjoint({first["id"], second["id"]})
    assert remaining["counts"] == {"pending": pending, "labelled": 1, "skipped": 1}

    page.evaluate("window.scrollTo(0, 0)")
    RESULTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS_DIR / "review.png"), full_page=True)

    # A refused save is reported in the status line and the passage stays.
    unauthorized = {"error": {"code": "unauthorized", "message": "missing bearer token"}}
    page.route(
        re.compile(r".*/v1/queue/\d+/label$"),
        lambda route: route.fulfill(status=401, content_type="application/json", body=json.dumps(unauthorized)),
    )
    page.keyboard.press("Enter")
    expect(status).to_contain_text("Not saved: The service requires an access token")
    expect(status).to_have_class(re.compile(r"\berror\b"))
    expect(page.get_by_test_id("review-text")).to_have_text(third["text"])
    page.unroute(re.compile(r".*/v1/queue/\d+/label$"))


def test_passages_the_model_cannot_read_are_marked(page, service):
    from playwright.sync_api import expect

    russian = "Россия усилила гибридные атаки против Европы: диверсии на железных дорогах и кибератаки."
    english = "Saboteurs blew up the railway bridge near the border last night."
    page.goto(service["url"] + "/")
    textarea = page.get_by_label("Document text")
    textarea.fill(f"{english} {russian}")
    textarea.press("Control+Enter")
    expect(page.get_by_test_id("status")).to_contain_text("1 not read (a language the model was not trained on)")
    unread = page.get_by_test_id("unsupported-passage")
    expect(unread).to_have_count(1)
    expect(unread).to_have_attribute("data-language", "ru")
    expect(unread.locator(".badge-unsupported")).to_have_text("not read: ru")
    assert unread.locator(".passage-text").inner_text() == russian
    summary = page.get_by_test_id("summary")
    expect(summary).to_contain_text("which the model was not trained on: they were not scored")
    expect(summary.locator('tr[data-label="hybrid_threat_warning"]')).to_contain_text("Unknown – not all read")
    expect(summary.locator('tr[data-label="sabotage_mention"]')).to_contain_text("Yes")  # the English one fired
    unread.click()
    notice = page.get_by_test_id("language-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Not read: this passage is in Russian (ru)")


# Three passages written for the adjudication test, and the labels two analysts give them (they differ on 2 and 3).
ADJUDICATION = [
    ("The coast guard reported that the subsea power link had been cut deliberately.", ["sabotage_mention"],
     ["sabotage_mention"]),
    ("The envoy said the forged letters were part of a campaign to divide the allies.", ["hybrid_threat_warning"], []),
    ("Volunteers from the twin town delivered medicine and said they stand with the city.",
     ["support_statement"], ["hybrid_threat_warning", "support_statement"]),
]  # fmt: skip


def test_adjudication_mode_keyboard(page, service):
    from playwright.sync_api import expect

    base, tokens = service["url"], service["tokens"]
    for column, name in ((1, "ana"), (2, "bo")):
        items = [{"text": entry[0], "labels": entry[column], "document_id": "adj-1"} for entry in ADJUDICATION]
        assert _api(base, "POST", "/v1/feedback", {"items": items}, tokens[name])["stored"] == 3
    report = _api(base, "GET", "/v1/agreement", token=tokens["cy"])
    listing = _api(base, "GET", "/v1/disagreements?state=unresolved", token=tokens["cy"])
    assert [item["text"] for item in listing["items"]] == [ADJUDICATION[1][0], ADJUDICATION[2][0]]

    page.goto(base + "/")
    page.get_by_text("Access token (only if the operator requires one)").click()
    page.locator("#token").fill(tokens["cy"])
    page.get_by_role("button", name="Adjudication").focus()
    page.keyboard.press("Enter")
    card = page.get_by_test_id("adjudicate-card")
    expect(card).to_be_visible()
    expect(card).to_be_focused()
    expect(page.locator("#analyse-form")).to_be_hidden()

    # The agreement figures, as GET /v1/agreement computes them.
    expect(page.get_by_test_id("agreement-summary")).to_have_text(
        f"{report['passages']} passages labelled by at least two analysts (ana, bo)."
    )
    rows = page.get_by_test_id("agreement-body")
    for label, figures in report["labels"].items():
        row = rows.locator(f'tr[data-label="{label}"]')
        alpha = "–" if figures["alpha"] is None else f"{figures['alpha']:.3f}"
        kappa = figures["pairs"][0]["kappa"]
        expect(row.locator(".alpha")).to_have_text(alpha)
        expect(row.locator(".kappa")).to_have_text(f"ana–bo {'–' if kappa is None else f'{kappa:.3f}'} (3)")
    expect(page.get_by_test_id("agreement-consensus")).to_contain_text("ana 100% of 7 decisions")

    # The first disagreement: each analyst's labels; the labels both gave are ticked to start with.
    expect(page.get_by_test_id("adjudicate-text")).to_have_text(ADJUDICATION[1][0])
    annotations = page.get_by_test_id("adjudicate-annotations")
    expect(annotations.locator('li[data-annotator="ana"]')).to_have_text("ana: Hybrid-threat warning")
    expect(annotations.locator('li[data-annotator="bo"]')).to_have_text("bo: no label")
    expect(page.get_by_test_id("adjudicate-count")).to_have_text(
        "Resolved 0 in this session · 2 disagreements unresolved."
    )
    for label in ("hybrid_threat_warning", "sabotage_mention", "support_statement"):
        expect(page.locator(f"#adjudicate-label-{label}")).not_to_be_checked()

    # N leaves it for later; the second is shown with its common label ticked; 1 toggles, Enter resolves.
    page.keyboard.press("n")
    expect(page.get_by_test_id("adjudicate-text")).to_have_text(ADJUDICATION[2][0])
    expect(page.locator("#adjudicate-label-support_statement")).to_be_checked()
    with page.expect_response(re.compile(r"/v1/disagreements/[0-9a-f]{64}/resolve$")) as response_info:
        page.keyboard.press("Enter")
    assert response_info.value.status == 200
    status = page.get_by_test_id("status")
    expect(status).to_contain_text("Resolved: the next retrain learns Support statement.")
    expect(page.get_by_test_id("adjudicate-text")).to_have_text(ADJUDICATION[1][0])
    page.keyboard.press("1")
    with page.expect_response(re.compile(r"/v1/disagreements/[0-9a-f]{64}/resolve$")) as response_info:
        page.keyboard.press("Enter")
    assert response_info.value.status == 200
    expect(page.locator("#adjudicate-empty-text")).to_contain_text("No unresolved disagreement")
    expect(page.get_by_test_id("adjudicate-count")).to_have_text(
        "Resolved 2 in this session · 0 disagreements unresolved."
    )
    # The consensus now follows the adjudicated labels, which side with ana twice: bo is overruled on the
    # hybrid label of passages 2 and 3 (7 of 9 decisions), ana on none.
    expect(page.get_by_test_id("agreement-consensus")).to_have_text(
        "Agreement with the consensus (adjudicated labels, else the majority): ana 100% of 9 decisions · "
        "bo 77.8% of 9 decisions."
    )

    with sqlite3.connect(service["db"]) as conn:
        stored = dict(conn.execute("SELECT text, labels FROM adjudications"))
    assert stored == {ADJUDICATION[1][0]: '["hybrid_threat_warning"]', ADJUDICATION[2][0]: '["support_statement"]'}

    RESULTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS_DIR / "adjudication.png"), full_page=True)


def test_an_analyst_is_refused_adjudication_on_the_page(page, service):
    from playwright.sync_api import expect

    page.goto(service["url"] + "/")
    page.get_by_text("Access token (only if the operator requires one)").click()
    page.locator("#token").fill(service["tokens"]["ana"])
    page.get_by_role("button", name="Adjudication").click()
    status = page.get_by_test_id("status")
    expect(status).to_contain_text("The access token was refused")
    expect(status).to_contain_text("may not adjudicate")
    expect(page.get_by_test_id("adjudicate-card")).to_be_hidden()


def test_monitor_view_charts_the_alert_rate_per_label(page, service):
    """The monitor mode reads GET /v1/monitor: the window's alert rate per label in a table and a chart drawn
    by the vendored uPlot, with no request leaving the service's origin."""
    from playwright.sync_api import expect

    texts = [SABOTAGE, HYBRID, SUPPORT, *NEUTRAL]
    body = json.dumps({"texts": texts * 4, "source": "e2e-feed"}).encode()
    request = urllib.request.Request(
        service["url"] + "/v1/predict", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    with urllib.request.urlopen(service["url"] + "/v1/monitor", timeout=30) as response:
        report = json.load(response)
    window = report["sources"]["all"]

    origins: list[str] = []
    page.on("request", lambda r: origins.append(r.url.split("/")[2] if "://" in r.url else r.url))
    page.goto(service["url"] + "/")
    page.get_by_test_id("mode-monitor").click()
    monitor = page.get_by_test_id("monitor")
    expect(monitor).to_be_visible()
    expect(page.locator("#analyse-mode")).to_be_hidden()
    summary = page.get_by_test_id("monitor-summary")
    expect(summary).to_contain_text("passages in the window")
    expect(summary).to_contain_text("e2e-feed")
    rows = page.get_by_test_id("monitor-body").locator("tr")
    expect(rows).to_have_count(len(window["labels"]))
    for label, entry in window["labels"].items():
        row = page.get_by_test_id("monitor-body").locator(f'tr[data-label="{label}"]')
        # at least the passages of the report read before the page (the page's own answer may hold more)
        expect(row.locator("td.expected")).to_have_text(f"{round(entry['expected_alert_rate'] * 1000) / 10:g}%")
        assert row.locator("td.rate").inner_text().endswith("%")
        expect(row.locator("td.flags")).to_have_text("none")  # fewer than HTA_MONITOR_MIN_PASSAGES passages
    chart = page.get_by_test_id("monitor-chart")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(chart.locator(".u-legend .u-series")).to_have_count(len(window["labels"]) + 1)  # time, then each label
    host = service["url"].split("/")[2]
    assert origins and set(origins) == {host}, origins
    RESULTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS_DIR / "monitor.png"), full_page=True)
