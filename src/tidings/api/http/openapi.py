"""``GET /openapi.json``: an OpenAPI 3.1 document of the HTTP routes, its
schemas generated from the msgspec structs that validate them, so the
document cannot drift from what the server accepts."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

import tidings
from tidings.api.http.common import json_response
from tidings.api.schemas.admin import (
    ChatPage,
    ErrorBody,
    ListChatsQuery,
    SetExpireBody,
    SetExpireResult,
)

_REF = "#/components/schemas/{name}"


def _ref(struct: type) -> dict[str, str]:
    return {"$ref": _REF.format(name=struct.__name__)}


def _json(struct: type, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(struct)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    what = {400: "bad input (INVALID_PARAMS, data.field names it)",
            401: "a missing or wrong bearer token (UNAUTHORIZED)",
            404: "no admin token configured, or no such chat/user/export (*_NOT_FOUND)"}
    return {str(s): _json(ErrorBody, what[s]) for s in statuses}


def _query_parameters(struct: type) -> list[dict[str, Any]]:
    _, components = msgspec.json.schema_components([struct], ref_template=_REF)
    props = components[struct.__name__]["properties"]
    return [{"name": name, "in": "query", "required": False, "schema": prop}
            for name, prop in props.items()]


def document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [SetExpireBody, SetExpireResult, ChatPage, ErrorBody], ref_template=_REF)
    admin: list[dict[str, list[str]]] = [{"bearerAuth": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "tidings HTTP API", "version": tidings.__version__},
        "paths": {
            "/admin/chats/expire": {"post": {
                "summary": "Set when a chat expires (a direct chat by its two users is "
                           "created if missing); expire_at omitted, null or 0: never",
                "security": admin,
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": _ref(SetExpireBody)}}},
                "responses": {"200": _json(SetExpireResult, "the chat after the change"),
                              **_errors(400, 401, 404)}}},
            "/admin/chats": {"get": {
                "summary": "List chats with their expiry, ascending by chat_id",
                "security": admin,
                "parameters": _query_parameters(ListChatsQuery),
                "responses": {"200": _json(ChatPage, "one page; next_cursor null on the last"),
                              **_errors(400, 401, 404)}}},
            "/exports/{job_id}": {"get": {
                "summary": "Download a finished export (device token)",
                "security": [{"bearerAuth": []}],
                "parameters": [{"name": "job_id", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 1}}],
                "responses": {"200": {"description": "the file"},
                              "202": {"description": "queued or running; see Retry-After"},
                              **_errors(401, 404)}}},
        },
        "components": {"schemas": components,
                       "securitySchemes": {"bearerAuth": {"type": "http",
                                                          "scheme": "bearer"}}},
    }


def routes() -> list[web.RouteDef]:
    body = document()

    async def serve(request: web.Request) -> web.Response:
        return json_response(body)

    return [web.get("/openapi.json", serve)]
