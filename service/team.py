"""The team routes (issue 22): agreement between annotators, disagreements and their adjudication, and the
label-error screen.

Passages, the resolution rule and the statistics are training's (`training.feedback`,
`training.agreement`, `training.label_issues`); these routes read the store, check the caller and answer.
"""

from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify

from service.auth import current_caller
from service.contract import current_labels, operation
from service.errors import APIError
from service.store import NoDisagreement, PassageNotFound
from service.team_schemas import (
    Agreement,
    DisagreementList,
    DisagreementsQuery,
    LabelIssues,
    LabelIssuesQuery,
    Resolved,
    ResolveRequest,
)

bp = Blueprint("team", __name__, url_prefix="/v1")
TAGS = ("team",)
PASSAGE_ID = re.compile(r"^[0-9a-f]{64}$")


def _store():
    return current_app.extensions["hta_store"]


def annotation(row: dict) -> dict:
    """One annotator's feedback row of a passage as the API shows it."""
    return {
        "annotator": row["annotator"],
        "labels": sorted(row["labels"]),
        "feedback_id": row["id"],
        "source": row.get("source") or "api",
        "created": row["created"],
    }


def disagreement_item(passage) -> dict:
    """A passage with disagreeing annotators as the API shows it."""
    by_name = passage.labels_by_annotator()
    every = sorted({label for labels in by_name.values() for label in labels})
    disputed = [label for label in every if not all(label in labels for labels in by_name.values())]
    return {
        "id": passage.key,
        "text": passage.text,
        "document_id": passage.document_id,
        "annotations": [annotation(row) for row in passage.rows if row["annotator"] is not None],
        "disputed_labels": disputed,
        "resolution": passage.adjudication,
    }


@bp.get("/agreement")
@operation(
    "Agreement between annotators, per label (adjudicator or admin)",
    description="Over the passages labelled by at least two named annotators: per label, Cohen's kappa of every "
    "pair of annotators and Krippendorff's alpha (nominal) over all of them; each annotator's agreement with the "
    "consensus (adjudicated labels, else the majority).",
    responses={200: Agreement},
    errors=(401, 403),
    auth="adjudicator",
    tags=TAGS,
)
def agreement():
    """The agreement report of the stored feedback (`training.agreement.agreement`)."""
    from training import agreement as report

    return jsonify(report(_store().passages(), current_labels()))


@bp.get("/disagreements")
@operation(
    "Passages whose annotators differ on any label, with each annotator's labels (adjudicator or admin)",
    description="Unresolved ones are held back from retraining until an adjudicator resolves them.",
    query=DisagreementsQuery,
    responses={200: DisagreementList},
    errors=(400, 401, 403),
    auth="adjudicator",
    tags=TAGS,
)
def disagreements(query: DisagreementsQuery):
    """Every passage its named annotators disagree on, oldest first, filtered by `state`."""
    found = [p for p in _store().passages() if p.named and p.disagreement]
    resolved = [p for p in found if p.adjudication is not None]
    counts = {"all": len(found), "unresolved": len(found) - len(resolved), "resolved": len(resolved)}
    if query.state == "resolved":
        found = resolved
    elif query.state == "unresolved":
        found = [p for p in found if p.adjudication is None]
    return jsonify({"counts": counts, "items": [disagreement_item(p) for p in found]})


@bp.post("/disagreements/<passage_id>/resolve")
@operation(
    "Set the final labels of a passage its annotators disagree on (adjudicator or admin)",
    description="Retraining learns the adjudicated labels instead of holding the passage back. Resolving again "
    "replaces the earlier adjudication. A passage whose annotators agree cannot be resolved (409).",
    body=ResolveRequest,
    responses={200: Resolved},
    errors=(400, 401, 403, 404, 409, 413, 415),
    auth="adjudicator",
    example={"labels": ["sabotage_mention"]},
    tags=TAGS,
)
def resolve(passage_id: str, body: ResolveRequest):
    """Store the adjudicator's labels of the passage (one transaction, which checks the disagreement)."""
    if not PASSAGE_ID.match(passage_id):
        raise APIError(404, "not_found", f"passage {passage_id!r} not found (ids are 64 lowercase hex digits)")
    caller = current_caller()
    try:
        passage, replaced = _store().resolve_passage(passage_id, list(body.labels), caller.name)
    except PassageNotFound:
        raise APIError(404, "not_found", f"passage {passage_id} not found") from None
    except NoDisagreement as exc:
        who = "annotators agree" if exc.annotators != 1 else "annotator is its only one"
        message = f"passage {passage_id} has no disagreement to resolve: its {exc.annotators} {who}"
        raise APIError(409, "no_disagreement", message) from None
    current_app.logger.info("passage %s resolved by %s", passage_id, caller.name)
    return jsonify({"item": disagreement_item(passage), "replaced": replaced})


@bp.get("/label-issues")
@operation(
    "Rows whose labels the model's out-of-fold probabilities contradict most (admin)",
    description="Screens the retrain's data (HTA_RETRAIN_DATA, else the bundled corpus) plus the resolved feedback "
    "with HTA_RETRAIN_CV-fold grouped cross-validation and cleanlab's multi-label find_label_issues; answers the "
    "flagged rows worst first with suggested labels. Trains the fold models in the request: about 20 s on the "
    "bundled corpus. Nothing is relabelled.",
    query=LabelIssuesQuery,
    responses={200: LabelIssues},
    errors=(400, 401, 403, 422),
    auth="admin",
    tags=TAGS,
)
def label_issues(query: LabelIssuesQuery):
    """Run the screen (`training.label_issues.screen`) over the retrain's data and the resolved feedback."""
    from classifier.config import CORPUS_PATH
    from classifier.records import RecordError
    from training import load_dataset, resolved_view, screen

    config = current_app.config
    view = resolved_view(_store().passages())
    try:
        dataset = load_dataset(config.get("RETRAIN_DATA") or CORPUS_PATH, extra_records=("feedback", view.records),
                               min_label_count=0)  # fmt: skip
        report = screen(dataset, cv=config["RETRAIN_CV"], n_jobs=config["RETRAIN_PROCESSES"])
    except (RecordError, ValueError) as exc:
        raise APIError(422, "screen_failed", f"the label-error screen cannot run: {exc}") from None
    issues = report["issues"]
    if query.scope == "feedback":
        issues = [issue for issue in issues if issue["feedback"]]
    return jsonify({**report, "scope": query.scope, "issues": issues[: query.limit]})
