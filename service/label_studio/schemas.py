"""Pydantic v2 models of the request bodies Label Studio sends to an ML backend (label-studio 1.23).

They check only what this backend reads; every other field Label Studio sends is allowed and ignored
(`extra="allow"`), so a newer Label Studio that adds fields keeps working. Shapes, from Label Studio's
``ml/api_connector.py`` and ``webhooks/models.py``:

- ``POST /setup``: ``{"project": "<id>.<created-timestamp>", "schema": <labelling config>, "hostname",
  "access_token", "extra_params"}``
- ``POST /predict``: ``{"tasks": [{"id", "data": {...}, ...}], "project": "<id>.<timestamp>",
  "label_config", "params"}``
- ``POST /webhook``: ``{"action": EVENT, "project": {"id", "label_config", ...}, ...}`` with, per event,
  ``annotation`` + ``task`` (ANNOTATION_CREATED, ANNOTATION_UPDATED; lists of both for
  ANNOTATIONS_CREATED), ``annotations: [{"id"}]`` (ANNOTATIONS_DELETED) or nothing more (START_TRAINING).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError


class LSBody(BaseModel):
    """Base of Label Studio's bodies: unknown fields are kept and ignored."""

    model_config = ConfigDict(extra="allow")


class SetupRequest(LSBody):
    """`POST /setup`: the project's labelling config arrives as ``schema``."""

    project: StrictStr | StrictInt | None = Field(None, description='"<project id>.<created timestamp>"')
    label_schema: StrictStr = Field(alias="schema", description="the project's labelling config (XML)")


class Task(LSBody):
    """One task: its id and its data (the text sits under the `<Text>` object's ``$key``)."""

    id: StrictInt | None = None
    data: dict[str, Any]


class TasksRequest(LSBody):
    """`POST /predict`: tasks to pre-annotate and the project's labelling config."""

    tasks: list[Task] = Field(min_length=1)
    label_config: StrictStr
    project: StrictStr | StrictInt | None = None


class WebhookAction(LSBody):
    """Every webhook body names its event in ``action``."""

    action: StrictStr


class ProjectRef(LSBody):
    """The project a webhook is about (Label Studio sends the whole project; we read these two)."""

    id: StrictInt
    label_config: StrictStr | None = None


class ResultRegion(LSBody):
    """One item of an annotation's ``result``: a choices item has ``value.choices``."""

    from_name: StrictStr | None = None
    to_name: StrictStr | None = None
    type: StrictStr | None = None
    value: dict[str, Any] = Field(default_factory=dict)


class Annotation(LSBody):
    """An annotation as Label Studio's webhook serializer sends it (``task`` is the task's id)."""

    id: StrictInt
    task: StrictInt | None = None
    result: list[ResultRegion] = Field(default_factory=list)
    was_cancelled: StrictBool = False
    # Label Studio's user who made the annotation: their id, or (in some serializers) the user object.
    completed_by: StrictInt | dict[str, Any] | None = None

    def annotator(self) -> str | None:
        """The annotator recorded for this annotation: "ls:<email>" when sent, else "ls-user:<id>", else None."""
        user = self.completed_by
        if isinstance(user, dict):
            if isinstance(user.get("email"), str) and user["email"].strip():
                return f"ls:{user['email'].strip()}"
            user = user.get("id")
        return f"ls-user:{user}" if isinstance(user, int) and not isinstance(user, bool) else None


class TaskRef(LSBody):
    """The task of an annotation event."""

    id: StrictInt
    data: dict[str, Any]


class AnnotationEvent(WebhookAction):
    """ANNOTATION_CREATED, ANNOTATION_UPDATED."""

    project: ProjectRef
    annotation: Annotation
    task: TaskRef


class AnnotationsCreatedEvent(WebhookAction):
    """ANNOTATIONS_CREATED (bulk, e.g. predictions turned into annotations): lists of annotations and tasks."""

    project: ProjectRef
    annotation: list[Annotation]
    task: list[TaskRef]


class IdRef(LSBody):
    """``{"id": n}``."""

    id: StrictInt


class AnnotationsDeletedEvent(WebhookAction):
    """ANNOTATIONS_DELETED: the ids of the deleted annotations."""

    project: ProjectRef
    annotations: list[IdRef]


class AnnotationDeletedEvent(WebhookAction):
    """ANNOTATION_DELETED: the single-annotation form (named by the ML backend SDK; Label Studio 1.23 sends
    ANNOTATIONS_DELETED)."""

    project: ProjectRef
    annotation: IdRef


class StartTrainingEvent(WebhookAction):
    """START_TRAINING: sent by "Start Training" in the project's model settings (``POST /api/ml/<id>/train``)."""

    project: ProjectRef | None = None


def describe(error: ValidationError) -> str:
    """A pydantic error as one line naming each field: ``tasks[0].data: Field required``."""
    parts = []
    for item in error.errors(include_url=False):
        where = ""
        for step in item["loc"]:
            where += f"[{step}]" if isinstance(step, int) else (f".{step}" if where else str(step))
        parts.append(f"{where or 'body'}: {item['msg']}")
    return "; ".join(parts[:5]) + (f" (and {len(parts) - 5} more)" if len(parts) > 5 else "")


# For the OpenAPI document: the body model of each route (webhook bodies by event; others are answered 200).
ROUTE_BODIES: dict[str, type[BaseModel]] = {
    "/label-studio/setup": SetupRequest,
    "/label-studio/predict": TasksRequest,
}
WEBHOOK_BODIES: dict[str, type[BaseModel]] = {
    "ANNOTATION_CREATED": AnnotationEvent,
    "ANNOTATION_UPDATED": AnnotationEvent,
    "ANNOTATIONS_CREATED": AnnotationsCreatedEvent,
    "ANNOTATIONS_DELETED": AnnotationsDeletedEvent,
    "ANNOTATION_DELETED": AnnotationDeletedEvent,
    "START_TRAINING": StartTrainingEvent,
}


# ---------------------------------------------------------------- answers (documentation of the contract)


class HealthAnswer(BaseModel):
    """``GET /health``: the backend is up and serving a model."""

    status: StrictStr = Field(description='"UP"')
    model_class: StrictStr
    model_version: StrictStr
    labels: list[StrictStr]


class SetupAnswer(BaseModel):
    """``POST /setup``: the config fits; the model version and the control the predictions fill."""

    model_version: StrictStr
    from_name: StrictStr
    to_name: StrictStr
    labels: list[StrictStr]


class PredictAnswer(BaseModel):
    """``POST /predict``: one prediction per task, in task order."""

    results: list[dict[str, Any]] = Field(description='each {"result": [...], "score", "model_version"}')
    model_version: StrictStr


class WebhookAnswer(BaseModel):
    """``POST /webhook``: what was done with the event (stored, deleted, skipped, started, ignored...)."""

    model_config = ConfigDict(extra="allow")

    status: StrictStr
