"""Moving file bytes over HTTP: a request body into a staging file, and a
stored file (or one byte range of it) out to the client.

Plumbing only — who may upload or download what, quotas and the blob store
belong to the routes and services. Both directions stream: no whole file is
ever held in memory, and a transfer that fails half way leaves no file behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from tidings.errors import ErrorCode, TidingsError

log = logging.getLogger(__name__)

# Body bytes are handed to a worker thread in batches of this size: one
# thread hop and one write(2) per MiB keeps the loop free and costs little.
WRITE_BATCH_BYTES = 1 << 20
# Per-user authorised content: no shared cache may keep it; a client may reuse
# its copy for an hour (a file's bytes never change under one id; ETag revalidates).
CACHE_CONTROL = "private, max-age=3600"
# Should a browser open a file as a page (an SVG, an HTML file), nothing in it may run.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
# RFC 9110 etagc minus obs-text, and minus "," so If-None-Match lists split simply.
_ETAG_CHARS = re.compile(r"[\x21\x23-\x2b\x2d-\x7e]+")
_DIGITS = re.compile(r"[0-9]+")
_BEYOND_ANY_FILE = 1 << 63  # a position past every file; bounds huge numbers in Range


# --- upload -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StagedUpload:
    """A received body on disk, owned by the caller: it moves the file into the
    blob store or calls ``discard``."""

    path: Path
    size: int
    sha256: str  # lowercase hex
    head: bytes  # the first bytes, for content sniffing


class _Sink:
    """The staging file and the running hash. Methods run in worker threads;
    the lock keeps ``close`` from overtaking a write still in flight when the
    request task is cancelled."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._hash = hashlib.sha256()
        self._lock = threading.Lock()

    def write(self, parts: list[bytes]) -> None:
        data = b"".join(parts)
        with self._lock:
            if self._file.closed:  # the upload was abandoned while this batch queued
                return
            self._hash.update(data)
            self._file.write(data)

    def close(self) -> str:
        with self._lock:
            self._file.close()
            return self._hash.hexdigest()


def _create_staging_file(staging_dir: Path) -> tuple[int, Path]:
    staging_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=staging_dir, prefix="upload-")
    return fd, Path(name)


async def _staging_file(staging_dir: Path) -> tuple[int, Path]:
    creating = asyncio.ensure_future(asyncio.to_thread(_create_staging_file, staging_dir))
    try:
        return await asyncio.shield(creating)
    except asyncio.CancelledError:
        creating.add_done_callback(_drop_created)  # the file appears after all: remove it
        raise


def _drop_created(creating: asyncio.Future[tuple[int, Path]]) -> None:
    if not creating.cancelled() and creating.exception() is None:
        fd, path = creating.result()
        os.close(fd)
        path.unlink(missing_ok=True)


def _abandon(sink: _Sink, path: Path) -> None:
    sink.close()
    path.unlink(missing_ok=True)


def _too_large(max_bytes: int) -> TidingsError:
    return TidingsError(ErrorCode.TOO_LARGE, f"the file is larger than {max_bytes} bytes",
                        limit=max_bytes)


def _incomplete(received: int, declared: int | None) -> TidingsError:
    return TidingsError(ErrorCode.UPLOAD_INCOMPLETE,
                        "the upload ended before the whole body arrived",
                        received=received, expected=declared)


async def receive_body(request: web.Request, staging_dir: Path, max_bytes: int, *,
                       head_bytes: int = 8192) -> StagedUpload:
    """Stream the request body into a new file in ``staging_dir``, hashing it.

    ``TOO_LARGE`` (before reading, when Content-Length says so; else once the
    body passes ``max_bytes``), ``UPLOAD_INCOMPLETE`` (the body ended short or
    the client went away), ``INVALID_PARAMS`` (a Content-Encoding: the bytes
    stored must be the bytes sent). An empty body is a size-0 upload."""
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise _too_large(max_bytes)
    if request.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower() != "identity":
        raise TidingsError(ErrorCode.INVALID_PARAMS,
                           "send the file's bytes as they are, without a Content-Encoding")
    fd, path = await _staging_file(staging_dir)
    sink = _Sink(fd)
    kept = False
    try:
        size, head = await _pump(request, sink, max_bytes, head_bytes)
        if declared is not None and size != declared:
            raise _incomplete(size, declared)
        digest = await asyncio.to_thread(sink.close)
        kept = True
        return StagedUpload(path=path, size=size, sha256=digest, head=head)
    finally:
        if not kept:
            # Submitted to a thread at once, so it runs even if this task is
            # cancelled again while waiting for it.
            await asyncio.to_thread(_abandon, sink, path)


async def _pump(request: web.Request, sink: _Sink, max_bytes: int, head_bytes: int
                ) -> tuple[int, bytes]:
    """Copy the body into ``sink``: the loop reads the next batch while a
    worker thread hashes and writes the previous one."""
    loop = asyncio.get_running_loop()
    size, head = 0, b""
    parts: list[bytes] = []
    batched = 0
    writing: asyncio.Future[None] | None = None
    while True:
        try:
            chunk = await request.content.readany()
        except (ConnectionError, web.RequestPayloadError, HttpProcessingError) as exc:
            raise _incomplete(size, request.content_length) from exc
        if chunk:
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            if len(head) < head_bytes:
                head += chunk[:head_bytes - len(head)]
            parts.append(chunk)
            batched += len(chunk)
        if batched >= WRITE_BATCH_BYTES or (not chunk and parts):
            if writing is not None:
                await writing
            writing = loop.run_in_executor(None, sink.write, parts)
            parts, batched = [], 0
        if not chunk:
            break
    if writing is not None:
        await writing
    return size, head


async def discard(staged: StagedUpload) -> None:
    """Remove a staged file nobody took; one already gone is fine."""
    await asyncio.to_thread(staged.path.unlink, missing_ok=True)


# --- ranges -------------------------------------------------------------------------------


def _position(digits: str) -> int:
    # Any number past every file size means the same; bounding it avoids
    # int() refusing (or slowly parsing) absurdly long digit strings.
    digits = digits.lstrip("0") or "0"
    return _BEYOND_ANY_FILE if len(digits) > 19 else min(int(digits), _BEYOND_ANY_FILE)


def _unsatisfiable(size: int) -> TidingsError:
    return TidingsError(ErrorCode.RANGE_NOT_SATISFIABLE,
                        f"the range asked for lies outside the file's {size} bytes", size=size)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range a ``Range`` header asks of a ``size``-byte file, as
    ``(start, end_exclusive)``; ``None`` to send it whole (no header, or one
    RFC 9110 lets us ignore: another unit, several ranges, bad syntax).
    ``RANGE_NOT_SATISFIABLE`` (data ``size``) when the range misses the file."""
    if header is None:
        return None
    unit, eq, spec = header.strip().partition("=")
    if not eq or unit.lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or (first and not _DIGITS.fullmatch(first)) or (
            last and not _DIGITS.fullmatch(last)) or not (first or last):
        return None
    if not first:  # suffix: the last n bytes
        length = _position(last)
        if length == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(0, size - length), size
    start = _position(first)
    end = _position(last) + 1 if last else size
    if last and end <= start:
        return None  # last < first: invalid, so ignored
    if start >= size:
        raise _unsatisfiable(size)
    return start, min(end, size)


def unsatisfiable_headers(size: int) -> dict[str, str]:
    """Headers for the 416 answer to ``RANGE_NOT_SATISFIABLE``."""
    return {hdrs.CONTENT_RANGE: f"bytes */{size}", hdrs.ACCEPT_RANGES: "bytes"}


# --- download -----------------------------------------------------------------------------


def content_disposition(file_name: str, inline: bool) -> str:
    """RFC 6266: an ASCII ``filename`` for old clients, ``filename*`` in UTF-8."""
    file_name = file_name or "file"
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in file_name)
    encoded = quote(file_name, safe="!#$&+^`|~", encoding="utf-8", errors="replace")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def _etags(header: str) -> list[str]:
    """The opaque tags of an If-None-Match / If-Range list; ``W/`` kept."""
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _matches_weakly(header: str, quoted: str) -> bool:
    return any(tag == "*" or tag.removeprefix("W/") == quoted for tag in _etags(header))


async def send_stream(request: web.Request, *,
                      chunks: Callable[[int, int], AsyncIterator[bytes]], size: int,
                      content_type: str, file_name: str, etag: str, inline: bool,
                      extra_headers: dict[str, str] | None = None) -> web.StreamResponse:
    """Answer with the file: 200 whole, 206 for one satisfiable ``Range``, 304
    when ``If-None-Match`` names ``etag``. ``chunks(start, end)`` yields the
    bytes [start, end). ``RANGE_NOT_SATISFIABLE`` propagates before anything is
    written (answer it with ``unsatisfiable_headers``). HEAD gets the headers."""
    if not _ETAG_CHARS.fullmatch(etag):
        raise ValueError(f"an ETag needs printable ASCII, no quotes or commas: {etag!r}")
    quoted = f'"{etag}"'
    headers: dict[str, str] = {
        hdrs.ETAG: quoted,
        hdrs.CACHE_CONTROL: CACHE_CONTROL,
        hdrs.ACCEPT_RANGES: "bytes",
        "X-Content-Type-Options": "nosniff",
    }
    if_none_match = request.headers.get(hdrs.IF_NONE_MATCH)
    if if_none_match is not None and _matches_weakly(if_none_match, quoted):
        return web.Response(status=304, headers={**headers, **(extra_headers or {})})
    wanted = None
    if_range = request.headers.get(hdrs.IF_RANGE)
    if if_range is None or if_range.strip() == quoted:  # If-Range compares strongly
        wanted = parse_range(request.headers.get(hdrs.RANGE), size)
    start, end = wanted or (0, size)
    headers[hdrs.CONTENT_TYPE] = content_type
    headers[hdrs.CONTENT_DISPOSITION] = content_disposition(file_name, inline)
    headers["Content-Security-Policy"] = _CSP
    if wanted is not None:
        headers[hdrs.CONTENT_RANGE] = f"bytes {start}-{end - 1}/{size}"
    headers.update(extra_headers or {})
    response = web.StreamResponse(status=206 if wanted else 200, headers=headers)
    response.content_length = end - start
    await response.prepare(request)
    if request.method != hdrs.METH_HEAD and end > start:
        await _send_body(response, chunks(start, end), end - start)
    return response


async def _send_body(response: web.StreamResponse, body: AsyncIterator[bytes],
                     length: int) -> None:
    """Write ``length`` bytes from ``body``. A client that leaves is no error;
    a source that fails or yields the wrong length is, and the connection is
    closed so the client cannot take a short body for the whole file."""
    sent = 0
    try:
        async for chunk in body:
            await response.write(chunk[:length - sent])
            sent += len(chunk)
            if sent >= length:
                break
        if sent != length:
            log.error("a file source yielded %d bytes where %d were due", sent, length)
    except ConnectionError as exc:  # reset, broken pipe, or aiohttp's "Connection lost"
        log.debug("a download stopped after %d of %d bytes: %s", sent, length, exc)
    except Exception:
        log.exception("a file source failed after %d of %d bytes", sent, length)
    finally:
        await _close(body)
    if sent < length:
        response.force_close()


async def _close(body: AsyncIterator[bytes]) -> None:
    aclose: Callable[[], Any] | None = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()
