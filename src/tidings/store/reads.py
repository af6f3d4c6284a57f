"""Read cursors as the read index needs them, message senders, and the
``read_receipts`` privacy flag of users."""

from __future__ import annotations

from tidings.db.engine import Txn
from tidings.store.chats import ChatRow


async def index_rows_txn(txn: Txn, chat_id: int) -> list[tuple[int, int, int, int]]:
    """(user_id, joined, read_pts, read_at) of every opted-in member, former ones
    too; ``joined`` is 1 where the member sees the full history (decided when
    they joined, ``members.history_from``)."""
    rows = await txn.fetch(
        "SELECT m.user_id, CASE WHEN m.history_from = 1 THEN 1"
        " ELSE m.joined_pts END, m.read_pts, m.read_at"
        " FROM members m JOIN chats c ON c.chat_id = m.chat_id"
        " JOIN users u ON u.user_id = m.user_id"
        " WHERE m.chat_id = $1 AND u.read_receipts = 1",
        chat_id,
    )
    return [(int(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]


async def senders_txn(txn: Txn, chat_id: int, msg_ids: list[int]) -> dict[int, int]:
    """msg_id -> sender_id for the messages of ``msg_ids`` that exist."""
    if not msg_ids:
        return {}
    cond, args = txn.engine.any_of("msg_id", 2, msg_ids)
    rows = await txn.fetch(
        f"SELECT msg_id, sender_id FROM messages WHERE chat_id = $1 AND {cond}",
        chat_id, *args)
    return {int(r[0]): int(r[1]) for r in rows}


async def read_receipts_txn(txn: Txn, user_id: int) -> bool:
    value = await txn.fetchval("SELECT read_receipts FROM users WHERE user_id = $1", user_id)
    return bool(value)


async def read_receipts_of_txn(txn: Txn, user_ids: list[int]) -> dict[int, bool]:
    if not user_ids:
        return {}
    cond, args = txn.engine.any_of("user_id", 1, user_ids)
    rows = await txn.fetch(f"SELECT user_id, read_receipts FROM users WHERE {cond}", *args)
    return {int(r[0]): bool(r[1]) for r in rows}


async def set_read_receipts_txn(txn: Txn, user_id: int, on: bool) -> bool:
    """True if the flag changed."""
    row = await txn.fetchrow(
        "UPDATE users SET read_receipts = $2 WHERE user_id = $1 AND read_receipts <> $2"
        " RETURNING user_id", user_id, int(on))
    return row is not None


async def peer_read_pts_txn(txn: Txn, chat: ChatRow, user_id: int) -> int | None:
    """The other member's cursor in a direct chat; None when either of the two
    has read receipts off (or in a chat with oneself)."""
    rows = await txn.fetch(
        "SELECT m.user_id, m.read_pts, u.read_receipts FROM members m"
        " JOIN users u ON u.user_id = m.user_id WHERE m.chat_id = $1", chat.chat_id)
    peer = [r for r in rows if int(r[0]) != user_id]
    if len(peer) != 1 or not all(int(r[2]) for r in rows):
        return None
    return int(peer[0][1])


async def direct_peers_txn(txn: Txn, user_id: int, chat_ids: list[int]
                          ) -> dict[int, tuple[int, int | None]]:
    """For direct chats: chat_id -> (the other user, their cursor). The cursor
    is None unless both members share read receipts; the other user is the
    caller themself in a chat with oneself. One statement for the whole page."""
    if not chat_ids:
        return {}
    cond, args = txn.engine.any_of("m.chat_id", 1, chat_ids)
    rows = await txn.fetch(
        "SELECT m.chat_id, m.user_id, m.read_pts, u.read_receipts FROM members m"
        f" JOIN users u ON u.user_id = m.user_id WHERE {cond}", *args)
    found: dict[int, list[tuple[int, int, int]]] = {}
    for r in rows:
        found.setdefault(int(r[0]), []).append((int(r[1]), int(r[2]), int(r[3])))
    peers: dict[int, tuple[int, int | None]] = {}
    for chat_id, members in found.items():
        others = [m for m in members if m[0] != user_id]
        if len(others) != 1:
            peers[chat_id] = (user_id, None)
            continue
        shared = all(m[2] for m in members)
        peers[chat_id] = (others[0][0], others[0][1] if shared else None)
    return peers
