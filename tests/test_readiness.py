"""``/readyz`` (issue 11, item 4): 200 while the node can serve; 503 naming
the part it cannot reach when the database or the bus goes away (cut here
by stopping a TCP relay in front of the real PostgreSQL and Redis), and
200 again once they are back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from tidings.testing import running_server, test_settings


class Relay:
    """A TCP relay to ``host:port`` that can be cut (every connection closed,
    new ones refused) and restored on the same local port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in tuple(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._pipes.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def relay(url: str) -> AsyncIterator[tuple[Relay, str]]:
    parts = urlsplit(url)
    assert parts.hostname is not None
    r = Relay(parts.hostname, parts.port or 0)
    await r.start()
    netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{r.port}")
    try:
        yield r, urlunsplit(parts._replace(netloc=netloc))
    finally:
        with contextlib.suppress(Exception):
            await r.cut()


async def ready(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as resp:
        return resp.status, await resp.json()


async def test_ready_on_the_embedded_defaults(tmp_path: Path) -> None:
    async with running_server(test_settings(tmp_path)) as srv, aiohttp.ClientSession() as s:
        url = f"http://{srv.settings.host}:{srv.port}/readyz"
        assert await ready(s, url) == (200, {"status": "ready"})


async def test_not_ready_while_the_database_or_the_bus_is_away(tmp_path: Path,
                                                               pg_url: str) -> None:
    async with relay(pg_url) as (db_relay, db_url), \
            relay("redis://127.0.0.1:6379/0") as (bus_relay, bus_url):
        settings = test_settings(tmp_path, db_url, bus="redis", redis_url=bus_url,
                                 readiness_timeout_seconds=1.0)
        async with running_server(settings) as srv, aiohttp.ClientSession() as s:
            url = f"http://{srv.settings.host}:{srv.port}/readyz"
            assert await ready(s, url) == (200, {"status": "ready"})

            await bus_relay.cut()
            status, body = await ready(s, url)
            assert (status, body["status"], list(body["failed"])) == (503, "unavailable", ["bus"])

            await db_relay.cut()
            status, body = await ready(s, url)
            assert (status, sorted(body["failed"])) == (503, ["bus", "database"])
            assert all(isinstance(v, str) and v for v in body["failed"].values())

            await db_relay.start()  # same ports again: both come back
            await bus_relay.start()
            for _ in range(50):
                status, body = await ready(s, url)
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            assert (status, body) == (200, {"status": "ready"})
