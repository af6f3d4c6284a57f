"""Which messages of a chat a member may read, cached for the read path.

``message.history`` and ``message.get`` need only the caller's read view: the
membership spans above the cleared floor, and whether they hid messages. It
changes on join, leave, clear and hide alone. Every bus event naming a joiner
or leaver, or a changed view, drops that entry on every node, and a fill that raced with such a
change is discarded (generation check), so on one node an entry is never older
than the last change. Across nodes a change arrives through the bus a few
milliseconds later; ``ttl_seconds`` bounds the staleness should the bus lose
an event. Writes never use this cache: sends check membership in their own
transaction.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from tidings.bus.base import AnyEvent, ChatEvent, UserEvent
from tidings.db.engine import Txn
from tidings.services import access

Spans = list[tuple[int, int]]
OPEN = 2**62  # the upper end of an active member's current span: "up to the newest"


class ReadView(msgspec.Struct, frozen=True):
    spans: Spans  # where messages may be read, above the cleared floor
    has_hidden: bool  # some messages are hidden for this member (delete for me)


class VisibilityCache:
    def __init__(self, monotonic: Callable[[], float], *, ttl_seconds: float = 60.0,
                 max_entries: int = 100_000) -> None:
        self._monotonic = monotonic
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: dict[tuple[int, int], tuple[ReadView, float]] = {}
        self._generation = 0

    async def view_txn(self, txn: Txn, chat_id: int, user_id: int) -> ReadView:
        """The caller's read view, from the cache or the database (raising
        ``CHAT_NOT_FOUND`` / ``NOT_A_MEMBER`` as ``load_membership_txn`` does)."""
        key = (chat_id, user_id)
        now = self._monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[1] > now:
            return entry[0]
        generation = self._generation
        chat, member = await access.load_membership_txn(txn, chat_id, user_id, active=False)
        spans = access.visible_spans(chat, member)
        if member.active:
            spans[-1] = (spans[-1][0], OPEN)
        spans = access.above_floor(spans, access.message_floor(chat, member))
        view = ReadView(spans, bool(member.has_hidden))
        if generation == self._generation:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = (view, now + self._ttl)
        return view

    async def spans_txn(self, txn: Txn, chat_id: int, user_id: int) -> Spans:
        return (await self.view_txn(txn, chat_id, user_id)).spans

    def on_event(self, event: AnyEvent) -> None:
        if isinstance(event, ChatEvent) and event.views_changed:
            self._generation += 1
            for key in [k for k in self._entries if k[0] == event.chat_id]:
                del self._entries[key]
        elif isinstance(event, ChatEvent) and (event.joined or event.left):
            self._generation += 1
            for user_id in (*event.joined, *event.left):
                self._entries.pop((event.chat_id, user_id), None)
        elif isinstance(event, UserEvent) and event.views_changed:
            self._generation += 1
            for chat_id in event.views_changed:
                self._entries.pop((chat_id, event.user_id), None)
