"""The one HTTP contract: every route says what it takes and answers with pydantic models, once.

A view declares its contract with `operation` (below its route decorator); the decorator parses and
validates the JSON body and the query string with the declared models and passes them to the view as
`body=` and `query=`, and `service.openapi` builds ``/openapi.json`` (and ``/docs``) from the same
declarations, so the document and the checks cannot drift apart. Every route under ``/v1`` (and
``/healthz``, ``/readyz``, ``/metrics``) must carry one: a test fails for a route without it.

Adding a blueprint (for example a review queue under ``/v1/queue`` or a Label Studio ML backend under
``/label-studio``)::

    from service.contract import operation
    from service.schemas import ContractModel, Text

    class QueueItem(ContractModel):            # request/response bodies: pydantic models in
        text: Text                             # service/schemas.py (or the blueprint's own module)

    bp = Blueprint("queue", __name__, url_prefix="/v1/queue")

    @bp.post("/items")
    @operation(summary="Queue a passage for review", body=QueueItem, responses={201: QueueItemOut},
               errors=(400, 401, 403, 413, 415), auth="client", example={"text": "..."})
    def add_item(body: QueueItem): ...

then register the blueprint in `service.create_app`. Routes under ``/v1/`` and ``/label-studio/`` are
documented (`service.openapi.DOCUMENTED_PREFIXES`): a new prefix goes there. Bodies are read by
`service.body.read_json` (size limits, depth limit); a validation error becomes a 400 whose message
names the field (``documents[3].text: is empty``); limits that depend on the configuration
(`service.schemas.Limit`) are filled into the document when it is served.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, request
from pydantic import TypeAdapter, ValidationError

from service.auth import require
from service.errors import APIError

# Custom pydantic error types (raised by the validators of service.schemas): (HTTP status, error code).
ERROR_STATUS = {
    "empty_text": (400, "empty_text"),
    "invalid_text": (400, "invalid_text"),
    "string_unicode": (400, "invalid_text"),
    "text_too_long": (413, "text_too_long"),
    "batch_too_large": (413, "batch_too_large"),
    "unknown_label": (400, "unknown_label"),
    "exactly_one": (400, "invalid_request"),
}
# Plainer words for pydantic's messages of these error types.
MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "is required",
    "string_unicode": "is not valid Unicode text (a lone surrogate?)",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "model_attributes_type": "must be an object",
}
# Tags of discriminated unions (service.schemas) start with this; they are not part of a field's name.
UNION_TAG_PREFIX = "tag:"


@dataclass(frozen=True)
class Operation:
    """What one route takes and answers, for validation and for the OpenAPI document."""

    summary: str
    description: str = ""
    body: Any = None  # a pydantic model or annotated type of the JSON body; None = no body
    body_optional: bool = False  # an empty body is read as {}
    query: Any = None  # a pydantic model of the query string
    responses: Mapping[int, Any] = field(default_factory=dict)  # status -> model (None: no JSON schema)
    errors: tuple[int, ...] = ()  # error statuses the route can answer (the Error schema)
    auth: str = "none"  # see service.auth.require: "none", "client", "feedback" or "admin"
    example: Any = None  # an example request body (shown in /docs and the document)
    content_types: Mapping[int, str] = field(default_factory=dict)  # status -> non-JSON media type
    tags: tuple[str, ...] = ()
    # False: the view reads and checks the body itself (a protocol route answering its protocol's own
    # error shape, such as Label Studio's); the models then only document the route.
    validates: bool = True
    # A cheaper check of the route's most common body: (parsed body, app config) -> the validated model,
    # or None to validate in full. It must accept only what full validation accepts, as the same model.
    fast_body: Callable[[Any, Mapping], Any] | None = None

    @functools.cached_property
    def body_adapter(self) -> TypeAdapter | None:
        return TypeAdapter(self.body) if self.body is not None else None

    @functools.cached_property
    def query_adapter(self) -> TypeAdapter | None:
        return TypeAdapter(self.query) if self.query is not None else None


def operation(summary: str, **details) -> Callable:
    """Declare a view's contract; the view receives the validated `body=` and/or `query=`."""
    op = Operation(summary=summary, **details)

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            require(op.auth)
            if op.body is not None and op.validates:
                data = read_body(op)
                body = op.fast_body(data, current_app.config) if op.fast_body is not None else None
                kwargs["body"] = body if body is not None else validate(op.body_adapter, data, limits_context())
            if op.query is not None and op.validates:
                kwargs["query"] = validate(op.query_adapter, _query_args(), limits_context())
            return view(*args, **kwargs)

        wrapper.__contract__ = op
        return wrapper

    return decorate


def read_body(op: Operation):
    """The request's JSON body, read within the configured limits (see `service.body`)."""
    from service.body import read_json

    return read_json(allow_empty=op.body_optional)


def _query_args() -> dict:
    return {key: values[-1] if len(values) == 1 else values for key, values in request.args.lists()}


def limits_context() -> dict:
    """The context the validators of service.schemas read: limits and the current label set (`LazyLabels`)."""
    config = current_app.config
    return {
        "MAX_TEXT_CHARS": config["MAX_TEXT_CHARS"],
        "MAX_BATCH": config["MAX_BATCH"],
        "MAX_FEEDBACK_TEXT_CHARS": config["MAX_FEEDBACK_TEXT_CHARS"],
        "MAX_FEEDBACK_ITEMS": config["MAX_FEEDBACK_ITEMS"],
        "labels": LazyLabels(),
    }


class LazyLabels:
    """The current labels, looked up on first use (most requests carry no label to check)."""

    @functools.cached_property
    def names(self) -> list[str]:
        return current_labels()


def current_labels() -> list[str]:
    """The labels of the model being served (the default labels when none is loaded)."""
    from classifier.config import DEFAULT_LABELS
    from service.model_cache import NoModel

    try:
        return list(current_app.extensions["hta_models"].current().labels)
    except NoModel:
        return list(DEFAULT_LABELS)


def validate(adapter: TypeAdapter, data, context: dict):
    """Validate `data`, or raise the `APIError` of the first problem, naming its field."""
    try:
        return adapter.validate_python(data, context=context)
    except ValidationError as exc:
        raise api_error(exc) from None


def api_error(exc: ValidationError) -> APIError:
    """The JSON error of a validation failure: its first problem, e.g. ``documents[3].text: is empty``."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    status, code = ERROR_STATUS.get(first["type"], (400, "invalid_request"))
    where = field_name(first["loc"])
    text = MESSAGES.get(first["type"], first["msg"])
    if not where and text == "must be an object":
        return APIError(400, "invalid_request", "the JSON body must be an object")
    message = f"{where}: {text}" if where else text
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return APIError(status, code, message)


def field_name(loc: tuple) -> str:
    """``("documents", 3, "text")`` -> ``documents[3].text`` (union tags left out)."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        elif part.startswith((UNION_TAG_PREFIX, "function-")):
            continue
        else:
            name += f".{part}" if name else part
    return name


def contract_of(view: Callable) -> Operation | None:
    """The declared contract of a view function, or None."""
    return getattr(view, "__contract__", None)
