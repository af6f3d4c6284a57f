"""Privacy settings (columns of ``users``) and what one user is to another:
the facts every privacy and block check reads, for many pairs in one query."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from tidings.db.engine import Txn

SETTING_COLUMNS = ("find_me", "message_me", "add_me", "last_seen")


class Settings(msgspec.Struct, frozen=True):
    find_me: str = "everyone"
    message_me: str = "everyone"
    add_me: str = "everyone"
    last_seen: str = "everyone"
    read_receipts: bool = True


class Relation(msgspec.Struct, frozen=True):
    """What ``owner`` decided about ``other``: the owner's settings, whether the
    owner blocks the other, and whether the other is the owner's contact."""

    settings: Settings
    blocks: bool
    contact: bool


_SELECT = "u.find_me, u.message_me, u.add_me, u.last_seen, u.read_receipts"


async def get_txn(txn: Txn, user_id: int) -> Settings | None:
    row = await txn.fetchrow(f"SELECT {_SELECT} FROM users u WHERE u.user_id = $1", user_id)
    return None if row is None else Settings(row[0], row[1], row[2], row[3], bool(row[4]))


async def set_txn(txn: Txn, user_id: int, changes: dict[str, str | bool]) -> None:
    sets = []
    args: list[object] = [user_id]
    for key, value in changes.items():
        assert key in (*SETTING_COLUMNS, "read_receipts")
        args.append(int(value) if isinstance(value, bool) else value)
        sets.append(f"{key} = ${len(args)}")
    await txn.execute(f"UPDATE users SET {', '.join(sets)} WHERE user_id = $1", *args)


async def relations_txn(txn: Txn, pairs: Sequence[tuple[int, int]]
                        ) -> dict[tuple[int, int], Relation]:
    """(owner, other) -> Relation for each pair whose owner exists, in one query."""
    if not pairs:
        return {}
    keys, args = txn.engine.keys_table(
        "k", [("owner", "bigint"), ("other", "bigint")], 1, sorted(set(pairs)))
    rows = await txn.fetch(
        f"SELECT k.owner, k.other, {_SELECT}, b.user_id, c.user_id FROM {keys}"
        " JOIN users u ON u.user_id = k.owner"
        " LEFT JOIN blocks b ON b.user_id = k.owner AND b.blocked_id = k.other"
        " LEFT JOIN contacts c ON c.user_id = k.owner AND c.contact_id = k.other",
        *args)
    return {(int(r[0]), int(r[1])): Relation(
        Settings(r[2], r[3], r[4], r[5], bool(r[6])), r[7] is not None, r[8] is not None)
        for r in rows}
