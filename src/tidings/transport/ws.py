"""The WebSocket framing: one message per frame, text for JSON and binary
for MessagePack (subprotocol ``tidings.msgpack``); the close code travels in
the WebSocket close frame. Everything else is ``transport.connection``."""

from __future__ import annotations

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


class WsConnection(Connection):
    transport = "ws"

    def __init__(self, node: Node, ws: web.WebSocketResponse, remote: str | None,
                 codec: Codec | None = None) -> None:
        super().__init__(node, remote, codec or by_subprotocol(ws.ws_protocol))
        self.ws = ws
        self._kind = WSMsgType.BINARY if self.codec.binary else WSMsgType.TEXT

    async def _receive(self) -> bytes | None:
        msg = await self.ws.receive()
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            return None
        return msg.data if isinstance(msg.data, bytes) else msg.data.encode()

    async def _write(self, frame: bytes) -> None:
        await self.ws.send_frame(frame, self._kind)

    async def _close(self, code: int, reason: str) -> None:
        await self.ws.close(code=code, message=reason.encode())
