"""``tidings bench reads``: read receipts at group scale.

- The read index of a 10,000-member chat with 100,000 messages and cursors
  spread over them, in process: one count, 100 counts, 50 readers of a recent
  and of an old message, one mark applied, build time and memory; for a chat
  showing its full history and for one showing members what came after their
  join (two more columns).
- ``read.mark`` throughput through the service layer (1 and 64 callers at a
  time, each mark a real cursor move), on the engine's database.
- ``read.mark`` over WebSocket against a server process: ``users`` members of
  one group, each pipelining ``window`` marks; acknowledged marks per second,
  server CPU per mark, p50/p99, and every member's final cursor checked.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tidings.bench.results import percentile
from tidings.bench.rpc import RpcSocket
from tidings.bench.server_proc import server_process
from tidings.bench.storage import engine_of
from tidings.clock import SystemClock
from tidings.services.read_index import ChatReads
from tidings.testing import service_harness, test_settings


@dataclass(frozen=True)
class ReadsParams:
    members: int = 10_000
    messages: int = 100_000
    service_marks: int = 5_000
    ws_users: int = 64
    ws_marks: int = 20_000
    window: int = 16


READS_COLUMNS: list[tuple[str, str]] = [
    ("engine", "engine"), ("memory_kb", "KB full|joined"), ("build_ms", "build ms"),
    ("one_count_us", "1 count µs"), ("hundred_counts_us", "100 counts µs"),
    ("readers_recent_us", "50 readers new µs"), ("readers_old_us", "50 readers old µs"),
    ("apply_us", "apply µs"), ("service_marks_per_s", "marks/s svc 1|64"),
    ("ws_marks_per_s", "marks/s ws"), ("ws_server_cpu_us", "srv µs/mark"),
    ("ws_p99_ms", "ws p99 ms"),
]


@dataclass
class ReadsResult:
    engine: str
    # Index figures are for a chat showing members what came after their join
    # (the default, two more columns); ``full_history`` holds the other layout.
    memory_kb: str  # "full | joined"
    build_ms: float
    one_count_us: float
    hundred_counts_us: float
    readers_recent_us: float
    readers_old_us: float
    apply_us: float
    service_marks_per_s: str  # "1 caller | 64 callers"
    ws_marks_per_s: int
    ws_server_cpu_us: float
    ws_p50_ms: float
    ws_p99_ms: float
    ws_acknowledged: int
    ws_expected: int
    cursors_ok: bool
    full_history: dict[str, Any] = field(default_factory=dict)
    service: list[dict[str, Any]] = field(default_factory=list)
    workload: str = "reads"

    @property
    def ok(self) -> bool:
        return self.ws_acknowledged == self.ws_expected and self.cursors_ok

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _per_call(fn: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def index_figures(members: int, messages: int, full_history: bool, seed: int = 9
                  ) -> dict[str, Any]:
    rnd = random.Random(seed)
    rows = []
    for user in range(1, members + 1):
        joined = 1 if full_history else rnd.choice((1, 1, 1, rnd.randint(1, messages)))
        rows.append((user, joined, rnd.randint(joined - 1, messages),
                     1_800_000_000 + rnd.randint(0, 86_400)))
    start = time.perf_counter()
    reads = ChatReads(rows)
    build = time.perf_counter() - start
    ids = [rnd.randint(1, messages) for _ in range(100)]
    old, recent = messages // 10, messages - 50
    now = iter(range(1_800_090_000, 1_900_000_000))
    return {
        "build_ms": round(build * 1e3, 2),
        "memory_kb": round(reads.nbytes() / 1e3, 1),
        "one_count_us": round(_per_call(lambda: reads.count(ids[0]), 20_000) * 1e6, 2),
        "hundred_counts_us": round(_per_call(lambda: reads.counts(ids), 2_000) * 1e6, 1),
        "readers_recent_us": round(_per_call(
            lambda: reads.readers(recent, 50, None), 500) * 1e6, 1),
        "readers_old_us": round(_per_call(
            lambda: reads.readers(old, 50, None), 500) * 1e6, 1),
        "apply_us": round(_per_call(
            lambda: reads.apply(rnd.randint(1, members), messages, next(now)), 5_000)
            * 1e6, 1),
    }


async def service_marks(database_url: str | None, data_dir: Path, marks: int,
                        concurrency: int, members: int = 200) -> dict[str, Any]:
    """``read.mark`` through the service layer, each call a real cursor move."""
    from tidings.services.messages import SendRequest

    settings = test_settings(data_dir, database_url)
    async with service_harness(settings, SystemClock()) as sv:
        # Names per run: both runs share one PostgreSQL schema.
        users = [(await sv.auth.register(f"reader{concurrency}x{i}", "password-1234",
                                         None)).user_id
                 for i in range(members)]
        chat = await sv.chats.create(users[0], "group", "bench", users[1:])
        for i in range(marks // members + 2):
            await sv.messages.send(SendRequest(user_id=users[0], chat_id=chat.chat_id,
                                               local_id=f"b{i}", text="x"))
        first = (await sv.chats.get(users[1], chat.chat_id)).chat.pts - marks // members - 1

        async def worker(w: int) -> None:
            for i in range(w, marks, concurrency):
                await sv.reads.mark(users[i % members], chat.chat_id, first + i // members)

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        took = time.perf_counter() - start
        return {"concurrency": concurrency, "marks_per_s": round(marks / took)}


@dataclass
class WsMarks:
    acknowledged: int
    expected: int
    seconds: float
    server_cpu: float
    latencies_ms: list[float]
    cursors_ok: bool


async def ws_marks(data_dir: Path, database_url: str | None, params: ReadsParams) -> WsMarks:
    from tidings.bench import plan as p

    per_user = params.ws_marks // params.ws_users
    async with (aiohttp.ClientSession() as session,
                server_process(data_dir, database_url, session) as server):
        socks = [await RpcSocket.connect(session, server.ws_url) for _ in range(params.ws_users)]
        try:
            ids = [int((await s.call("auth.register", {
                "username": f"marker{i}", "password": p.PASSWORD,
                "device_name": "bench"}))["user_id"]) for i, s in enumerate(socks)]
            chat = await socks[0].call("chat.create", {"kind": "group", "title": "reads",
                                                       "member_ids": ids[1:]})
            chat_id = int(chat["chat"]["chat_id"])
            last = 0
            for i in range(per_user + 1):
                sent = await socks[0].call("message.send", {
                    "chat_id": chat_id, "local_id": f"m{i}", "text": "read me"})
                last = int(sent["message"]["msg_id"])
            first = last - per_user + 1
            latencies: list[float] = []
            acked = 0

            async def marker(sock: RpcSocket) -> None:
                nonlocal acked
                lane = asyncio.Semaphore(params.window)

                async def one(pts: int) -> None:
                    nonlocal acked
                    async with lane:
                        t = time.perf_counter()
                        await sock.call("read.mark", {"chat_id": chat_id, "pts": pts})
                        latencies.append((time.perf_counter() - t) * 1e3)
                        acked += 1

                await asyncio.gather(*(one(first + k) for k in range(per_user)))

            cpu = server.cpu_seconds()
            start = time.perf_counter()
            await asyncio.gather(*(marker(s) for s in socks))
            seconds = time.perf_counter() - start
            server_cpu = server.cpu_seconds() - cpu
            got = await socks[0].call("read.receipts", {"chat_id": chat_id, "msg_ids": [last]})
            # Every member but the sender read up to the last message.
            cursors_ok = got["counts"].get(str(last)) == params.ws_users - 1
        finally:
            for s in socks:
                await s.close()
    latencies.sort()
    return WsMarks(acked, per_user * params.ws_users, seconds, server_cpu, latencies,
                   cursors_ok)


async def run_reads(data_dir: Path, database_url: str | None, params: ReadsParams
                    ) -> ReadsResult:
    service = [await service_marks(database_url, data_dir / f"svc{concurrency}",
                                   params.service_marks, concurrency)
               for concurrency in (1, 64)]
    ws = await ws_marks(data_dir / "ws", database_url, params)
    full = index_figures(params.members, params.messages, True)
    joined = index_figures(params.members, params.messages, False)
    return ReadsResult(
        engine=engine_of(database_url), memory_kb=f"{full['memory_kb']} | {joined['memory_kb']}",
        **{k: v for k, v in joined.items() if k != "memory_kb"},
        full_history=full,
        service_marks_per_s=" | ".join(str(s["marks_per_s"]) for s in service),
        ws_marks_per_s=round(ws.acknowledged / ws.seconds) if ws.seconds else 0,
        ws_server_cpu_us=round(ws.server_cpu / max(ws.acknowledged, 1) * 1e6, 1),
        ws_p50_ms=round(percentile(ws.latencies_ms, 50) or 0.0, 2),
        ws_p99_ms=round(percentile(ws.latencies_ms, 99) or 0.0, 2),
        ws_acknowledged=ws.acknowledged, ws_expected=ws.expected, cursors_ok=ws.cursors_ok,
        service=service)
