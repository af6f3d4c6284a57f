"""The reference server: ``python -m tidings.bench.reference <config.json>``.

The thinnest aiohttp server that does the wire work of W1 and W3 with no
storage and no logic, so that tidings can be measured against the floor of
the same machine, in the same run, with the same load generators: figures
as a ratio to it hold across machines where absolute figures do not.

What it does, and nothing more:

* ``auth.token``: looks the token up in a table handed over by the bench.
* ``message.send``: numbers the message, encodes one ``chat_updates`` push
  frame (the same ``wire.Message`` tidings pushes), queues it on every
  connection of the group's members (the sender's included, as tidings does)
  and answers the sender with the message.
* ``message.history``: answers from a table of result bodies, keyed by the
  ``before`` of the request, that the bench read from tidings beforehand.

Every connection has a writer task and a queue as tidings' connections do,
so a slow reader never blocks the others; frames go one ``send_frame`` each.

``TIDINGS_REFERENCE_WRITE_THROUGH=1`` is an experiment, not the floor: a frame
pushed while nothing is queued and the socket's buffer is empty is written to
the transport at once (its WebSocket header built here), skipping the writer
task's wake-up; it measures what that change would save tidings' connections.
"""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import sys
import time
from collections import deque

import msgspec
from aiohttp import WSMsgType, web

from tidings.bench.childio import run_main
from tidings.wire import Message, message_update

TEXT_KIND = "text"


class ReferenceConfig(msgspec.Struct, frozen=True):
    port: int
    chat_id: int
    tokens: dict[str, int]  # auth token -> user id; every user is a member
    pages: dict[str, msgspec.Raw] = {}  # str(before) ("" for the newest) -> result body


class Params(msgspec.Struct):
    token: str | None = None
    chat_id: int = 0
    local_id: str | None = None
    text: str | None = None
    before: int | None = None


class Request(msgspec.Struct):
    id: int
    method: str
    params: Params = msgspec.field(default_factory=Params)


request_decoder = msgspec.json.Decoder(Request)
encoder = msgspec.json.Encoder()
NOT_FOUND = b'{"code":"NOT_FOUND","message":"not in the reference table"}'
WRITE_THROUGH = os.environ.get("TIDINGS_REFERENCE_WRITE_THROUGH") == "1"


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final WebSocket text frame (RFC 6455 §5.2), as a server sends."""
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x81, size) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


class Conn:
    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None
                 ) -> None:
        self.ws = ws
        self.transport = transport if WRITE_THROUGH else None
        self.user_id: int | None = None
        self._out: deque[bytes] = deque()
        self._ready = asyncio.Event()

    def push(self, frame: bytes) -> None:
        transport = self.transport
        if (transport is not None and not self._out and not self._ready.is_set()
                and transport.get_write_buffer_size() == 0 and not transport.is_closing()):
            transport.write(text_frame(frame))
            return
        self._out.append(frame)
        self._ready.set()

    async def write_loop(self) -> None:
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._out:
                    await self.ws.send_frame(self._out.popleft(), WSMsgType.TEXT)
        except (ConnectionError, RuntimeError):
            return


class Reference:
    def __init__(self, config: ReferenceConfig) -> None:
        self.config = config
        self.pts = 0
        self.online: list[Conn] = []

    def reply(self, conn: Conn, request_id: int, result: bytes) -> None:
        conn.push(b'{"id":%d,"result":%s}' % (request_id, result))

    def error(self, conn: Conn, request_id: int) -> None:
        conn.push(b'{"id":%d,"error":%s}' % (request_id, NOT_FOUND))

    def on_frame(self, conn: Conn, data: bytes) -> None:
        req = request_decoder.decode(data)
        p = req.params
        if req.method == "message.send" and conn.user_id is not None:
            self.pts += 1
            message = Message(self.config.chat_id, self.pts, conn.user_id, int(time.time()),
                              TEXT_KIND, p.text, None, p.local_id)
            frame = encoder.encode({"push": "chat_updates", "chat_id": self.config.chat_id,
                                    "updates": [message_update(message)]})
            for other in self.online:
                other.push(frame)
            self.reply(conn, req.id, b'{"message":%s}' % encoder.encode(message))
        elif req.method == "message.history" and conn.user_id is not None:
            page = self.config.pages.get("" if p.before is None else str(p.before))
            if page is None:
                self.error(conn, req.id)
            else:
                self.reply(conn, req.id, bytes(page))
        elif req.method == "auth.token" and p.token in self.config.tokens:
            conn.user_id = self.config.tokens[p.token]
            self.online.append(conn)
            self.reply(conn, req.id, b'{"user_id":%d,"device_id":1}' % conn.user_id)
        else:
            self.error(conn, req.id)

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=1 << 20, heartbeat=30.0, compress=False,
                                   decode_text=False)
        await ws.prepare(request)
        conn = Conn(ws, request.transport)
        writer = asyncio.create_task(conn.write_loop())
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    self.on_frame(conn, msg.data)
        finally:
            writer.cancel()
            if conn.user_id is not None:
                self.online.remove(conn)
        return ws

    async def handle_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


async def serve(config: ReferenceConfig) -> None:
    reference = Reference(config)
    app = web.Application()
    app.router.add_get("/ws", reference.handle_ws)
    app.router.add_get("/healthz", reference.handle_health)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", config.port, reuse_address=True).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as config_file:
        _config = msgspec.json.decode(config_file.read(), type=ReferenceConfig)
    run_main(lambda: serve(_config))
