"""Profiles (display name, bio, avatar; columns of ``users``), the search
terms behind ``user.search``, QR tokens, and who hears of a profile change."""

from __future__ import annotations

from tidings import wire
from tidings.db.engine import Row, Txn

_COLS = "user_id, username, display_name, bio, avatar_file_id"
# Above every code point: ``term < prefix + TOP`` closes a prefix range.
TOP = "\U0010ffff"


def _user(r: Row) -> wire.User:
    return wire.User(int(r[0]), r[1], r[2], r[3], None if r[4] is None else int(r[4]))


async def get_txn(txn: Txn, user_ids: list[int]) -> dict[int, wire.User]:
    if not user_ids:
        return {}
    cond, args = txn.engine.any_of("user_id", 1, user_ids)
    rows = await txn.fetch(f"SELECT {_COLS} FROM users WHERE {cond}", *args)
    return {int(r[0]): _user(r) for r in rows}


async def by_name_txn(txn: Txn, username: str) -> wire.User | None:
    row = await txn.fetchrow(f"SELECT {_COLS} FROM users WHERE username = $1", username)
    return None if row is None else _user(row)


async def by_qr_token_txn(txn: Txn, token: str) -> wire.User | None:
    row = await txn.fetchrow(f"SELECT {_COLS} FROM users WHERE qr_token = $1", token)
    return None if row is None else _user(row)


async def qr_token_txn(txn: Txn, user_id: int) -> str | None:
    value = await txn.fetchval("SELECT qr_token FROM users WHERE user_id = $1", user_id)
    return None if value is None else str(value)


async def set_qr_token_txn(txn: Txn, user_id: int, token: str) -> None:
    await txn.execute("UPDATE users SET qr_token = $2 WHERE user_id = $1", user_id, token)


async def set_profile_txn(txn: Txn, user: wire.User) -> None:
    await txn.execute(
        "UPDATE users SET display_name = $2, bio = $3, avatar_file_id = $4 WHERE user_id = $1",
        user.user_id, user.display_name, user.bio, user.avatar_file_id)


async def set_terms_txn(txn: Txn, user_id: int, terms: list[str]) -> None:
    await txn.execute("DELETE FROM user_search_terms WHERE user_id = $1", user_id)
    await txn.executemany("INSERT INTO user_search_terms (term, user_id) VALUES ($1, $2)",
                          [(t, user_id) for t in sorted(set(terms))])


async def search_txn(txn: Txn, prefix: str, scan: int) -> list[int]:
    """Users with a term starting with ``prefix``, best first (the shortest
    matching term: an exact match before a longer name), at most ``scan`` terms
    read, through the term index (a range on it)."""
    rows = await txn.fetch(
        "SELECT user_id, term FROM user_search_terms WHERE term >= $1 AND term < $2"
        " ORDER BY term LIMIT $3", prefix, prefix + TOP, scan)
    best: dict[int, int] = {}
    for r in rows:
        user_id = int(r[0])
        best[user_id] = min(best.get(user_id, 1 << 30), len(r[1]))
    return sorted(best, key=lambda u: (best[u], u))


async def audience_txn(txn: Txn, user_id: int) -> list[int]:
    """Who hears of this user's profile changes: their contacts and the other
    member of each of their direct chats, leaving out users they block."""
    rows = await txn.fetch(
        "SELECT contact_id FROM contacts WHERE user_id = $1"
        " UNION SELECT m2.user_id FROM members m1"
        " JOIN chats c ON c.chat_id = m1.chat_id AND c.kind = 'direct'"
        " JOIN members m2 ON m2.chat_id = m1.chat_id AND m2.user_id <> m1.user_id"
        " WHERE m1.user_id = $1", user_id)
    blocked = {int(r[0]) for r in await txn.fetch(
        "SELECT blocked_id FROM blocks WHERE user_id = $1", user_id)}
    return sorted({int(r[0]) for r in rows} - blocked)
