"""The review-queue routes in OpenAPI 3.0 terms, merged into the service's document by `service.openapi`.

Request bodies are the pydantic models of `service.review.schemas` (AddRequest, LabelRequest,
SkipRequest); they are written out here in OpenAPI 3.0 form (which has no ``type: null``).
"""

from __future__ import annotations

ERROR = {"$ref": "#/components/responses/Error"}
CLIENT = [{}, {"bearer": []}]
ADMIN = [{"bearer": []}]
ITEM_ID = [{"name": "item_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _errors(*statuses: int) -> dict:
    return {str(status): ERROR for status in statuses}


DOCUMENT_ID = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
STRING_OR_NULL = {"type": "string", "nullable": True}
INT_OR_NULL = {"type": "integer", "nullable": True}

QUEUE_SCHEMAS = {
    "QueueAddRequest": {
        "type": "object",
        "description": "Exactly one of passages (queued as given) or documents (segmented into passages).",
        "additionalProperties": False,
        "properties": {
            "passages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["text"],
                    "additionalProperties": False,
                    "properties": {"text": {"type": "string"}, "document_id": DOCUMENT_ID},
                },
            },
            "documents": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["text"],
                    "additionalProperties": False,
                    "properties": {"id": DOCUMENT_ID, "text": {"type": "string"}},
                },
            },
        },
    },
    "QueueCounts": {
        "type": "object",
        "description": "Items per state: pending (the pool), labelled, skipped",
        "properties": {name: {"type": "integer"} for name in ("pending", "labelled", "skipped")},
    },
    "QueueItem": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "text": {"type": "string"},
            "state": {"type": "string", "enum": ["pending", "labelled", "skipped"]},
            "origin": {"type": "string", "enum": ["api", "capture"]},
            "created": {"type": "string"},
            "document_id": STRING_OR_NULL,
            "start": INT_OR_NULL,
            "end": INT_OR_NULL,
            "kind": STRING_OR_NULL,
            "context": {
                "type": "object",
                "description": "document text before and after the passage (up to two passages, 400 characters)",
                "properties": {"before": {"type": "string"}, "after": {"type": "string"}},
            },
            "decided": STRING_OR_NULL,
            "feedback_id": INT_OR_NULL,
        },
    },
    "QueueRankedItem": {
        "allOf": [
            _ref("QueueItem"),
            {
                "type": "object",
                "properties": {
                    "rank": {"type": "integer"},
                    "labels": {"type": "array", "items": {"type": "string"}},
                    "scores": _ref("Scores"),
                    "evidence": _ref("Evidence"),
                    "margin": {"type": "number", "description": "logit distance to the nearest label threshold"},
                    "nearest_label": {"type": "string"},
                },
            },
        ]
    },
}

QUEUE_PATHS = {
    "/v1/queue": {
        "post": {
            "summary": "Add passages or documents to the review pool; admin (or the predict token if allowed)",
            "description": "Documents are segmented into passages that keep the document id and offsets. "
            "A text already queued is not added again. Beyond HTA_QUEUE_MAX_ITEMS pending passages the "
            "oldest are dropped. The predict token may add when HTA_QUEUE_ADD_BY_CLIENT is true.",
            "security": ADMIN,
            "requestBody": {"required": True, "content": _json(_ref("QueueAddRequest"))},
            "responses": {
                "201": {
                    "description": "Added",
                    "content": _json(
                        {
                            "type": "object",
                            "properties": {
                                "added": {"type": "integer"},
                                "duplicates": {"type": "integer"},
                                "dropped": {"type": "integer"},
                                "ids": {"type": "array", "items": {"type": "integer"}},
                                "counts": _ref("QueueCounts"),
                            },
                        }
                    ),
                },
                **_errors(400, 401, 403, 413, 415),
            },
        },
        "get": {
            "summary": "The next passages to label, ranked by the current model",
            "description": "Pending passages only (not labelled, not skipped), most worth labelling first, "
            "each with its document context, scores, labels and evidence; thresholds at the top level.",
            "security": CLIENT,
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
                }
            ],
            "responses": {
                "200": {
                    "description": "Ranked passages",
                    "content": _json(
                        {
                            "type": "object",
                            "properties": {
                                "model_version": {"type": "string"},
                                "strategy": {"type": "string"},
                                "labels": {"type": "array", "items": {"type": "string"}},
                                "thresholds": _ref("Scores"),
                                "counts": _ref("QueueCounts"),
                                "items": {"type": "array", "items": _ref("QueueRankedItem")},
                            },
                        }
                    ),
                },
                **_errors(400, 401, 403, 503),
            },
        },
    },
    "/v1/queue/{item_id}/skip": {
        "post": {
            "summary": "Skip a passage: it is not offered again",
            "security": CLIENT,
            "parameters": ITEM_ID,
            "responses": {
                "200": {
                    "description": "Skipped",
                    "content": _json(
                        {"type": "object", "properties": {"item": _ref("QueueItem"), "counts": _ref("QueueCounts")}}
                    ),
                },
                **_errors(400, 401, 403, 404, 409, 415),
            },
        }
    },
    "/v1/queue/{item_id}/label": {
        "post": {
            "summary": "Label a passage: stored as feedback (source 'queue'; a relabel replaces that row)",
            "description": "Same authorisation as POST /v1/feedback (HTA_FEEDBACK_REQUIRES_ADMIN applies).",
            "security": CLIENT,
            "parameters": ITEM_ID,
            "requestBody": {
                "required": True,
                "content": _json(
                    {
                        "type": "object",
                        "required": ["labels"],
                        "additionalProperties": False,
                        "properties": {"labels": {"type": "array", "items": {"type": "string"}}},
                    }
                ),
            },
            "responses": {
                "200": {
                    "description": "Stored and marked labelled",
                    "content": _json(
                        {
                            "type": "object",
                            "properties": {
                                "item": _ref("QueueItem"),
                                "feedback_id": {"type": "integer"},
                                "counts": _ref("QueueCounts"),
                            },
                        }
                    ),
                },
                **_errors(400, 401, 403, 404, 413, 415),
            },
        }
    },
}
