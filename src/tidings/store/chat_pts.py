"""A chat's current pts: every change to the chat's messages (send, recall,
delete, reactions, attributes, pins, TTL) allocates one in its transaction
(``store.updates``), so it versions everything a history page shows of the
chat's own rows."""

from __future__ import annotations

from collections.abc import Collection

from tidings.db.engine import Txn


async def chat_pts_txn(txn: Txn, chat_id: int) -> int | None:
    """The chat's pts as committed now; None when there is no such chat. Where
    this process makes every change (``tidings.db.known_pts``) it is usually
    known without a read."""
    known = txn.engine.known_pts
    if known is not None and (pts := known.get(chat_id)) is not None:
        return pts
    value = await txn.fetchval("SELECT pts FROM chats WHERE chat_id = $1", chat_id)
    if value is None:
        return None
    if known is not None:
        known.fill(chat_id, int(value))
    return int(value)


def moved_txn(txn: Txn, chat_ids: Collection[int]) -> None:
    """These chats' pts change in ``txn``: forget what was known once it commits."""
    known = txn.engine.known_pts
    if known is not None:
        txn.call_after(lambda: known.forget(chat_ids))
