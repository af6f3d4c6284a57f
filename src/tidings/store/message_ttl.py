"""Message deadlines: a chat's auto-delete setting (``chats.message_ttl``), the
burn-after-read countdowns, and the due messages the sweeper deletes.

A message's deadline is ``messages.ttl_expires_at``: stamped at send from the
chat's ``message_ttl``, or when the recipient reads a burn-after-read message.
The schedule therefore lives with the message, and the partial index
``messages_ttl_due`` holds exactly the live messages that have one.
"""

from __future__ import annotations

from tidings.db.engine import Txn


async def set_chat_ttl_txn(txn: Txn, chat_id: int, seconds: int | None) -> None:
    await txn.execute("UPDATE chats SET message_ttl = $2 WHERE chat_id = $1", chat_id, seconds)


async def due_messages_txn(txn: Txn, now: int, limit: int) -> list[tuple[int, int]]:
    """(chat_id, msg_id) of up to ``limit`` live messages whose deadline passed,
    earliest deadline first (read through ``messages_ttl_due``)."""
    rows = await txn.fetch(
        "SELECT chat_id, msg_id FROM messages WHERE ttl_expires_at IS NOT NULL"
        " AND ttl_expires_at <= $1 AND deleted_at IS NULL ORDER BY ttl_expires_at LIMIT $2",
        now, limit)
    return [(int(r[0]), int(r[1])) for r in rows]


async def burn_candidates_txn(txn: Txn, chat_id: int, after: int, upto: int, reader_id: int
                              ) -> list[tuple[int, int, int | None]]:
    """(msg_id, burn_after_seconds, ttl_expires_at) of the live burn-after-read
    messages with ``after < msg_id <= upto`` that ``reader_id`` did not send."""
    rows = await txn.fetch(
        "SELECT msg_id, burn_after_seconds, ttl_expires_at FROM messages WHERE chat_id = $1"
        " AND msg_id > $2 AND msg_id <= $3 AND burn_after_seconds IS NOT NULL"
        " AND deleted_at IS NULL AND sender_id <> $4 ORDER BY msg_id",
        chat_id, after, upto, reader_id)
    return [(int(r[0]), int(r[1]), None if r[2] is None else int(r[2])) for r in rows]


async def bring_deadline_forward_txn(txn: Txn, chat_id: int, msg_ids: list[int], expires_at: int
                                     ) -> list[int]:
    """Set the deadline of these live messages to ``expires_at`` where they have
    none or a later one; returns the msg_ids changed, ascending."""
    if not msg_ids:
        return []
    cond, args = txn.engine.any_of("msg_id", 3, msg_ids)
    rows = await txn.fetch(
        "UPDATE messages SET ttl_expires_at = $2 WHERE chat_id = $1"
        f" AND {cond} AND deleted_at IS NULL"
        " AND (ttl_expires_at IS NULL OR ttl_expires_at > $2) RETURNING msg_id",
        chat_id, expires_at, *args)
    return sorted(int(r[0]) for r in rows)
