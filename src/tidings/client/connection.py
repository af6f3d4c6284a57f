"""One WebSocket connection: request/response correlation and frame routing.

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

from tidings import wire
from tidings.client.errors import (
    PROTOCOL_ERROR,
    ConnectionLost,
    RequestTimeout,
    TidingsClientError,
)

log = logging.getLogger("tidings.client")

PushHandler = Callable[[dict[str, Any]], None]
LostHandler = Callable[["Connection", BaseException | None], None]

# get_difference may legitimately return thousands of updates in one frame.
MAX_FRAME_BYTES = 64 * 1024 * 1024
# How long a local close waits for the server's close handshake.
CLOSE_TIMEOUT = 5.0


class Connection:
    """An open WebSocket with many requests in flight (pipelining)."""

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        *,
        on_push: PushHandler,
        on_lost: LostHandler,
        request_timeout: float,
    ) -> None:
        self._ws = ws
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
    ) -> Connection:
        """Connect; raises ``ConnectionLost`` when the server cannot be reached."""
        try:
            ws = await session.ws_connect(
                url,
                heartbeat=heartbeat,
                max_msg_size=MAX_FRAME_BYTES,
                timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT),
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ConnectionLost(f"cannot connect to {url}: {exc!r}") from exc
        return cls(ws, on_push=on_push, on_lost=on_lost, request_timeout=request_timeout)

    @property
    def closed(self) -> bool:
        return self._closed

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
            frame = wire.encode({"id": req_id, "method": method, "params": params or {}})
            try:
                async with self._send_lock:
                    await self._ws.send_str(frame.decode())
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
            await self._ws.close()
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
            while True:
                msg = await self._ws.receive()
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    self._on_frame(msg.data)
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    reason = self._ws.exception() or ConnectionLost("websocket error")
                    break
                else:  # CLOSE, CLOSING, CLOSED
                    break
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
                    await self._ws.close()
                self._on_lost(self, reason)

    def _on_frame(self, data: str | bytes) -> None:
        try:
            frame = wire.decode(data)
        except ValueError:
            log.warning("tidings client: undecodable frame dropped: %.200r", data)
            return
        if not isinstance(frame, dict):
            log.warning("tidings client: non-object frame dropped: %.200r", frame)
            return
        if "push" in frame:
            self._on_push(frame)
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
