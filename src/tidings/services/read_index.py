"""Read receipts from memory: per active chat, the read cursors of its members.

``members`` stays the single source of truth; this is a cache of it, rebuilt
from the database on a miss and bounded by an LRU of ``max_chats`` chats.

A member counts as a reader of message ``m`` when ``joined <= m <= cursor``
(``joined`` is 1 where the chat shows full history). Because a cursor never
sits below ``joined - 1`` (a join sets it there and it only moves forward),
``count(m) = #{joined <= m} - #{cursor < m}``: two bisects over two sorted
arrays, exact for every message however old (MEASUREMENTS.md: sorted cursors
with bisect won against a Fenwick tree and Roaring bitmaps). Opted-out members
are not in the index at all. A left member's cursor stays at or below where
they left, so what they read while a member still counts.

Memory per chat: ``array`` columns of 4 bytes per member (8 when an id or
time needs more than 32 bits) and slot orders of 2 (4 past 65,535 members):
200 KB for 10,000 members where the chat shows its full history, 280 KB where
members see from their join (each member's join, and the joins sorted). The
sorted values cost 40 KB each and make a count 2.5 times faster than a bisect
keyed through the slots (which boxes twice per step): measured, see
docs/benchmarks.md.

Kept right on this node by ``apply_read`` after a ``read.mark`` commits, and on
every node by the bus: a ``read.updated`` user update is applied, a join or
leave drops the chat (rebuilt on the next ask), ``privacy.updated`` drops all.
A fill that raced with a drop is discarded (generation check).
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import msgspec

from tidings import wire
from tidings.bus.base import AnyEvent, ChatEvent, UserEvent

_SMALL = 2**32


class Reader(msgspec.Struct, frozen=True):
    user_id: int
    read_at: int


class ChatReads:
    """One chat's cursors. Members sit in slots in user id order (``users``,
    ``cursors``, ``at`` and, unless every member sees the full history,
    ``joined``). ``sorted_cursors`` and ``sorted_joins`` (the values) count;
    ``by_cursor`` and ``by_at`` (slots) list readers
    of a recent and of an old message. A mark moves one value in
    ``sorted_cursors``, its slot in ``by_cursor`` and to the end of ``by_at``
    (the newest read is the last): two memmoves each."""

    __slots__ = ("at", "by_at", "by_cursor", "cursors", "joined", "sorted_cursors",
                 "sorted_joins", "users")

    def __init__(self, rows: list[tuple[int, int, int, int]]) -> None:
        """``rows``: (user_id, joined, cursor, read_at) of every opted-in member."""
        rows = sorted(rows)
        big = any(v >= _SMALL or v < 0 for r in rows for v in r)
        code = "q" if big else "I"
        slot = "H" if len(rows) < 2**16 else "I"
        self.users = array(code, [r[0] for r in rows])
        self.cursors = array(code, [r[2] for r in rows])
        self.at = array(code, [r[3] for r in rows])
        # Full history (joined = 1 for all): no join columns at all.
        full = all(r[1] <= 1 for r in rows)
        self.joined: array[int] | None = None if full else array(code, [r[1] for r in rows])
        self.sorted_cursors = array(code, sorted(self.cursors))
        slots = range(len(rows))
        self.by_cursor = array(slot, sorted(slots, key=self._cursor_key))
        self.by_at = array(slot, sorted(slots, key=self._at_key))
        self.sorted_joins: array[int] | None = (
            None if self.joined is None else array(code, sorted(self.joined)))

    def _cursor_key(self, i: int) -> tuple[int, int]:
        return self.cursors[i], i

    def _at_key(self, i: int) -> tuple[int, int]:
        return self.at[i], self.users[i]

    def nbytes(self) -> int:
        cols = [self.users, self.cursors, self.at, self.sorted_cursors, self.by_cursor,
                self.by_at]
        if self.joined is not None and self.sorted_joins is not None:
            cols += [self.joined, self.sorted_joins]
        return sum(c.buffer_info()[1] * c.itemsize for c in cols)

    def count(self, msg_id: int) -> int:
        """Members (sender included, if they read it) whose span holds and who read it."""
        return self.counts([msg_id])[0]

    def counts(self, msg_ids: list[int]) -> list[int]:
        # count(m) = #{joined <= m} - #{cursor < m}: a cursor never sits below
        # joined - 1, so everyone not yet counted out by cursor has read m.
        cursors = self.sorted_cursors
        joins = self.sorted_joins
        if joins is None:
            n = len(cursors)
            return [n - bisect_left(cursors, m) for m in msg_ids]
        return [bisect_right(joins, m) - bisect_left(cursors, m) for m in msg_ids]

    def has_read(self, user_id: int, msg_id: int) -> bool:
        i = self._find(user_id)
        if i < 0 or self.cursors[i] < msg_id:
            return False
        return self.joined is None or self.joined[i] <= msg_id

    def readers(self, msg_id: int, limit: int, before: tuple[int, int] | None
                ) -> list[Reader]:
        """Readers newest first by (read_at, user_id), strictly below ``before``.

        Few cursors at or past the message (a recent one): sort those. Many (an
        old one): walk ``by_at`` from the newest, which meets ``limit`` readers
        after about ``limit * members / candidates`` slots. The switch is where
        the two costs meet."""
        at, users, cursors, joined = self.at, self.users, self.cursors, self.joined
        n = len(users)
        start = bisect_left(self.sorted_cursors, msg_id)
        left = n - start
        if 2 * left * left <= limit * n:
            found = [(at[i], users[i]) for i in self.by_cursor[start:]
                     if joined is None or joined[i] <= msg_id]
            if before is not None:
                found = [r for r in found if r < before]
            return [Reader(user, t) for t, user in heapq.nlargest(limit, found)]
        by_at = self.by_at
        end = n if before is None else bisect_left(by_at, before, key=self._at_key)
        page: list[Reader] = []
        for pos in range(end - 1, -1, -1):
            if left <= 0:
                break
            i = by_at[pos]
            if cursors[i] < msg_id:
                continue
            left -= 1
            if joined is None or joined[i] <= msg_id:
                page.append(Reader(users[i], at[i]))
                if len(page) >= limit:
                    break
        return page

    def apply(self, user_id: int, cursor: int, read_at: int) -> bool:
        """Move a member's cursor forward; False if the index cannot hold it (rebuild)."""
        if (cursor >= _SMALL or read_at >= _SMALL) and self.cursors.typecode != "q":
            return False
        i = self._find(user_id)
        if i < 0 or self.cursors[i] >= cursor:
            return True
        old = self.cursors[i]
        del self.sorted_cursors[bisect_left(self.sorted_cursors, old)]
        insort(self.sorted_cursors, cursor)
        del self.by_cursor[bisect_left(self.by_cursor, self._cursor_key(i),
                                       key=self._cursor_key)]
        self.cursors[i] = cursor
        insort(self.by_cursor, i, key=self._cursor_key)
        del self.by_at[bisect_left(self.by_at, self._at_key(i), key=self._at_key)]
        self.at[i] = read_at
        insort(self.by_at, i, key=self._at_key)
        return True

    def _find(self, user_id: int) -> int:
        i = bisect_left(self.users, user_id)
        return i if i < len(self.users) and self.users[i] == user_id else -1


Loader = Callable[[int], Awaitable[list[tuple[int, int, int, int]]]]


class ReadIndex:
    def __init__(self, load: Loader, *, max_chats: int = 10_000) -> None:
        self._load = load
        self._max = max_chats
        self._chats: OrderedDict[int, ChatReads] = OrderedDict()
        self._generation: dict[int, int] = {}
        self._epoch = 0

    def __len__(self) -> int:
        return len(self._chats)

    async def chat(self, chat_id: int) -> ChatReads:
        entry = self._chats.get(chat_id)
        if entry is not None:
            self._chats.move_to_end(chat_id)
            return entry
        before = (self._epoch, self._generation.get(chat_id, 0))
        entry = ChatReads(await self._load(chat_id))
        if before == (self._epoch, self._generation.get(chat_id, 0)):
            self._chats[chat_id] = entry
            while len(self._chats) > self._max:
                self._chats.popitem(last=False)
        return entry

    def apply_read(self, chat_id: int, user_id: int, cursor: int, read_at: int) -> None:
        entry = self._chats.get(chat_id)
        if entry is not None and not entry.apply(user_id, cursor, read_at):
            self.drop(chat_id)

    def drop(self, chat_id: int) -> None:
        self._generation[chat_id] = self._generation.get(chat_id, 0) + 1
        self._chats.pop(chat_id, None)

    def clear(self) -> None:
        self._epoch += 1
        self._generation.clear()
        self._chats.clear()

    def on_event(self, event: AnyEvent) -> None:
        if isinstance(event, ChatEvent):
            if event.joined or event.left or event.views_changed:
                self.drop(event.chat_id)
        elif isinstance(event, UserEvent) and (
                b"read.updated" in event.frame or b"privacy.updated" in event.frame):
            self._apply_user_frame(event.user_id, event.frame)

    def _apply_user_frame(self, user_id: int, frame: bytes) -> None:
        push = wire.decode(frame)
        for update in push.get("updates", ()):
            kind = update.get("kind")
            if kind == "privacy.updated" and "read_receipts" in update:
                self.clear()
            elif kind == "read.updated":
                self.apply_read(int(update["chat_id"]), user_id, int(update["read_pts"]),
                                int(update.get("date", 0)))

