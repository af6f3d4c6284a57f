"""The result of one workload run, as printed in the table and the JSON."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class IngestResult:
    engine: str
    mode: str
    chats: int
    messages: int  # requested
    acknowledged: int
    persisted: int
    seconds: float
    errors: int
    server_cpu_seconds: float
    senders: int
    workload: str = "ingest"
    db_cpu_seconds: float | None = None  # PostgreSQL backends, when visible in /proc
    client_cpu_seconds: float | None = None  # ws load generators together
    p50_ms: float | None = None
    p99_ms: float | None = None
    avg_batch: float | None = None  # messages per group-commit transaction
    error_codes: dict[str, int] = field(default_factory=dict)
    floor_msgs_per_s: float | None = None  # the bare driver loop on the same rows, same run
    floor_cpu_us_per_msg: float | None = None  # its CPU per row, ours and the database's

    @property
    def vs_floor(self) -> float | None:
        """Throughput as a fraction of the bare engine loop's (``bench.ingest_floor``)."""
        return _ratio(self.msgs_per_s, self.floor_msgs_per_s)

    @property
    def cpu_vs_floor(self) -> float | None:
        """The floor's CPU per row as a fraction of ours (both: the process, plus
        PostgreSQL's backends when visible): the ratio a busy machine distorts
        least, where ``vs_floor`` is wall-clock throughput."""
        ours = self.total_cpu_us_per_msg
        return None if ours is None or self.floor_cpu_us_per_msg is None else (
            self.floor_cpu_us_per_msg / ours if ours > 0 else None)

    @property
    def total_cpu_us_per_msg(self) -> float | None:
        own = self.server_cpu_us_per_msg
        return None if own is None else own + (self.db_cpu_us_per_msg or 0.0)

    @property
    def msgs_per_s(self) -> float:
        return self.acknowledged / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_cpu_us_per_msg(self) -> float | None:
        return _per_msg(self.server_cpu_seconds, self.acknowledged)

    @property
    def db_cpu_us_per_msg(self) -> float | None:
        return _per_msg(self.db_cpu_seconds, self.acknowledged)

    @property
    def client_cpu_us_per_msg(self) -> float | None:
        return _per_msg(self.client_cpu_seconds, self.acknowledged)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.persisted == self.acknowledged == self.messages

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row.update(msgs_per_s=round(self.msgs_per_s, 1),
                   server_cpu_us_per_msg=_round(self.server_cpu_us_per_msg),
                   db_cpu_us_per_msg=_round(self.db_cpu_us_per_msg),
                   client_cpu_us_per_msg=_round(self.client_cpu_us_per_msg),
                   vs_floor=_round(self.vs_floor), cpu_vs_floor=_round(self.cpu_vs_floor),
                   seconds=round(self.seconds, 3), ok=self.ok)
        return row


def _per_msg(seconds: float | None, count: int) -> float | None:
    if seconds is None or count <= 0:
        return None
    return seconds * 1e6 / count


def _ratio(ours: float | None, reference: float | None) -> float | None:
    if ours is None or not reference:
        return None
    return ours / reference


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass
class FanoutResult:
    """W1: one group, every member online, some members sending one message at
    a time; every (member, message) pair is a delivery."""

    engine: str
    members: int
    senders: int
    messages: int  # requested, all senders together
    acknowledged: int
    seconds: float  # first send -> last ack
    all_delivered_s: float | None  # first send -> last delivery to anyone
    delivered: int  # (member, message) pairs held at the end, own acks included
    missing: int
    duplicates: int
    server_cpu_seconds: float
    clients: int  # load-generator processes
    workload: str = "fanout"
    transport: str = "ws+json"  # how the members were connected: <ws|tcp>+<json|msgpack>
    nodes: int = 1  # server processes, members spread over them (several: over a bus)
    unparsed: int = 0  # message.new without a bench timestamp (should be 0)
    push_frames: int = 0  # chat_updates frames the members read (a frame may batch updates)
    db_cpu_seconds: float | None = None
    client_cpu_seconds: float | None = None
    send_p50_ms: float | None = None
    send_p95_ms: float | None = None
    send_p99_ms: float | None = None
    delivery_p50_ms: float | None = None
    delivery_p95_ms: float | None = None
    delivery_p99_ms: float | None = None
    errors: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)
    reference: dict[str, Any] | None = None  # the same load on the reference server
    workers: int = 1  # server processes (serve --workers), their CPU summed

    @property
    def cpu_vs_reference(self) -> float | None:
        """Server CPU per delivery, as a multiple of the reference server's."""
        ref = self.reference
        return _ratio(self.server_cpu_us_per_delivery,
                      ref["server_cpu_us_per_delivery"] if ref else None)

    @property
    def rate_vs_reference(self) -> float | None:
        """Deliveries per second, as a fraction of the reference server's."""
        ref = self.reference
        return _ratio(self.deliveries_per_s, ref["deliveries_per_s"] if ref else None)

    @property
    def expected_deliveries(self) -> int:
        return self.members * self.acknowledged

    @property
    def msgs_per_s(self) -> float:
        return self.acknowledged / self.seconds if self.seconds > 0 else 0.0

    @property
    def deliveries_per_s(self) -> float:
        s = self.all_delivered_s
        return self.delivered / s if s else 0.0

    @property
    def updates_per_frame(self) -> float | None:
        """Pushed deliveries per push frame: how much group commit batched."""
        pushed = self.delivered - self.acknowledged  # a sender's own ack is no push
        return pushed / self.push_frames if self.push_frames else None

    @property
    def server_cpu_us_per_delivery(self) -> float | None:
        return _per_msg(self.server_cpu_seconds, self.expected_deliveries)

    @property
    def db_cpu_us_per_delivery(self) -> float | None:
        return _per_msg(self.db_cpu_seconds, self.expected_deliveries)

    @property
    def client_cpu_us_per_delivery(self) -> float | None:
        return _per_msg(self.client_cpu_seconds, self.expected_deliveries)

    @property
    def ok(self) -> bool:
        return (self.errors == 0 and self.acknowledged == self.messages
                and self.missing == 0 and self.duplicates == 0 and self.unparsed == 0
                and self.delivered == self.expected_deliveries
                and (self.reference is None or bool(self.reference["ok"])))

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row.update(
            seconds=round(self.seconds, 3), all_delivered_s=_ms(self.all_delivered_s),
            expected_deliveries=self.expected_deliveries,
            msgs_per_s=round(self.msgs_per_s, 1),
            deliveries_per_s=round(self.deliveries_per_s, 1),
            updates_per_frame=_round(self.updates_per_frame),
            server_cpu_us_per_delivery=_round(self.server_cpu_us_per_delivery),
            db_cpu_us_per_delivery=_round(self.db_cpu_us_per_delivery),
            client_cpu_us_per_delivery=_round(self.client_cpu_us_per_delivery),
            cpu_vs_reference=_round(self.cpu_vs_reference),
            rate_vs_reference=_round(self.rate_vs_reference), ok=self.ok)
        for key in ("send_p50_ms", "send_p95_ms", "send_p99_ms", "delivery_p50_ms",
                    "delivery_p95_ms", "delivery_p99_ms"):
            row[key] = _ms(row[key])
        return row


FANOUT_COLUMNS: list[tuple[str, str]] = [
    ("engine", "engine"), ("transport", "transport"), ("nodes", "nodes"),
    ("workers", "workers"), ("members", "members"), ("senders", "senders"),
    ("acknowledged", "acked"), ("msgs_per_s", "msgs/s"), ("deliveries_per_s", "dlv/s"),
    ("send_p50_ms", "send p50"),
    ("send_p95_ms", "p95"), ("send_p99_ms", "p99 ms"), ("delivery_p50_ms", "dlv p50"),
    ("delivery_p95_ms", "p95"), ("delivery_p99_ms", "p99 ms"),
    ("all_delivered_s", "all dlv s"), ("missing", "missing"), ("duplicates", "dups"),
    ("updates_per_frame", "upd/frame"),
    ("server_cpu_us_per_delivery", "srv µs/dlv"), ("db_cpu_us_per_delivery", "db µs/dlv"),
    ("client_cpu_us_per_delivery", "cli µs/dlv"), ("cpu_vs_reference", "cpu x ref"),
    ("rate_vs_reference", "rate x ref"), ("errors", "errors"),
]


@dataclass
class CatchupRound:
    ms: float  # reconnect (socket opened) -> every update applied
    requests: int  # after the socket opened, auth.token included
    bytes_received: int  # WebSocket payload bytes read, all frames
    messages: int  # message.new caught up
    too_long: bool  # the difference came back too_long (history paging was needed)
    caught_up: bool  # exactly the messages sent while offline, pts without gaps
    server_cpu_ms: float
    db_cpu_ms: float | None = None  # local PostgreSQL processes, when visible


@dataclass
class CatchupResult:
    """W2: a device offline while ``messages`` were sent catches up."""

    engine: str
    messages: int  # per round
    limit: int  # the ``limit`` asked of sync.get_difference
    rounds: list[CatchupRound]
    workload: str = "catchup"

    def _median(self, values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    @property
    def median_ms(self) -> float | None:
        return self._median([r.ms for r in self.rounds])

    @property
    def min_ms(self) -> float | None:
        return min((r.ms for r in self.rounds), default=None)

    @property
    def max_ms(self) -> float | None:
        return max((r.ms for r in self.rounds), default=None)

    @property
    def requests(self) -> int | None:
        return max((r.requests for r in self.rounds), default=None)

    @property
    def bytes_received(self) -> float | None:
        return self._median([float(r.bytes_received) for r in self.rounds])

    @property
    def server_cpu_ms(self) -> float | None:
        return self._median([r.server_cpu_ms for r in self.rounds])

    @property
    def db_cpu_ms(self) -> float | None:
        return self._median([r.db_cpu_ms for r in self.rounds if r.db_cpu_ms is not None])

    @property
    def caught_up(self) -> int:
        return sum(1 for r in self.rounds if r.caught_up)

    @property
    def ok(self) -> bool:
        return bool(self.rounds) and self.caught_up == len(self.rounds)

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        for r in row["rounds"]:
            r.update(ms=_ms(r["ms"]), server_cpu_ms=_ms(r["server_cpu_ms"]),
                     db_cpu_ms=_ms(r["db_cpu_ms"]))
        row.update(repeats=len(self.rounds), median_ms=_ms(self.median_ms),
                   min_ms=_ms(self.min_ms), max_ms=_ms(self.max_ms), requests=self.requests,
                   bytes_received=self.bytes_received, server_cpu_ms=_ms(self.server_cpu_ms),
                   db_cpu_ms=_ms(self.db_cpu_ms),
                   caught_up=self.caught_up, ok=self.ok)
        return row


CATCHUP_COLUMNS: list[tuple[str, str]] = [
    ("engine", "engine"), ("messages", "msgs"), ("repeats", "rounds"),
    ("caught_up", "caught up"), ("median_ms", "median ms"), ("min_ms", "min ms"),
    ("max_ms", "max ms"), ("requests", "requests"), ("bytes_received", "bytes"),
    ("server_cpu_ms", "srv cpu ms"), ("db_cpu_ms", "db cpu ms"),
]


@dataclass
class HistoryResult:
    """W3: concurrent readers page backwards through one chat."""

    engine: str
    messages: int  # in the chat
    readers: int
    page: int
    clients: int
    pages: int  # answered pages, partial passes included
    passes: int  # complete passes (newest page to the first message)
    bad_passes: int  # complete passes that did not see exactly the chat's messages
    seconds: float
    server_cpu_seconds: float
    workload: str = "history"
    expected_pages: int | None = None  # known when the run counts passes
    db_cpu_seconds: float | None = None
    client_cpu_seconds: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)
    reference: dict[str, Any] | None = None  # the same load on the reference server

    @property
    def cpu_vs_reference(self) -> float | None:
        """Server CPU per page, as a multiple of the reference server's."""
        ref = self.reference
        return _ratio(self.server_cpu_us_per_page, ref["server_cpu_us_per_page"] if ref else None)

    @property
    def rate_vs_reference(self) -> float | None:
        """Pages per second, as a fraction of the reference server's."""
        ref = self.reference
        return _ratio(self.pages_per_s, ref["pages_per_s"] if ref else None)

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_cpu_us_per_page(self) -> float | None:
        return _per_msg(self.server_cpu_seconds, self.pages)

    @property
    def db_cpu_us_per_page(self) -> float | None:
        return _per_msg(self.db_cpu_seconds, self.pages)

    @property
    def client_cpu_us_per_page(self) -> float | None:
        return _per_msg(self.client_cpu_seconds, self.pages)

    @property
    def ok(self) -> bool:
        return (self.errors == 0 and self.bad_passes == 0 and self.pages > 0
                and (self.expected_pages is None or self.pages == self.expected_pages)
                and (self.reference is None or bool(self.reference["ok"])))

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row.update(seconds=round(self.seconds, 3), pages_per_s=round(self.pages_per_s, 1),
                   server_cpu_us_per_page=_round(self.server_cpu_us_per_page),
                   db_cpu_us_per_page=_round(self.db_cpu_us_per_page),
                   client_cpu_us_per_page=_round(self.client_cpu_us_per_page),
                   p50_ms=_ms(self.p50_ms), p95_ms=_ms(self.p95_ms), p99_ms=_ms(self.p99_ms),
                   cpu_vs_reference=_round(self.cpu_vs_reference),
                   rate_vs_reference=_round(self.rate_vs_reference), ok=self.ok)
        return row


HISTORY_COLUMNS: list[tuple[str, str]] = [
    ("engine", "engine"), ("messages", "msgs"), ("readers", "readers"), ("page", "page"),
    ("pages", "pages"), ("passes", "passes"), ("bad_passes", "bad"), ("seconds", "s"),
    ("pages_per_s", "pages/s"), ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"),
    ("p99_ms", "p99 ms"), ("server_cpu_us_per_page", "srv µs/page"),
    ("db_cpu_us_per_page", "db µs/page"), ("client_cpu_us_per_page", "cli µs/page"),
    ("cpu_vs_reference", "cpu x ref"), ("rate_vs_reference", "rate x ref"),
    ("errors", "errors"),
]

MIB = 1024 * 1024


@dataclass
class ConnectionsResult:
    """Idle authenticated connections held by one server process, then a small
    W1 while they stay connected."""

    engine: str
    requested: int
    planned: int  # requested, capped by the server's free descriptors
    held: int  # authenticated, as the load generators count them
    online: int | None  # the server's tidings_online_devices gauge with them held
    dropped: int  # held connections that closed before the bench closed them
    users: int  # distinct accounts (tokens) the connections authenticate as
    clients: int
    connect_seconds: float
    rss_before_bytes: int
    rss_after_bytes: int
    nofile_soft: int
    nofile_hard: int
    fds_before: int  # descriptors the server held before the idle connections
    workload: str = "connections"
    limited_by: str | None = None
    failed: dict[str, int] = field(default_factory=dict)
    w1: FanoutResult | None = None

    @property
    def rss_per_connection_bytes(self) -> float | None:
        if self.held <= 0:
            return None
        return (self.rss_after_bytes - self.rss_before_bytes) / self.held

    @property
    def projected_rss_bytes(self) -> float | None:
        """RSS at ``requested`` connections, extrapolated linearly."""
        per = self.rss_per_connection_bytes
        return None if per is None else self.rss_before_bytes + per * self.requested

    @property
    def w1_delivery_p99_ms(self) -> float | None:
        return None if self.w1 is None else self.w1.delivery_p99_ms

    @property
    def ok(self) -> bool:
        return (self.held == self.planned and self.dropped == 0 and not self.failed
                and (self.online is None or self.online >= self.held)
                and (self.w1 is None or self.w1.ok))

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        per = self.rss_per_connection_bytes
        projected = self.projected_rss_bytes
        row.update(
            connect_seconds=round(self.connect_seconds, 3),
            rss_before_mib=round(self.rss_before_bytes / MIB, 1),
            rss_after_mib=round(self.rss_after_bytes / MIB, 1),
            rss_per_connection_kib=None if per is None else round(per / 1024, 2),
            projected_rss_mib=None if projected is None else round(projected / MIB, 1),
            w1=None if self.w1 is None else self.w1.to_json(),
            w1_delivery_p99_ms=_ms(self.w1_delivery_p99_ms), ok=self.ok)
        return row


CONNECTIONS_COLUMNS: list[tuple[str, str]] = [
    ("engine", "engine"), ("requested", "requested"), ("held", "held"),
    ("online", "online"), ("dropped", "dropped"), ("connect_seconds", "connect s"),
    ("rss_before_mib", "RSS before MiB"), ("rss_after_mib", "RSS after MiB"),
    ("rss_per_connection_kib", "KiB/conn"), ("projected_rss_mib", "MiB at requested"),
    ("w1_delivery_p99_ms", "W1 dlv p99 ms"), ("limited_by", "limited by"),
]
