"""What operators set on accounts and chats (migration 0013): a user's
``disabled_at`` and ``banned_at``, a group's ``disbanded_at``; the recall audit
and the media whitelist as operators read them."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from tidings.db.engine import Txn

Flag = Literal["disabled_at", "banned_at"]


class AccountState(msgspec.Struct, frozen=True):
    user_id: int
    username: str
    display_name: str
    created_at: int
    disabled_at: int | None
    banned_at: int | None
    entitlement_level: int
    media_whitelisted: bool


_STATE_COLS = ("user_id, username, display_name, created_at, disabled_at, banned_at,"
               " entitlement_level, media_whitelisted")


async def state_txn(txn: Txn, user_id: int) -> AccountState | None:
    row = await txn.fetchrow(f"SELECT {_STATE_COLS} FROM users WHERE user_id = $1", user_id)
    if row is None:
        return None
    r = tuple(row)
    return AccountState(int(r[0]), r[1], r[2], int(r[3]), r[4], r[5], int(r[6]), bool(r[7]))


async def set_flag_txn(txn: Txn, user_id: int, flag: Flag, value: int | None) -> bool:
    """False when there is no such user. ``flag`` is one of two literal columns."""
    row = await txn.fetchrow(f"UPDATE users SET {flag} = $2 WHERE user_id = $1"
                             " RETURNING user_id", user_id, value)
    return row is not None


async def set_display_name_txn(txn: Txn, user_id: int, display_name: str) -> None:
    await txn.execute("UPDATE users SET display_name = $2 WHERE user_id = $1",
                      user_id, display_name)


async def banned_among_txn(txn: Txn, user_ids: list[int]) -> list[int]:
    if not user_ids:
        return []
    cond, args = txn.engine.any_of("user_id", 1, sorted(set(user_ids)))
    rows = await txn.fetch(
        f"SELECT user_id FROM users WHERE banned_at IS NOT NULL AND {cond}", *args)
    return sorted(int(r[0]) for r in rows)


async def set_disbanded_txn(txn: Txn, chat_id: int, now: int) -> None:
    await txn.execute("UPDATE chats SET disbanded_at = $2 WHERE chat_id = $1", chat_id, now)


async def disbanded_at_txn(txn: Txn, chat_id: int) -> int | None:
    value = await txn.fetchval("SELECT disbanded_at FROM chats WHERE chat_id = $1", chat_id)
    return None if value is None else int(value)


async def recall_audit_page_txn(txn: Txn, chat_id: int | None, after: tuple[int, int],
                                limit: int) -> list[dict[str, Any]]:
    """Audit rows ascending by (chat_id, msg_id), after the key ``after``."""
    where = "(chat_id, msg_id) > ($1, $2)" + ("" if chat_id is None else " AND chat_id = $4")
    args: list[Any] = [*after, limit] + ([] if chat_id is None else [chat_id])
    rows = await txn.fetch(
        "SELECT chat_id, msg_id, sender_id, sent_at, recalled_by, recalled_at, kind, text,"
        f" file_id FROM recall_audit WHERE {where} ORDER BY chat_id, msg_id LIMIT $3", *args)
    keys = ("chat_id", "msg_id", "sender_id", "sent_at", "recalled_by", "recalled_at",
            "kind", "text", "file_id")
    return [dict(zip(keys, tuple(r), strict=True)) for r in rows]


async def whitelist_txn(txn: Txn) -> tuple[list[int], list[int]]:
    """The whitelisted chat ids and user ids, ascending."""
    chats = await txn.fetch("SELECT chat_id FROM chat_media WHERE whitelisted <> 0"
                            " ORDER BY chat_id")
    users = await txn.fetch("SELECT user_id FROM users WHERE media_whitelisted <> 0"
                            " ORDER BY user_id")
    return [int(r[0]) for r in chats], [int(r[0]) for r in users]
