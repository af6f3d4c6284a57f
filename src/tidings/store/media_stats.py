"""Aggregates over ``files`` and ``background_jobs`` for operators (issue 8):
the storage report, the Prometheus gauges, and the counter repair of
``tidings admin recompute-usage``. Read-only except the two ``set_*`` writes."""

from __future__ import annotations

import msgspec

from tidings.db.engine import Txn

DAY = 86400
_HOLDS = "status IN ('active', 'expired')"


class FileSummary(msgspec.Struct, frozen=True):
    file_id: int
    chat_id: int | None
    uploader_id: int
    kind: str
    name: str
    size: int
    status: str
    created_at: int
    expires_at: int | None


async def by_kind_status_txn(txn: Txn) -> list[tuple[str, str, int, int]]:
    """(kind, status, files, bytes) of every pair present."""
    rows = await txn.fetch("SELECT kind, status, COUNT(*), COALESCE(SUM(size), 0) FROM files"
                           " GROUP BY kind, status ORDER BY kind, status")
    return [(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


async def jobs_by_kind_txn(txn: Txn) -> list[tuple[str, int, int]]:
    """(kind, pending, failed) of every job kind with a row."""
    rows = await txn.fetch(
        "SELECT kind, SUM(CASE WHEN failed_at IS NULL THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN failed_at IS NULL THEN 0 ELSE 1 END) FROM background_jobs"
        " GROUP BY kind ORDER BY kind")
    return [(r[0], int(r[1]), int(r[2])) for r in rows]


async def top_chats_by_kind_txn(txn: Txn, kind: str, limit: int) -> list[tuple[int, int, int]]:
    """(chat_id, bytes, files) of the home chats holding the most bytes of ``kind``."""
    rows = await txn.fetch(
        f"SELECT chat_id, SUM(size) AS bytes, COUNT(*) FROM files WHERE kind = $1 AND {_HOLDS}"
        " AND chat_id IS NOT NULL GROUP BY chat_id ORDER BY bytes DESC, chat_id LIMIT $2",
        kind, limit)
    return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]


async def largest_files_txn(txn: Txn, limit: int) -> list[FileSummary]:
    """The largest files that still hold bytes."""
    rows = await txn.fetch(
        "SELECT file_id, chat_id, uploader_id, kind, name, size, status, created_at,"
        f" expires_at FROM files WHERE {_HOLDS} ORDER BY size DESC, file_id LIMIT $1", limit)
    return [FileSummary(int(r[0]), r[1], int(r[2]), r[3], r[4], int(r[5]), r[6], int(r[7]),
                        r[8]) for r in rows]


async def daily_bytes_txn(txn: Txn, since: int, chats: int
                          ) -> list[tuple[int, int, int, int]]:
    """(chat_id, day start, bytes, files) uploaded since ``since`` (UTC days, by
    upload time) into the ``chats`` home chats that received the most bytes."""
    rows = await txn.fetch(
        f"SELECT chat_id, created_at / {DAY} AS day, SUM(size), COUNT(*) FROM files"
        " WHERE created_at >= $1 AND chat_id IN (SELECT chat_id FROM files"
        " WHERE created_at >= $1 AND chat_id IS NOT NULL GROUP BY chat_id"
        " ORDER BY SUM(size) DESC, chat_id LIMIT $2)"
        f" GROUP BY chat_id, created_at / {DAY} ORDER BY chat_id, day", since, chats)
    return [(int(r[0]), int(r[1]) * DAY, int(r[2]), int(r[3])) for r in rows]


async def expiring_txn(txn: Txn, until: int) -> tuple[int, int]:
    """(files, bytes) of active files whose deadline is at or before ``until``
    (including any the sweeper has not reached yet)."""
    row = await txn.fetchrow(
        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE status = 'active'"
        " AND expires_at IS NOT NULL AND expires_at <= $1", until)
    assert row is not None
    return int(row[0]), int(row[1])


async def blobs_txn(txn: Txn) -> tuple[int, int]:
    """(blobs, bytes) stored: identical uploads share one blob."""
    row = await txn.fetchrow("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs")
    assert row is not None
    return int(row[0]), int(row[1])


async def home_chats_of_uploader_txn(txn: Txn, user_id: int) -> list[int]:
    """The home chats of a user's files that still hold bytes."""
    rows = await txn.fetch(
        f"SELECT DISTINCT chat_id FROM files WHERE uploader_id = $1 AND {_HOLDS}"
        " AND chat_id IS NOT NULL ORDER BY chat_id", user_id)
    return [int(r[0]) for r in rows]


# -- counter repair ----------------------------------------------------------------

async def lock_pool_counters_txn(txn: Txn, chat_ids: list[int]) -> None:
    """Lock (creating) the pool counter rows of these chats: a file change that
    moves one of them waits until the repair commits."""
    for chat_id in sorted(chat_ids):
        await txn.execute("INSERT INTO chat_media (chat_id) VALUES ($1)"
                          " ON CONFLICT (chat_id) DO NOTHING", chat_id)
        await txn.fetchrow(
            f"SELECT chat_id FROM chat_media WHERE chat_id = $1{txn.engine.for_update}",
            chat_id)


async def lock_custody_counters_txn(txn: Txn, user_ids: list[int]) -> None:
    for user_id in sorted(user_ids):
        await txn.fetchrow(
            f"SELECT user_id FROM users WHERE user_id = $1{txn.engine.for_update}", user_id)


async def set_pool_usage_txn(txn: Txn, chat_id: int, size: int, files: int) -> None:
    await txn.execute("UPDATE chat_media SET pool_used = $2, pool_files = $3"
                      " WHERE chat_id = $1", chat_id, size, files)


async def set_custody_txn(txn: Txn, user_id: int, size: int, files: int) -> None:
    await txn.execute("UPDATE users SET custody_used = $2, custody_files = $3"
                      " WHERE user_id = $1", user_id, size, files)
