"""The OpenAPI 3.1 document, generated from the routes' contracts (`service.contract`) and their pydantic
models (`service.schemas`): served at /openapi.json and rendered at /docs.

Every route whose path starts with one of `DOCUMENTED_PREFIXES`, or is one of `DOCUMENTED_PATHS`, is in
the document; a route there without an `operation` raises `MissingContract` (a test builds the document).
Limits that are settings (`schemas.Limit`) and the label names are filled in with the values in force.
"""

from __future__ import annotations

import copy
import re

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from werkzeug.routing import IntegerConverter, Rule

from service.contract import Operation, contract_of
from service.schemas import ErrorBody

DOCUMENTED_PREFIXES = ("/v1/", "/label-studio/")
DOCUMENTED_PATHS = ("/healthz", "/readyz", "/metrics")
REF = "#/components/schemas/{model}"
SECURITY = {
    "client": [{}, {"bearer": []}],
    "feedback": [{"bearer": []}],  # with HTA_LABELS_OPEN as "client" (`_security`)
    "adjudicator": [{"bearer": []}],
    "admin": [{"bearer": []}],
    "queue-add": [{"bearer": []}],  # with HTA_QUEUE_ADD_BY_CLIENT as "client" (`_security`)
    "label-studio": [{"basic": []}],
}
AUTH_NOTE = {
    "client": "Needs Authorization: Bearer with the predict (or admin) token when HTA_PREDICT_TOKEN is set.",
    "feedback": "Labels: needs Authorization: Bearer with an analyst's token (HTA_ANALYSTS_FILE) or "
    "HTA_ADMIN_TOKEN, recorded as the annotator; the admin token only when HTA_FEEDBACK_REQUIRES_ADMIN is set. "
    "With HTA_LABELS_OPEN set, the predict token when HTA_PREDICT_TOKEN is set, else no token.",
    "adjudicator": "Adjudicator: needs Authorization: Bearer with an adjudicator's or admin's analyst token, "
    "or HTA_ADMIN_TOKEN.",
    "admin": "Admin: needs Authorization: Bearer with HTA_ADMIN_TOKEN or an analyst token of role admin.",
    "queue-add": "Admin: needs Authorization: Bearer with HTA_ADMIN_TOKEN; when HTA_QUEUE_ADD_BY_CLIENT is set, "
    "the predict (or admin) token instead, and no token when HTA_PREDICT_TOKEN is not set.",
    "label-studio": "Label Studio's ML backend protocol: HTTP Basic with HTA_LS_BASIC_AUTH_USER and "
    "HTA_LS_BASIC_AUTH_PASS (403 when they are unset, unless HTA_LS_AUTH=none); errors are "
    '{"status", "detail", "error": {"code", "message"}}.',
}
STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    400: "Invalid request: the message names the field",
    401: "Missing bearer token",
    403: "Wrong token, or admin routes disabled",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Body, batch or text over its limit",
    415: "Not a JSON body",
    503: "No model loaded",
}


class MissingContract(Exception):
    """A route that must be documented has no `operation`."""


def documented(rule: Rule) -> bool:
    """Whether a route belongs in the document."""
    return rule.rule.startswith(DOCUMENTED_PREFIXES) or rule.rule in DOCUMENTED_PATHS


def operations(app: Flask) -> list[tuple[str, str, Rule, Operation]]:
    """(OpenAPI path, method, rule, contract) of every documented route, in registration order."""
    found = []
    for rule in app.url_map.iter_rules():
        if not documented(rule):
            continue
        op = contract_of(app.view_functions[rule.endpoint])
        if op is None:
            raise MissingContract(f"route {rule.rule} ({rule.endpoint}) has no service.contract.operation")
        path = rule.rule
        for name in rule.arguments:
            path = _strip_converter(path, name)  # <name>, <int(max=...):name> -> {name}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((path, method.lower(), rule, op))
    return found


def _strip_converter(path: str, name: str) -> str:
    start = path.find("<")
    while start != -1:
        end = path.find(">", start)
        inner = path[start + 1 : end]
        if inner.rsplit(":", 1)[-1] == name:
            return path[:start] + f"{{{name}}}" + path[end + 1 :]
        start = path.find("<", end)
    return path


def build_document(app: Flask, limits: dict, labels: list[str]) -> dict:
    """The OpenAPI document of `app`, with the limits in force and the current label names."""
    ops = operations(app)
    models: list[tuple[type[BaseModel], str]] = [(ErrorBody, "serialization")]
    for _path, _method, _rule, op in ops:
        if op.body is not None:
            models.append((op.body, "validation"))
        if op.query is not None:
            models.append((op.query, "validation"))
        models += [(model, "serialization") for model in op.responses.values() if model is not None]
    models = list(dict.fromkeys(models))
    refs, defs = models_json_schema(models, ref_template=REF)
    schemas = defs.get("$defs", {})

    paths: dict[str, dict] = {}
    for path, method, rule, op in ops:
        paths.setdefault(path, {})[method] = _operation(path, method, rule, op, refs, schemas, app.config)
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Hybrid-threat alert classifier",
            "version": "1",
            "description": "Flags passages that warn of hybrid threats, mention sabotage or state support. "
            'Errors are always JSON: {"error": {"code", "message"}}; a validation error names the field, '
            "as in documents[3].text: is empty.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                "Error": {
                    "description": "Error",
                    "content": {"application/json": {"schema": refs[(ErrorBody, "serialization")]}},
                }
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
    }
    return _tidy(document, limits, labels)


# Settings that open an operation to the client's credentials: the document states what this app enforces.
OPENED_BY = {"feedback": "LABELS_OPEN", "queue-add": "QUEUE_ADD_BY_CLIENT"}


def _security(auth: str, config) -> list[dict]:
    if auth == "feedback" and config.get("FEEDBACK_REQUIRES_ADMIN"):
        return SECURITY["admin"]
    opened = OPENED_BY.get(auth)
    return SECURITY["client" if opened and config.get(opened) else auth]


def _operation(path, method, rule, op: Operation, refs, schemas, config) -> dict:
    # From the path, not the endpoint: one view may serve two paths (Label Studio's / and /health).
    operation_id = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root"
    out: dict = {"summary": op.summary, "operationId": f"{method}_{operation_id}"}
    description = " ".join(part for part in (op.description, AUTH_NOTE.get(op.auth, "")) if part)
    if description:
        out["description"] = description
    if op.auth in SECURITY:
        out["security"] = _security(op.auth, config)
    parameters = [_path_parameter(rule, name) for name in rule.arguments]
    if op.query is not None:
        parameters += _query_parameters(refs[(op.query, "validation")], schemas)
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        content = {"schema": refs[(op.body, "validation")]}
        if op.example is not None:
            content["example"] = op.example
        out["requestBody"] = {"required": not op.body_optional, "content": {"application/json": content}}
    responses = {}
    for status, model in op.responses.items():
        if model is None:
            media = op.content_types.get(status, "text/plain")
            responses[str(status)] = {
                "description": STATUS_TEXT.get(status, "OK"),
                "content": {media: {"schema": {"type": "string"}}},
            }
        else:
            responses[str(status)] = {
                "description": STATUS_TEXT.get(status, "OK"),
                "content": {"application/json": {"schema": refs[(model, "serialization")]}},
            }
    for status in op.errors:
        responses[str(status)] = {"$ref": "#/components/responses/Error"}
    out["responses"] = responses
    return out


def _path_parameter(rule: Rule, name: str) -> dict:
    converter = rule._converters.get(name)
    if isinstance(converter, IntegerConverter):
        schema = {"type": "integer", "minimum": 0 if not converter.signed else None, "maximum": converter.max}
        schema = {key: value for key, value in schema.items() if value is not None}
    else:
        schema = {"type": "string", "pattern": "^[^/]+$"}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query_parameters(ref: dict, schemas: dict) -> list[dict]:
    model = schemas[ref["$ref"].rsplit("/", 1)[-1]]
    required = set(model.get("required", ()))
    params = []
    for name, schema in model["properties"].items():
        schema = copy.deepcopy(schema)
        if "anyOf" in schema:  # optional: the value itself, without null (absent means unset)
            options = [s for s in schema.pop("anyOf") if s.get("type") != "null"]
            schema.update(options[0] if len(options) == 1 else {"anyOf": options})
        description = schema.pop("description", None)
        param = {"name": name, "in": "query", "required": name in required, "schema": schema}
        if description:
            param["description"] = description
        params.append(param)
    return params


def _tidy(node, limits: dict, labels: list[str], in_properties: bool = False):
    """Fill `Limit` and label markers, and drop what only clutters: titles of fields, null defaults."""
    if isinstance(node, list):
        return [_tidy(item, limits, labels) for item in node]
    if not isinstance(node, dict):
        return node
    if in_properties:
        return {key: _tidy(value, limits, labels) for key, value in node.items()}
    out = {}
    for key, value in node.items():
        if key == "x-hta-limit":
            setting, keyword = value
            out[keyword] = limits[setting]
        elif key == "x-hta-labels":
            out["enum"] = list(labels)
        elif key == "description" and isinstance(value, str):
            out[key] = value.replace("`", "")  # docstrings quote names in backticks; JSON readers do not
        elif (key == "default" and value is None) or (
            key == "title" and isinstance(value, str) and {"type", "$ref", "anyOf", "allOf"} & node.keys()
        ):
            continue
        else:
            out[key] = _tidy(value, limits, labels, in_properties=key == "properties")
    return out
