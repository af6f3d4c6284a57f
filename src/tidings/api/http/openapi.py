"""``GET /openapi.json``: an OpenAPI 3.1 document of every HTTP operation,
built from the operation table (``api.http.operations``) with schemas
generated from the msgspec structs that validate requests and shape answers,
so the document cannot drift from what the server accepts."""

from __future__ import annotations

import re
from typing import Any

import msgspec

import tidings
from tidings import wire
from tidings.api.http.openapi_parts import Schema, error_responses, json_content
from tidings.api.http.operations import Operation

_REF = "#/components/schemas/{name}"
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "admin": [{"adminToken": []}], "device": [{"deviceToken": []}], "none": []}
# wire.SAFE_TEXT_PATTERN holds the surrogates themselves, which JSON text in
# UTF-8 cannot carry (a JSON string may still escape one, and is refused with
# 400): the document states the NUL rule only, which every generator can use.
_SAFE_TEXT = "^[^\\u0000]*$"
_NON_WORD = re.compile(r"[^a-z0-9]+")
_ID = {"type": "integer", "minimum": 1, "maximum": wire.INT64_MAX}


def _resolve(value: Any, found: set[type]) -> Any:
    """Replace every ``Schema`` marker by its ``$ref``, collecting the structs."""
    if isinstance(value, Schema):
        found.add(value.struct)
        return {"$ref": _REF.format(name=value.struct.__name__)}
    if isinstance(value, dict):
        return {k: _resolve(v, found) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_resolve(v, found) for v in value]
    return _SAFE_TEXT if value == wire.SAFE_TEXT_PATTERN else value


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query value is absent rather than null: drop the null branch."""
    branches = [b for b in schema.get("anyOf", []) if b != {"type": "null"}]
    if len(branches) == 1:
        rest = {k: v for k, v in schema.items() if k != "anyOf"
                and not (k == "default" and v is None)}
        return {**branches[0], **rest}
    return schema


def _query_parameters(struct: type) -> list[dict[str, Any]]:
    _, components = msgspec.json.schema_components([struct], ref_template=_REF)
    own = _resolve(components[struct.__name__], set())
    required = set(own.get("required", []))
    return [{"name": name, "in": "query", "required": name in required,
             "schema": _not_null(prop)} for name, prop in own["properties"].items()]


def _operation(op: Operation) -> dict[str, Any]:
    params: list[Any] = [{"name": n, "in": "path", "required": True, "schema": _ID}
                         for n in op.path_params if all(p["name"] != n for p in op.parameters)]
    params += list(op.parameters)
    if op.query is not None:
        params += _query_parameters(op.query)
    responses: dict[str, Any] = {}
    if op.result is not None:
        responses[str(op.status)] = json_content(op.result, "success")
    responses.update(error_responses(*op.errors))
    responses.update(op.responses)
    body: dict[str, Any] = {}
    if op.body is not None:
        body = {"requestBody": {"required": True, "content": {
            "application/json": {"schema": Schema(op.body)}}}}
    elif op.request_body is not None:
        body = {"requestBody": dict(op.request_body)}
    return {"summary": op.summary, "tags": [op.tag],
            "operationId": _operation_id(op),
            "security": _SECURITY[op.auth], "parameters": params, **body,
            "responses": responses}


def _operation_id(op: Operation) -> str:
    return _NON_WORD.sub("_", f"{op.method} {op.path}".lower()).strip("_")


def _links(op: Operation, operations: list[Operation]) -> dict[str, Any]:
    """OpenAPI links from the id an operation creates to the operations that
    take only that id, so clients (and fuzzers) can follow them."""
    links: dict[str, Any] = {}
    if op.creates is not None:
        name, pointer = op.creates
        links = {_operation_id(o): {"operationId": _operation_id(o),
                                    "parameters": {name: f"$response.body#{pointer}"}}
                 for o in operations if o.path_params == [name]}
    for o in operations:
        fields = op.feeds.get(f"{o.method} {o.path}")
        if fields:
            links[_operation_id(o)] = {"operationId": _operation_id(o), "requestBody": {
                f: f"$response.body#{pointer}" for f, pointer in fields.items()}}
    return links


def document(operations: list[Operation]) -> dict[str, Any]:
    found: set[type] = set()
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        item = _resolve(_operation(op), found)
        links = _links(op, operations)
        if links:
            item["responses"][str(op.status)]["links"] = links
        paths.setdefault(op.path, {})[op.method.lower()] = item
    _, components = msgspec.json.schema_components(
        sorted(found, key=lambda s: s.__name__), ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "tidings HTTP API", "version": tidings.__version__,
                 "description": "REST routes beside the WebSocket (docs/protocol.md). "
                                "Errors: {\"error\": {\"code\", \"message\", \"data\"?}}."},
        "paths": paths,
        "components": {"schemas": _resolve(components, found), "securitySchemes": {
            "adminToken": {"type": "http", "scheme": "bearer",
                           "description": "the admin_token setting"},
            "deviceToken": {"type": "http", "scheme": "bearer",
                            "description": "a device token from auth.register/auth.login"}}},
    }
