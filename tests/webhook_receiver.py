"""A real HTTP server receiving webhook batches, for the webhook tests: it
answers each POST by a script (an error status, a hang past the sender's
timeout, or 200) and keeps every batch it saw with its headers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tidings.testing import free_port

SECRET = "webhook-test-secret-0123456789"


def signature_ok(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """How a receiver verifies a batch (docs/protocol.md, "Webhooks")."""
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest("v1=" + expected, header)


@dataclass
class Post:
    status: int | None  # None: hung past the sender's timeout
    events: list[dict[str, Any]]
    signed: bool


@dataclass
class Receiver:
    url: str
    script: list[str] = field(default_factory=list)  # "500", "503", "hang", "ok"; then "ok"
    posts: list[Post] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    refuse_all: bool = False

    def accepted(self) -> list[dict[str, Any]]:
        """Every event of every batch answered 200, in arrival order."""
        return [e for p in self.posts if p.status == 200 for e in p.events]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        signed = signature_ok(SECRET, request.headers.get("X-Tidings-Timestamp", ""), body,
                              request.headers.get("X-Tidings-Signature", ""))
        events = json.loads(body)["events"]
        step = "503" if self.refuse_all else (self.script.pop(0) if self.script else "ok")
        if step == "hang":
            self.posts.append(Post(None, events, signed))
            await asyncio.wait_for(self.release.wait(), 30)
            return web.Response(status=200)
        status = 200 if step == "ok" else int(step)
        self.posts.append(Post(status, events, signed))
        self.arrived.set()
        return web.Response(status=status)


@asynccontextmanager
async def receiver(script: list[str] | None = None) -> AsyncIterator[Receiver]:
    port = free_port()
    rec = Receiver(f"http://127.0.0.1:{port}/hooks", list(script or []))
    app = web.Application()
    app.router.add_post("/hooks", rec.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield rec
    finally:
        rec.release.set()
        await runner.cleanup()
