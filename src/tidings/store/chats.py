"""Chats and their members."""

from __future__ import annotations

import msgspec

from tidings import wire
from tidings.db.engine import Txn


class ChatRow(msgspec.Struct, frozen=True):
    chat_id: int
    kind: str
    title: str
    creator_id: int | None
    direct_key: str | None
    pts: int
    created_at: int
    expire_at: int | None
    history_visibility: str
    last_msg_id: int
    last_activity: int
    member_count: int
    cleared_pts: int
    message_ttl: int | None
    about: str = ""
    avatar_file_id: int | None = None
    announcement: str = ""
    join_approval: int = 0
    mute_all: int = 0
    permissions: str | None = None  # JSON: what differs from the defaults

    def to_wire(self) -> wire.Chat:
        return wire.Chat(
            chat_id=self.chat_id, kind=self.kind, title=self.title, pts=self.pts,
            creator_id=self.creator_id, created_at=self.created_at,
            member_count=self.member_count, expire_at=self.expire_at,
            history_visibility=self.history_visibility, message_ttl=self.message_ttl,
            about=self.about, avatar_file_id=self.avatar_file_id,
            announcement=self.announcement, join_approval=bool(self.join_approval),
            mute_all=bool(self.mute_all), permissions=self.permission_map(),
        )

    def permission_overrides(self) -> dict[str, bool]:
        if not self.permissions:
            return {}
        found = wire.decode(self.permissions)
        return {str(k): bool(v) for k, v in found.items()} if isinstance(found, dict) else {}

    def permission_map(self) -> dict[str, bool]:
        """What plain members may do here: the defaults with this chat's changes."""
        return {**wire.DEFAULT_PERMISSIONS, **self.permission_overrides()}


class MemberRow(msgspec.Struct, frozen=True):
    chat_id: int
    user_id: int
    role: str
    joined_pts: int
    left_pts: int | None
    joined_at: int
    read_pts: int
    read_at: int
    cleared_pts: int
    muted_until: int
    pinned: int
    hidden: int
    past_spans: str | None
    has_hidden: int
    send_muted_until: int = 0  # muted by a moderator until (0: not muted)
    history_from: int = 0  # 1: sees the history from before joining; else joined_pts

    @property
    def active(self) -> bool:
        return self.left_pts is None

    def earlier_spans(self) -> list[tuple[int, int]]:
        if not self.past_spans:
            return []
        return [(int(lo), int(hi)) for lo, hi in wire.decode(self.past_spans)]



_CHAT_COLS = (
    "chat_id, kind, title, creator_id, direct_key, pts, created_at, expire_at,"
    " history_visibility, last_msg_id, last_activity, member_count, cleared_pts, message_ttl,"
    " about, avatar_file_id, announcement, join_approval, mute_all, permissions"
)
_MEMBER_COLS = (
    "chat_id, user_id, role, joined_pts, left_pts, joined_at, read_pts, read_at,"
    " cleared_pts, muted_until, pinned, hidden, past_spans, has_hidden, send_muted_until,"
    " history_from"
)


def _prefixed(cols: str, alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in cols.split(","))


async def insert_chat_txn(
    txn: Txn, kind: str, title: str, creator_id: int | None, direct_key: str | None, now: int,
    history_visibility: str,
) -> int:
    chat_id = await txn.fetchval(
        "INSERT INTO chats (kind, title, creator_id, direct_key, created_at, last_activity,"
        " history_visibility) VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING chat_id",
        kind, title, creator_id, direct_key, now, history_visibility,
    )
    return int(chat_id)


async def get_chat_txn(txn: Txn, chat_id: int) -> ChatRow | None:
    row = await txn.fetchrow(f"SELECT {_CHAT_COLS} FROM chats WHERE chat_id = $1", chat_id)
    return None if row is None else ChatRow(*row)


async def get_chats_txn(txn: Txn, chat_ids: list[int], *, lock: bool = False
                        ) -> dict[int, ChatRow]:
    """``lock`` holds the rows until commit, taken in id order so that two writers
    locking overlapping sets cannot deadlock."""
    if not chat_ids:
        return {}
    cond, args = txn.engine.any_of("chat_id", 1, chat_ids)
    suffix = " ORDER BY chat_id" + txn.engine.for_update if lock else ""
    rows = await txn.fetch(f"SELECT {_CHAT_COLS} FROM chats WHERE {cond}{suffix}", *args)
    return {int(r[0]): ChatRow(*r) for r in rows}


async def get_chat_and_member_txn(txn: Txn, chat_id: int, user_id: int
                                  ) -> tuple[ChatRow | None, MemberRow | None]:
    """A chat and one user's membership in it, in one round trip."""
    row = await txn.fetchrow(
        f"SELECT {_prefixed(_CHAT_COLS, 'c')}, {_prefixed(_MEMBER_COLS, 'm')} FROM chats c"
        " LEFT JOIN members m ON m.chat_id = c.chat_id AND m.user_id = $2"
        " WHERE c.chat_id = $1",
        chat_id, user_id,
    )
    if row is None:
        return None, None
    values = tuple(row)
    n = len(ChatRow.__struct_fields__)
    member = MemberRow(*values[n:]) if values[n] is not None else None
    return ChatRow(*values[:n]), member


async def get_direct_chat_txn(txn: Txn, direct_key: str) -> ChatRow | None:
    row = await txn.fetchrow(f"SELECT {_CHAT_COLS} FROM chats WHERE direct_key = $1",
                             direct_key)
    return None if row is None else ChatRow(*row)


async def set_expire_txn(txn: Txn, chat_id: int, expire_at: int | None) -> None:
    await txn.execute("UPDATE chats SET expire_at = $2 WHERE chat_id = $1", chat_id, expire_at)


async def add_member_count_txn(txn: Txn, chat_id: int, delta: int) -> None:
    await txn.execute(
        "UPDATE chats SET member_count = member_count + $2 WHERE chat_id = $1", chat_id, delta
    )


async def get_member_txn(txn: Txn, chat_id: int, user_id: int) -> MemberRow | None:
    row = await txn.fetchrow(
        f"SELECT {_MEMBER_COLS} FROM members WHERE chat_id = $1 AND user_id = $2",
        chat_id, user_id,
    )
    return None if row is None else MemberRow(*row)


async def get_members_txn(txn: Txn, chat_id: int, user_ids: list[int]) -> dict[int, MemberRow]:
    if not user_ids:
        return {}
    cond, args = txn.engine.any_of("user_id", 2, user_ids)
    rows = await txn.fetch(
        f"SELECT {_MEMBER_COLS} FROM members WHERE chat_id = $1 AND {cond}", chat_id, *args
    )
    return {int(r[1]): MemberRow(*r) for r in rows}


async def members_of_chats_txn(txn: Txn, pairs: list[tuple[int, int]]
                               ) -> dict[tuple[int, int], MemberRow]:
    """Memberships for (chat_id, user_id) pairs, one indexed lookup each, one query."""
    if not pairs:
        return {}
    keys, args = txn.engine.keys_table("k", [("chat_id", "bigint"), ("user_id", "bigint")],
                                       1, pairs)
    rows = await txn.fetch(
        f"SELECT {_prefixed(_MEMBER_COLS, 'm')} FROM {keys}"
        " JOIN members m ON m.chat_id = k.chat_id AND m.user_id = k.user_id",
        *args,
    )
    return {(int(r[0]), int(r[1])): MemberRow(*r) for r in rows}


async def active_members_txn(txn: Txn, chat_id: int, limit: int) -> list[MemberRow]:
    rows = await txn.fetch(
        f"SELECT {_MEMBER_COLS} FROM members WHERE chat_id = $1 AND left_pts IS NULL"
        " ORDER BY joined_pts, user_id LIMIT $2",
        chat_id, limit,
    )
    return [MemberRow(*r) for r in rows]


async def former_members_txn(txn: Txn, chat_id: int) -> list[MemberRow]:
    rows = await txn.fetch(
        f"SELECT {_MEMBER_COLS} FROM members WHERE chat_id = $1 AND left_pts IS NOT NULL",
        chat_id,
    )
    return [MemberRow(*r) for r in rows]


async def memberships_of_user_txn(txn: Txn, user_id: int, *, active_only: bool
                                  ) -> list[tuple[MemberRow, ChatRow]]:
    where = "m.user_id = $1" + (" AND m.left_pts IS NULL" if active_only else "")
    rows = await txn.fetch(
        f"SELECT {_prefixed(_MEMBER_COLS, 'm')}, {_prefixed(_CHAT_COLS, 'c')}"
        f" FROM members m JOIN chats c ON c.chat_id = m.chat_id WHERE {where}",
        user_id,
    )
    n = len(MemberRow.__struct_fields__)
    return [(MemberRow(*tuple(r)[:n]), ChatRow(*tuple(r)[n:])) for r in rows]


async def active_chat_ids_of_user_txn(txn: Txn, user_id: int) -> list[int]:
    rows = await txn.fetch(
        "SELECT chat_id FROM members WHERE user_id = $1 AND left_pts IS NULL", user_id
    )
    return [int(r[0]) for r in rows]


async def upsert_member_txn(txn: Txn, chat_id: int, user_id: int, role: str, joined_pts: int,
                            now: int, past_spans: str | None = None, *, history_from: int
                            ) -> None:
    """Join, or re-join after leaving: a new span starts at ``joined_pts``, and
    ``past_spans`` keeps the earlier ones visible; ``history_from`` is 1 or
    ``joined_pts`` (``services.access.history_from``). A moderator's mute ends."""
    await txn.execute(
        "INSERT INTO members (chat_id, user_id, role, joined_pts, joined_at, read_pts,"
        " past_spans, history_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (chat_id, user_id) DO UPDATE SET role = excluded.role,"
        " joined_pts = excluded.joined_pts, left_pts = NULL, joined_at = excluded.joined_at,"
        " read_pts = excluded.read_pts, past_spans = excluded.past_spans,"
        " history_from = excluded.history_from, send_muted_until = 0",
        chat_id, user_id, role, joined_pts, now, joined_pts - 1, past_spans, history_from,
    )


async def mark_left_txn(txn: Txn, chat_id: int, user_id: int, left_pts: int) -> None:
    await txn.execute(
        "UPDATE members SET left_pts = $3 WHERE chat_id = $1 AND user_id = $2",
        chat_id, user_id, left_pts,
    )


async def set_role_txn(txn: Txn, chat_id: int, user_id: int, role: str) -> None:
    await txn.execute(
        "UPDATE members SET role = $3 WHERE chat_id = $1 AND user_id = $2", chat_id, user_id, role
    )


async def advance_read_txn(txn: Txn, chat_id: int, user_id: int, read_pts: int, now: int
                           ) -> bool:
    """Move the cursor forward only; True if it moved."""
    row = await txn.fetchrow(
        "UPDATE members SET read_pts = $3, read_at = $4"
        " WHERE chat_id = $1 AND user_id = $2 AND read_pts < $3 RETURNING read_pts",
        chat_id, user_id, read_pts, now,
    )
    return row is not None


async def advance_reads_many_txn(txn: Txn, moves: list[tuple[int, int, int]], now: int
                                 ) -> set[tuple[int, int]]:
    """``advance_read_txn`` for many (chat_id, user_id, read_pts), one statement;
    returns the (chat_id, user_id) whose cursor moved. Pairs must be distinct."""
    if not moves:
        return set()
    keys, args = txn.engine.keys_table(
        "k", [("chat_id", "bigint"), ("user_id", "bigint"), ("read_pts", "bigint")], 2,
        sorted(moves))
    rows = await txn.fetch(
        f"UPDATE members SET read_pts = k.read_pts, read_at = $1 FROM {keys}"
        " WHERE members.chat_id = k.chat_id AND members.user_id = k.user_id"
        " AND members.read_pts < k.read_pts RETURNING members.chat_id, members.user_id",
        now, *args)
    return {(int(r[0]), int(r[1])) for r in rows}


async def active_member_ids_txn(txn: Txn, chat_id: int) -> list[int]:
    rows = await txn.fetch(
        "SELECT user_id FROM members WHERE chat_id = $1 AND left_pts IS NULL", chat_id)
    return [int(r[0]) for r in rows]


async def set_member_cleared_txn(txn: Txn, chat_id: int, user_id: int, upto: int) -> None:
    await txn.execute(
        "UPDATE members SET cleared_pts = $3 WHERE chat_id = $1 AND user_id = $2"
        " AND cleared_pts < $3", chat_id, user_id, upto)


async def set_chat_cleared_txn(txn: Txn, chat_id: int, upto: int) -> None:
    await txn.execute("UPDATE chats SET cleared_pts = $2 WHERE chat_id = $1 AND cleared_pts < $2",
                      chat_id, upto)


async def unmuted_members_of_txn(txn: Txn, chat_ids: list[int], now: int
                                 ) -> dict[int, list[int]]:
    """chat -> its current members who have not muted it (``dialog.mute``), ascending,
    for many chats in one statement."""
    cond, args = txn.engine.any_of("chat_id", 2, chat_ids)
    rows = await txn.fetch(
        f"SELECT chat_id, user_id FROM members WHERE {cond} AND left_pts IS NULL"
        " AND muted_until <= $1 ORDER BY chat_id, user_id", now, *args)
    found: dict[int, list[int]] = {c: [] for c in chat_ids}
    for r in rows:
        found[int(r[0])].append(int(r[1]))
    return found
