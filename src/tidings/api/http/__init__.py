"""REST routes served next to the WebSocket on the same aiohttp app (DESIGN
§12): ``transport.server`` mounts ``routes``. Every route is an entry of one
operation table (``operations``) that both mounts it and describes it in
``/openapi.json``. A device route authenticates with the device token as
``Authorization: Bearer <token>``, an ``/admin/*`` route with the admin token;
errors are ``{"error": {"code", "message", "data"?}}`` with the code's HTTP
status, the shape of an RPC error."""

from __future__ import annotations

from aiohttp import web

from tidings.api.http import admin, docs, exports, files, openapi
from tidings.api.http.common import json_response
from tidings.api.http.openapi_parts import json_content
from tidings.api.http.operations import Operation, mount
from tidings.api.schemas.http_routes import Health
from tidings.services.container import Services

_TEXT = {"schema": {"type": "string"}}


def _probes() -> list[Operation]:
    """Served by ``transport.server`` (they read the node's state); listed here
    so the document covers them."""
    def probe(path: str, summary: str) -> Operation:
        return Operation("GET", path, summary, "probes", None, responses={
            "200": json_content(Health, "serving"),
            "503": json_content(Health, "stopping, or a part cannot be reached")})

    return [probe("/healthz", "200 while the node is up and not stopping"),
            probe("/readyz", "200 while the database and the bus answer"),
            Operation("GET", "/metrics", "Prometheus metrics", "probes", None, responses={
                "200": {"description": "the text exposition format",
                        "content": {"text/plain": _TEXT}}})]


def operations(sv: Services) -> list[Operation]:
    """Every HTTP operation of a node, ``/openapi.json`` and ``/docs`` included."""
    table = [*admin.operations(sv), *files.operations(sv), *exports.operations(sv),
             *_probes()]
    document: dict[str, object] = {}

    async def serve_document(request: web.Request) -> web.Response:
        return json_response(document)

    table += [Operation("GET", "/openapi.json", "This document", "meta", serve_document,
                        responses={"200": {"description": "OpenAPI 3.1", "content": {
                            "application/json": {"schema": {"type": "object"}}}}}),
              Operation("GET", "/docs", "Browsable documentation of this document", "meta",
                        docs.serve, responses={"200": {"description": "an HTML page",
                                                       "content": {"text/html": _TEXT}}})]
    document.update(openapi.document(table))
    return table


def routes(sv: Services) -> list[web.RouteDef]:
    return mount(operations(sv))
