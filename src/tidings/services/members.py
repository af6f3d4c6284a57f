"""Member lists at group scale: ``chat.members`` pages a chat's current
members (optionally those whose name starts with a query, or of one role) in a
stable order, and ``chat.get`` shows only the first page, so that opening a
10,000-member group does not ship 10,000 rows.

Order: by ``joined_pts``, then ``user_id`` (who joined first comes first). The
cursor is an opaque string naming a position in that order: within one walk no
member comes twice, and every member who stays comes exactly once; a member who
leaves and joins again moves to the end."""

from __future__ import annotations

from typing import Any

from tidings import wire
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import invalid
from tidings.services import access
from tidings.store.members import member_page_txn

ROLES = ("owner", "admin", "member", "restricted", "readonly")
MAX_QUERY_LENGTH = 64


async def members_page_txn(txn: Txn, chat_id: int, viewer: int, limit: int, now: int, *,
                         after: tuple[int, int] | None = None, prefix: str | None = None,
                         role: str | None = None) -> tuple[list[wire.Member], str | None]:
    """One page of members as the viewer sees them (only their own ``read_pts``;
    a mute that ended by ``now`` shows as 0), and the cursor of the next page
    (None on the last)."""
    rows = await member_page_txn(txn, chat_id, limit + 1, after=after, prefix=prefix,
                                 role=role)
    page = rows[:limit]
    members = [wire.Member(m.user_id, m.role, m.joined_pts,
                           m.read_pts if m.user_id == viewer else None,
                           m.send_muted_until if m.send_muted_until > now else 0)
               for m in page]
    more = len(rows) > limit
    cursor = f"{page[-1].joined_pts}.{page[-1].user_id}" if more and page else None
    return members, cursor


def parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    if cursor is None:
        return None
    try:
        joined, user = cursor.split(".")
        return int(joined), int(user)
    except ValueError:
        raise invalid("cursor is not one this server returned", field="cursor") from None


class MemberService:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings

    async def page(self, user_id: int, chat_id: int, *, limit: int | None = None,
                   cursor: str | None = None, query: str | None = None,
                   role: str | None = None) -> dict[str, Any]:
        most = self._settings.chat_members_max_limit
        limit = most if limit is None else limit
        if not 1 <= limit <= most:
            raise invalid(f"limit must be 1 to {most}", field="limit", limit=most)
        after = parse_cursor(cursor)
        prefix = (query or "").strip().lower() or None
        if prefix is not None and len(prefix) > MAX_QUERY_LENGTH:
            raise invalid(f"query must be at most {MAX_QUERY_LENGTH} characters",
                          field="query", limit=MAX_QUERY_LENGTH)
        if role is not None and role not in ROLES:
            raise invalid(f"role must be one of {', '.join(ROLES)}", field="role")

        async def page_txn(txn: Txn) -> tuple[list[wire.Member], str | None]:
            await access.load_membership_txn(txn, chat_id, user_id, active=True)
            return await members_page_txn(txn, chat_id, user_id, limit, self._clock.now(),
                                          after=after, prefix=prefix, role=role)

        members, next_cursor = await self._db.read("chat_members", page_txn)
        return {"members": members, "next_cursor": next_cursor}
