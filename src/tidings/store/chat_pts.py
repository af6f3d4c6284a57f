"""A chat's current pts: every change to the chat's messages (send, recall,
delete, reactions, attributes, pins, TTL) allocates one in its transaction
(``store.updates``), so it versions everything a history page shows of the
chat's own rows."""

from __future__ import annotations

from tidings.db.engine import Txn


async def chat_pts_txn(txn: Txn, chat_id: int) -> int | None:
    """The chat's pts as committed now; None when there is no such chat."""
    value = await txn.fetchval("SELECT pts FROM chats WHERE chat_id = $1", chat_id)
    return None if value is None else int(value)
