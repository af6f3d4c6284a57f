"""Group administration rows: chat info and permissions, moderators' mutes,
bans, announcements, invite links and join requests."""

from __future__ import annotations

from typing import Any

import msgspec

from tidings import wire
from tidings.db.engine import Txn

# chats columns chat.update may set (the service checks names and values).
INFO_COLUMNS = frozenset({"title", "about", "avatar_file_id", "announcement", "join_approval",
                          "history_visibility"})


async def update_chat_txn(txn: Txn, chat_id: int, values: dict[str, Any]) -> None:
    cols = sorted(values)
    assert set(cols) <= INFO_COLUMNS | {"mute_all", "permissions"}, cols
    sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(cols))
    await txn.execute(f"UPDATE chats SET {sets} WHERE chat_id = $1", chat_id,
                      *(values[c] for c in cols))


async def set_permissions_txn(txn: Txn, chat_id: int, overrides: dict[str, bool]) -> None:
    await update_chat_txn(txn, chat_id, {
        "permissions": wire.encode(overrides).decode() if overrides else None})


async def set_send_muted_txn(txn: Txn, chat_id: int, user_id: int, until: int) -> None:
    await txn.execute("UPDATE members SET send_muted_until = $3 WHERE chat_id = $1"
                      " AND user_id = $2", chat_id, user_id, until)


# -- bans

class Ban(msgspec.Struct, frozen=True):
    user_id: int
    banned_by: int
    date: int


async def banned_among_txn(txn: Txn, chat_id: int, user_ids: list[int]) -> list[int]:
    if not user_ids:
        return []
    cond, args = txn.engine.any_of("user_id", 2, user_ids)
    rows = await txn.fetch(f"SELECT user_id FROM chat_bans WHERE chat_id = $1 AND {cond}"
                           " ORDER BY user_id", chat_id, *args)
    return [int(r[0]) for r in rows]


async def add_ban_txn(txn: Txn, chat_id: int, user_id: int, by: int, now: int) -> bool:
    """True if the user was not banned yet."""
    row = await txn.fetchrow(
        "INSERT INTO chat_bans (chat_id, user_id, banned_by, banned_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (chat_id, user_id) DO NOTHING RETURNING user_id", chat_id, user_id, by, now)
    return row is not None


async def remove_ban_txn(txn: Txn, chat_id: int, user_id: int) -> bool:
    row = await txn.fetchrow("DELETE FROM chat_bans WHERE chat_id = $1 AND user_id = $2"
                             " RETURNING user_id", chat_id, user_id)
    return row is not None


async def bans_txn(txn: Txn, chat_id: int, limit: int) -> list[Ban]:
    rows = await txn.fetch("SELECT user_id, banned_by, banned_at FROM chat_bans"
                           " WHERE chat_id = $1 ORDER BY banned_at DESC, user_id LIMIT $2",
                           chat_id, limit)
    return [Ban(int(r[0]), int(r[1]), int(r[2])) for r in rows]


# -- announcements

class Announcement(msgspec.Struct, frozen=True):
    pts: int
    text: str
    by: int
    date: int


async def add_announcement_txn(txn: Txn, chat_id: int, pts: int, text: str, by: int,
                               now: int) -> None:
    await txn.execute("INSERT INTO chat_announcements (chat_id, pts, text, by_user, date)"
                      " VALUES ($1, $2, $3, $4, $5)", chat_id, pts, text, by, now)


async def announcements_txn(txn: Txn, chat_id: int, limit: int) -> list[Announcement]:
    rows = await txn.fetch("SELECT pts, text, by_user, date FROM chat_announcements"
                           " WHERE chat_id = $1 ORDER BY pts DESC LIMIT $2", chat_id, limit)
    return [Announcement(int(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]


# -- invites

class Invite(msgspec.Struct, frozen=True):
    invite: str
    chat_id: int
    creator_id: int
    created_at: int
    expires_at: int | None
    max_uses: int | None
    uses: int
    revoked_at: int | None


_INVITE_COLS = ("token, chat_id, creator_id, created_at, expires_at, max_uses, uses,"
                " revoked_at")


def _invite(r: Any) -> Invite:
    return Invite(str(r[0]), int(r[1]), int(r[2]), int(r[3]),
                  None if r[4] is None else int(r[4]), None if r[5] is None else int(r[5]),
                  int(r[6]), None if r[7] is None else int(r[7]))


async def insert_invite_txn(txn: Txn, token: str, chat_id: int, creator_id: int, now: int,
                            expires_at: int | None, max_uses: int | None) -> Invite:
    await txn.execute(
        "INSERT INTO chat_invites (token, chat_id, creator_id, created_at, expires_at,"
        " max_uses) VALUES ($1, $2, $3, $4, $5, $6)",
        token, chat_id, creator_id, now, expires_at, max_uses)
    return Invite(token, chat_id, creator_id, now, expires_at, max_uses, 0, None)


async def get_invite_txn(txn: Txn, token: str, *, lock: bool = False) -> Invite | None:
    suffix = txn.engine.for_update if lock else ""
    row = await txn.fetchrow(f"SELECT {_INVITE_COLS} FROM chat_invites WHERE token = $1{suffix}",
                             token)
    return None if row is None else _invite(row)


async def invites_txn(txn: Txn, chat_id: int, limit: int) -> list[Invite]:
    """The chat's invites not revoked, newest first."""
    rows = await txn.fetch(
        f"SELECT {_INVITE_COLS} FROM chat_invites WHERE chat_id = $1 AND revoked_at IS NULL"
        " ORDER BY created_at DESC, token LIMIT $2", chat_id, limit)
    return [_invite(r) for r in rows]


async def count_live_invites_txn(txn: Txn, chat_id: int) -> int:
    value = await txn.fetchval("SELECT COUNT(*) FROM chat_invites WHERE chat_id = $1"
                               " AND revoked_at IS NULL", chat_id)
    return int(value or 0)


async def revoke_invite_txn(txn: Txn, token: str, now: int) -> bool:
    row = await txn.fetchrow("UPDATE chat_invites SET revoked_at = $2 WHERE token = $1"
                             " AND revoked_at IS NULL RETURNING token", token, now)
    return row is not None


async def use_invite_txn(txn: Txn, token: str) -> None:
    await txn.execute("UPDATE chat_invites SET uses = uses + 1 WHERE token = $1", token)


# -- join requests

async def admin_ids_txn(txn: Txn, chat_id: int) -> list[int]:
    """The chat's current owner and admins."""
    rows = await txn.fetch("SELECT user_id FROM members WHERE chat_id = $1 AND left_pts IS NULL"
                           " AND role IN ('owner', 'admin') ORDER BY user_id", chat_id)
    return [int(r[0]) for r in rows]


class JoinRequest(msgspec.Struct, frozen=True):
    user_id: int
    date: int
    message: str


async def add_request_txn(txn: Txn, chat_id: int, user_id: int, now: int, message: str
                          ) -> bool:
    row = await txn.fetchrow(
        "INSERT INTO join_requests (chat_id, user_id, date, message) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (chat_id, user_id) DO NOTHING RETURNING user_id",
        chat_id, user_id, now, message)
    return row is not None


async def get_request_txn(txn: Txn, chat_id: int, user_id: int) -> JoinRequest | None:
    row = await txn.fetchrow("SELECT user_id, date, message FROM join_requests"
                             " WHERE chat_id = $1 AND user_id = $2", chat_id, user_id)
    return None if row is None else JoinRequest(int(row[0]), int(row[1]), str(row[2]))


async def remove_request_txn(txn: Txn, chat_id: int, user_id: int) -> bool:
    row = await txn.fetchrow("DELETE FROM join_requests WHERE chat_id = $1 AND user_id = $2"
                             " RETURNING user_id", chat_id, user_id)
    return row is not None


async def requests_txn(txn: Txn, chat_id: int, limit: int) -> list[JoinRequest]:
    rows = await txn.fetch("SELECT user_id, date, message FROM join_requests"
                           " WHERE chat_id = $1 ORDER BY date, user_id LIMIT $2",
                           chat_id, limit)
    return [JoinRequest(int(r[0]), int(r[1]), str(r[2])) for r in rows]
