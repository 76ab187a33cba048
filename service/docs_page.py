"""The offline API reference page (/docs), rendered from the generated OpenAPI document.

References are resolved into field tables with readable types ("list of Document", "integer 0..50"),
each route shows an example request, and nothing is loaded from outside the service.
"""

from __future__ import annotations

import json
from html import escape

from service.openapi import STATUS_TEXT

STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{margin-top:2rem;border-bottom:1px solid #ddd}.op{margin:1rem 0;padding:.5rem 1rem;border:1px solid #ddd;
border-radius:6px}.m{font-weight:bold;font-family:monospace;padding:.1rem .4rem;border-radius:3px;color:#fff}
.get{background:#2a7}.post{background:#27a}.delete{background:#a33}code,pre{font-family:monospace;
background:#f5f5f5}pre{padding:.5rem;overflow:auto;font-size:13px}table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}th{background:#f5f5f5}"""
EXAMPLE_HOST = "127.0.0.1:8000"
PATH_EXAMPLES = {"version": "VERSION", "job_id": "JOB_ID", "feedback_id": "42", "item_id": "7"}


def _name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_text(schema: dict) -> str:
    """A schema as words: ``list of Document``, ``integer 0..50``, ``string or integer``."""
    if "$ref" in schema:
        return _name(schema["$ref"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            text = " or ".join(type_text(s) for s in options)
            return text + (" or null" if len(options) < len(schema[key]) else "")
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type", "any")
    if kind == "array":
        text = "list of " + type_text(schema.get("items", {}))
        if "maxItems" in schema:
            text += f" ({schema.get('minItems', 0)}..{schema['maxItems']} items)"
        return text
    if kind == "object":
        extra = schema.get("additionalProperties")
        return f"object of {type_text(extra)}" if isinstance(extra, dict) else "object"
    if kind == "integer" and ("minimum" in schema or "maximum" in schema):
        return f"integer {schema.get('minimum', '')}..{schema.get('maximum', '')}"
    if kind == "string":
        details = [f"at most {schema['maxLength']} characters"] if "maxLength" in schema else []
        if schema.get("format"):
            details.insert(0, schema["format"])
        return "string" + (f" ({', '.join(details)})" if details else "")
    return str(kind)


def _fields_table(schema: dict) -> str:
    props = schema.get("properties") or {}
    if not props:
        return "<p>No fields.</p>"
    required = set(schema.get("required", ()))
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code></td><td>{escape(type_text(prop))}</td>"
        f"<td>{'yes' if name in required else ''}</td><td>{escape(prop.get('description', ''))}</td></tr>"
        for name, prop in props.items()
    )
    note = ""
    if schema.get("oneOf") and all(set(s) == {"required"} for s in schema["oneOf"]):
        note = "<p>Give exactly one of " + ", ".join(f"<code>{escape(s['required'][0])}</code>" for s in
                                                     schema["oneOf"]) + ".</p>"  # fmt: skip
    return note + "<table><tr><th>field</th><th>type</th><th>required</th><th>meaning</th></tr>" + rows + "</table>"


def _schema_block(schema: dict, schemas: dict) -> str:
    if "$ref" in schema:
        name = _name(schema["$ref"])
        target = schemas.get(name, {})
        if "properties" in target:
            return f"<p><a href='#schema-{escape(name)}'>{escape(name)}</a></p>{_fields_table(target)}"
        schema = target
    if "oneOf" in schema or "anyOf" in schema:
        options = schema.get("oneOf") or schema.get("anyOf")
        return "<p>One of:</p>" + "".join(_schema_block(option, schemas) for option in options)
    return f"<p>{escape(type_text(schema))}</p>"


def _example_command(path: str, method: str, op: dict) -> str:
    url = path
    for name, value in PATH_EXAMPLES.items():
        url = url.replace("{" + name + "}", value)
    parts = ["curl"]
    if method != "get":
        parts += ["-X", method.upper()]
    if op.get("security") == [{"bearer": []}]:
        parts += ["-H", '"Authorization: Bearer $HTA_ADMIN_TOKEN"']
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    if "example" in body:
        parts += ["-H", "'Content-Type: application/json'", "-d", f"'{json.dumps(body['example'])}'"]
    query = [p for p in op.get("parameters", ()) if p["in"] == "query"]
    if query:
        url += "?limit=50"
    parts.append(f"'{EXAMPLE_HOST}{url}'")
    return " ".join(parts)


def _operation_html(path: str, method: str, op: dict, schemas: dict) -> str:
    parts = [
        f"<div class=op id='{escape(method + path)}'><p><span class='m {method}'>{method.upper()}</span> "
        f"<code>{escape(path)}</code> — {escape(op.get('summary', ''))}</p>"
    ]
    if op.get("description"):
        parts.append(f"<p>{escape(op['description'])}</p>")
    params = op.get("parameters", ())
    if params:
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
            f"<td>{escape(type_text(p['schema']))}</td><td>{escape(p.get('description', ''))}</td></tr>"
            for p in params
        )
        parts.append(f"<table><tr><th>parameter</th><th>in</th><th>type</th><th>meaning</th></tr>{rows}</table>")
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        optional = "" if op["requestBody"].get("required") else " (optional)"
        parts.append(f"<p><b>Request body{optional}</b></p>" + _schema_block(body["schema"], schemas))
    parts.append(f"<p><b>Example</b></p><pre>{escape(_example_command(path, method, op))}</pre>")
    answers = []
    for status, response in op.get("responses", {}).items():
        if "$ref" in response:
            why = STATUS_TEXT.get(int(status), "error")
            answers.append(f"<li><code>{escape(status)}</code> {escape(why)} (<a href='#errors'>error</a>)</li>")
            continue
        content = response.get("content", {})
        shape = ""
        if "application/json" in content:
            schema = content["application/json"]["schema"]
            name = _name(schema["$ref"]) if "$ref" in schema else type_text(schema)
            shape = f": <a href='#schema-{escape(name)}'>{escape(name)}</a>"
        elif content:
            shape = f": {escape(next(iter(content)))}"
        answers.append(f"<li><code>{escape(status)}</code> {escape(response.get('description', ''))}{shape}</li>")
    parts.append("<p><b>Answers</b></p><ul>" + "".join(answers) + "</ul></div>")
    return "".join(parts)


def render_docs(doc: dict) -> str:
    """The HTML page of an OpenAPI document."""
    schemas = doc["components"]["schemas"]
    title = escape(doc["info"]["title"])
    parts = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title} API</title>"
        f"<style>{STYLE}</style></head><body><h1>{title} API</h1><p>{escape(doc['info']['description'])}</p>"
        "<p>Machine-readable: <a href=/openapi.json>/openapi.json</a> (OpenAPI 3.1). Admin routes need "
        "<code>Authorization: Bearer $HTA_ADMIN_TOKEN</code>.</p><h2>Endpoints</h2>"
    ]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            parts.append(_operation_html(path, method, op, schemas))
    parts.append(
        '<h2 id=errors>Errors</h2><p>Every error answers <code>{"error": {"code": ..., "message": ...}}'
        "</code>; the message names the field at fault, as in <code>documents[3].text: is empty</code>.</p>"
        "<h2>Schemas</h2>"
    )
    for name, schema in schemas.items():
        body = _fields_table(schema) if "properties" in schema else _schema_block(schema, schemas)
        description = f"<p>{escape(schema['description'])}</p>" if schema.get("description") else ""
        parts.append(f"<h3 id='schema-{escape(name)}'>{escape(name)}</h3>{description}{body}")
    parts.append("</body></html>")
    return "".join(parts)
