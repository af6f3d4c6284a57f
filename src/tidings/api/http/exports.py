"""``GET /exports/{job_id}``: the file of a finished export, to its requester.

- 200: the file, streamed from disk (``application/x-ndjson`` or
  ``text/html; charset=utf-8``, ``Content-Disposition: attachment``).
- 202: the export is queued or running; the body is its ``export.status``
  object and ``Retry-After`` says when to look again.
- 401 ``UNAUTHORIZED``: no, or a bad, Bearer token, or a revoked device.
- 404 ``NOT_FOUND``: no such export, another user's (not told apart), or one
  that failed or expired (``data.state``).
"""

from __future__ import annotations

import asyncio
import logging
import math

from aiohttp import hdrs, web

from tidings import wire
from tidings.api.http.common import authenticate, error_response, internal_error, json_response
from tidings.api.http.openapi_parts import error_responses, json_content
from tidings.api.http.operations import Operation
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.services.exports import Download as ExportFile
from tidings.services.exports import ExportStatus

log = logging.getLogger(__name__)

# The page is readable with styles alone: nothing else may load or run, should
# a browser ever show it inline.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


class Download:
    def __init__(self, sv: Services) -> None:
        self._sv = sv

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        try:
            identity = await authenticate(self._sv, request)
            raw = request.match_info["job_id"]
            job_id = int(raw) if raw.isdecimal() and len(raw) <= 19 else 0
            if not 1 <= job_id <= wire.INT64_MAX:
                raise TidingsError(ErrorCode.NOT_FOUND, f"no export {raw}")
            found = await self._sv.exports.download(identity.user_id, job_id)
            if isinstance(found, ExportFile) and not await asyncio.to_thread(
                    found.path.is_file):
                raise TidingsError(ErrorCode.NOT_FOUND, f"export {job_id} expired",
                                   job_id=job_id, state="expired")
        except TidingsError as exc:
            return error_response(exc)
        except Exception:
            log.exception("GET %s failed", request.path)
            return internal_error()
        if not isinstance(found, ExportFile):  # queued or running
            retry = max(1, math.ceil(self._sv.settings.jobs_interval_seconds))
            return json_response(found, status=202, headers={"Retry-After": str(retry)})
        return web.FileResponse(found.path, headers={
            hdrs.CONTENT_TYPE: found.content_type,
            hdrs.CONTENT_DISPOSITION: f'attachment; filename="{found.file_name}"',
            hdrs.CACHE_CONTROL: "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": _CSP,
        })


def operations(sv: Services) -> list[Operation]:
    job_id = {"name": "job_id", "in": "path", "required": True,
              "schema": {"type": "integer", "minimum": 1, "maximum": wire.INT64_MAX}}
    file = {"schema": {"type": "string", "format": "binary"}}
    return [Operation(
        "GET", "/exports/{job_id}", "Download a finished export, as its requester", "exports",
        Download(sv), auth="device", parameters=(job_id,),
        responses={"200": {"description": "the export file (attachment)", "content": {
                       "application/x-ndjson": file, "text/html": file}},
                   "202": {**json_content(ExportStatus, "queued or running"),
                           "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
                   **error_responses(401, 404)})]
