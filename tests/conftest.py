"""Fixtures shared by the suite. Every database-backed test runs on SQLite and
on PostgreSQL: the ``engine`` fixture is parametrised, and the PostgreSQL half
gets a fresh schema per test. Locally a missing PostgreSQL skips that half; in
CI (``CI`` set) it fails, because a skip there would hide a broken engine."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.s3_server import s3_server
from tidings.clock import FakeClock
from tidings.config import Settings
from tidings.services.container import Services
from tidings.testing import postgres_schema, service_harness, test_settings

PG_URL = os.environ.get("TIDINGS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TIDINGS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("TIDINGS_TEST_NATS_URL", "nats://127.0.0.1:4222")
IN_CI = bool(os.environ.get("CI"))


def _unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable: {exc}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@contextlib.asynccontextmanager
async def fresh_postgres() -> AsyncIterator[str]:
    """A URL with a schema of its own; skips locally, fails in CI, when unreachable."""
    try:
        async with postgres_schema(PG_URL) as url:
            yield url
    except OSError as exc:
        _unavailable("PostgreSQL", exc)


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    async with fresh_postgres() as url:
        yield url


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """PostgreSQL only, for what SQLite does not serve (several nodes, one database)."""
    async with fresh_postgres() as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return test_settings(tmp_path / "data", database_url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sv(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    async with service_harness(settings, clock) as services:
        yield services


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    """A real S3-compatible server (moto): ``TIDINGS_TEST_S3_URL``, or one started
    for the session; skips locally, fails in CI, when there is none."""
    try:
        with s3_server() as url:
            yield url
    except OSError as exc:
        _unavailable("S3 (moto_server)", exc)
