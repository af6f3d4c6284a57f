"""The conversation list: one user's memberships in list order, the per-dialog
counts of a page, and the dialog settings on the membership row
(``members.pinned``, ``hidden``, ``muted_until``).

List order is pinned dialogs first, by pin order (``members.pinned``, a
per-user increasing number; 0 = not pinned), then the rest by the chat's last
activity, newest first, ties by chat id. A page is one indexed lookup of the
user's memberships (``members_by_user``) joined to their chats and sorted,
whatever page it is: the sort key lives on ``chats`` (one ``last_activity``
per chat, so a message costs no write per member), so no index can hand the
rows over in order, and a top-N sort of the user's few thousand rows is the
cheapest plan on both engines (see ``tidings bench dialogs``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tidings.db.engine import Txn
from tidings.store import messages
from tidings.store.chats import ChatRow, MemberRow
from tidings.store.messages import StoredMessage

# Row structs list their columns in table order: their fields are the columns.
_MEMBER_COLS = ", ".join(f"m.{c}" for c in MemberRow.__struct_fields__)
_CHAT_COLS = ", ".join(f"c.{c}" for c in ChatRow.__struct_fields__)
_N_MEMBER = len(MemberRow.__struct_fields__)
# The message columns in the order ``messages.stored_from_row`` reads them.
_MESSAGE_COLS = ", ".join(f"x.{c.strip()}" for c in messages._COLS.split(","))

# A dialog hidden at pts H comes back with the first message after H.
_SHOWN = "(m.hidden = 0 OR c.last_msg_id > m.hidden)"
_ORDER = ("CASE WHEN m.pinned > 0 THEN 0 ELSE 1 END, m.pinned,"
          " c.last_activity DESC, c.chat_id DESC")
_ORDER_K = ("CASE WHEN k.pinned > 0 THEN 0 ELSE 1 END, k.pinned,"
            " k.last_activity DESC, k.chat_id DESC")


@dataclass(frozen=True, slots=True)
class PagePosition:
    """Where a page starts: after the pinned dialog of pin order ``pinned`` (> 0),
    or after the unpinned dialog at (``activity``, ``chat_id``)."""

    pinned: int = 0
    activity: int = 0
    chat_id: int = 0


async def dialog_page_txn(txn: Txn, user_id: int, after: PagePosition | None, limit: int, *,
                          include_hidden: bool) -> list[tuple[MemberRow, ChatRow]]:
    """Up to ``limit`` of the user's current memberships in list order, starting
    after ``after`` (from the top when None). The inner query sorts narrow rows
    (chat id and sort key) and the outer one reads the full rows of the page
    only: on both engines about half the time of sorting the full rows."""
    where = ["m.user_id = $1", "m.left_pts IS NULL"]
    args: list[object] = [user_id, limit]
    if not include_hidden:
        where.append(_SHOWN)
    if after is not None and after.pinned > 0:
        where.append("(m.pinned > $3 OR m.pinned = 0)")
        args.append(after.pinned)
    elif after is not None:
        where.append("m.pinned = 0 AND (c.last_activity < $3"
                     " OR (c.last_activity = $3 AND c.chat_id < $4))")
        args += [after.activity, after.chat_id]
    rows = await txn.fetch(
        f"SELECT {_MEMBER_COLS}, {_CHAT_COLS} FROM ("
        "SELECT m.chat_id, m.pinned, c.last_activity FROM members m"
        f" JOIN chats c ON c.chat_id = m.chat_id WHERE {' AND '.join(where)}"
        f" ORDER BY {_ORDER} LIMIT $2) k"
        " JOIN members m ON m.chat_id = k.chat_id AND m.user_id = $1"
        f" JOIN chats c ON c.chat_id = k.chat_id ORDER BY {_ORDER_K}",
        *args,
    )
    return [(MemberRow(*tuple(r)[:_N_MEMBER]), ChatRow(*tuple(r)[_N_MEMBER:])) for r in rows]


@dataclass(frozen=True, slots=True)
class StatsKey:
    """What to count for one dialog: messages in ``(read, upto]`` for unread and
    mentions, the newest message in ``(lo, upto]`` for the preview."""

    chat_id: int
    lo: int
    read: int
    upto: int
    has_hidden: bool


def _not_hidden(msg: str) -> str:
    return (f"(k.hh = 0 OR NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = $1"
            f" AND h.chat_id = k.chat_id AND h.msg_id = {msg}.msg_id))")


async def page_stats_txn(txn: Txn, user_id: int, keys: Sequence[StatsKey]
                         ) -> dict[int, tuple[int, int, int | None]]:
    """For each key, in one statement: (unread messages, unread mentions, msg_id of
    the preview). Unread: sent by others, not system, not deleted, not hidden for
    the user. The preview is the newest row, tombstones included (a deleted last
    message shows as deleted), messages the user hid excluded."""
    if not keys:
        return {}
    table, args = txn.engine.keys_table(
        "k", [("chat_id", "bigint"), ("lo", "bigint"), ("rd", "bigint"), ("upto", "bigint"),
              ("hh", "bigint")], 2,
        [(k.chat_id, k.lo, k.read, k.upto, int(k.has_hidden)) for k in keys])
    rows = await txn.fetch(
        "SELECT k.chat_id,"
        " (SELECT COUNT(*) FROM messages x WHERE x.chat_id = k.chat_id AND x.msg_id > k.rd"
        "  AND x.msg_id <= k.upto AND x.sender_id <> $1 AND x.kind <> 'system'"
        f"  AND x.deleted_at IS NULL AND {_not_hidden('x')}),"
        " (SELECT COUNT(*) FROM mentions n WHERE n.user_id = $1 AND n.chat_id = k.chat_id"
        f"  AND n.msg_id > k.rd AND n.msg_id <= k.upto AND {_not_hidden('n')}),"
        " (SELECT x.msg_id FROM messages x WHERE x.chat_id = k.chat_id AND x.msg_id > k.lo"
        f"  AND x.msg_id <= k.upto AND {_not_hidden('x')} ORDER BY x.msg_id DESC LIMIT 1)"
        f" FROM {table}",
        user_id, *args,
    )
    return {int(r[0]): (int(r[1]), int(r[2]), None if r[3] is None else int(r[3]))
            for r in rows}


async def newest_row_txn(txn: Txn, user_id: int, chat_id: int, lo: int, upto: int, *,
                         hidden: bool) -> int | None:
    """The msg_id of the newest row in ``(lo, upto]``, tombstones included, the
    user's hidden messages excluded (a preview from an earlier membership span)."""
    not_hidden = (" AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = $4"
                  " AND h.chat_id = x.chat_id AND h.msg_id = x.msg_id)") if hidden else ""
    value = await txn.fetchval(
        "SELECT x.msg_id FROM messages x WHERE x.chat_id = $1 AND x.msg_id > $2"
        f" AND x.msg_id <= $3{not_hidden} ORDER BY x.msg_id DESC LIMIT 1",
        chat_id, lo, upto, *((user_id,) if hidden else ()),
    )
    return None if value is None else int(value)


async def stored_messages_txn(txn: Txn, keys: Sequence[tuple[int, int]]
                              ) -> dict[int, StoredMessage]:
    """The rows of (chat_id, msg_id) pairs, tombstones included, by chat_id."""
    if not keys:
        return {}
    table, args = txn.engine.keys_table("k", [("chat_id", "bigint"), ("msg_id", "bigint")], 1,
                                        keys)
    rows = await txn.fetch(
        f"SELECT {_MESSAGE_COLS} FROM {table}"
        " JOIN messages x ON x.chat_id = k.chat_id AND x.msg_id = k.msg_id",
        *args,
    )
    found = [messages.stored_from_row(r) for r in rows]
    return {s.message.chat_id: s for s in found}


async def unread_mentions_txn(txn: Txn, user_id: int, chat_id: int, read: int, upto: int,
                              before: int | None, limit: int, *, hidden: bool) -> list[int]:
    """msg_ids of the user's mentions in ``(read, upto]`` below ``before``, newest first."""
    not_hidden = (" AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = $1"
                  " AND h.chat_id = n.chat_id AND h.msg_id = n.msg_id)") if hidden else ""
    rows = await txn.fetch(
        "SELECT n.msg_id FROM mentions n WHERE n.user_id = $1 AND n.chat_id = $2"
        f" AND n.msg_id > $3 AND n.msg_id <= $4 AND n.msg_id < $5{not_hidden}"
        " ORDER BY n.msg_id DESC LIMIT $6",
        user_id, chat_id, read, upto, before if before is not None else upto + 1, limit,
    )
    return [int(r[0]) for r in rows]


# -- the dialog settings ---------------------------------------------------------

async def lock_user_txn(txn: Txn, user_id: int) -> None:
    """Serialise one user's dialog settings changes (PostgreSQL: the user row
    stays locked until commit; SQLite: the single writer already does)."""
    await txn.fetchval(f"SELECT user_id FROM users WHERE user_id = $1{txn.engine.for_update}",
                       user_id)


async def pin_state_txn(txn: Txn, user_id: int) -> tuple[int, int]:
    """(pinned dialogs among current memberships, highest pin order ever given)."""
    row = await txn.fetchrow(
        "SELECT COUNT(CASE WHEN left_pts IS NULL THEN 1 END), COALESCE(MAX(pinned), 0)"
        " FROM members WHERE user_id = $1 AND pinned > 0",
        user_id,
    )
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


async def set_pinned_txn(txn: Txn, chat_id: int, user_id: int, order: int) -> None:
    await txn.execute("UPDATE members SET pinned = $3 WHERE chat_id = $1 AND user_id = $2",
                      chat_id, user_id, order)


async def set_hidden_txn(txn: Txn, chat_id: int, user_id: int, hidden_pts: int) -> None:
    await txn.execute("UPDATE members SET hidden = $3 WHERE chat_id = $1 AND user_id = $2",
                      chat_id, user_id, hidden_pts)


async def set_muted_txn(txn: Txn, chat_id: int, user_id: int, muted_until: int) -> None:
    await txn.execute("UPDATE members SET muted_until = $3 WHERE chat_id = $1 AND user_id = $2",
                      chat_id, user_id, muted_until)


async def lock_member_txn(txn: Txn, chat_id: int, user_id: int) -> MemberRow | None:
    """The membership row, locked until commit on PostgreSQL. Taken before the
    user row (``lock_user_txn``, the user's seq), the order every writer of
    both uses, so no two of them wait on each other."""
    row = await txn.fetchrow(
        f"SELECT {_MEMBER_COLS} FROM members m WHERE m.chat_id = $1 AND m.user_id = $2"
        f"{txn.engine.for_update}",
        chat_id, user_id,
    )
    return None if row is None else MemberRow(*row)
