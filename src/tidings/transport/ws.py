"""The WebSocket framing: one message per frame, text for JSON and binary
for MessagePack (subprotocol ``tidings.msgpack``); the close code travels in
the WebSocket close frame. Everything else is ``transport.connection``.

Data frames are framed here and handed to the socket together (one
``writelines``, one syscall for several frames) rather than one
``send_frame`` each: server frames are never masked and this server never
compresses (``compress=False``). Control frames (ping, pong, close) stay with
aiohttp, which writes each whole, so they never split a data frame.
"""

from __future__ import annotations

import asyncio
import struct
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from tidings.codecs import Codec, by_subprotocol
from tidings.transport.connection import (
    CLOSE_GOING_AWAY,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    Connection,
    State,
)

if TYPE_CHECKING:
    from tidings.transport.server import Node

__all__ = ["CLOSE_GOING_AWAY", "CLOSE_TOO_SLOW", "CLOSE_UNAUTHORIZED", "State", "WsConnection"]


_LEN1 = struct.Struct("!BB").pack
_LEN2 = struct.Struct("!BBH").pack
_LEN3 = struct.Struct("!BBQ").pack
_FIN = 0x80


def frame_header(opcode: int, size: int) -> bytes:
    """An unmasked, uncompressed, final frame's header (RFC 6455 section 5.2)."""
    if size < 126:
        return _LEN1(_FIN | opcode, size)
    if size < 65536:
        return _LEN2(_FIN | opcode, 126, size)
    return _LEN3(_FIN | opcode, 127, size)


class WsConnection(Connection):
    transport = "ws"

    def __init__(self, node: Node, ws: web.WebSocketResponse, request: web.BaseRequest,
                 codec: Codec | None = None) -> None:
        super().__init__(node, request.remote, codec or by_subprotocol(ws.ws_protocol))
        self.ws = ws
        if request.transport is None:
            raise ConnectionResetError("the WebSocket's connection is gone")
        self._socket: asyncio.Transport = request.transport
        self._http = request.writer  # its drain() waits while the socket's buffer is full
        self._opcode = int(WSMsgType.BINARY if self.codec.binary else WSMsgType.TEXT)

    async def _receive(self) -> bytes | None:
        msg = await self.ws.receive()
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            return None
        return msg.data if isinstance(msg.data, bytes) else msg.data.encode()

    def _open_socket(self) -> asyncio.WriteTransport:
        if self.ws.closed or self._socket.is_closing():
            raise ConnectionResetError("the WebSocket is closed")
        return self._socket

    def _header(self, size: int) -> bytes:
        return frame_header(self._opcode, size)

    async def _drain(self) -> None:
        await self._http.drain()

    async def _close(self, code: int, reason: str) -> None:
        await self.ws.close(code=code, message=reason.encode())
