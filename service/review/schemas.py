"""Request and response bodies of the ``/v1/queue`` routes, as pydantic models of the one contract.

`service.contract.operation` validates requests with these models (strict types, unknown fields refused,
errors naming the field as everywhere in the API: ``passages[1].text: is empty``) and `service.openapi`
documents them. They are built from the blocks of `service.schemas`: `Text` (the ``MAX_TEXT_CHARS``
limit, no NUL or lone surrogate, not blank), ``MAX_BATCH`` batches, `DocumentId` and `Label` (a name of
the current model's labels).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WrapValidator, model_validator

from service.schemas import (
    ContractModel,
    DocumentId,
    Evidence,
    Label,
    Limit,
    NullableScores,
    ResponseModel,
    SchemaExtra,
    Scores,
    Text,
    batch_check,
    exactly_one_of,
    one_message,
)

DEFAULT_LIMIT = 10
MAX_LIMIT = 50
INPUT_FIELDS = ("passages", "documents")

# ---------------------------------------------------------------- requests


class QueuePassage(ContractModel):
    """One passage to queue as it is (not segmented; surrounding white space is trimmed)."""

    text: Text
    document_id: DocumentId = Field(None, description="the id of the document it came from (stored as text)")


class QueueDocument(ContractModel):
    """One document to segment into passages; each keeps the document id, its offsets and its context."""

    id: DocumentId = Field(None, description="your id of the document (stored as text)")
    text: Text


# Lists of 1..MAX_BATCH items (the limit in force is filled into the document).
PassageBatch = Annotated[
    list[QueuePassage],
    WrapValidator(batch_check("MAX_BATCH")),
    Limit("MAX_BATCH", "maxItems"),
    SchemaExtra(minItems=1),
]
DocumentBatch = Annotated[
    list[QueueDocument],
    WrapValidator(batch_check("MAX_BATCH")),
    Limit("MAX_BATCH", "maxItems"),
    SchemaExtra(minItems=1),
]


class QueueAddRequest(ContractModel):
    """Exactly one of `passages` (queued as given) or `documents` (segmented into passages)."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": [name]} for name in INPUT_FIELDS]})

    passages: PassageBatch = Field(None, description="passages queued as they are")
    documents: DocumentBatch = Field(None, description="documents cut into passages")

    @model_validator(mode="before")
    @classmethod
    def _exactly_one_input(cls, data: Any) -> Any:
        return exactly_one_of(data, INPUT_FIELDS)


class QueueLabelRequest(ContractModel):
    """The passage's labels (``[]``: none applies); each one of the current model's labels."""

    labels: list[Label]


class QueueSkipRequest(ContractModel):
    """No parameters: the body may be empty or ``{}``."""


class QueueQuery(BaseModel):
    """The query string of ``GET /v1/queue``."""

    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT), one_message(f"must be an integer 1..{MAX_LIMIT}")] = Field(
        DEFAULT_LIMIT, description="passages to answer, most worth labelling first"
    )
    language: (
        Annotated[str, Field(pattern=r"^[a-z]{2,3}$"), one_message("must be a language code such as 'en' or 'ru'")]
        | None
    ) = Field(None, description="only passages in this language (ISO 639-1, as results give it)")


# ---------------------------------------------------------------- responses


class QueueCounts(ResponseModel):
    """Items per state: pending (the pool), labelled, skipped."""

    pending: int
    labelled: int
    skipped: int


class QueueContext(ResponseModel):
    """The document text around a passage (up to two passages and 400 characters on each side)."""

    before: str
    after: str


class QueueItem(ResponseModel):
    """One passage of the pool."""

    id: int
    text: str
    state: Literal["pending", "labelled", "skipped"]
    origin: Literal["api", "capture"] = Field(
        description='"api": added with POST /v1/queue; "capture": scored by POST /v1/predict (HTA_QUEUE_CAPTURE)'
    )
    created: str
    document_id: str | None
    start: int | None = Field(description="offset of the passage in its document (documents only)")
    end: int | None = Field(description="offset after the passage in its document (documents only)")
    kind: str | None = Field(description="the passage's kind in its document: heading, bullet, sentence, ...")
    context: QueueContext
    decided: str | None = Field(description="when it was labelled or skipped")
    feedback_id: int | None = Field(description="the feedback row its labels were stored as")
    language: str | None = Field(description="the passage's language (ISO 639-1; null: cannot be told)")


class RankedQueueItem(QueueItem):
    """A pending passage as ranked by the current model, with its scores."""

    rank: int
    labels: list[str] = Field(description="labels the current model gives it")
    scores: NullableScores = Field(
        description="label -> probability; each null when the passage is in a language the model does not read"
    )
    evidence: Evidence = Field(description="terms behind each label given")
    margin: float = Field(description="logit distance to the nearest label threshold (0: the model cannot tell)")
    nearest_label: str


class QueueAdded(ResponseModel):
    added: int
    duplicates: int = Field(description="passages already queued, labelled as feedback, or twice in the request")
    dropped: int = Field(description="oldest pending passages dropped to keep the pool at HTA_QUEUE_MAX_ITEMS")
    ids: list[int] = Field(description="ids of the passages added")
    counts: QueueCounts


class QueueNext(ResponseModel):
    model_version: str
    strategy: str = Field(description="the selection strategy that ranked the passages")
    labels: list[str]
    thresholds: Scores
    counts: QueueCounts
    items: list[RankedQueueItem]


class QueueSkipped(ResponseModel):
    item: QueueItem
    counts: QueueCounts


class QueueLabelled(ResponseModel):
    item: QueueItem
    feedback_id: int = Field(description="the feedback row (source queue, one row per item: a relabel replaces it)")
    counts: QueueCounts
