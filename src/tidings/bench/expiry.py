"""``tidings bench expiry``: the media expiry sweeper over a large backlog
(issue 8 item 7).

Load (per engine, on a fresh database, with bulk inserts straight into the
tables, no service calls): ``uploaders`` users, ``chats`` groups of two
members, and ``files`` files, all past their deadline (uploaded 200 days ago,
so every kind's default lifetime is over; deadlines spread over a day). File
``i`` is sent into chat ``i mod chats`` (its home) and every ``forward_every``-th
file is also forwarded into the next chat, so some files show in two chats.
PostgreSQL is analysed once after the load, as autovacuum would.

Measured: ``MediaExpiry.sweep_txn`` in ``db.write`` transactions, as the
``media_expiry`` job runs it, until nothing is due: files/s of
``active → expired`` transitions, the longest transaction, and the
``media.expired`` updates written (one per (file, chat) showing it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tidings.bus.local import LocalBus
from tidings.clock import FakeClock
from tidings.db.engine import Txn
from tidings.media.lifecycle import KINDS
from tidings.services.container import Services
from tidings.testing import service_harness, test_settings

DAY = 86400
_MIME = {"image": "image/png", "video": "video/mp4", "audio": "audio/ogg",
         "file": "application/pdf"}


@dataclass(frozen=True)
class ExpiryParams:
    files: int = 1_000_000
    chats: int = 10_000
    uploaders: int = 1000
    forward_every: int = 10  # every n-th file also shows in a second chat; 0: none
    load_batch: int = 50_000  # rows per load transaction


@dataclass
class ExpiryResult:
    engine: str
    files: int
    chats: int
    expired: int  # files whose status is 'expired' after the sweep
    updates: int  # media.expired chat updates written
    expected_updates: int
    transactions: int
    seconds: float
    longest_txn_ms: float
    load_seconds: float
    workload: str = "expiry"

    @property
    def files_per_s(self) -> float:
        return self.expired / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.expired == self.files and self.updates == self.expected_updates

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row.update(files_per_s=round(self.files_per_s, 1), seconds=round(self.seconds, 3),
                   longest_txn_ms=round(self.longest_txn_ms, 2),
                   load_seconds=round(self.load_seconds, 1), ok=self.ok)
        return row


EXPIRY_COLUMNS: list[tuple[str, str]] = [
    ("engine", "engine"), ("files", "files"), ("chats", "chats"), ("expired", "expired"),
    ("updates", "updates"), ("transactions", "txns"), ("seconds", "s"),
    ("files_per_s", "files/s"), ("longest_txn_ms", "longest txn ms"),
    ("load_seconds", "load s"),
]


def forwarded(params: ExpiryParams, i: int) -> bool:
    return params.chats > 1 and params.forward_every > 0 and i % params.forward_every == 0


def expected_updates(params: ExpiryParams) -> int:
    return params.files + sum(1 for i in range(params.files) if forwarded(params, i))


async def load(sv: Services, params: ExpiryParams, now: int) -> None:
    users = [(f"u{i}", "bench: no password", now) for i in range(params.uploaders)]
    await sv.db.write("bench_expiry_users", _rows("users", ("username", "password_hash",
                                                            "created_at"), users))
    user_ids = await sv.db.read("bench_expiry_ids", _ids("users", "user_id"))
    creators = [user_ids[k % len(user_ids)] for k in range(params.chats)]
    shows = [0] * params.chats  # messages per chat
    for i in range(params.files):
        shows[i % params.chats] += 1
        if forwarded(params, i):
            shows[(i + 1) % params.chats] += 1
    chat_rows = [("group", f"expiry {k}", creators[k], now, now, shows[k], shows[k], 2)
                 for k in range(params.chats)]
    chat_cols = ("kind", "title", "creator_id", "created_at", "last_activity", "pts",
                 "last_msg_id", "member_count")
    for start in range(0, len(chat_rows), params.load_batch):
        part = slice(start, start + params.load_batch)
        await sv.db.write("bench_expiry_chats", _rows("chats", chat_cols, chat_rows[part]))
    chat_ids = await sv.db.read("bench_expiry_chat_ids", _ids("chats", "chat_id"))
    members = {c: (creators[k], user_ids[(k + 1) % len(user_ids)])
               for k, c in enumerate(chat_ids)}
    member_rows = [row for c in chat_ids for row in
                   ((c, members[c][0], "owner", 0, now), (c, members[c][1], "member", 0, now))]
    for start in range(0, len(member_rows), params.load_batch):
        part = slice(start, start + params.load_batch)
        await sv.db.write("bench_expiry_members", _rows(
            "members", ("chat_id", "user_id", "role", "joined_pts", "joined_at"),
            member_rows[part]))
    next_msg = [1] * params.chats
    for start in range(0, params.files, params.load_batch):
        file_rows, message_rows = [], []
        for i in range(start, min(params.files, start + params.load_batch)):
            k = i % params.chats
            kind = KINDS[i % len(KINDS)]
            uploaded = now - 200 * DAY
            file_rows.append((i + 1, members[chat_ids[k]][0], kind, f"f{i}", _MIME[kind],
                              1000 + i % 5000, f"{i:064x}", uploaded, chat_ids[k], "active",
                              now - 1 - i % DAY))
            for j in ((k, (k + 1) % params.chats) if forwarded(params, i) else (k,)):
                message_rows.append((chat_ids[j], next_msg[j], members[chat_ids[j]][0],
                                     uploaded, kind, i + 1, f"e{next_msg[j]}"))
                next_msg[j] += 1
        await sv.db.write("bench_expiry_files", _rows(
            "files", ("file_id", "uploader_id", "kind", "name", "mime", "size", "sha256",
                      "created_at", "chat_id", "status", "expires_at"), file_rows))
        await sv.db.write("bench_expiry_messages", _rows(
            "messages", ("chat_id", "msg_id", "sender_id", "date", "kind", "file_id",
                         "local_id"), message_rows))
    if sv.db.engine.name == "postgres":  # what autovacuum does after a bulk load
        await sv.db.write("bench_analyze", _analyze_txn)


def _rows(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
          ) -> Callable[[Txn], Coroutine[Any, Any, None]]:
    async def insert_txn(txn: Txn) -> None:
        await txn.insert_rows(table, columns, rows)

    return insert_txn


def _ids(table: str, column: str) -> Callable[[Txn], Coroutine[Any, Any, list[int]]]:
    async def ids_txn(txn: Txn) -> list[int]:
        return [int(r[0]) for r in await txn.fetch(
            f"SELECT {column} FROM {table} ORDER BY {column}")]

    return ids_txn


async def _analyze_txn(txn: Txn) -> None:
    await txn.execute("ANALYZE")


async def sweep(sv: Services, now: int) -> tuple[int, float, float]:
    """Run the sweeper until nothing is due: (transactions, seconds, longest ms)."""
    async def step_txn(txn: Txn) -> bool:
        return await sv.media_expiry.sweep_txn(txn, now)

    transactions, longest = 0, 0.0
    started = time.perf_counter()
    more = True
    while more:
        began = time.perf_counter()
        more = await sv.db.write("media_expiry", step_txn)
        longest = max(longest, time.perf_counter() - began)
        transactions += 1
    return transactions, time.perf_counter() - started, longest * 1000.0


async def _counts_txn(txn: Txn) -> tuple[int, int]:
    expired = await txn.fetchval("SELECT COUNT(*) FROM files WHERE status = 'expired'")
    updates = await txn.fetchval(
        "SELECT COUNT(*) FROM chat_updates WHERE kind = 'media.expired'")
    return int(expired), int(updates)


async def run_expiry(data_dir: Path, database_url: str | None, params: ExpiryParams
                     ) -> ExpiryResult:
    engine = "postgres" if database_url else "sqlite"
    # The sweeper's own clock: media_expiry_batch_size and the rest at their defaults.
    settings = test_settings(data_dir, database_url)
    now = int(time.time())
    async with service_harness(settings, FakeClock(now), LocalBus()) as sv:
        began = time.perf_counter()
        await load(sv, params, now)
        load_seconds = time.perf_counter() - began
        transactions, seconds, longest = await sweep(sv, now)
        expired, updates = await sv.db.read("bench_expiry_counts", _counts_txn)
    return ExpiryResult(engine=engine, files=params.files, chats=params.chats,
                        expired=expired, updates=updates,
                        expected_updates=expected_updates(params), transactions=transactions,
                        seconds=seconds, longest_txn_ms=longest, load_seconds=load_seconds)
