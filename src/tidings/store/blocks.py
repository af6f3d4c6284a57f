"""The block list (``blocks``): who blocks whom."""

from __future__ import annotations

from tidings.db.engine import Txn


async def add_txn(txn: Txn, user_id: int, blocked_id: int, now: int) -> bool:
    """True if the block is new."""
    row = await txn.fetchrow(
        "INSERT INTO blocks (user_id, blocked_id, created_at) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING user_id", user_id, blocked_id, now)
    return row is not None


async def remove_txn(txn: Txn, user_id: int, blocked_id: int) -> bool:
    """True if there was a block to lift."""
    row = await txn.fetchrow(
        "DELETE FROM blocks WHERE user_id = $1 AND blocked_id = $2 RETURNING user_id",
        user_id, blocked_id)
    return row is not None


async def list_txn(txn: Txn, user_id: int) -> list[tuple[int, int]]:
    """(blocked_id, since) of everyone ``user_id`` blocks, newest first."""
    rows = await txn.fetch(
        "SELECT blocked_id, created_at FROM blocks WHERE user_id = $1"
        " ORDER BY created_at DESC, blocked_id DESC", user_id)
    return [(int(r[0]), int(r[1])) for r in rows]


async def blocks_txn(txn: Txn, user_id: int, other_id: int) -> bool:
    found = await txn.fetchval(
        "SELECT 1 FROM blocks WHERE user_id = $1 AND blocked_id = $2", user_id, other_id)
    return found is not None
