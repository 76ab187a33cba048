"""Request and response bodies of the team routes (``/v1/agreement``, ``/v1/disagreements``,
``/v1/label-issues``), as pydantic models of the one contract (`service.contract`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.schemas import ContractModel, Label, ResponseModel, Scores, one_message

MAX_ISSUES = 500

# ---------------------------------------------------------------- requests


class ResolveRequest(ContractModel):
    """The passage's final labels (``[]``: none applies); each one of the current model's labels."""

    labels: list[Label]


class DisagreementsQuery(BaseModel):
    """The query string of ``GET /v1/disagreements``."""

    model_config = ConfigDict(extra="forbid")

    state: Annotated[
        Literal["all", "unresolved", "resolved"], one_message("must be one of 'all', 'unresolved', 'resolved'")
    ] = Field("all", description="unresolved: not adjudicated yet (held back from training); resolved: adjudicated")


class LabelIssuesQuery(BaseModel):
    """The query string of ``GET /v1/label-issues``."""

    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=MAX_ISSUES), one_message(f"must be an integer 1..{MAX_ISSUES}")] = Field(
        50, description="flagged rows to answer, worst first"
    )
    scope: Annotated[Literal["feedback", "all"], one_message("must be 'feedback' or 'all'")] = Field(
        "feedback", description="feedback: list only the stored feedback's rows; all: the training data's rows too"
    )


# ---------------------------------------------------------------- responses


class PairAgreement(ResponseModel):
    annotators: list[str] = Field(description="the two annotators")
    passages: int = Field(description="passages both labelled")
    observed_agreement: float = Field(description="share of those passages where they decided the label alike")
    kappa: float | None = Field(description="Cohen's kappa (null: undefined, every decision the same)")


class LabelAgreement(ResponseModel):
    passages: int = Field(description="passages labelled by at least two annotators")
    positive_decisions: int = Field(description="annotator decisions giving the label on those passages")
    alpha: float | None = Field(description="Krippendorff's alpha (nominal) over all annotators (null: undefined)")
    pairs: list[PairAgreement]


class ConsensusAgreement(ResponseModel):
    passages: int = Field(description="passages of at least two annotators this annotator labelled")
    decisions: int = Field(description="their label decisions on which there is a consensus")
    agreed: int = Field(description="of those, decisions matching the consensus")
    agreement: float | None = Field(description="agreed / decisions (null: no decision)")


class Agreement(ResponseModel):
    passages: int = Field(description="passages labelled by at least two named annotators")
    annotators: list[str]
    labels: dict[str, LabelAgreement] = Field(description="label -> its agreement figures")
    consensus: dict[str, ConsensusAgreement] = Field(
        description="annotator -> agreement with the consensus (the adjudicated labels, else the majority; ties "
        "are not counted)"
    )


class AnnotatorLabels(ResponseModel):
    annotator: str
    labels: list[str]
    feedback_id: int
    source: str
    created: str


class AdjudicationOut(ResponseModel):
    labels: list[str]
    adjudicator: str
    created: str


class DisagreementItem(ResponseModel):
    id: str = Field(description="the passage id: SHA-256 of its trimmed text")
    text: str
    document_id: str | None
    annotations: list[AnnotatorLabels] = Field(description="each annotator's labels, oldest first")
    disputed_labels: list[str] = Field(description="labels some annotators gave and others did not")
    resolution: AdjudicationOut | None = Field(description="the adjudicator's final labels (null: unresolved)")


class DisagreementList(ResponseModel):
    counts: dict[str, int] = Field(description="all, unresolved and resolved disagreements")
    items: list[DisagreementItem]


class Resolved(ResponseModel):
    item: DisagreementItem
    replaced: bool = Field(description="true when an earlier adjudication of the passage was replaced")


class LabelIssue(ResponseModel):
    rank: int
    id: str = Field(description="the row's id in the training data (feedback rows: feedback:feedback-<n>)")
    text: str
    given: list[str] = Field(description="the labels the row has")
    suggested: list[str] = Field(description="the labels whose out-of-fold probability reaches its threshold")
    scores: Scores = Field(description="label -> out-of-fold probability")
    quality: float = Field(description="cleanlab's label quality score, 0..1 (low: the labels are likely wrong)")
    source: str
    line: int
    lang: str | None
    feedback: bool


class LabelIssues(ResponseModel):
    rows: int = Field(description="rows screened (training data plus resolved feedback)")
    labels: list[str]
    thresholds: Scores = Field(description="best-F1 thresholds on the out-of-fold probabilities")
    flagged: int = Field(description="rows cleanlab flags in all")
    flagged_feedback: int = Field(description="of them, rows from the stored feedback")
    flagged_by_label: dict[str, int] = Field(description="label -> flagged rows whose suggestion differs on it")
    scope: Literal["feedback", "all"]
    issues: list[LabelIssue]
