"""Helpers for tests of tidings and of applications built on it: settings for
a throwaway node, a running server on a free port, and a service harness
without any transport."""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from tidings.app import TidingsServer, load_secret, open_database
from tidings.bus.base import AnyEvent, Bus
from tidings.bus.local import LocalBus
from tidings.clock import Clock, FakeClock
from tidings.config import Settings
from tidings.db.migrate import migrate
from tidings.jobs import build_runner
from tidings.services.container import Services

# Cheap hashing keeps suites with many registrations fast; production keeps the defaults.
FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_cost_kib": 64, "argon2_parallelism": 1}


def test_settings(data_dir: Path, database_url: str | None = None, **overrides: Any
                  ) -> Settings:
    values: dict[str, Any] = {"data_dir": data_dir, "port": 0, "database_url": database_url,
                              **FAST_HASHING}
    values.update(overrides)
    return Settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a pytest test


def free_port() -> int:
    """A loopback port free right now, for a server started in another process.
    Another process could take it before that server binds; it then fails to
    start, loudly."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_search_path(url: str, schema: str) -> str:
    """A PostgreSQL URL whose connections use ``schema`` (asyncpg passes unknown
    query parameters on as server settings)."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode({"search_path": schema})) if q)
    return urlunsplit(parts._replace(query=query))


@contextlib.asynccontextmanager
async def postgres_schema(url: str) -> AsyncIterator[str]:
    """A fresh schema for one test, dropped afterwards; yields the URL to use."""
    import asyncpg

    schema = "t_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        yield with_search_path(url, schema)
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


@contextlib.asynccontextmanager
async def running_server(settings: Settings, clock: Clock | None = None
                         ) -> AsyncIterator[TidingsServer]:
    server = TidingsServer(settings, clock)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class RecordingBus(LocalBus):
    """The local bus, also remembering every event published (for update-count tests)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[AnyEvent] = []

    def publish(self, event: AnyEvent) -> None:
        self.events.append(event)
        super().publish(event)


@contextlib.asynccontextmanager
async def service_harness(settings: Settings, clock: Clock | None = None,
                          bus: Bus | None = None, *, jobs: bool = False
                          ) -> AsyncIterator[Services]:
    """Every service over a real database, no transport. The default bus records
    every event (for update-count tests); pass ``LocalBus()`` for long runs.
    ``jobs`` also runs the background job runner's loop, as a server does; to
    run due jobs at a chosen moment instead, call
    ``tidings.jobs.build_runner(services).run_due()`` after moving the clock."""
    db = open_database(settings)
    await db.engine.open()
    services = Services.build(settings, clock or FakeClock(), db, bus or RecordingBus(),
                              load_secret(settings))
    runner = build_runner(services) if jobs else None
    try:
        await migrate(db, services.clock.now())
        await services.start()
        if runner is not None:
            runner.start()
        yield services
    finally:
        if runner is not None:
            await runner.stop()
        await services.stop()
        await db.engine.close()
