"""``POST /files``, ``GET /files/{file_id}``, ``GET /files/{file_id}/thumbnail``.

- ``POST /files?kind=image|video|audio|file&name=NAME``, Bearer token, the raw
  bytes as the body (Content-Type: the declared mime type) → 201
  ``{"file": {...}}``. 413 ``TOO_LARGE`` (before the body is read when its
  length is declared), 415 ``UNSUPPORTED_MEDIA`` (content does not match the
  kind, or an image that cannot be decoded), 400 ``UPLOAD_INCOMPLETE`` /
  ``INVALID_PARAMS``.
- ``GET /files/{id}`` (and ``HEAD``): the bytes, with ``Range`` (206, or 416
  ``RANGE_NOT_SATISFIABLE``), to the uploader, a member who can see a
  message showing the file, or someone shown it as an avatar; anyone else
  gets 404 ``NOT_FOUND``, as for a file that does not exist. An expired or
  deleted file answers 410 with the placeholder (``MEDIA_EXPIRED`` / ``MEDIA_GONE``).
- ``GET /files/{id}/thumbnail``: an image's thumbnail (WebP).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from tidings import wire
from tidings.api.http import transfer
from tidings.api.http.common import authenticate, error_response, internal_error, json_response
from tidings.api.http.openapi_parts import error_responses, json_content
from tidings.api.http.operations import Operation
from tidings.api.schemas.http_routes import FilePlaceholder, UploadResult
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.services.files import Download, Placeholder

log = logging.getLogger(__name__)

# Shown in the browser rather than downloaded; everything else is an attachment.
_INLINE = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/avif")


def _file_id(request: web.Request) -> int:
    raw = request.match_info["file_id"]
    file_id = int(raw) if raw.isdecimal() and len(raw) <= 19 else 0
    if not 1 <= file_id <= wire.INT64_MAX:
        raise TidingsError(ErrorCode.NOT_FOUND, f"no file {raw}")
    return file_id


class Upload:
    def __init__(self, sv: Services) -> None:
        self._sv = sv

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        try:
            identity = await authenticate(self._sv, request)
            kind = request.query.get("kind", "")
            name = request.query.get("name", "")
            files = self._sv.files
            files.check_request(kind, name, request.content_length)
            staged = await transfer.receive_body(request, files.staging_dir,
                                                 self._sv.settings.max_upload_bytes)
            declared = request.headers.get("Content-Type")
            info = await files.upload(identity.user_id, kind, name, declared, staged.path,
                                      staged.size, staged.sha256, staged.head)
        except TidingsError as exc:
            response = error_response(exc)
            response.force_close()  # the body may be unread: do not wait to drain it
            return response
        except Exception:
            log.exception("POST %s failed", request.path)
            response = internal_error()
            response.force_close()
            return response
        return json_response({"file": info}, status=201)


class Fetch:
    def __init__(self, sv: Services, *, thumbnail: bool) -> None:
        self._sv = sv
        self._thumbnail = thumbnail

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        size = 0
        try:
            identity = await authenticate(self._sv, request)
            found = await self._sv.files.open(identity.user_id, _file_id(request),
                                              thumbnail=self._thumbnail)
            if isinstance(found, Placeholder):
                return json_response({**found.body, "error": found.error.to_wire()},
                                     status=found.error.http_status)
            assert isinstance(found, Download)
            size = found.size if found.size >= 0 else await self._sv.files.size_of(found.key)
            return await transfer.send_stream(
                request, chunks=lambda start, end: self._sv.files.read(found.key, start, end),
                size=size, content_type=found.mime, file_name=found.name,
                etag=found.key, inline=found.mime in _INLINE)
        except TidingsError as exc:
            response = error_response(exc)
            if exc.code == ErrorCode.RANGE_NOT_SATISFIABLE:
                response.headers.update(transfer.unsatisfiable_headers(size))
            return response
        except Exception:
            log.exception("GET %s failed", request.path)
            return internal_error()


_BYTES = {"schema": {"type": "string", "format": "binary"}}


def _fetch_responses(what: str) -> dict[str, Any]:
    headers = {"ETag": {"schema": {"type": "string"}}}
    return {
        "200": {"description": what, "headers": headers, "content": {"*/*": _BYTES}},
        "206": {"description": "the byte range asked for with Range", "content": {
            "*/*": _BYTES}},
        "304": {"description": "not modified (If-None-Match matched the ETag)"},
        "410": json_content(FilePlaceholder, "expired (MEDIA_EXPIRED, still renewable) or "
                            "deleted (MEDIA_GONE): the placeholder instead of the bytes"),
        **error_responses(401, 404, 416),
    }


def operations(sv: Services) -> list[Operation]:
    file_id = {"name": "file_id", "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 1, "maximum": wire.INT64_MAX}}
    return [
        Operation(
            "POST", "/files", "Upload a file: the raw bytes as the body", "files",
            Upload(sv), auth="device",
            parameters=(
                {"name": "kind", "in": "query", "required": True,
                 "schema": {"type": "string", "enum": ["image", "video", "audio", "file"]}},
                {"name": "name", "in": "query", "required": True,
                 "schema": {"type": "string", "minLength": 1, "maxLength": 255}}),
            request_body={"required": True, "content": {"application/octet-stream": _BYTES}},
            responses={"201": json_content(UploadResult, "the stored file"),
                       **error_responses(400, 401, 403, 413, 415)}),
        Operation("GET", "/files/{file_id}", "Download a file (Range supported) as its "
                  "uploader, a member who can see a message showing it, or someone "
                  "shown it as an avatar", "files",
                  Fetch(sv, thumbnail=False), auth="device", parameters=(file_id,),
                  responses=_fetch_responses("the file's bytes")),
        Operation("GET", "/files/{file_id}/thumbnail", "An image's thumbnail (WebP)", "files",
                  Fetch(sv, thumbnail=True), auth="device", parameters=(file_id,),
                  responses=_fetch_responses("the thumbnail's bytes")),
    ]
