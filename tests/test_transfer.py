"""Uploads land whole, hashed and sniffable in staging — or leave nothing there;
downloads honour ranges, validators and safe file names. A real aiohttp server
on a loopback port serves the plumbing; real clients (aiohttp, raw sockets)
drive it."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import io
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import aiohttp
import pytest
from aiohttp import web

from tidings.api.http.common import error_response, json_response
from tidings.api.http.transfer import (
    StagedUpload,
    content_disposition,
    discard,
    parse_range,
    receive_body,
    send_stream,
    unsatisfiable_headers,
)
from tidings.errors import ErrorCode, TidingsError

MiB = 1 << 20
BLOB = os.urandom(300_000)
ENDLESS = 1 << 30  # a source far larger than any socket buffer, generated lazily


@dataclass
class Server:
    base: str
    staging: Path
    outcomes: list[str] = field(default_factory=list)  # per upload: "ok" or an error code
    closed: list[str] = field(default_factory=list)  # download sources closed


def _source(name: str) -> tuple[int, Callable[[int, int], bytes]]:
    """(size, slice) of a test file: "short" claims 1000 bytes but has 10,
    "broken" fails after its first 10."""
    if name == "blob":
        return len(BLOB), lambda a, b: BLOB[a:b]
    if name == "empty":
        return 0, lambda a, b: b""
    if name == "endless":
        return ENDLESS, lambda a, b: bytes(b - a)
    return 1000, lambda a, b: b"0123456789"[a:b]


class _Chunks:
    """A source like a blob store's reader: an iterator that holds a resource
    until it is closed (deliberately not a generator, which the event loop
    would finalise on its own)."""

    def __init__(self, srv: Server, name: str, start: int, end: int) -> None:
        self._srv, self._name, self._at, self._end = srv, name, start, end
        self._read = _source(name)[1]

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        if self._name == "broken" and self._at >= 10:
            raise OSError("the disk went away")
        if self._at >= self._end or (self._name == "short" and self._at >= 10):
            raise StopAsyncIteration
        chunk = self._read(self._at, min(self._at + 64 * 1024, self._end))
        self._at += len(chunk)
        return chunk

    async def aclose(self) -> None:
        self._srv.closed.append(self._name)


def _app(srv: Server) -> web.Application:
    async def upload(request: web.Request) -> web.StreamResponse:
        try:
            staged = await receive_body(request, srv.staging,
                                        int(request.query.get("max", 64 * MiB)))
        except TidingsError as exc:
            srv.outcomes.append(exc.code)
            response = error_response(exc)
            response.force_close()  # the body may be unread: do not reuse the connection
            return response
        except asyncio.CancelledError:
            srv.outcomes.append("cancelled")
            raise
        srv.outcomes.append("ok")
        return json_response({"path": str(staged.path), "size": staged.size,
                              "sha256": staged.sha256, "head": staged.head.hex()})

    async def download(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        size = _source(name)[0]

        def chunks(start: int, end: int) -> AsyncIterator[bytes]:
            return _Chunks(srv, name, start, end)

        try:
            return await send_stream(
                request, chunks=chunks, size=size, content_type="application/pdf",
                file_name=request.query.get("name", "report.pdf"), etag=f"sha-{name}",
                inline=request.query.get("inline") == "1")
        except TidingsError as exc:
            response = error_response(exc)
            if exc.code == ErrorCode.RANGE_NOT_SATISFIABLE:
                response.headers.update(unsatisfiable_headers(exc.data["size"]))
            return response

    app = web.Application()
    app.router.add_post("/files", upload)
    app.router.add_get("/files/{name}", download)
    return app


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, *, handler_cancellation: bool = False
                  ) -> AsyncIterator[Server]:
    srv = Server(base="", staging=tmp_path / "staging")
    runner = web.AppRunner(_app(srv), handler_cancellation=handler_cancellation)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    srv.base = f"http://{host}:{port}"
    try:
        yield srv
    finally:
        await runner.cleanup()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with serving(tmp_path) as srv:
        yield srv


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _stored(got: dict[str, object]) -> bytes:
    return await asyncio.to_thread(Path(str(got["path"])).read_bytes)


def _staged_files(srv: Server) -> list[Path]:
    return sorted(srv.staging.glob("*")) if srv.staging.exists() else []


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for the server to notice something it learns asynchronously."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server never got there")


async def _raw(srv: Server, request: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = srv.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    return reader, writer


# --- uploads ------------------------------------------------------------------------------


async def _post(http: aiohttp.ClientSession, srv: Server, body: object, query: str = ""
                ) -> tuple[int, dict[str, object]]:
    async with http.post(f"{srv.base}/files{query}", data=body,
                         headers={"Content-Type": "application/octet-stream"}) as resp:
        return resp.status, await resp.json()


async def test_small_upload_is_staged_with_its_hash_and_head(
        server: Server, http: aiohttp.ClientSession) -> None:
    status, got = await _post(http, server, b"%PDF-1.7 hello")
    assert status == 200
    assert got["size"] == 14
    assert got["sha256"] == hashlib.sha256(b"%PDF-1.7 hello").hexdigest()
    assert bytes.fromhex(str(got["head"])) == b"%PDF-1.7 hello"
    assert await _stored(got) == b"%PDF-1.7 hello"
    assert Path(str(got["path"])).parent == server.staging


async def _generate(data: bytes, piece: int) -> AsyncIterator[bytes]:
    for at in range(0, len(data), piece):
        yield data[at:at + piece]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_multi_mib_upload_arrives_intact(server: Server, http: aiohttp.ClientSession,
                                               chunked: bool) -> None:
    data = os.urandom(5 * MiB + 123)
    body = _generate(data, 100_000) if chunked else io.BytesIO(data)
    status, got = await _post(http, server, body)
    assert status == 200
    assert got["size"] == len(data)
    assert got["sha256"] == hashlib.sha256(data).hexdigest()
    assert bytes.fromhex(str(got["head"])) == data[:8192]
    assert await _stored(got) == data


async def test_two_uploads_get_separate_files(server: Server,
                                              http: aiohttp.ClientSession) -> None:
    (_, first), (_, second) = await asyncio.gather(_post(http, server, b"one"),
                                                   _post(http, server, b"two"))
    assert first["path"] != second["path"]
    assert len(_staged_files(server)) == 2


async def test_empty_body_is_a_size_zero_upload(server: Server,
                                                http: aiohttp.ClientSession) -> None:
    status, got = await _post(http, server, b"")
    assert status == 200
    assert got["size"] == 0
    assert got["sha256"] == hashlib.sha256(b"").hexdigest()
    assert got["head"] == ""
    assert await _stored(got) == b""


async def test_declared_length_over_the_limit_is_refused_unread(
        server: Server, http: aiohttp.ClientSession) -> None:
    status, got = await _post(http, server, b"x" * 5000, "?max=1000")
    assert status == 413
    assert got == {"error": {"code": "TOO_LARGE", "message": got["error"]["message"],  # type: ignore[index]
                             "data": {"limit": 1000}}}
    assert _staged_files(server) == []


async def test_over_limit_answer_comes_before_the_body_is_sent(server: Server) -> None:
    """A client declaring a huge file learns at once, without sending it."""
    reader, writer = await _raw(server, b"POST /files?max=1000 HTTP/1.1\r\nHost: x\r\n"
                                        b"Content-Length: 1000000000\r\n\r\n")
    try:
        status_line = await reader.readline()
        await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()
        await writer.wait_closed()
    assert status_line.startswith(b"HTTP/1.1 413")
    assert _staged_files(server) == []


async def test_chunked_body_over_the_limit_is_refused_and_removed(
        server: Server, http: aiohttp.ClientSession) -> None:
    status, got = await _post(http, server, _generate(os.urandom(3 * MiB), 64 * 1024),
                              f"?max={MiB}")
    assert status == 413
    assert got["error"]["data"] == {"limit": MiB}  # type: ignore[index]
    assert server.outcomes == [ErrorCode.TOO_LARGE]
    assert _staged_files(server) == []


async def test_compressed_body_is_refused(server: Server, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{server.base}/files", data=gzip.compress(b"a" * 1000),
                         headers={"Content-Encoding": "gzip"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "INVALID_PARAMS"
    assert _staged_files(server) == []


@pytest.mark.parametrize("cancellation", [False, True],
                         ids=["handler-sees-error", "handler-cancelled"])
async def test_truncated_upload_leaves_no_file(tmp_path: Path, cancellation: bool) -> None:
    async with serving(tmp_path, handler_cancellation=cancellation) as srv:
        _, writer = await _raw(srv, b"POST /files HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Length: 1000\r\n\r\n0123456789")
        await _until(lambda: _staged_files(srv) != [])  # the upload has begun
        writer.close()
        await writer.wait_closed()
        await _until(lambda: srv.outcomes != [] and _staged_files(srv) == [])
        assert srv.outcomes == ["cancelled" if cancellation else ErrorCode.UPLOAD_INCOMPLETE]


async def test_discard_removes_the_staged_file_once(tmp_path: Path) -> None:
    path = tmp_path / "upload-x"
    path.write_bytes(b"data")
    staged = StagedUpload(path=path, size=4, sha256=hashlib.sha256(b"data").hexdigest(),
                          head=b"data")
    await discard(staged)
    assert not path.exists()
    await discard(staged)  # already gone: fine


# --- ranges -------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "size", "expected"), [
    (None, 100, None),
    ("bytes=0-0", 100, (0, 1)),
    ("bytes=99-99", 100, (99, 100)),
    ("bytes=10-19", 100, (10, 20)),
    ("bytes=10-", 100, (10, 100)),
    ("bytes=50-1000", 100, (50, 100)),  # last clamped to the end
    ("bytes=-10", 100, (90, 100)),
    ("bytes=-1000", 100, (0, 100)),  # suffix longer than the file: all of it
    ("bytes=0-99999999999999999999999999999", 100, (0, 100)),
    ("bytes=-99999999999999999999999999999", 100, (0, 100)),
    ("bytes=0-" + "9" * 5000, 100, (0, 100)),
    ("bytes=007-010", 100, (7, 11)),
    ("BYTES=0-1", 100, (0, 2)),  # the unit is case-insensitive
    ("  bytes=0-1  ", 100, (0, 2)),
    ("bytes= 0-1 ", 100, (0, 2)),  # list whitespace around the one range
    ("bytes=5-2", 100, None),  # last before first: invalid, ignored
    ("bytes=0-1,5-6", 100, None),  # several ranges: we may send it whole
    ("bytes=0-1,", 100, None),
    ("items=0-1", 100, None),
    ("bytes", 100, None),
    ("bytes=", 100, None),
    ("bytes=-", 100, None),
    ("bytes=a-b", 100, None),
    ("bytes=1-2-3", 100, None),
    ("bytes=0 -1", 100, None),
    ("bytes =0-1", 100, None),
    ("bytes=+1-2", 100, None),
    ("bytes=1_0-20", 100, None),  # int() would accept this; HTTP does not
    ("bytes=\u0661-\u0662", 100, None),  # Arabic-Indic digits are not DIGIT
    ("", 100, None),
])
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [
    ("bytes=100-", 100),
    ("bytes=100-200", 100),
    ("bytes=99999999999999999999999-", 100),
    ("bytes=" + "9" * 5000 + "-", 100),
    ("bytes=-0", 100),
    ("bytes=0-", 0),
    ("bytes=0-0", 0),
    ("bytes=-5", 0),
])
def test_unsatisfiable_range(header: str, size: int) -> None:
    with pytest.raises(TidingsError) as caught:
        parse_range(header, size)
    assert caught.value.code == ErrorCode.RANGE_NOT_SATISFIABLE
    assert caught.value.data == {"size": size}
    assert caught.value.http_status == 416


# --- downloads ----------------------------------------------------------------------------


async def test_whole_download(server: Server, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{server.base}/files/blob") as resp:
        assert resp.status == 200
        assert await resp.read() == BLOB
        h = resp.headers
    assert h["Content-Length"] == str(len(BLOB))
    assert h["Content-Type"] == "application/pdf"
    assert h["Accept-Ranges"] == "bytes"
    assert h["ETag"] == '"sha-blob"'
    assert h["Cache-Control"].startswith("private")
    assert h["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in h["Content-Security-Policy"]
    assert h["Content-Disposition"].startswith("attachment;")
    assert "Content-Range" not in h
    assert server.closed == ["blob"]


async def test_empty_file_download(server: Server, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{server.base}/files/empty") as resp:
        assert resp.status == 200
        assert await resp.read() == b""
        assert resp.headers["Content-Length"] == "0"


N = len(BLOB)


@pytest.mark.parametrize(("range_", "status", "start", "end"), [
    ("bytes=0-0", 206, 0, 1),  # first byte
    (f"bytes={N - 1}-{N - 1}", 206, N - 1, N),  # last byte
    ("bytes=-500", 206, N - 500, N),  # suffix
    ("bytes=1000-", 206, 1000, N),  # open-ended
    ("bytes=100000-9999999999", 206, 100000, N),  # clamped
    ("bytes=5-2", 200, 0, N),  # invalid: ignored
    ("bytes=0-1,5-6", 200, 0, N),  # several: sent whole
])
async def test_range_download(server: Server, http: aiohttp.ClientSession, range_: str,
                              status: int, start: int, end: int) -> None:
    async with http.get(f"{server.base}/files/blob", headers={"Range": range_}) as resp:
        assert resp.status == status
        assert await resp.read() == BLOB[start:end]
        assert resp.headers["Content-Length"] == str(end - start)
        if status == 206:
            assert resp.headers["Content-Range"] == f"bytes {start}-{end - 1}/{N}"


async def test_range_past_the_end_is_416(server: Server, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{server.base}/files/blob", headers={"Range": f"bytes={N}-"}) as resp:
        assert resp.status == 416
        assert resp.headers["Content-Range"] == f"bytes */{N}"
        error = (await resp.json())["error"]
    assert error["code"] == "RANGE_NOT_SATISFIABLE"
    assert error["data"] == {"size": N}
    assert server.closed == []  # nothing was read


@pytest.mark.parametrize("if_none_match", ['"sha-blob"', 'W/"sha-blob"', "*",
                                           '"other", "sha-blob"'])
async def test_if_none_match_is_304(server: Server, http: aiohttp.ClientSession,
                                    if_none_match: str) -> None:
    async with http.get(f"{server.base}/files/blob",
                        headers={"If-None-Match": if_none_match}) as resp:
        assert resp.status == 304
        assert await resp.read() == b""
        assert resp.headers["ETag"] == '"sha-blob"'
        assert resp.headers["Cache-Control"].startswith("private")
    assert server.closed == []


async def test_other_etag_gets_the_file(server: Server, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{server.base}/files/blob",
                        headers={"If-None-Match": '"sha-old"'}) as resp:
        assert resp.status == 200
        assert await resp.read() == BLOB


@pytest.mark.parametrize(("if_range", "status"), [
    ('"sha-blob"', 206),
    ('"sha-old"', 200),  # the file changed: the client needs all of it
    ('W/"sha-blob"', 200),  # If-Range compares strongly
    ("Wed, 21 Oct 2015 07:28:00 GMT", 200),  # no Last-Modified to compare with
])
async def test_if_range(server: Server, http: aiohttp.ClientSession, if_range: str,
                        status: int) -> None:
    async with http.get(f"{server.base}/files/blob",
                        headers={"Range": "bytes=10-19", "If-Range": if_range}) as resp:
        assert resp.status == status
        assert await resp.read() == (BLOB[10:20] if status == 206 else BLOB)


async def test_file_name_with_quotes_and_non_ascii(server: Server,
                                                   http: aiohttp.ClientSession) -> None:
    name = 'Отчёт "Q1" \\ 2024.pdf'
    async with http.get(f"{server.base}/files/blob",
                        params={"name": name, "inline": "1"}) as resp:
        await resp.read()
        header = resp.headers["Content-Disposition"]
        parsed = resp.content_disposition
    assert header.isascii()
    assert header.startswith('inline; filename="_____ _Q1_ _ 2024.pdf"; ')
    assert parsed is not None and parsed.type == "inline"
    assert parsed.filename == name  # the client prefers filename*


@pytest.mark.parametrize(("name", "fallback", "encoded"), [
    ("a.txt", "a.txt", "a.txt"),
    ("a\r\nb\x00.txt", "a__b_.txt", "a%0D%0Ab%00.txt"),
    ("naïve café.jpg", "na_ve caf_.jpg", "na%C3%AFve%20caf%C3%A9.jpg"),
    ("", "file", "file"),
])
def test_content_disposition(name: str, fallback: str, encoded: str) -> None:
    header = content_disposition(name, inline=False)
    assert header == f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    assert unquote(encoded) == (name or "file")


@pytest.mark.parametrize(("range_", "status", "length"), [(None, 200, N),
                                                          ("bytes=0-9", 206, 10)])
async def test_head_sends_headers_only(server: Server, http: aiohttp.ClientSession,
                                       range_: str | None, status: int, length: int) -> None:
    headers = {"Range": range_} if range_ else {}
    async with http.head(f"{server.base}/files/blob", headers=headers) as resp:
        assert resp.status == status
        assert resp.headers["Content-Length"] == str(length)
        assert resp.headers["ETag"] == '"sha-blob"'
        assert await resp.read() == b""
    assert server.closed == []  # nothing was read


async def test_client_leaving_mid_download_closes_the_source_quietly(
        server: Server, caplog: pytest.LogCaptureFixture) -> None:
    reader, writer = await _raw(server, b"GET /files/endless HTTP/1.1\r\nHost: x\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(MiB)
    writer.close()
    await writer.wait_closed()
    await _until(lambda: server.closed == ["endless"])
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize(("name", "logged"), [("short", "yielded 10 bytes where 1000"),
                                              ("broken", "failed after 10 of 1000 bytes")])
async def test_failing_source_breaks_the_connection(
        server: Server, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture,
        name: str, logged: str) -> None:
    """A client must never take a truncated body for the whole file."""
    async with http.get(f"{server.base}/files/{name}") as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    assert server.closed == [name]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and logged in errors[0]

