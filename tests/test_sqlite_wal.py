"""The SQLite engine's WAL: COMMIT appends to it on the event loop's thread,
and checkpoints run on a thread of their own once it holds
``sqlite_wal_autocheckpoint`` pages, so it stays bounded under a steady
stream of writes and everything committed is in the database afterwards."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from tidings.clock import FakeClock
from tidings.db.sqlite import SqliteEngine
from tidings.testing import service_harness, test_settings

from .helpers import make_users, send_text

THRESHOLD = 16  # pages


def wal_pages(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size // 4096 if wal.exists() else 0


@pytest.mark.parametrize("synchronous", ["normal", "full"])  # full: COMMIT on its thread
async def test_checkpoints_keep_the_wal_bounded_and_lose_nothing(tmp_path: Path,
                                                                 synchronous: str) -> None:
    settings = test_settings(tmp_path / "data", None, sqlite_wal_autocheckpoint=THRESHOLD,
                             sqlite_synchronous=synchronous)
    largest = 0
    async with service_harness(settings, FakeClock()) as sv:
        engine = sv.db.engine
        assert isinstance(engine, SqliteEngine)
        alice, bob = await make_users(sv, "alice", "bob")
        chat_id = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
        for round_ in range(100):
            await asyncio.gather(*(send_text(sv, alice, chat_id, f"r{round_} m{i} " + "x" * 200)
                                   for i in range(20)))
            largest = max(largest, wal_pages(settings.sqlite_path))
        # 2,000 messages wrote far more than THRESHOLD pages; checkpoints kept
        # starting the WAL over
        assert largest < 20 * THRESHOLD  # measured 185 pages; 1,835 with none
        for _ in range(200):  # the last checkpoint may still be running
            if engine._checkpointing is None:
                break
            await asyncio.sleep(0.01)
        assert engine._checkpointing is None
    # everything is in the file once the WAL is set aside
    conn = sqlite3.connect(settings.sqlite_path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        count = conn.execute("SELECT count(*) FROM messages WHERE chat_id = ? AND kind = 'text'",
                             (chat_id,)).fetchone()[0]
    finally:
        conn.close()
    assert count == 2000


async def test_zero_turns_checkpoints_off(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "data", None, sqlite_wal_autocheckpoint=0)
    async with service_harness(settings, FakeClock()) as sv:
        alice, bob = await make_users(sv, "alice", "bob")
        chat_id = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
        for i in range(100):
            await send_text(sv, alice, chat_id, f"m{i} " + "x" * 500)
        assert sv.db.engine._checkpointing is None  # type: ignore[attr-defined]
        assert wal_pages(settings.sqlite_path) > 100  # only ever grew
