"""A chat's media settings, its storage pool and its sponsors, and renewal
requests (issue 8). A chat without a ``chat_media`` row has the defaults."""

from __future__ import annotations

from typing import Any

import msgspec

from tidings.db.engine import Txn
from tidings.media.lifecycle import ChatPolicy


class ChatMedia(msgspec.Struct, frozen=True):
    chat_id: int
    media_ttl: int | None = None
    cleanup: bool = True
    whitelisted: bool = False
    pool_enabled: bool = False
    pool_capacity: int = 0  # the owners' own capacity, before sponsors
    pool_used: int = 0
    pool_files: int = 0

    @property
    def policy(self) -> ChatPolicy:
        return ChatPolicy(self.media_ttl, self.cleanup, self.whitelisted)


_COLS = ("chat_id, media_ttl, cleanup, whitelisted, pool_enabled, pool_capacity, pool_used,"
         " pool_files")


def _row(r: Any) -> ChatMedia:
    return ChatMedia(int(r[0]), r[1], bool(r[2]), bool(r[3]), bool(r[4]), int(r[5]),
                     int(r[6]), int(r[7]))


async def get_txn(txn: Txn, chat_id: int, *, lock: bool = False) -> ChatMedia:
    if lock:  # make sure there is a row to lock
        await txn.execute("INSERT INTO chat_media (chat_id) VALUES ($1)"
                          " ON CONFLICT (chat_id) DO NOTHING", chat_id)
    row = await txn.fetchrow(
        f"SELECT {_COLS} FROM chat_media WHERE chat_id = $1"
        f"{txn.engine.for_update if lock else ''}", chat_id)
    return ChatMedia(chat_id) if row is None else _row(row)


async def get_many_txn(txn: Txn, chat_ids: list[int]) -> dict[int, ChatMedia]:
    if not chat_ids:
        return {}
    cond, args = txn.engine.any_of("chat_id", 1, sorted(set(chat_ids)))
    rows = await txn.fetch(f"SELECT {_COLS} FROM chat_media WHERE {cond}", *args)
    found = {int(r[0]): _row(r) for r in rows}
    return {c: found.get(c, ChatMedia(c)) for c in chat_ids}


async def set_policy_txn(txn: Txn, chat_id: int, media_ttl: int | None, cleanup: bool) -> None:
    await txn.execute(
        "INSERT INTO chat_media (chat_id, media_ttl, cleanup) VALUES ($1, $2, $3)"
        " ON CONFLICT (chat_id) DO UPDATE SET media_ttl = $2, cleanup = $3",
        chat_id, media_ttl, int(cleanup))


async def set_whitelisted_txn(txn: Txn, chat_id: int, whitelisted: bool) -> None:
    await txn.execute(
        "INSERT INTO chat_media (chat_id, whitelisted) VALUES ($1, $2)"
        " ON CONFLICT (chat_id) DO UPDATE SET whitelisted = $2", chat_id, int(whitelisted))


async def set_pool_txn(txn: Txn, chat_id: int, enabled: bool, capacity: int | None) -> None:
    """Enable or disable the pool; ``capacity`` None keeps the current one."""
    await txn.execute(
        "INSERT INTO chat_media (chat_id, pool_enabled, pool_capacity)"
        " VALUES ($1, $2, COALESCE($3, 0)) ON CONFLICT (chat_id) DO UPDATE SET"
        " pool_enabled = $2, pool_capacity = COALESCE($3, chat_media.pool_capacity)",
        chat_id, int(enabled), capacity)


async def sponsors_txn(txn: Txn, chat_id: int) -> list[tuple[int, int]]:
    """(user_id, bytes) of a pool's sponsors, largest first."""
    rows = await txn.fetch("SELECT user_id, bytes FROM pool_sponsors WHERE chat_id = $1"
                           " ORDER BY bytes DESC, user_id", chat_id)
    return [(int(r[0]), int(r[1])) for r in rows]


async def sponsored_bytes_txn(txn: Txn, chat_id: int) -> int:
    return int(await txn.fetchval(
        "SELECT COALESCE(SUM(bytes), 0) FROM pool_sponsors WHERE chat_id = $1", chat_id))


async def add_sponsor_txn(txn: Txn, chat_id: int, user_id: int, size: int) -> int:
    """Add capacity; returns this sponsor's total."""
    total = await txn.fetchval(
        "INSERT INTO pool_sponsors (chat_id, user_id, bytes) VALUES ($1, $2, $3)"
        " ON CONFLICT (chat_id, user_id) DO UPDATE SET bytes = pool_sponsors.bytes + $3"
        " RETURNING bytes", chat_id, user_id, size)
    return int(total)


async def pool_by_kind_txn(txn: Txn, chat_id: int) -> dict[str, tuple[int, int]]:
    """kind -> (count, bytes) of the files the pool holds."""
    rows = await txn.fetch(
        "SELECT kind, COUNT(*), SUM(size) FROM files WHERE pool_chat_id = $1"
        " AND status IN ('active', 'expired') GROUP BY kind ORDER BY kind", chat_id)
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


# -- renewal requests ------------------------------------------------------------

class RenewalRequest(msgspec.Struct, frozen=True):
    request_id: int
    chat_id: int
    msg_id: int
    file_id: int
    user_id: int
    created_at: int
    state: str
    decided_by: int | None
    decided_at: int | None


_REQ_COLS = ("request_id, chat_id, msg_id, file_id, user_id, created_at, state, decided_by,"
             " decided_at")


async def add_request_txn(txn: Txn, chat_id: int, msg_id: int, file_id: int, user_id: int,
                          now: int) -> RenewalRequest | None:
    """A new pending request; None if this user already has one for this message."""
    row = await txn.fetchrow(
        "INSERT INTO renewal_requests (chat_id, msg_id, file_id, user_id, created_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (chat_id, msg_id, user_id)"
        f" WHERE state = 'pending' DO NOTHING RETURNING {_REQ_COLS}",
        chat_id, msg_id, file_id, user_id, now)
    return None if row is None else RenewalRequest(*row)


async def get_request_txn(txn: Txn, chat_id: int, request_id: int) -> RenewalRequest | None:
    row = await txn.fetchrow(
        f"SELECT {_REQ_COLS} FROM renewal_requests WHERE chat_id = $1 AND request_id = $2"
        f"{txn.engine.for_update}", chat_id, request_id)
    return None if row is None else RenewalRequest(*row)


async def list_requests_txn(txn: Txn, chat_id: int, state: str, limit: int
                            ) -> list[RenewalRequest]:
    rows = await txn.fetch(
        f"SELECT {_REQ_COLS} FROM renewal_requests WHERE chat_id = $1 AND state = $2"
        " ORDER BY request_id LIMIT $3", chat_id, state, limit)
    return [RenewalRequest(*r) for r in rows]


async def decide_request_txn(txn: Txn, request_id: int, state: str, by: int, now: int) -> None:
    await txn.execute(
        "UPDATE renewal_requests SET state = $2, decided_by = $3, decided_at = $4"
        " WHERE request_id = $1", request_id, state, by, now)


# -- users -------------------------------------------------------------------------

async def user_media_txn(txn: Txn, user_ids: list[int]) -> dict[int, tuple[int, bool]]:
    """user_id -> (entitlement_level, media_whitelisted)."""
    if not user_ids:
        return {}
    cond, args = txn.engine.any_of("user_id", 1, sorted(set(user_ids)))
    rows = await txn.fetch(
        f"SELECT user_id, entitlement_level, media_whitelisted FROM users WHERE {cond}", *args)
    return {int(r[0]): (int(r[1]), bool(r[2])) for r in rows}


async def set_entitlement_txn(txn: Txn, user_id: int, level: int) -> bool:
    row = await txn.fetchrow("UPDATE users SET entitlement_level = $2 WHERE user_id = $1"
                             " RETURNING user_id", user_id, level)
    return row is not None


async def set_user_whitelisted_txn(txn: Txn, user_id: int, whitelisted: bool) -> bool:
    row = await txn.fetchrow("UPDATE users SET media_whitelisted = $2 WHERE user_id = $1"
                             " RETURNING user_id", user_id, int(whitelisted))
    return row is not None
