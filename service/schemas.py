"""Request and response bodies of the HTTP API, described once as pydantic models.

Handlers get validated instances through `service.contract.operation`; `service.openapi` turns the same
models into the OpenAPI document. Request models are strict (no type coercion: ``"5"`` is not an
integer, ``"yes"`` is not a boolean) and refuse unknown fields. Limits that depend on the configuration
(`MAX_TEXT_CHARS`, `MAX_BATCH`, ...) are read from the validation context (`contract.limits_context`)
and marked with `Limit` so the served document states the values in force.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    RootModel,
    Tag,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from classifier.records import source_name_problem

MAX_EVIDENCE_K = 50
MAX_IDENT_CHARS = 256
NOT_BLANK = re.compile(r"\S")
# For the document only (the checks below say which rule a text broke): no NUL, at least one character
# that is not whitespace. Lone surrogates are refused too, but a pattern cannot say so portably (regex
# engines such as Rust's have no surrogate code points), and valid JSON text from a UTF-8 client has none.
TEXT_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
IDENT_PATTERN = r"^[^\u0000]*$"


class Limit:
    """Marks a string or list whose length limit is a setting: `keyword` (maxLength/maxItems) gets its value
    when the document is served (`openapi.fill_limits`)."""

    def __init__(self, setting: str, keyword: str):
        self.setting, self.keyword = setting, keyword

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)
        schema["x-hta-limit"] = [self.setting, self.keyword]
        return schema


class SchemaExtra:
    """Adds keywords to a type's JSON schema that pydantic does not check itself (a validator does)."""

    def __init__(self, **keywords):
        self.keywords = keywords

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)
        schema.update(self.keywords)
        return schema


def check_clean(value: str) -> str:
    """Refuse NUL characters and lone surrogates (text that is not valid Unicode)."""
    if "\x00" in value:
        raise PydanticCustomError("invalid_text", "contains a NUL character (U+0000)")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise PydanticCustomError(
                "invalid_text",
                "contains a lone surrogate (U+{code}) at character {at}: not valid Unicode text",
                {"code": f"{ord(value[exc.start]):04X}", "at": exc.start},
            ) from None
    return value


def _text_check(limit_key: str):
    def check(value: str, info: ValidationInfo) -> str:
        limit = (info.context or {}).get(limit_key)
        if limit is not None and len(value) > limit:
            raise PydanticCustomError(
                "text_too_long", "has {n} characters; the limit is {limit}", {"n": len(value), "limit": limit}
            )
        check_clean(value)
        if not NOT_BLANK.search(value):
            raise PydanticCustomError("empty_text", "is empty")
        return value

    return check


Text = Annotated[
    str,
    AfterValidator(_text_check("MAX_TEXT_CHARS")),
    Limit("MAX_TEXT_CHARS", "maxLength"),
    SchemaExtra(pattern=TEXT_PATTERN),
]
FeedbackText = Annotated[
    str,
    AfterValidator(_text_check("MAX_FEEDBACK_TEXT_CHARS")),
    Limit("MAX_FEEDBACK_TEXT_CHARS", "maxLength"),
    SchemaExtra(pattern=TEXT_PATTERN),
]


def _ident_check(value: str) -> str:
    check_clean(value)  # first: pydantic's own length checks would refuse a lone surrogate less clearly
    if not 1 <= len(value) <= MAX_IDENT_CHARS:
        raise PydanticCustomError("invalid_value", "must have 1 to {limit} characters", {"limit": MAX_IDENT_CHARS})
    return value


Ident = Annotated[
    str,
    AfterValidator(_ident_check),
    SchemaExtra(minLength=1, maxLength=MAX_IDENT_CHARS, pattern=IDENT_PATTERN),
]

# A source name (`classifier.records.source_name_problem`): no control characters, which would break the
# monitor's source list and Prometheus' label values.
SOURCE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"


def _source_check(value: str) -> str:
    check_clean(value)
    problem = source_name_problem(value)
    if problem is not None:
        raise PydanticCustomError("invalid_value", problem)
    return value


SourceName = Annotated[
    str,
    AfterValidator(_source_check),
    SchemaExtra(minLength=1, maxLength=MAX_IDENT_CHARS, pattern=SOURCE_PATTERN),
]


def one_message(message: str):
    """A wrap validator that reports any failure of the wrapped type as one `message`."""

    def check(value, handler):
        try:
            return handler(value)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                if error["type"] == "invalid_text":  # a NUL or lone surrogate: say so
                    raise PydanticCustomError("invalid_text", error["msg"]) from None
            raise PydanticCustomError("invalid_value", message) from None

    return WrapValidator(check)


def batch_check(limit_key: str):
    """A list validator: not empty, at most the `limit_key` setting's items (413 `batch_too_large` above)."""

    def check(value, handler, info: ValidationInfo):
        if isinstance(value, list):
            if not value:
                raise PydanticCustomError("empty_list", "is empty")
            limit = (info.context or {}).get(limit_key)
            if limit is not None and len(value) > limit:
                raise PydanticCustomError(
                    "batch_too_large", "has {n} items; the limit is {limit}", {"n": len(value), "limit": limit}
                )
        return handler(value)

    return check


def _label_check(value: str, info: ValidationInfo) -> str:
    lazy = (info.context or {}).get("labels")
    known = getattr(lazy, "names", lazy)
    if known is not None and value not in known:
        raise PydanticCustomError(
            "unknown_label", "unknown label {label}; known: {known}", {"label": repr(value), "known": ", ".join(known)}
        )
    return value


def _integral(value: Any) -> Any:
    """JSON has one number type: 5.0 is the integer 5 (JSON Schema says so too); 5.5 stays a float."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral)]
Label = Annotated[str, AfterValidator(_label_check), SchemaExtra(**{"x-hta-labels": True})]
DocumentId = Annotated[JsonInt | Ident, one_message("must be a string or integer")]


class ContractModel(BaseModel):
    """Base of request bodies: strict types, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseModel(BaseModel):
    """Base of response bodies (documentation and tests; handlers build plain dicts)."""


# ---------------------------------------------------------------- predict


class Document(ContractModel):
    """One document to segment and score."""

    id: DocumentId = Field(None, description="your id, echoed in the result")
    text: Text
    source: SourceName = Field(
        None,
        description="the register the document comes from (a name of yours, e.g. a feed); overrides the "
        "request's `source`; echoed in the result",
    )


TextBatch = Annotated[
    list[Text], WrapValidator(batch_check("MAX_BATCH")), Limit("MAX_BATCH", "maxItems"), SchemaExtra(minItems=1)
]
DocumentBatch = Annotated[
    list[Document], WrapValidator(batch_check("MAX_BATCH")), Limit("MAX_BATCH", "maxItems"), SchemaExtra(minItems=1)
]
PassagesOption = Annotated[
    bool | Literal["always", "auto", "never"],
    one_message('must be true, false, "auto", "always" or "never"'),
]
EvidenceOption = Annotated[
    bool | Annotated[int, Field(ge=0, le=MAX_EVIDENCE_K), BeforeValidator(_integral)],
    one_message(f"must be true, false or an integer 0..{MAX_EVIDENCE_K}"),
]
INPUT_FIELDS = ("text", "texts", "documents")


# Optional request fields default to None but are not nullable: an explicit null is refused.


def exactly_one_of(data: Any, fields: tuple[str, ...]) -> Any:
    """A model's "before" check that its body gives exactly one of `fields` (error type ``exactly_one``)."""
    if isinstance(data, dict) and sum(name in data for name in fields) != 1:
        quoted = [f"'{name}'" for name in fields]
        raise PydanticCustomError("exactly_one", f"give exactly one of {', '.join(quoted[:-1])} or {quoted[-1]}")
    return data


class PredictRequest(ContractModel):
    """Exactly one of `text`, `texts` or `documents`.

    Every text is segmented into passages and every result has the same shape (`labels`, `scores`,
    `alerts`, `passages`), whatever its passage count; `"passages": false` / `"never"` leaves the
    passages out of the answer and changes no score (the same in the CLI and batch scoring).
    """

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": [name]} for name in INPUT_FIELDS]},
    )

    text: Text = Field(None, description="one text")
    texts: TextBatch = Field(None, description="several texts, one result each, in order")
    documents: DocumentBatch = Field(None, description="documents with optional ids")
    passages: PassagesOption = Field(
        None,
        description='list passages with offsets: true/"always"/"auto" (the default: every result lists its '
        'passages, one or many), or false/"never" (labels, scores and alerts only; the same scores).',
    )
    evidence: EvidenceOption = Field(
        None, description=f"evidence terms per flagged label: true = top 5, or a number 0..{MAX_EVIDENCE_K}"
    )
    source: SourceName = Field(
        None,
        description="the register the texts come from (a name of yours, e.g. a feed, the same as feedback's "
        "`document_source`): a source with thresholds of its own (the model's `thresholds_by_source`, tuned "
        "on its feedback) is decided with them; echoed in each result",
    )

    @model_validator(mode="before")
    @classmethod
    def _exactly_one_input(cls, data: Any) -> Any:
        return exactly_one_of(data, INPUT_FIELDS)


def fast_predict_request(data: Any, config: dict) -> PredictRequest | None:
    """The `PredictRequest` of the most common body, ``{"text": "..."}``, built without running pydantic
    when its text passes the same checks as `Text` (the length limit, no NUL or lone surrogate, not
    blank); None for any other body, which full validation then decides with its own messages. Only ever
    answers what full validation would: tests/service/test_fast_path.py compares the two."""
    if type(data) is not dict or len(data) != 1:
        return None
    text = data.get("text")
    if type(text) is not str or len(text) > config["MAX_TEXT_CHARS"] or "\x00" in text:
        return None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return None
    if not NOT_BLANK.search(text):
        return None
    return PredictRequest.model_construct(text=text)


class EvidenceTerm(ResponseModel):
    term: str
    weight: float


Scores = dict[str, float]
NullableScores = dict[str, float | None]
Language = str | None
Evidence = dict[str, list[EvidenceTerm]]


class Alert(ResponseModel):
    alert: bool | None = Field(
        description="true: a passage reached the threshold; false: none did and the model read every passage; "
        "null: none of the passages it read did, but some passages are in a language it was not trained on"
    )
    max_score: float | None = Field(description="the label's highest score over the scored passages (null: none)")
    threshold: float = Field(description="the label's decision threshold: an alert when a passage reaches it")
    passages: list[int] | None = Field(
        None, description="indices of the passages that raised the alert (when passages are listed)"
    )
    reason: str | None = Field(None, description="why the alert is null (only then)")


class Passage(ResponseModel):
    index: int
    start: int = Field(description="offset of the first character in the text")
    end: int = Field(description="offset after the last character: text[start:end] is the passage")
    kind: str
    text: str
    language: Language = Field(description="ISO 639-1 code (null: cannot be told, e.g. no letters)")
    supported: bool = Field(description="whether the model was trained on the passage's language")
    labels: list[str]
    scores: NullableScores = Field(description="label -> probability; each null when the passage was not scored")
    evidence: Evidence | None = None


class Result(ResponseModel):
    """One text's or document's result: the same shape whatever its passage count. `passages` are listed
    unless the request says "passages": false / "never" (then `evidence`, if asked for, is the evidence of
    each fired label's highest-scoring passage)."""

    id: int | str | None = Field(None, description="the document's id (documents only)")
    source: str | None = Field(None, description="the source named in the request (only then)")
    labels: list[str] = Field(description="labels that fired (for a document: with an alert)")
    scores: NullableScores = Field(
        description="label -> probability (for a document: its highest scored passage's; null when none was scored)"
    )
    alerts: dict[str, Alert] = Field(description="label -> alert, highest score, threshold (and passages)")
    language: Language = Field(description="the language covering most of the text (ISO 639-1; null: cannot tell)")
    unsupported_languages: list[str] = Field(
        description="languages of passages the model was not trained on (not scored unless the operator asks)"
    )
    evidence: Evidence | None = None
    passages: list[Passage] | None = None


class PredictResponse(ResponseModel):
    model_version: str
    results: list[Result]


# ---------------------------------------------------------------- models


class ServingState(ResponseModel):
    """Which version this service serves and why (the same answer in every worker)."""

    serving: str | None
    current: str | None = Field(description="the version CURRENT names (it may fail verification)")
    fallback: bool = Field(description="true when serving an earlier good version because the current one is bad")
    chosen_by: str | None = Field(
        default=None, description="who made the served version current: operator, gate, training or bundled"
    )
    reason: str | None = Field(default=None, description="why the current version is not served, if it is not")


class ModelInfo(ResponseModel):
    version: str
    serving: ServingState
    created: str | None
    labels: list[str]
    thresholds: dict[str, float] = Field(description="each label's threshold, for languages without their own")
    supported_languages: list[str] = Field(description="languages the model was trained on and scores")
    thresholds_by_language: dict[str, dict[str, float]] = Field(
        description="language -> label -> threshold, where a language has enough labelled rows for its own"
    )
    thresholds_by_source: dict[str, dict[str, float]] = Field(
        description="source -> label -> threshold, where a named source's feedback has enough positives of the "
        "label (HTA_SOURCE_THRESHOLD_LABELS); used when a prediction names the source"
    )
    languages: dict[str, Any] | None = Field(description="per language of the training data: rows, labels, support")
    metrics: dict[str, Any] | None
    training_data: dict[str, Any] | None
    params: dict[str, Any] | None


class VersionSummary(ResponseModel):
    version: str
    created: str | None
    labels: list[str] | None
    macro_f1: float | None
    training_rows: int | None
    current: bool


class ModelList(ResponseModel):
    current: str | None
    versions: list[VersionSummary] = Field(description="oldest first")


class Activated(ResponseModel):
    current: str
    previous: str | None
    serving: str


# ---------------------------------------------------------------- feedback


class FeedbackItem(ContractModel):
    """One passage and the labels it should have (`[]` for none)."""

    text: FeedbackText
    labels: list[Label]
    document_id: DocumentId = None
    document_source: SourceName = Field(
        None,
        description="the register the passage's document comes from (predict's `source`): once a source's "
        "feedback has HTA_SOURCE_THRESHOLD_LABELS positives of a label, retraining tunes its own threshold",
    )
    model_version: Ident = None


class FeedbackBatch(ContractModel):
    items: Annotated[
        list[FeedbackItem],
        WrapValidator(batch_check("MAX_FEEDBACK_ITEMS")),
        Limit("MAX_FEEDBACK_ITEMS", "maxItems"),
        SchemaExtra(minItems=1),
    ]


def _feedback_kind(value: Any) -> str:
    return "tag:batch" if isinstance(value, dict) and "items" in value else "tag:item"


class FeedbackRequest(RootModel):
    """One item, or ``{"items": [...]}``."""

    root: Annotated[
        Annotated[FeedbackItem, Tag("tag:item")] | Annotated[FeedbackBatch, Tag("tag:batch")],
        Discriminator(_feedback_kind),
    ]

    def items(self) -> list[FeedbackItem]:
        """The items, whichever form was sent."""
        return self.root.items if isinstance(self.root, FeedbackBatch) else [self.root]


class FeedbackStored(ResponseModel):
    stored: int
    ids: list[int]


class FeedbackRow(ResponseModel):
    id: int
    created: str
    updated: str | None
    text: str
    labels: list[str]
    document_id: str | None
    model_version: str | None
    source: str = Field(description='where the row came from: "api", or an outside tool such as "label-studio"')
    source_project: str | None = Field(description="the outside tool's project")
    source_ref: str | None = Field(description="the outside tool's id of the item (one row per reference)")
    document_source: str | None = Field(None, description="the register the passage's document comes from")
    annotator: str | None = Field(
        description='who gave the labels: an analyst\'s name, "admin" (the admin token), a Label Studio user; '
        "null for labels posted without a named token"
    )


class FeedbackPage(ResponseModel):
    items: list[FeedbackRow]
    next_after_id: int | None = Field(description="pass as after_id for the next page; null on the last page")


def _utc_iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def _iso_time(value: Any) -> datetime:
    """An ISO 8601 date or date-time (not a number of seconds); UTC when it has no zone."""
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_value", "must be an ISO 8601 date-time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError(
            "invalid_value", "must be an ISO 8601 date-time, such as 2026-11-26T12:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


IsoTime = Annotated[datetime, PlainValidator(_iso_time), WithJsonSchema({"type": "string", "format": "date-time"})]


class FeedbackQuery(BaseModel):
    """Filters and paging of GET /v1/feedback (query parameters; times without a zone are UTC)."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(100, ge=1, le=1000, description="rows per page")
    after_id: int = Field(0, ge=0, le=2**63 - 1, description="return rows with a larger id (keyset paging)")
    since: IsoTime | None = Field(None, description="created at or after (ISO 8601)")
    until: IsoTime | None = Field(None, description="created before (ISO 8601)")
    label: Ident | None = Field(None, description="rows carrying this label")
    document_id: Ident | None = None
    source: Ident | None = Field(None, description='"api", "label-studio", ...')
    annotator: Ident | None = Field(None, description="rows labelled by this annotator (analyst name)")

    def store_filters(self) -> dict:
        """Keyword arguments of `Store.list_feedback`."""
        return {
            "limit": self.limit,
            "after_id": self.after_id,
            "since": _utc_iso(self.since),
            "until": _utc_iso(self.until),
            "label": self.label,
            "document_id": self.document_id,
            "source": self.source,
            "annotator": self.annotator,
        }


class FeedbackDeleted(ResponseModel):
    deleted: FeedbackRow


# ---------------------------------------------------------------- retrain and jobs


class RetrainRequest(ContractModel):
    """Optionally `shadow`: live passages to shadow the candidate on before promotion (the body may be empty)."""

    shadow: Annotated[int, Field(ge=1, le=10_000_000), BeforeValidator(_integral)] = Field(
        None, description="shadow a candidate the gate passes on this many live passages before promoting it"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_parameters(cls, data: Any) -> Any:
        if not isinstance(data, dict) or set(data) <= {"shadow"}:
            return data
        raise PydanticCustomError(
            "no_parameters",
            'retrain takes no parameters but "shadow": the training data is configured on the server',
        )


class Job(ResponseModel):
    id: str
    kind: str | None = None
    state: Literal["queued", "running", "succeeded", "rejected", "failed"]
    created: str
    started: str | None
    finished: str | None
    pid: int | None = None
    progress: list[dict[str, Any]]
    base_version: str | None
    candidate_version: str | None
    promoted: bool
    metrics: dict[str, Any] | None
    verdict: dict[str, Any] | None
    error: str | None
    feedback_rows: int | None
    instance: str | None = Field(None, description="the instance that started the job (HTA_INSTANCE)")
    heartbeat: str | None = Field(None, description="when the running job last said it was alive")


class RetrainStarted(ResponseModel):
    job: Job
    location: str


# ---------------------------------------------------------------- monitor


class MonitorFlag(ResponseModel):
    flag: Literal["drift", "alert_rate_high", "alert_rate_low"]
    threshold: float = Field(description="the setting that raised it (HTA_MONITOR_PSI, HTA_MONITOR_RATE_RATIO)")
    psi: float | None = None
    alert_rate_ratio: float | None = None


class MonitorLabel(ResponseModel):
    alerts: int = Field(description="passages of the window at or above the label's threshold")
    alert_rate: float | None = Field(description="alerts / passages (null: an empty window)")
    expected_alert_rate: float | None = Field(description="the version's rate on held-out rows (null: no reference)")
    alert_rate_ratio: float | None = Field(description="alert_rate / expected_alert_rate")
    psi: float | None = Field(description="population stability index of the window's scores against the held-out ones")
    flags: list[MonitorFlag] = Field(description="raised once the window has min_passages passages")


class MonitorSource(ResponseModel):
    passages: int
    labels: dict[str, MonitorLabel]


class MonitorReport(ResponseModel):
    model_version: str
    window: dict[str, Any] = Field(description="passages, limit (HTA_MONITOR_WINDOW), oldest and newest times")
    thresholds: dict[str, float] = Field(description="psi, alert_rate_ratio, min_passages in force")
    reference: dict[str, Any] | None = Field(description="the version's score reference (null: stored without one)")
    timeline: dict[str, Any] = Field(
        description="the whole window's alert rate per label over time: times (epoch seconds of each span's last "
        "passage), passages per span, alert_rates (label -> one rate per span), oldest first"
    )
    sources_tracked: list[str] = Field(description="the source names kept (the first HTA_MONITOR_MAX_SOURCES seen)")
    sources_limit: int
    sources: dict[str, MonitorSource] = Field(
        description='"all", then each source of the window: names kept, "other" (beyond the limit), "unnamed"'
    )


# ---------------------------------------------------------------- shadow runs


class ShadowRequest(ContractModel):
    """A shadow run's options (the body may be empty: the defaults)."""

    share: Annotated[float, Field(gt=0, le=1)] = Field(
        None, description="share of predict requests the shadow version scores (default HTA_SHADOW_SHARE)"
    )
    passages: Annotated[int, Field(ge=1, le=1_000_000_000), BeforeValidator(_integral)] = Field(
        None, description="stop after scoring this many passages (default: run until DELETE /v1/shadow)"
    )


class ShadowRun(ResponseModel):
    id: str
    version: str = Field(description="the shadow version")
    share: float
    passages: int | None = Field(description="the run stops after this many passages (null: until stopped)")
    started: str
    stopped: str | None
    labels: list[str] = Field(description="the labels both versions score (the comparison's)")
    current_version: str = Field(description="the version served when the run started")


class ShadowLabel(ResponseModel):
    current_alerts: int
    shadow_alerts: int
    current_alert_rate: float | None
    shadow_alert_rate: float | None
    disagreements: int = Field(description="passages one version alerts on and the other does not")
    disagreement_rate: float | None


class ShadowSample(ResponseModel):
    text: str = Field(description="the passage")
    label: str
    current: bool = Field(description="the served version's decision")
    shadow: bool = Field(description="the shadow version's decision")
    shadow_score: float | None
    current_version: str


class ShadowReport(ResponseModel):
    state: Literal["running", "done", "stopped"]
    run: ShadowRun
    passages: int = Field(description="passages both versions scored")
    requests: int = Field(description="predict requests the shadow version scored")
    dropped_requests: float = Field(description="requests offered while the queue was full (every worker, every run)")
    skipped_requests: int = Field(description="requests the two versions segmented differently (not compared)")
    labels: dict[str, ShadowLabel]
    samples: list[ShadowSample] = Field(description="passages the versions disagree on, newest first (at most 20)")


class ShadowStarted(ResponseModel):
    run: ShadowRun
    location: str


# ---------------------------------------------------------------- ops and errors


class Health(ResponseModel):
    status: Literal["ok"]


class DatabaseState(ResponseModel):
    engine: Literal["postgresql"]
    database: str = Field(description="the database URL without its password")
    status: Literal["ok", "unavailable"]
    error: str | None = None


class Ready(ResponseModel):
    status: Literal["ready", "degraded"]
    model_version: str
    current_version: str | None = None
    fallback: bool = False
    reason: str | None = None
    waiting_for: str | None = Field(None, description="a current version whose files this host cannot see yet")
    database: DatabaseState | None = Field(None, description="PostgreSQL only: whether the database answers")


class ErrorDetail(ResponseModel):
    code: str = Field(description="stable, machine-readable")
    message: str = Field(description="for people; names the field at fault")


class ErrorBody(ResponseModel):
    """Every error: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail
