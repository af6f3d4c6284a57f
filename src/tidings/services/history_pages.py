"""The node's cache of ``message.history`` pages: the rows of a page, shared by
every member with the same read view, and the page's JSON, encoded once.

A page is a pure function of the query (chat, ``before``/``after``, limit,
tag), the viewer's read view (membership spans above the cleared floor) and
the chat's rows. Every change to a chat's rows allocates a pts in the same
transaction (send, recall, delete for everyone, TTL deletion, reactions,
attributes and tags, pins, burn countdowns: ``store.updates``), so an entry
is valid exactly while the chat's pts is the one it was filled at. Readers
read that pts from the database (``store.chat_pts``) in their read
transaction, first, then the page: an entry is never older than its pts, and
a page written on another node is seen as soon as it is committed, without
waiting for the bus.

What differs between viewers with the same read view is not shared: members
who deleted messages for themselves (``has_hidden``) bypass the cache, and
pages carrying reactions (``my_reactions``) or files (the viewer's actions,
``expiring_soon`` which moves with the clock) keep their shared rows here and
are decorated per request (``personal``).

Bounded by ``history_cache_bytes``, least recently used first; each entry
counts twice its JSON size (the encoded bytes and the decoded rows kept for
MessagePack connections and per-viewer decoration). 0 turns it off.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from weakref import WeakSet

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tidings import wire

PageKey = tuple[int, tuple[tuple[int, int], ...], int | None, int | None, int, str | None]
OUTCOMES = ("hit", "miss", "stale", "bypass")


class _CacheStats(Collector):
    """``tidings_history_cache_total{outcome}`` and ``tidings_history_cache_bytes``
    from plain counts (as ``api.rpc_metrics``: a locked ``Counter.inc`` per page
    costs more than a cache hit's lookup; pages are served on the event loop
    thread, where ``/metrics`` is rendered too)."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.caches: WeakSet[HistoryPageCache] = WeakSet()  # one a node

    def collect(self) -> Iterator[Metric]:
        total = CounterMetricFamily(
            "tidings_history_cache", "message.history pages by cache outcome: hit, miss "
            "(no entry), stale (the chat changed since the entry was filled), bypass (the "
            "viewer hid messages for themselves)", labels=["outcome"])
        for outcome in OUTCOMES:
            total.add_metric([outcome], self.counts[outcome])
        yield total
        size = GaugeMetricFamily("tidings_history_cache_bytes",
                                 "Bytes the history page cache counts for its entries")
        size.add_metric([], sum(c.counted_bytes for c in self.caches))
        yield size


STATS = _CacheStats()
REGISTRY.register(STATS)
_counts = STATS.counts


class CachedPage:
    """One page at one pts of its chat. ``json`` is the JSON array of
    ``messages`` (unused for ``personal`` pages, which are decorated per viewer)."""

    __slots__ = ("json", "messages", "personal", "pts", "size")

    def __init__(self, pts: int, messages: list[wire.Message], json: bytes) -> None:
        self.pts = pts
        self.messages = messages
        self.json = json
        self.personal = any(m.reactions or m.file_id is not None for m in messages)
        self.size = 2 * len(json) + 200


class HistoryPageCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[PageKey, CachedPage] = OrderedDict()
        self._bytes = 0
        if max_bytes > 0:
            STATS.caches.add(self)

    @property
    def counted_bytes(self) -> int:
        return self._bytes

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: PageKey, pts: int) -> CachedPage | None:
        """The entry for ``key`` if it was filled at the chat's ``pts``."""
        entry = self._entries.get(key)
        if entry is None:
            _counts["miss"] += 1
            return None
        if entry.pts != pts:
            _counts["stale"] += 1
            return None
        self._entries.move_to_end(key)
        _counts["hit"] += 1
        return entry

    def put(self, key: PageKey, page: CachedPage) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        if page.size <= self.max_bytes:
            self._entries[key] = page
            self._bytes += page.size
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.size

    @staticmethod
    def bypassed() -> None:
        _counts["bypass"] += 1
