"""Pinned messages of a chat (``pinned_messages``). A message deleted for
everyone loses its pin with it (``store.messages.mark_deleted_txn``)."""

from __future__ import annotations

from tidings.db.engine import Txn


async def is_pinned_txn(txn: Txn, chat_id: int, msg_id: int) -> bool:
    found = await txn.fetchval(
        "SELECT 1 FROM pinned_messages WHERE chat_id = $1 AND msg_id = $2", chat_id, msg_id)
    return found is not None


async def count_txn(txn: Txn, chat_id: int) -> int:
    return int(await txn.fetchval(
        "SELECT COUNT(*) FROM pinned_messages WHERE chat_id = $1", chat_id) or 0)


async def pin_txn(txn: Txn, chat_id: int, msg_id: int, by: int, now: int) -> None:
    await txn.execute(
        "INSERT INTO pinned_messages (chat_id, msg_id, pinned_by, pinned_at)"
        " VALUES ($1, $2, $3, $4)",
        chat_id, msg_id, by, now,
    )


async def unpin_txn(txn: Txn, chat_id: int, msg_id: int) -> None:
    await txn.execute(
        "DELETE FROM pinned_messages WHERE chat_id = $1 AND msg_id = $2", chat_id, msg_id)


async def pinned_ids_txn(txn: Txn, chat_id: int) -> list[int]:
    """The chat's pinned msg_ids, newest pin first."""
    rows = await txn.fetch(
        "SELECT msg_id FROM pinned_messages WHERE chat_id = $1"
        " ORDER BY pinned_at DESC, msg_id DESC",
        chat_id,
    )
    return [int(r[0]) for r in rows]
