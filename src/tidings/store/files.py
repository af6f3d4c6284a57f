"""Files and blobs (issue 8). ``files`` is the one source of truth of a
file's lifecycle; ``blobs`` has one row per stored sha256, locked by uploads
and by the blob deleter so that neither misses the other.

Usage counters (a pool's ``pool_used``/``pool_files`` in ``chat_media``, a
user's ``custody_used``/``custody_files``) change in the same transaction as
the file rows they count; ``usage_from_files_txn`` recomputes them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tidings.db.engine import Txn
from tidings.media.lifecycle import HOLDS_BYTES

_COLS = ("file_id, uploader_id, kind, name, mime, size, sha256, width, height, thumbnail,"
         " created_at,"
         " chat_id, status, expires_at, expired_at, preserved_by, preserved_at, pool_chat_id,"
         " deleted_at")
_HOLDS = "status IN ('active', 'expired')"
assert HOLDS_BYTES == ("active", "expired")


class FileRow(msgspec.Struct, frozen=True):
    file_id: int
    uploader_id: int
    kind: str
    name: str
    mime: str
    size: int
    sha256: str
    width: int | None
    height: int | None
    thumbnail: bool
    created_at: int
    chat_id: int | None  # home chat: the first the file was sent into
    status: str
    expires_at: int | None
    expired_at: int | None
    preserved_by: str | None
    preserved_at: int | None
    pool_chat_id: int | None
    deleted_at: int | None

    @property
    def holds_bytes(self) -> bool:
        return self.status in HOLDS_BYTES


def _file(r: Any) -> FileRow:
    return FileRow(int(r[0]), int(r[1]), r[2], r[3], r[4], int(r[5]), r[6], r[7], r[8],
                   bool(r[9]), *r[10:])


class Transition(msgspec.Struct, frozen=True):
    """New lifecycle values of one file."""

    status: str
    expires_at: int | None
    expired_at: int | None
    preserved_by: str | None
    preserved_at: int | None
    pool_chat_id: int | None
    deleted_at: int | None = None

    @classmethod
    def of(cls, f: FileRow) -> Transition:
        return cls(f.status, f.expires_at, f.expired_at, f.preserved_by, f.preserved_at,
                   f.pool_chat_id, f.deleted_at)


# -- blobs ---------------------------------------------------------------------

async def claim_blob_txn(txn: Txn, sha256: str, size: int, now: int) -> bool:
    """Lock the blob row of ``sha256`` (creating it); True if it existed before."""
    created = await txn.fetchval(
        "INSERT INTO blobs (sha256, size, created_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (sha256) DO NOTHING RETURNING sha256", sha256, size, now)
    if created is not None:
        return False
    await txn.fetchrow(f"SELECT sha256 FROM blobs WHERE sha256 = $1{txn.engine.for_update}",
                       sha256)
    return True


async def lock_blob_txn(txn: Txn, sha256: str) -> tuple[int, bool] | None:
    """(size, has_thumbnail) of a blob row, locked; None if there is none."""
    row = await txn.fetchrow(
        f"SELECT size, has_thumbnail FROM blobs WHERE sha256 = $1{txn.engine.for_update}",
        sha256)
    return None if row is None else (int(row[0]), bool(row[1]))


async def set_thumbnail_txn(txn: Txn, sha256: str) -> None:
    await txn.execute("UPDATE blobs SET has_thumbnail = 1 WHERE sha256 = $1", sha256)


async def delete_blob_row_txn(txn: Txn, sha256: str) -> None:
    await txn.execute("DELETE FROM blobs WHERE sha256 = $1", sha256)


async def blob_in_use_txn(txn: Txn, sha256: str) -> bool:
    """Whether a file row that still holds bytes shares this blob."""
    row = await txn.fetchrow(f"SELECT 1 FROM files WHERE sha256 = $1 AND {_HOLDS} LIMIT 1",
                             sha256)
    return row is not None


# -- files ---------------------------------------------------------------------

async def insert_file_txn(txn: Txn, *, uploader_id: int, kind: str, name: str, mime: str,
                          size: int, sha256: str, width: int | None, height: int | None,
                          now: int, expires_at: int | None, preserved_by: str | None,
                          thumbnail: bool = False) -> FileRow:
    row = await txn.fetchrow(
        "INSERT INTO files (uploader_id, kind, name, mime, size, sha256, width, height,"
        " thumbnail, created_at, expires_at, preserved_by, preserved_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        f" RETURNING {_COLS}",
        uploader_id, kind, name, mime, size, sha256, width, height, int(thumbnail), now,
        expires_at, preserved_by, now if preserved_by else None)
    assert row is not None
    return _file(row)


async def get_files_txn(txn: Txn, file_ids: list[int], *, lock: bool = False
                        ) -> dict[int, FileRow]:
    if not file_ids:
        return {}
    cond, args = txn.engine.any_of("file_id", 1, sorted(set(file_ids)))
    suffix = " ORDER BY file_id" + txn.engine.for_update if lock else ""
    rows = await txn.fetch(f"SELECT {_COLS} FROM files WHERE {cond}{suffix}", *args)
    return {int(r[0]): _file(r) for r in rows}


async def get_file_txn(txn: Txn, file_id: int, *, lock: bool = False) -> FileRow | None:
    return (await get_files_txn(txn, [file_id], lock=lock)).get(file_id)


async def set_home_txn(txn: Txn, file_id: int, chat_id: int, expires_at: int | None,
                       preserved_by: str | None, now: int) -> None:
    """Bind a file to the first chat it is sent into; its lifetime is now that
    chat's (computed by the caller)."""
    await txn.execute(
        "UPDATE files SET chat_id = $2, expires_at = $3, preserved_by = $4, preserved_at = $5"
        " WHERE file_id = $1 AND chat_id IS NULL",
        file_id, chat_id, expires_at, preserved_by, None if preserved_by is None else now)


async def apply_txn(txn: Txn, before: FileRow, after: Transition) -> FileRow:
    """Write a file's new lifecycle values and move the usage counters with it
    (what a pool or a custody holds is a function of these values)."""
    await txn.execute(
        "UPDATE files SET status = $2, expires_at = $3, expired_at = $4, preserved_by = $5,"
        " preserved_at = $6, pool_chat_id = $7, deleted_at = $8 WHERE file_id = $1",
        before.file_id, after.status, after.expires_at, after.expired_at, after.preserved_by,
        after.preserved_at, after.pool_chat_id, after.deleted_at)
    new = msgspec.structs.replace(before, **msgspec.structs.asdict(after))
    old_pool, new_pool = _pool_of(before), _pool_of(new)
    if old_pool != new_pool:
        if old_pool is not None:
            await add_pool_usage_txn(txn, old_pool, -before.size, -1)
        if new_pool is not None:
            await add_pool_usage_txn(txn, new_pool, new.size, 1)
    old_custody, new_custody = _in_custody(before), _in_custody(new)
    if old_custody != new_custody:
        sign = 1 if new_custody else -1
        await add_custody_txn(txn, before.uploader_id, sign * before.size, sign)
    return new


async def apply_many_txn(txn: Txn, changes: list[tuple[FileRow, Transition]]
                         ) -> list[FileRow]:
    """``apply_txn`` for a batch: one UPDATE statement, and each usage counter
    moved once by the sum of its files' changes."""
    if not changes:
        return []
    await txn.executemany(
        "UPDATE files SET status = $2, expires_at = $3, expired_at = $4, preserved_by = $5,"
        " preserved_at = $6, pool_chat_id = $7, deleted_at = $8 WHERE file_id = $1",
        [(b.file_id, a.status, a.expires_at, a.expired_at, a.preserved_by, a.preserved_at,
          a.pool_chat_id, a.deleted_at) for b, a in changes])
    pools: dict[int, list[int]] = {}
    custody: dict[int, list[int]] = {}
    out = []
    for before, after in changes:
        new = msgspec.structs.replace(before, **msgspec.structs.asdict(after))
        out.append(new)
        old_pool, new_pool = _pool_of(before), _pool_of(new)
        if old_pool != new_pool:
            for chat_id, sign in ((old_pool, -1), (new_pool, 1)):
                if chat_id is not None:
                    total = pools.setdefault(chat_id, [0, 0])
                    total[0] += sign * before.size
                    total[1] += sign
        if _in_custody(before) != _in_custody(new):
            sign = 1 if _in_custody(new) else -1
            total = custody.setdefault(before.uploader_id, [0, 0])
            total[0] += sign * before.size
            total[1] += sign
    for chat_id, (size, count) in sorted(pools.items()):
        if size or count:
            await add_pool_usage_txn(txn, chat_id, size, count)
    for user_id, (size, count) in sorted(custody.items()):
        if size or count:
            await add_custody_txn(txn, user_id, size, count)
    return out


def _pool_of(f: FileRow) -> int | None:
    return f.pool_chat_id if f.holds_bytes else None


def _in_custody(f: FileRow) -> bool:
    return f.holds_bytes and f.preserved_by == "sender"


async def add_pool_usage_txn(txn: Txn, chat_id: int, size: int, files: int) -> None:
    await txn.execute(
        "INSERT INTO chat_media (chat_id, pool_used, pool_files) VALUES ($1, $2, $3)"
        " ON CONFLICT (chat_id) DO UPDATE SET pool_used = chat_media.pool_used + $2,"
        " pool_files = chat_media.pool_files + $3", chat_id, size, files)


async def add_custody_txn(txn: Txn, user_id: int, size: int, files: int) -> None:
    await txn.execute(
        "UPDATE users SET custody_used = custody_used + $2, custody_files = custody_files + $3"
        " WHERE user_id = $1", user_id, size, files)


async def due_to_expire_txn(txn: Txn, now: int, limit: int, *, lock: bool = True
                            ) -> list[FileRow]:
    """Active files whose deadline has passed, oldest deadline first, locked
    unless ``lock`` is False."""
    rows = await txn.fetch(
        f"SELECT {_COLS} FROM files WHERE status = 'active' AND expires_at <= $1"
        f" ORDER BY expires_at, file_id LIMIT $2{txn.engine.for_update if lock else ''}",
        now, limit)
    return [_file(r) for r in rows]


async def due_to_delete_txn(txn: Txn, expired_before: int, limit: int, *, lock: bool = True
                            ) -> list[FileRow]:
    """Expired files whose grace period is over, locked unless ``lock`` is False."""
    rows = await txn.fetch(
        f"SELECT {_COLS} FROM files WHERE status = 'expired' AND expired_at <= $1"
        f" ORDER BY expired_at, file_id LIMIT $2{txn.engine.for_update if lock else ''}",
        expired_before, limit)
    return [_file(r) for r in rows]


async def files_of_chat_txn(txn: Txn, chat_id: int, after_file_id: int, limit: int
                            ) -> list[FileRow]:
    """Files whose home is this chat and still hold bytes, by id, locked (for a
    change of the chat's retention)."""
    rows = await txn.fetch(
        f"SELECT {_COLS} FROM files WHERE chat_id = $1 AND file_id > $2 AND {_HOLDS}"
        f" ORDER BY file_id LIMIT $3{txn.engine.for_update}", chat_id, after_file_id, limit)
    return [_file(r) for r in rows]


async def referencing_messages_txn(txn: Txn, file_ids: list[int]
                                   ) -> dict[int, list[tuple[int, int]]]:
    """file_id -> [(chat_id, msg_id)] of the live messages that show it."""
    if not file_ids:
        return {}
    cond, args = txn.engine.any_of("file_id", 1, sorted(set(file_ids)))
    rows = await txn.fetch(
        f"SELECT file_id, chat_id, msg_id FROM messages WHERE {cond} AND file_id IS NOT NULL"
        " AND deleted_at IS NULL ORDER BY chat_id, msg_id", *args)
    found: dict[int, list[tuple[int, int]]] = {}
    for r in rows:
        found.setdefault(int(r[0]), []).append((int(r[1]), int(r[2])))
    return found


async def custody_files_txn(txn: Txn, user_id: int, limit: int) -> list[FileRow]:
    rows = await txn.fetch(
        f"SELECT {_COLS} FROM files WHERE uploader_id = $1 AND preserved_by = 'sender'"
        f" AND {_HOLDS} ORDER BY file_id LIMIT $2", user_id, limit)
    return [_file(r) for r in rows]


async def custody_usage_txn(txn: Txn, user_id: int, *, lock: bool = False
                            ) -> tuple[int, int, int]:
    """(entitlement_level, custody_used, custody_files) of a user; ``lock`` holds
    the row until commit, for a quota check that the write after it relies on."""
    row = await txn.fetchrow(
        "SELECT entitlement_level, custody_used, custody_files FROM users WHERE user_id = $1"
        f"{txn.engine.for_update if lock else ''}", user_id)
    return (0, 0, 0) if row is None else (int(row[0]), int(row[1]), int(row[2]))


# -- usage, recomputed -----------------------------------------------------------

class Usage(msgspec.Struct, frozen=True):
    pools: dict[int, tuple[int, int]]  # chat_id -> (bytes, files)
    custody: dict[int, tuple[int, int]]  # user_id -> (bytes, files)


async def usage_from_files_txn(txn: Txn) -> Usage:
    """What the counters should hold, from ``files`` alone."""
    pools = await txn.fetch(
        f"SELECT pool_chat_id, SUM(size), COUNT(*) FROM files WHERE pool_chat_id IS NOT NULL"
        f" AND {_HOLDS} GROUP BY pool_chat_id")
    custody = await txn.fetch(
        f"SELECT uploader_id, SUM(size), COUNT(*) FROM files WHERE preserved_by = 'sender'"
        f" AND {_HOLDS} GROUP BY uploader_id")
    return Usage({int(r[0]): (int(r[1]), int(r[2])) for r in pools},
                 {int(r[0]): (int(r[1]), int(r[2])) for r in custody})


async def usage_counters_txn(txn: Txn) -> Usage:
    """What the counters hold now (non-zero ones)."""
    pools = await txn.fetch("SELECT chat_id, pool_used, pool_files FROM chat_media"
                            " WHERE pool_used <> 0 OR pool_files <> 0")
    custody = await txn.fetch("SELECT user_id, custody_used, custody_files FROM users"
                              " WHERE custody_used <> 0 OR custody_files <> 0")
    return Usage({int(r[0]): (int(r[1]), int(r[2])) for r in pools},
                 {int(r[0]): (int(r[1]), int(r[2])) for r in custody})


async def set_usage_txn(txn: Txn, usage: Usage) -> None:
    """Overwrite every counter with ``usage`` (zero where it has no entry)."""
    await txn.execute("UPDATE chat_media SET pool_used = 0, pool_files = 0"
                      " WHERE pool_used <> 0 OR pool_files <> 0")
    await txn.execute("UPDATE users SET custody_used = 0, custody_files = 0"
                      " WHERE custody_used <> 0 OR custody_files <> 0")
    for chat_id, (size, files) in sorted(usage.pools.items()):
        await add_pool_usage_txn(txn, chat_id, size, files)
    for user_id, (size, files) in sorted(usage.custody.items()):
        await add_custody_txn(txn, user_id, size, files)
