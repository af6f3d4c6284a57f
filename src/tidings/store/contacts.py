"""Contacts (two rows per pair, one per side), pending contact requests, and
the contact cards shared in chats (the proof behind a ``card`` request)."""

from __future__ import annotations

import msgspec

from tidings.db.engine import Txn


class Request(msgspec.Struct, frozen=True):
    from_id: int
    to_id: int
    source: str
    message: str
    created_at: int


_REQUEST_COLS = "from_id, to_id, source, message, created_at"


async def is_contact_txn(txn: Txn, user_id: int, other_id: int) -> bool:
    found = await txn.fetchval(
        "SELECT 1 FROM contacts WHERE user_id = $1 AND contact_id = $2", user_id, other_id)
    return found is not None


async def add_pair_txn(txn: Txn, a: int, b: int, source: str, now: int) -> None:
    await txn.executemany(
        "INSERT INTO contacts (user_id, contact_id, source, since) VALUES ($1, $2, $3, $4)",
        [(a, b, source, now), (b, a, source, now)])


async def remove_pair_txn(txn: Txn, a: int, b: int) -> bool:
    """True if they were contacts."""
    rows = await txn.fetch(
        "DELETE FROM contacts WHERE (user_id = $1 AND contact_id = $2)"
        " OR (user_id = $2 AND contact_id = $1) RETURNING user_id", a, b)
    return bool(rows)


async def list_txn(txn: Txn, user_id: int) -> list[tuple[int, str, int]]:
    """(contact_id, source, since), oldest first."""
    rows = await txn.fetch(
        "SELECT contact_id, source, since FROM contacts WHERE user_id = $1"
        " ORDER BY since, contact_id", user_id)
    return [(int(r[0]), r[1], int(r[2])) for r in rows]


async def get_request_txn(txn: Txn, from_id: int, to_id: int) -> Request | None:
    row = await txn.fetchrow(
        f"SELECT {_REQUEST_COLS} FROM contact_requests WHERE from_id = $1 AND to_id = $2",
        from_id, to_id)
    return None if row is None else Request(int(row[0]), int(row[1]), row[2], row[3],
                                            int(row[4]))


async def insert_request_txn(txn: Txn, r: Request) -> None:
    await txn.execute(
        f"INSERT INTO contact_requests ({_REQUEST_COLS}) VALUES ($1, $2, $3, $4, $5)",
        r.from_id, r.to_id, r.source, r.message, r.created_at)


async def delete_request_txn(txn: Txn, from_id: int, to_id: int) -> bool:
    row = await txn.fetchrow(
        "DELETE FROM contact_requests WHERE from_id = $1 AND to_id = $2 RETURNING from_id",
        from_id, to_id)
    return row is not None


async def pending_txn(txn: Txn, user_id: int) -> tuple[list[Request], list[Request]]:
    """(incoming, outgoing) requests of ``user_id``, oldest first."""
    rows = await txn.fetch(
        f"SELECT {_REQUEST_COLS} FROM contact_requests WHERE to_id = $1 OR from_id = $1"
        " ORDER BY created_at, from_id, to_id", user_id)
    found = [Request(int(r[0]), int(r[1]), r[2], r[3], int(r[4])) for r in rows]
    return ([r for r in found if r.to_id == user_id],
            [r for r in found if r.from_id == user_id])


async def share_a_group_txn(txn: Txn, a: int, b: int) -> bool:
    """Whether ``a`` and ``b`` are both current members of some group or channel."""
    found = await txn.fetchval(
        "SELECT 1 FROM members m1 JOIN members m2 ON m2.chat_id = m1.chat_id"
        " JOIN chats c ON c.chat_id = m1.chat_id"
        " WHERE m1.user_id = $1 AND m2.user_id = $2 AND m1.left_pts IS NULL"
        " AND m2.left_pts IS NULL AND c.kind <> 'direct' LIMIT 1", a, b)
    return found is not None


async def insert_cards_txn(txn: Txn, rows: list[tuple[int, int, int, int]]) -> None:
    """(chat_id, msg_id, user_id, shared_by) of card messages just written."""
    await txn.executemany(
        "INSERT INTO contact_cards (chat_id, msg_id, user_id, shared_by)"
        " VALUES ($1, $2, $3, $4)", rows)


async def card_seen_txn(txn: Txn, viewer: int, user_id: int) -> bool:
    """Whether a card of ``user_id`` was shared by someone else in a chat
    ``viewer`` is a current member of."""
    found = await txn.fetchval(
        "SELECT 1 FROM contact_cards k JOIN members m ON m.chat_id = k.chat_id"
        " WHERE k.user_id = $1 AND m.user_id = $2 AND m.left_pts IS NULL"
        " AND k.shared_by <> $2 LIMIT 1", user_id, viewer)
    return found is not None
