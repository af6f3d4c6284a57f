"""The read-path membership cache: invalidated by joins and leaves, never filled
from a read that raced with one, and bounded in age."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from tidings.bus.base import ChatEvent
from tidings.clock import FakeClock
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.services.visibility import OPEN, VisibilityCache
from tidings.store.chats import ChatRow, MemberRow

from .helpers import make_users, send_text

CHAT = ChatRow(7, "group", "g", 1, None, 10, 0, None, "joined", 10, 0, 2, 0, None)
MEMBER = MemberRow(7, 2, "member", 3, None, 0, 0, 0, 0, 0, 0, 0, None, 0)


class QuietTxn:
    """Answers the membership query with CHAT and MEMBER, counting queries."""

    def __init__(self, cache: VisibilityCache) -> None:
        self.cache, self.queries = cache, 0

    async def fetchrow(self, sql: str, *args: Any) -> tuple[Any, ...]:
        self.queries += 1
        return (*msgspec.structs.astuple(CHAT), *msgspec.structs.astuple(MEMBER))


class RacingTxn(QuietTxn):
    """Delivers a leave while the membership query runs."""

    async def fetchrow(self, sql: str, *args: Any) -> tuple[Any, ...]:
        self.cache.on_event(ChatEvent(chat_id=7, frame=b"", left=[2]))
        return await super().fetchrow(sql, *args)


async def test_a_fill_racing_with_a_leave_is_not_kept() -> None:
    cache = VisibilityCache(FakeClock().monotonic)
    txn = RacingTxn(cache)
    assert await cache.spans_txn(txn, 7, 2) == [(3, OPEN)]  # type: ignore[arg-type]
    await cache.spans_txn(txn, 7, 2)  # type: ignore[arg-type]
    assert txn.queries == 2  # the first answer was not cached


async def test_entries_expire() -> None:
    clock = FakeClock()
    cache = VisibilityCache(clock.monotonic, ttl_seconds=60)
    txn = QuietTxn(cache)
    await cache.spans_txn(txn, 7, 2)  # type: ignore[arg-type]
    await cache.spans_txn(txn, 7, 2)  # type: ignore[arg-type]
    assert txn.queries == 1
    clock.advance(61)
    await cache.spans_txn(txn, 7, 2)  # type: ignore[arg-type]
    assert txn.queries == 2


async def test_removed_member_stops_reading_at_once(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await sv.chats.create(alice, "group", "g", [bob])
    first = await send_text(sv, alice, chat.chat_id, "before")
    assert [m.msg_id for m in await sv.timeline.history(bob, chat.chat_id, None, None, None)
            ] == [first.msg_id - 1, first.msg_id]  # the "created" system message, then it
    await sv.chats.remove_member(alice, chat.chat_id, bob)
    await send_text(sv, alice, chat.chat_id, "after bob left")
    seen = await sv.timeline.history(bob, chat.chat_id, None, None, None)
    # bob sees up to the "removed" system message, written before his member.left
    assert [(m.kind, m.text) for m in seen] == [("system", None), ("text", "before"),
                                                ("system", None)]
    outsider = (await make_users(sv, "carol"))[0]
    with pytest.raises(TidingsError) as err:
        await sv.timeline.history(outsider, chat.chat_id, None, None, None)
    assert err.value.code is ErrorCode.NOT_A_MEMBER
