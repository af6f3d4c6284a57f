"""The TCP framing: each frame is a 4-byte big-endian length, then that many
bytes of payload (the same JSON as over WebSocket, or MessagePack).

Codec: JSON unless the client's first frame is the JSON hello
``{"hello": {"codec": "msgpack"}}``; the server answers
``{"hello": {"codec": "msgpack"}}`` (still JSON) and every later frame, both
ways, is MessagePack. An unknown codec is answered with an ``INVALID_PARAMS``
error frame and the connection stays on JSON.

TCP has no close codes: before closing, the server sends a final frame
``{"close": {"code": 4008, "reason": "..."}}`` in the connection's codec,
with the WebSocket close code it would have used (1001 shutdown, 1009 frame
beyond the ceiling, 4001 unauthorized or revoked, 4008 too slow). Frame size
rules mirror the WebSocket ones: a payload over ``max_frame_bytes`` is read,
dropped and answered ``TOO_LARGE``; a length over four times that is not read
at all, the connection is closed with 1009.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import TYPE_CHECKING, Any

from tidings.codecs import CODECS, JSON, Codec
from tidings.errors import ErrorCode, TidingsError
from tidings.transport.connection import CLOSE_TOO_BIG, Connection

if TYPE_CHECKING:
    from tidings.transport.server import Node

log = logging.getLogger(__name__)

HEADER = struct.Struct(">I")
# How long a close waits for the peer to take what is buffered before the
# socket is cut (a slow consumer may never read again).
CLOSE_TIMEOUT = 5.0


def frame_bytes(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


class TcpConnection(Connection):
    transport = "tcp"

    def __init__(self, node: Node, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 remote: str | None) -> None:
        super().__init__(node, remote, JSON)
        self.reader = reader
        self.writer = writer
        self._ceiling = node.settings.max_frame_bytes * 4
        self._first = True

    async def _receive(self) -> bytes | None:
        while True:
            try:
                (length,) = HEADER.unpack(await self.reader.readexactly(HEADER.size))
                if length > self._ceiling:
                    log.info("closing a TCP connection: a frame of %d bytes announced", length)
                    self.close_soon(CLOSE_TOO_BIG, f"frame exceeds {self._ceiling} bytes")
                    return None
                payload = await self.reader.readexactly(length)
            except (asyncio.IncompleteReadError, ConnectionError):
                return None
            if self._first:
                self._first = False
                hello = _hello_of(payload)
                if hello is not None:
                    self._negotiate(hello)
                    continue
            return payload

    def _negotiate(self, hello: Any) -> None:
        name = hello.get("codec") if isinstance(hello, dict) else None
        codec: Codec | None = CODECS.get(name) if isinstance(name, str) else None
        if codec is None:
            self._send(JSON.encode({"id": None, "error": TidingsError(
                ErrorCode.INVALID_PARAMS, f"hello: unknown codec {name!r}; one of "
                f"{', '.join(CODECS)}", field="codec", codecs=list(CODECS)).to_wire()}))
            return
        self._send(JSON.encode({"hello": {"codec": codec.name}}))  # the last JSON frame
        self.codec = codec

    def _open_socket(self) -> asyncio.WriteTransport:
        if self.writer.is_closing():
            raise ConnectionResetError("the TCP connection is closed")
        return self.writer.transport

    def _header(self, size: int) -> bytes:
        return HEADER.pack(size)

    async def _drain(self) -> None:
        await self.writer.drain()

    async def _close(self, code: int, reason: str) -> None:
        if self.writer.is_closing():
            return
        self.writer.write(frame_bytes(self.codec.encode(
            {"close": {"code": code, "reason": reason}})))
        self.writer.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.writer.wait_closed()
        except (TimeoutError, ConnectionError, OSError):
            self.writer.transport.abort()

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            if self._closer is not None:  # the close frame goes out before the socket closes
                await asyncio.gather(self._closer, return_exceptions=True)
            if not self.writer.is_closing():  # the peer went away: release the socket
                self.writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await self.writer.wait_closed()
            if not self.writer.transport.is_closing():
                self.writer.transport.abort()


def _hello_of(payload: bytes) -> Any:
    """The ``hello`` of a hello frame, else None (an ordinary first request)."""
    if not payload.lstrip().startswith(b"{"):
        return None
    try:
        value = JSON.decode(payload)
    except ValueError:
        return None
    if isinstance(value, dict) and "hello" in value and "method" not in value:
        return value["hello"] if value["hello"] is not None else {}
    return None
