"""What a member may see of a chat: visibility ranges and membership checks
(what they may do is ``services.permissions``)."""

from __future__ import annotations

from datetime import UTC, datetime

from tidings import wire
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, not_a_member
from tidings.services import permissions
from tidings.store import chats
from tidings.store.chats import ChatRow, MemberRow


def chat_missing(chat_id: int) -> TidingsError:
    return TidingsError(ErrorCode.CHAT_NOT_FOUND, f"no chat {chat_id}", chat_id=chat_id)


def sees_full_history(chat: ChatRow, member: MemberRow) -> bool:
    """Decided when the member joined (``members.history_from``); a row from
    before that column (history_from 0) follows the chat's setting."""
    if member.history_from:
        return member.history_from == 1
    return chat.history_visibility == "full"


def visible_from(chat: ChatRow, member: MemberRow) -> int:
    """The first pts of the member's current span."""
    return 1 if sees_full_history(chat, member) else member.joined_pts


def visible_upto(chat: ChatRow, member: MemberRow) -> int:
    """The last pts this member may see: where they left, or the chat's pts."""
    return member.left_pts if member.left_pts is not None else chat.pts


def visible_spans(chat: ChatRow, member: MemberRow) -> list[tuple[int, int]]:
    """Every inclusive pts range this member may see, oldest first: the spans of
    earlier memberships, then the current one."""
    current = (visible_from(chat, member), visible_upto(chat, member))
    if sees_full_history(chat, member):
        return [current]
    return [*member.earlier_spans(), current]


def message_floor(chat: ChatRow, member: MemberRow) -> int:
    """Messages at or below this pts are cleared for this member (for everyone
    by ``chats.cleared_pts``, for this member by ``members.cleared_pts``)."""
    return max(chat.cleared_pts, member.cleared_pts)


def message_spans(chat: ChatRow, member: MemberRow) -> list[tuple[int, int]]:
    """The spans in which this member may read messages: the visible spans
    above the cleared floor. Non-message updates keep ``visible_spans``."""
    return above_floor(visible_spans(chat, member), message_floor(chat, member))


def above_floor(spans: list[tuple[int, int]], floor: int) -> list[tuple[int, int]]:
    return [(max(lo, floor + 1), hi) for lo, hi in spans if hi > floor]


def can_see(spans: list[tuple[int, int]], pts: int) -> bool:
    return any(lo <= pts <= hi for lo, hi in spans)


def ranges_after(spans: list[tuple[int, int]], pts: int, limit: int
                 ) -> tuple[list[tuple[int, int]], bool]:
    """The half-open ranges (after, upto] of visible pts above ``pts``, oldest first,
    cut to the newest ``limit`` pts; and whether anything was cut (too_long)."""
    ranges = [(max(lo - 1, pts), hi) for lo, hi in spans if hi > pts]
    total = sum(hi - after for after, hi in ranges)
    if total <= limit:
        return ranges, False
    kept: list[tuple[int, int]] = []
    room = limit
    for after, hi in reversed(ranges):
        if room <= 0:
            break
        take = min(room, hi - after)
        kept.append((hi - take, hi))
        room -= take
    kept.reverse()
    return kept, True


def require_active(member: MemberRow | None, chat_id: int) -> MemberRow:
    if member is None or not member.active:
        raise not_a_member(chat_id)
    return member


def require_seen(member: MemberRow | None, chat_id: int) -> MemberRow:
    """A current or former member: reading what they could see stays allowed."""
    if member is None:
        raise not_a_member(chat_id)
    return member


def join_terms(chat: ChatRow, before: MemberRow | None, role: str, joined_pts: int
               ) -> tuple[str | None, int]:
    """``(past_spans, history_from)`` for someone joining ``chat`` now at
    ``joined_pts`` (``before``: their earlier membership row, if any). With
    history_visibility "none" a member sees only their current span."""
    history_from = 1 if permissions.sees_history(chat, role) else joined_pts
    if chat.history_visibility == "none" or before is None or before.left_pts is None:
        return None, history_from
    return wire.encode(visible_spans(chat, before)).decode(), history_from


def check_not_expired(chat: ChatRow, now: int) -> None:
    if chat.expire_at and now >= chat.expire_at:
        raise TidingsError(ErrorCode.CHAT_EXPIRED,
                           f"this chat expired at {iso_utc(chat.expire_at)}",
                           chat_id=chat.chat_id, expire_at=chat.expire_at)


def iso_utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def load_membership_txn(txn: Txn, chat_id: int, user_id: int, *, active: bool
                              ) -> tuple[ChatRow, MemberRow]:
    """The chat and the caller's membership, or the error that stops the request:
    ``active`` demands a current member, otherwise a former one may read too."""
    chat, member = await chats.get_chat_and_member_txn(txn, chat_id, user_id)
    if chat is None:
        raise chat_missing(chat_id)
    if active:
        return chat, require_active(member, chat_id)
    return chat, require_seen(member, chat_id)


def direct_peer(chat: chats.ChatRow, user_id: int) -> int | None:
    """The other member of a direct chat (None in a group, or a chat with oneself)."""
    if chat.kind != "direct" or chat.direct_key is None:
        return None
    low, high = (int(part) for part in chat.direct_key.split(":"))
    if low == high:
        return None
    return high if user_id == low else low
