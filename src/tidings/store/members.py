"""Pages of a chat's current members, for ``chat.members`` and ``chat.get``."""

from __future__ import annotations

import msgspec

from tidings.db.engine import Txn


class MemberEntry(msgspec.Struct, frozen=True):
    user_id: int
    role: str
    joined_pts: int
    read_pts: int
    send_muted_until: int  # chat.mute_member; 0 or a past time: not muted


def like_escape(text: str) -> str:
    r"""``text`` matched literally by LIKE ... ESCAPE '\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def member_page_txn(txn: Txn, chat_id: int, limit: int, *,
                          after: tuple[int, int] | None = None, prefix: str | None = None,
                          role: str | None = None) -> list[MemberEntry]:
    """Current members in the order (joined_pts, user_id), after the position
    ``after``; ``prefix`` (lower case) keeps those whose username, whole display
    name or a word of it starts with it (case-insensitive for ASCII letters on
    SQLite, for all letters on PostgreSQL); ``role`` keeps one role."""
    args: list[object] = [chat_id]
    where = ["m.chat_id = $1", "m.left_pts IS NULL"]
    join = ""
    if role is not None:
        args.append(role)
        where.append(f"m.role = ${len(args)}")
    if after is not None:
        args += [after[0], after[1]]
        a, b = len(args) - 1, len(args)
        where.append(f"(m.joined_pts > ${a} OR (m.joined_pts = ${a} AND m.user_id > ${b}))")
    if prefix is not None:
        join = " JOIN users u ON u.user_id = m.user_id"
        pattern = like_escape(prefix)
        args += [pattern + "%", "% " + pattern + "%"]
        p, w = len(args) - 1, len(args)
        where.append(f"(u.username LIKE ${p} ESCAPE '\\' OR lower(u.display_name) LIKE ${p}"
                     f" ESCAPE '\\' OR lower(u.display_name) LIKE ${w} ESCAPE '\\')")
    args.append(limit)
    rows = await txn.fetch(
        "SELECT m.user_id, m.role, m.joined_pts, m.read_pts, m.send_muted_until"
        " FROM members m" + join
        + " WHERE " + " AND ".join(where)
        + f" ORDER BY m.joined_pts, m.user_id LIMIT ${len(args)}",
        *args,
    )
    return [MemberEntry(int(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4] or 0))
            for r in rows]
