"""A load generator's socket: WebSocket or TCP (length-prefixed frames),
either codec, moving whole frames. Lean on purpose, like the generators
(aiohttp and the standard library only)."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
import msgspec

from tidings.bench.rpc import RawSocket

_HEADER = struct.Struct(">I")


class FrameLink(Protocol):
    async def send(self, frame: bytes) -> None: ...

    async def receive(self) -> bytes | None:
        """The next frame; None once the connection closed."""
        ...

    async def close(self) -> None: ...


class WsFrames:
    def __init__(self, ws: RawSocket, binary: bool) -> None:
        self._ws = ws
        self._kind = aiohttp.WSMsgType.BINARY if binary else aiohttp.WSMsgType.TEXT

    async def send(self, frame: bytes) -> None:
        await self._ws.send_frame(frame, self._kind)

    async def receive(self) -> bytes | None:
        msg = await self._ws.receive()
        if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            return None
        data: bytes = msg.data
        return data

    async def close(self) -> None:
        await self._ws.close()


class TcpFrames:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def send(self, frame: bytes) -> None:
        if self._writer.is_closing():
            raise ConnectionResetError("closed")
        self._writer.write(_HEADER.pack(len(frame)) + frame)
        await self._writer.drain()

    async def receive(self) -> bytes | None:
        try:
            (length,) = _HEADER.unpack(await self._reader.readexactly(4))
            return await self._reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


async def open_frames(http: aiohttp.ClientSession, url: str, codec: str) -> FrameLink:
    """``ws://...`` or ``tcp://host:port``; MessagePack by subprotocol or hello."""
    parts = urlsplit(url)
    if parts.scheme == "tcp":
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port,
                                                       limit=1024 * 1024)
        link = TcpFrames(reader, writer)
        if codec != "json":
            await link.send(msgspec.json.encode({"hello": {"codec": codec}}))
            answer = await link.receive()
            if answer is None or msgspec.json.decode(answer) != {"hello": {"codec": codec}}:
                await link.close()
                raise ConnectionError(f"the server refused the {codec} codec: {answer!r}")
        return link
    protocols = (f"tidings.{codec}",) if codec != "json" else ()
    ws = await http.ws_connect(url, max_msg_size=0, decode_text=False, protocols=protocols)
    if protocols and ws.protocol != protocols[0]:
        await ws.close()
        raise ConnectionError(f"{url} does not offer {protocols[0]}")
    return WsFrames(ws, binary=codec != "json")
