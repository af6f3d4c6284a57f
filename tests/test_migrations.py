"""Migrations: applied once each, recorded, and re-running is a no-op."""

from __future__ import annotations

from tidings.app import open_database
from tidings.config import Settings
from tidings.db.engine import Txn
from tidings.db.migrate import available, migrate


async def test_migrate_is_recorded_and_idempotent(settings: Settings) -> None:
    db = open_database(settings)
    await db.engine.open()
    try:
        first = await migrate(db, 1)
        assert [m.version for m in first] == [m.version for m in available()]
        assert await migrate(db, 2) == []

        async def versions_txn(txn: Txn) -> list[int]:
            rows = await txn.fetch("SELECT version FROM schema_migrations ORDER BY version")
            return [int(r[0]) for r in rows]

        assert await db.read("versions", versions_txn) == [m.version for m in available()]
    finally:
        await db.engine.close()


def test_versions_are_contiguous() -> None:
    assert [m.version for m in available()] == list(range(1, len(available()) + 1))
