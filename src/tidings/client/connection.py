"""One connection (WebSocket or TCP, JSON or MessagePack: ``client.links``):
request/response correlation and frame routing.

A ``Connection`` lives exactly as long as its socket; reconnecting makes a new
one.  Its reader task only decodes frames, resolves the futures of pending
requests and hands pushes to ``on_push`` (which must not block).  It never
awaits a request itself: whoever handles pushes may issue requests (gap
filling), and those results arrive through this very reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from tidings.client.errors import (
    PROTOCOL_ERROR,
    ConnectionLost,
    RequestTimeout,
    TidingsClientError,
)
from tidings.client.links import CLOSE_TIMEOUT, Link, open_link
from tidings.codecs import JSON, Codec

log = logging.getLogger("tidings.client")

PushHandler = Callable[[dict[str, Any]], None]
LostHandler = Callable[["Connection", BaseException | None], None]


class Connection:
    """An open link with many requests in flight (pipelining)."""

    def __init__(
        self,
        link: Link,
        *,
        on_push: PushHandler,
        on_lost: LostHandler,
        request_timeout: float,
    ) -> None:
        self._link = link
        self._codec = link.codec
        self._close_frame: dict[str, Any] | None = None  # a TCP server's final frame
        self._on_push = on_push
        self._on_lost = on_lost
        self._request_timeout = request_timeout
        self._next_id = 1
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        # Serialises writers so concurrent calls never interleave inside the transport.
        self._send_lock = asyncio.Lock()
        self._closed = False
        self._closing = False
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    @classmethod
    async def open(
        cls,
        session: aiohttp.ClientSession,
        url: str,
        *,
        on_push: PushHandler,
        on_lost: LostHandler,
        request_timeout: float,
        heartbeat: float | None,
        codec: Codec = JSON,
    ) -> Connection:
        """Connect; raises ``ConnectionLost`` when the server cannot be reached."""
        link = await open_link(session, url, codec, heartbeat=heartbeat)
        return cls(link, on_push=on_push, on_lost=on_lost, request_timeout=request_timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def close_code(self) -> int | None:
        """Why the server closed: the WebSocket close code, or the code of a TCP
        server's close frame (4001 revoked or unauthenticated, 4008 too slow,
        1001 shutting down, 1009 frame too large); None while open."""
        if self._close_frame is not None:
            code = self._close_frame.get("code")
            return code if isinstance(code, int) else None
        return self._link.close_code

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request and wait for its result (or error frame)."""
        # Checked synchronously together with the registration below, so a future can
        # never be registered after the reader has already failed all pending ones.
        if self._closed or self._closing:
            raise ConnectionLost("not connected")
        req_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        try:
            frame = self._codec.encode({"id": req_id, "method": method, "params": params or {}})
            try:
                async with self._send_lock:
                    await self._link.send(frame)
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                raise ConnectionLost(f"send failed: {exc!r}") from exc
            try:
                async with asyncio.timeout(self._request_timeout):
                    return await future
            except TimeoutError as exc:
                raise RequestTimeout(
                    f"{method}: no answer within {self._request_timeout}s"
                ) from exc
        finally:
            self._pending.pop(req_id, None)

    async def close(self) -> None:
        """Close locally: pending calls fail with ConnectionLost, ``on_lost`` is not
        called (the owner asked for it)."""
        if self._closing:
            await asyncio.gather(self._reader, return_exceptions=True)
            return
        self._closing = True
        with contextlib.suppress(Exception):
            await self._link.close()
        if not self._reader.done():
            # The reader sees the close handshake and exits; cancel only if it hangs.
            done, _ = await asyncio.wait({self._reader}, timeout=CLOSE_TIMEOUT)
            if not done:
                self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        self._fail_pending("connection closed by client")
        self._closed = True

    # -- reader ------------------------------------------------------------

    async def _read_loop(self) -> None:
        reason: BaseException | None = None
        try:
            while (data := await self._link.receive()) is not None:
                self._on_frame(data)
            reason = self._link.error()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the reader must never die silently
            log.exception("tidings client: reader failed")
            reason = exc
        finally:
            self._closed = True
            self._fail_pending(f"connection lost: {reason!r}" if reason else "connection lost")
            if not self._closing:
                # Ensure the transport is released even when the server just vanished.
                with contextlib.suppress(Exception):
                    await self._link.close()
                self._on_lost(self, reason)

    def _on_frame(self, data: bytes) -> None:
        try:
            frame = self._codec.decode(data)
        except ValueError:
            log.warning("tidings client: undecodable frame dropped: %.200r", data)
            return
        if not isinstance(frame, dict):
            log.warning("tidings client: non-object frame dropped: %.200r", frame)
            return
        if "push" in frame:
            self._on_push(frame)
            return
        if isinstance(frame.get("close"), dict):  # TCP: the server closes next
            self._close_frame = frame["close"]
            log.info("tidings client: the server is closing: %r", self._close_frame)
            return
        req_id = frame.get("id")
        if req_id is None:
            # The server could not parse one of our frames (BAD_FRAME); nothing to resolve.
            log.warning("tidings client: server reported an error: %r", frame.get("error"))
            return
        future = self._pending.get(req_id) if isinstance(req_id, int) else None
        if future is None or future.done():
            return  # answer to a request that already timed out
        if "error" in frame:
            future.set_exception(TidingsClientError.from_wire(frame["error"]))
            return
        result = frame.get("result")
        if result is None:
            future.set_result({})
        elif isinstance(result, dict):
            future.set_result(result)
        else:
            future.set_exception(
                TidingsClientError(PROTOCOL_ERROR, f"result is not an object: {result!r}")
            )

    def _fail_pending(self, why: str) -> None:
        # One exception object per future: a shared instance would collect the
        # tracebacks of every task that re-raises it.
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionLost(why))
        self._pending.clear()
