"""Links: the socket under a ``Connection``, one per transport.

A link moves whole frames (bytes in the negotiated codec) and knows nothing
of requests. ``ws://`` and ``wss://`` URLs open a WebSocket (MessagePack with
the ``tidings.msgpack`` subprotocol), ``tcp://host:port`` a TCP connection
with 4-byte big-endian length prefixes (MessagePack after a JSON hello).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

from tidings.client.errors import ConnectionLost
from tidings.codecs import JSON, Codec

# get_difference may legitimately return thousands of updates in one frame.
MAX_FRAME_BYTES = 64 * 1024 * 1024
# How long a local close waits for the server's close handshake.
CLOSE_TIMEOUT = 5.0
_HEADER = struct.Struct(">I")


class Link(Protocol):
    codec: Codec

    @property
    def close_code(self) -> int | None:
        """The WebSocket close code the server gave; None while open, and for
        TCP (its close frame is read by the connection)."""
        ...

    async def send(self, frame: bytes) -> None:
        """Raises ``ConnectionError``, ``aiohttp.ClientError`` or ``RuntimeError``."""
        ...

    async def receive(self) -> bytes | None:
        """The next frame; None once closed (``error`` tells an abnormal end)."""
        ...

    def error(self) -> BaseException | None: ...

    async def close(self) -> None: ...


class WsLink:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, codec: Codec) -> None:
        self._ws = ws
        self.codec = codec
        self._kind = aiohttp.WSMsgType.BINARY if codec.binary else aiohttp.WSMsgType.TEXT
        self._error: BaseException | None = None

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code

    async def send(self, frame: bytes) -> None:
        await self._ws.send_frame(frame, self._kind)

    async def receive(self) -> bytes | None:
        msg = await self._ws.receive()
        if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            data = msg.data
            return data if isinstance(data, bytes) else data.encode()
        if msg.type == aiohttp.WSMsgType.ERROR:
            self._error = self._ws.exception() or ConnectionLost("websocket error")
        return None

    def error(self) -> BaseException | None:
        return self._error

    async def close(self) -> None:
        await self._ws.close()


class TcpLink:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.codec: Codec = JSON
        self.close_code: int | None = None
        self._error: BaseException | None = None

    async def send(self, frame: bytes) -> None:
        if self._writer.is_closing():
            raise ConnectionResetError("the TCP connection is closed")
        self._writer.write(_HEADER.pack(len(frame)) + frame)
        await self._writer.drain()

    async def receive(self) -> bytes | None:
        try:
            (length,) = _HEADER.unpack(await self._reader.readexactly(_HEADER.size))
            if length > MAX_FRAME_BYTES:
                raise ConnectionLost(f"the server announced a frame of {length} bytes")
            return await self._reader.readexactly(length)
        except asyncio.IncompleteReadError:
            return None  # the server closed (after its close frame, if it sent one)
        except (ConnectionError, ConnectionLost) as exc:
            self._error = exc
            return None

    def error(self) -> BaseException | None:
        return self._error

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._writer.wait_closed()

    async def negotiate(self, codec: Codec) -> None:
        """The hello exchange that switches the link to ``codec``."""
        await self.send(JSON.encode({"hello": {"codec": codec.name}}))
        answer = await self.receive()
        reply = JSON.decode(answer) if answer is not None else None
        if not isinstance(reply, dict) or reply.get("hello") != {"codec": codec.name}:
            raise ConnectionLost(f"the server refused the {codec.name} codec: {reply!r}")
        self.codec = codec


async def open_link(session: aiohttp.ClientSession, url: str, codec: Codec, *,
                    heartbeat: float | None) -> Link:
    """Connect; raises ``ConnectionLost`` when the server cannot be reached or
    does not speak ``codec``."""
    parts = urlsplit(url)
    if parts.scheme == "tcp":
        return await _open_tcp(url, parts.hostname or "127.0.0.1", parts.port, codec)
    protocols = (codec.subprotocol,) if codec is not JSON else ()
    try:
        ws = await session.ws_connect(url, heartbeat=heartbeat, max_msg_size=MAX_FRAME_BYTES,
                                      protocols=protocols,
                                      timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT))
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ConnectionLost(f"cannot connect to {url}: {exc!r}") from exc
    if protocols and ws.protocol != codec.subprotocol:
        await ws.close()
        raise ConnectionLost(f"{url} does not offer the {codec.subprotocol} subprotocol")
    return WsLink(ws, codec)


async def _open_tcp(url: str, host: str, port: int | None, codec: Codec) -> TcpLink:
    if port is None:
        raise ConnectionLost(f"{url}: a tcp:// URL needs a port")
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        raise ConnectionLost(f"cannot connect to {url}: {exc!r}") from exc
    link = TcpLink(reader, writer)
    if codec is not JSON:
        try:
            await link.negotiate(codec)
        except BaseException:
            await link.close()
            raise
    return link
