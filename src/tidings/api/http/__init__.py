"""REST routes served next to the WebSocket on the same aiohttp app (DESIGN
§12): ``transport.server`` mounts ``routes``. A route authenticates with the
device token as ``Authorization: Bearer <token>`` and answers errors as
``{"error": {"code", "message", "data"?}}`` with the code's HTTP status, the
shape of an RPC error."""

from __future__ import annotations

from aiohttp import web

from tidings.api.http import admin, exports, files, openapi
from tidings.services.container import Services


def routes(sv: Services) -> list[web.RouteDef]:
    return [web.get("/exports/{job_id}", exports.Download(sv)), *files.routes(sv),
            *admin.routes(sv), *openapi.routes()]
