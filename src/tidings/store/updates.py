"""The two update logs: per-chat (pts) and per-user (seq).

A chat's pts is allocated with ``UPDATE chats SET pts = pts + n ... RETURNING``
inside the writing transaction: on PostgreSQL the row lock makes commit order
equal pts order; on SQLite the single writer does. ``message.new`` entries are
the ``messages`` rows themselves (see ``store.messages``); every other kind is a
row here, so each pts has exactly one entry in one of the two tables.
"""

from __future__ import annotations

from typing import Any

from tidings import wire
from tidings.db.engine import Txn
from tidings.store import chat_pts


async def allocate_pts_txn(txn: Txn, chat_id: int, count: int, now: int) -> int:
    """Reserve ``count`` pts; return the first. Also bumps the chat's activity."""
    last = await txn.fetchval(
        "UPDATE chats SET pts = pts + $2, last_activity = $3 WHERE chat_id = $1 RETURNING pts",
        chat_id, count, now,
    )
    if last is None:
        raise LookupError(f"chat {chat_id} does not exist")
    chat_pts.moved_txn(txn, (chat_id,))
    return int(last) - count + 1


async def allocate_message_pts_txn(txn: Txn, counts: dict[int, int], now: int
                                   ) -> dict[int, int]:
    """Reserve ``counts[chat_id]`` pts in each chat for new messages, in one
    statement; return each chat's first reserved pts. The last message becomes the
    chat's last message. Callers lock the chat rows first (``get_chats_txn``)."""
    keys, args = txn.engine.keys_table("k", [("chat_id", "bigint"), ("n", "bigint")], 2,
                                       sorted(counts.items()))
    rows = await txn.fetch(
        "UPDATE chats SET pts = chats.pts + k.n, last_msg_id = chats.pts + k.n,"
        f" last_activity = $1 FROM {keys} WHERE chats.chat_id = k.chat_id"
        " RETURNING chats.chat_id, chats.pts",
        now, *args,
    )
    firsts = {int(r[0]): int(r[1]) - counts[int(r[0])] + 1 for r in rows}
    if len(firsts) != len(counts):
        raise LookupError(f"chats missing: {sorted(set(counts) - set(firsts))}")
    chat_pts.moved_txn(txn, list(firsts))
    return firsts


async def insert_chat_updates_txn(
    txn: Txn, chat_id: int, first_pts: int, date: int, entries: list[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Write entries at consecutive pts from ``first_pts``; return the wire updates."""
    rows = []
    updates = []
    for offset, (kind, payload) in enumerate(entries):
        pts = first_pts + offset
        rows.append((chat_id, pts, kind, date, wire.encode(payload).decode()))
        updates.append(wire.chat_update(pts, kind, date, payload))
    await txn.executemany(
        "INSERT INTO chat_updates (chat_id, pts, kind, date, payload) VALUES ($1, $2, $3, $4, $5)",
        rows,
    )
    return updates


async def append_chat_updates_many_txn(
    txn: Txn, entries: dict[int, list[tuple[str, dict[str, Any]]]], now: int
) -> dict[int, list[dict[str, Any]]]:
    """``append_chat_updates_txn`` for many chats in two statements (their pts
    reserved in one, every entry inserted in one); callers lock the chat rows
    first, in chat id order."""
    if not entries:
        return {}
    counts = {chat_id: len(rows) for chat_id, rows in entries.items() if rows}
    keys, args = txn.engine.keys_table("k", [("chat_id", "bigint"), ("n", "bigint")], 2,
                                       sorted(counts.items()))
    found = await txn.fetch(
        "UPDATE chats SET pts = chats.pts + k.n, last_activity = $1 FROM"
        f" {keys} WHERE chats.chat_id = k.chat_id RETURNING chats.chat_id, chats.pts",
        now, *args)
    firsts = {int(r[0]): int(r[1]) - counts[int(r[0])] + 1 for r in found}
    if len(firsts) != len(counts):
        raise LookupError(f"chats missing: {sorted(set(counts) - set(firsts))}")
    chat_pts.moved_txn(txn, list(firsts))
    rows: list[tuple[Any, ...]] = []
    written: dict[int, list[dict[str, Any]]] = {}
    for chat_id in sorted(counts):
        ups = written[chat_id] = []
        for offset, (kind, payload) in enumerate(entries[chat_id]):
            pts = firsts[chat_id] + offset
            rows.append((chat_id, pts, kind, now, wire.encode(payload).decode()))
            ups.append(wire.chat_update(pts, kind, now, payload))
    await txn.executemany(
        "INSERT INTO chat_updates (chat_id, pts, kind, date, payload) VALUES ($1, $2, $3, $4, $5)",
        rows)
    return written


async def append_chat_updates_txn(
    txn: Txn, chat_id: int, now: int, entries: list[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    first = await allocate_pts_txn(txn, chat_id, len(entries), now)
    return await insert_chat_updates_txn(txn, chat_id, first, now, entries)


async def chat_updates_range_txn(txn: Txn, chat_id: int, after: int, upto: int
                                 ) -> list[dict[str, Any]]:
    rows = await txn.fetch(
        "SELECT pts, kind, date, payload FROM chat_updates"
        " WHERE chat_id = $1 AND pts > $2 AND pts <= $3 ORDER BY pts",
        chat_id, after, upto,
    )
    return [wire.chat_update(int(r[0]), r[1], int(r[2]), wire.decode(r[3])) for r in rows]


async def append_user_update_txn(
    txn: Txn, user_id: int, now: int, kind: str, payload: dict[str, Any]
) -> dict[str, Any]:
    seq = await txn.fetchval(
        "UPDATE users SET seq = seq + 1 WHERE user_id = $1 RETURNING seq", user_id
    )
    seq = int(seq)
    await txn.execute(
        "INSERT INTO user_updates (user_id, seq, kind, date, payload) VALUES ($1, $2, $3, $4, $5)",
        user_id, seq, kind, now, wire.encode(payload).decode(),
    )
    return wire.user_update(seq, kind, now, payload)


async def append_user_updates_many_txn(
    txn: Txn, entries: list[tuple[int, str, dict[str, Any]]], now: int
) -> dict[int, list[dict[str, Any]]]:
    """``append_user_update_txn`` for many users in two statements (their seq
    reserved in one, every entry inserted in one); ``entries`` are (user_id,
    kind, payload), each user's in the order given. Callers write users in
    user id order when they lock other rows of theirs too."""
    if not entries:
        return {}
    counts: dict[int, int] = {}
    for user_id, _, _ in entries:
        counts[user_id] = counts.get(user_id, 0) + 1
    keys, args = txn.engine.keys_table("k", [("user_id", "bigint"), ("n", "bigint")], 1,
                                       sorted(counts.items()))
    found = await txn.fetch(
        f"UPDATE users SET seq = users.seq + k.n FROM {keys} WHERE users.user_id = k.user_id"
        " RETURNING users.user_id, users.seq", *args)
    next_seq = {int(r[0]): int(r[1]) - counts[int(r[0])] + 1 for r in found}
    if len(next_seq) != len(counts):
        raise LookupError(f"users missing: {sorted(set(counts) - set(next_seq))}")
    rows: list[tuple[Any, ...]] = []
    written: dict[int, list[dict[str, Any]]] = {}
    for user_id, kind, payload in entries:
        seq = next_seq[user_id]
        next_seq[user_id] = seq + 1
        rows.append((user_id, seq, kind, now, wire.encode(payload).decode()))
        written.setdefault(user_id, []).append(wire.user_update(seq, kind, now, payload))
    await txn.executemany(
        "INSERT INTO user_updates (user_id, seq, kind, date, payload) VALUES ($1, $2, $3, $4, $5)",
        rows)
    return written


async def user_seq_txn(txn: Txn, user_id: int) -> int:
    return int(await txn.fetchval("SELECT seq FROM users WHERE user_id = $1", user_id) or 0)


async def user_updates_after_txn(txn: Txn, user_id: int, after: int, limit: int
                                 ) -> list[dict[str, Any]]:
    rows = await txn.fetch(
        "SELECT seq, kind, date, payload FROM user_updates WHERE user_id = $1 AND seq > $2"
        " ORDER BY seq LIMIT $3",
        user_id, after, limit,
    )
    return [wire.user_update(int(r[0]), r[1], int(r[2]), wire.decode(r[3])) for r in rows]
