"""The OpenAPI 3 document of the service, as a Python dict (served at /openapi.json and rendered at /docs)."""

from __future__ import annotations

from service.review.openapi import QUEUE_PATHS, QUEUE_SCHEMAS

ERROR = {"$ref": "#/components/responses/Error"}


def _err(*statuses: int) -> dict:
    return {str(s): ERROR for s in statuses}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _ok(description: str, schema: dict | None = None, status: str = "200") -> dict:
    body = {"description": description}
    if schema is not None:
        body["content"] = _json(schema)
    return {status: body}


ADMIN = [{"bearer": []}]
CLIENT = [{}, {"bearer": []}]

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "Scores": {"type": "object", "additionalProperties": {"type": "number"}, "description": "label → probability"},
    "Evidence": {
        "type": "object",
        "description": "label → top weighted terms",
        "additionalProperties": {
            "type": "array",
            "items": {"type": "object", "properties": {"term": {"type": "string"}, "weight": {"type": "number"}}},
        },
    },
    "Passage": {
        "type": "object",
        "properties": {
            "index": {"type": "integer"},
            "start": {"type": "integer"},
            "end": {"type": "integer"},
            "kind": {"type": "string"},
            "text": {"type": "string"},
            "labels": {"type": "array", "items": {"type": "string"}},
            "scores": {"$ref": "#/components/schemas/Scores"},
            "evidence": {"$ref": "#/components/schemas/Evidence"},
        },
    },
    "Alert": {
        "type": "object",
        "properties": {
            "alert": {"type": "boolean"},
            "max_score": {"type": "number"},
            "passages": {"type": "array", "items": {"type": "integer"}},
        },
    },
    "Result": {
        "type": "object",
        "required": ["labels", "scores"],
        "properties": {
            "id": {"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True},
            "labels": {"type": "array", "items": {"type": "string"}},
            "scores": {"$ref": "#/components/schemas/Scores"},
            "evidence": {"$ref": "#/components/schemas/Evidence"},
            "alerts": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Alert"}},
            "passages": {"type": "array", "items": {"$ref": "#/components/schemas/Passage"}},
        },
    },
    "PredictRequest": {
        "type": "object",
        "description": "Exactly one of text, texts or documents.",
        "properties": {
            "text": {"type": "string"},
            "texts": {"type": "array", "items": {"type": "string"}},
            "documents": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["text"],
                    "properties": {
                        "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                        "text": {"type": "string"},
                    },
                },
            },
            "passages": {
                "oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["always", "auto", "never"]}],
                "description": "return passages with offsets (default: true for documents, false for texts)",
            },
            "evidence": {
                "oneOf": [{"type": "boolean"}, {"type": "integer", "minimum": 0, "maximum": 50}],
                "description": "evidence terms per flagged label: true = top 5, or the number of terms",
            },
        },
    },
    "PredictResponse": {
        "type": "object",
        "required": ["model_version", "results"],
        "properties": {
            "model_version": {"type": "string"},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}},
        },
    },
    "FeedbackItem": {
        "type": "object",
        "required": ["text", "labels"],
        "properties": {
            "text": {"type": "string"},
            "labels": {"type": "array", "items": {"type": "string"}},
            "document_id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "model_version": {"type": "string"},
        },
    },
    "Job": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "state": {"type": "string", "enum": ["queued", "running", "succeeded", "rejected", "failed"]},
            "created": {"type": "string"},
            "started": {"type": "string", "nullable": True},
            "finished": {"type": "string", "nullable": True},
            "progress": {"type": "array", "items": {"type": "object"}},
            "base_version": {"type": "string", "nullable": True},
            "candidate_version": {"type": "string", "nullable": True},
            "promoted": {"type": "boolean"},
            "metrics": {"type": "object", "nullable": True},
            "verdict": {"type": "object", "nullable": True},
            "error": {"type": "string", "nullable": True},
            "feedback_rows": {"type": "integer", "nullable": True},
        },
    },
}

PATHS = {
    "/v1/predict": {
        "post": {
            "summary": "Score texts or documents",
            "description": "Answers the version that scored the request in `model_version` and in the "
            "`X-Model-Version` header.",
            "security": CLIENT,
            "requestBody": {"required": True, "content": _json({"$ref": "#/components/schemas/PredictRequest"})},
            "responses": {
                **_ok("Predictions", {"$ref": "#/components/schemas/PredictResponse"}),
                **_err(400, 401, 403, 413, 415, 503),
            },
        }
    },
    "/v1/model": {
        "get": {
            "summary": "The current model: version, labels, thresholds, metrics",
            "security": CLIENT,
            "responses": {**_ok("Model manifest", {"type": "object"}), **_err(401, 403, 503)},
        }
    },
    "/v1/models": {
        "get": {
            "summary": "All model versions",
            "security": CLIENT,
            "responses": {**_ok("Versions, oldest first", {"type": "object"}), **_err(401, 403)},
        }
    },
    "/v1/models/{version}/activate": {
        "post": {
            "summary": "Make a version current (rollback); admin",
            "security": ADMIN,
            "parameters": [{"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {**_ok("Activated", {"type": "object"}), **_err(401, 403, 404, 409)},
        }
    },
    "/v1/feedback": {
        "post": {
            "summary": "Store labelled examples for the next retrain",
            "security": CLIENT,
            "requestBody": {
                "required": True,
                "content": _json(
                    {
                        "oneOf": [
                            {"$ref": "#/components/schemas/FeedbackItem"},
                            {
                                "type": "object",
                                "required": ["items"],
                                "properties": {
                                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/FeedbackItem"}}
                                },
                            },
                        ]
                    }
                ),
            },
            "responses": {
                **_ok(
                    "Stored",
                    {
                        "type": "object",
                        "properties": {
                            "stored": {"type": "integer"},
                            "ids": {"type": "array", "items": {"type": "integer"}},
                        },
                    },
                    "201",
                ),
                **_err(400, 401, 403, 413, 415),
            },
        }
    },
    "/v1/retrain": {
        "post": {
            "summary": "Start a background retrain job (corpus + feedback, gated promotion); admin",
            "security": ADMIN,
            "responses": {
                **_ok(
                    "Job started",
                    {"type": "object", "properties": {"job": {"$ref": "#/components/schemas/Job"}}},
                    "202",
                ),
                **_err(400, 401, 403, 409),
            },
        }
    },
    "/v1/jobs/{job_id}": {
        "get": {
            "summary": "State, progress, metrics and gate verdict of a job",
            "security": CLIENT,
            "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {**_ok("The job", {"$ref": "#/components/schemas/Job"}), **_err(401, 403, 404)},
        }
    },
    "/healthz": {"get": {"summary": "The process is up", "responses": _ok("Up", {"type": "object"})}},
    "/readyz": {
        "get": {"summary": "A model is loaded", "responses": {**_ok("Ready", {"type": "object"}), **_err(503)}}
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics",
            "responses": {
                "200": {
                    "description": "Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
}

SCHEMAS.update(QUEUE_SCHEMAS)
PATHS.update(QUEUE_PATHS)

DOCUMENT = {
    "openapi": "3.0.3",
    "info": {
        "title": "Hybrid-threat alert classifier",
        "version": "1",
        "description": "Flags passages that warn of hybrid threats, mention sabotage or state support. "
        'Errors are always JSON: {"error": {"code", "message"}}.',
    },
    "servers": [{"url": "/"}],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "responses": {"Error": {"description": "Error", "content": _json({"$ref": "#/components/schemas/Error"})}},
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
}


def openapi_document() -> dict:
    """The OpenAPI document (a fresh copy)."""
    import copy

    return copy.deepcopy(DOCUMENT)
