"""Databases for benchmark runs: a fresh one per run, and the row counts that
check an acknowledged message really is stored."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from tidings.app import open_database
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.testing import postgres_schema, test_settings

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ENGINES = ("sqlite", "postgres")


def postgres_url(given: str | None) -> str:
    return given or os.environ.get("TIDINGS_BENCH_PG_URL") or DEFAULT_PG_URL


def engine_of(database_url: str | None) -> str:
    return "postgres" if database_url else "sqlite"


@contextlib.asynccontextmanager
async def fresh_database(engine: str, pg_url: str | None) -> AsyncIterator[str | None]:
    """Yield the database URL of an empty database: None for SQLite (a new file
    in the run's data dir), a throwaway schema for PostgreSQL, dropped after."""
    if engine == "sqlite":
        yield None
        return
    async with postgres_schema(postgres_url(pg_url)) as url:
        yield url


async def count_messages(db: Database) -> int:
    async def count_txn(txn: Txn) -> int:
        return int(await txn.fetchval("SELECT count(*) FROM messages"))

    return await db.read("bench_count_messages", count_txn)


async def count_messages_at(data_dir: Path, database_url: str | None) -> int:
    """Count from outside a server: its SQLite file in ``data_dir`` or its schema."""
    db = open_database(test_settings(data_dir, database_url))
    await db.engine.open()
    try:
        return await count_messages(db)
    finally:
        await db.engine.close()


async def server_versions(pg_url: str | None, with_postgres: bool) -> dict[str, str]:
    """SQLite library and PostgreSQL server versions, for the record."""
    import sqlite3

    versions = {"sqlite": sqlite3.sqlite_version}
    if with_postgres:
        import asyncpg

        conn = await asyncpg.connect(postgres_url(pg_url))
        try:
            versions["postgres"] = str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()
    return versions
