"""The conversation list: one user in ``chats`` chats asks for the first page
of ``chat.list`` (pages of ``page``), one request at a time.

Setup, through the service layer in process (quicker than over the wire, and
the same facts): ``chats`` groups, each created by one of ``others`` users
with the measured user as a member, ``messages`` messages in each from its
owner (every tenth chat's last one mentions the user), the user's read
cursor at the first message of every other chat, ``pinned`` dialogs pinned
and ``hidden`` hidden. With ``direct``, that many of the chats (the newest)
are direct chats with one of the other users instead, whose rows name the
peer and its read cursor. Chats are created a few at a time, so activity times
are spread and tie in places, as they do.

Measured:
- service: ``DialogService.list_dialogs`` in process (the database work and
  the building of the page), ``requests`` first pages; then a walk over every
  page, which must return each listed dialog exactly once;
- ws: the server as deployed (its own process, on the same database), the
  user's device calling ``chat.list`` over WebSocket: request to decoded
  reply, ``requests`` first pages, and the server's CPU per page.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from tidings import wire
from tidings.bench import plan as p
from tidings.bench.frames import reply_decoder
from tidings.bench.procstat import PostgresCpu
from tidings.bench.results import percentile
from tidings.bench.rpc import RpcSocket
from tidings.bench.server_proc import server_process
from tidings.bench.service_ingest import bench_services
from tidings.bench.storage import engine_of
from tidings.services.container import Services
from tidings.services.messages import SendRequest
from tidings.testing import test_settings

SETUP_CONCURRENCY = 16
TEXT = ("dialog " * 12)[:80]


@dataclass(frozen=True)
class DialogsParams:
    chats: int = 5000
    others: int = 50
    messages: int = 3  # per chat
    pinned: int = 5
    hidden: int = 100
    page: int = 50
    requests: int = 500
    direct: int = 0  # of the chats, direct ones with distinct other users

    def __post_init__(self) -> None:
        if self.pinned + self.hidden + self.direct > self.chats:
            raise ValueError("pinned, hidden and direct dialogs must fit in the chats")
        if self.direct > self.others:
            raise ValueError("each direct chat needs another user of its own")

    @property
    def listed(self) -> int:
        return self.chats - self.hidden


@dataclass
class DialogsResult:
    engine: str
    chats: int
    page: int
    requests: int
    listed: int  # dialogs a full walk should return
    walked: int  # dialogs the walk returned
    walk_duplicates: int
    walk_pages: int
    setup_seconds: float
    service_p50_ms: float | None
    service_p99_ms: float | None
    later_page_p99_ms: float | None  # the walk's pages after the first
    ws_p50_ms: float | None
    ws_p99_ms: float | None
    server_cpu_us_per_page: float | None
    db_cpu_us_per_page: float | None
    page_bytes: int  # the first page's reply, as sent
    workload: str = "dialogs"

    @property
    def ok(self) -> bool:
        return self.walked == self.listed and self.walk_duplicates == 0 and self.page_bytes > 0

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        for key in ("service_p50_ms", "service_p99_ms", "later_page_p99_ms", "ws_p50_ms",
                    "ws_p99_ms", "server_cpu_us_per_page", "db_cpu_us_per_page"):
            value = row[key]
            row[key] = None if value is None else round(value, 3)
        row.update(setup_seconds=round(self.setup_seconds, 1), ok=self.ok)
        return row


DIALOGS_COLUMNS: list[tuple[str, str]] = [
    ("engine", "engine"), ("chats", "chats"), ("page", "page"), ("requests", "requests"),
    ("service_p50_ms", "svc p50 ms"), ("service_p99_ms", "svc p99 ms"),
    ("later_page_p99_ms", "later p99 ms"), ("ws_p50_ms", "ws p50 ms"),
    ("ws_p99_ms", "ws p99 ms"), ("server_cpu_us_per_page", "srv µs/page"),
    ("db_cpu_us_per_page", "db µs/page"), ("page_bytes", "bytes"),
    ("walked", "walked"), ("walk_duplicates", "dups"),
]


async def _gather_bounded(calls: list[Any], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(call: Any) -> Any:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(c) for c in calls)))


async def populate(sv: Services, params: DialogsParams) -> int:
    """The facts the list is read from; returns the measured user's id."""
    me = (await sv.auth.register("dialogs_me", p.PASSWORD, "bench")).user_id
    others = [(await sv.auth.register(f"dialogs_other{i}", p.PASSWORD, "bench")).user_id
              for i in range(params.others)]

    def create(i: int) -> Any:
        owner = others[i % len(others)]
        if i >= params.chats - params.direct:  # the owner is the peer
            return lambda: sv.chats.direct(owner, me)
        return lambda: sv.chats.create(owner, "group", f"dialog {i}", [me])

    # Groups first, then the direct chats: on PostgreSQL a group and a direct
    # chat created at once for the same two users can deadlock (a group appends
    # its members' chat.joined updates in member order, a direct chat in user
    # id order, so they lock the two users' update sequences in opposite orders).
    groups = params.chats - params.direct
    chats = [c.chat_id for c in await _gather_bounded(
        [create(i) for i in range(groups)], SETUP_CONCURRENCY)]
    chats += [c.chat_id for c in await _gather_bounded(
        [create(i) for i in range(groups, params.chats)], SETUP_CONCURRENCY)]

    def send(i: int, k: int) -> Any:
        sender = others[i % len(others)]  # the chat's owner
        mentions = i % 10 == 0 and k == params.messages - 1
        entities = [wire.Entity(type="mention", offset=0, length=3, user_id=me)] \
            if mentions else None
        req = SendRequest(user_id=sender, chat_id=chats[i], local_id=f"d{i}.{k}", text=TEXT,
                          entities=entities)
        return lambda: sv.messages.send(req)

    sent = await _gather_bounded([send(i, k) for k in range(params.messages)
                                  for i in range(params.chats)], 2000)
    first_of: dict[int, int] = {}
    for m in sent:
        first_of[m.chat_id] = min(first_of.get(m.chat_id, m.msg_id), m.msg_id)
    await _gather_bounded([(lambda c=c: sv.reads.mark(me, c, first_of[c]))
                           for c in chats[::2] if c in first_of], SETUP_CONCURRENCY)
    for chat_id in chats[:params.pinned]:
        await sv.dialogs.pin(me, chat_id)
    for chat_id in chats[params.pinned:params.pinned + params.hidden]:
        await sv.dialogs.hide(me, chat_id)
    return me


async def measure_service(sv: Services, me: int, params: DialogsParams
                          ) -> tuple[list[float], list[float], list[int]]:
    """First-page latencies; then the walk's later-page latencies and chat ids."""
    first: list[float] = []
    for _ in range(params.requests):
        started = time.perf_counter()
        await sv.dialogs.list_dialogs(me, params.page)
        first.append((time.perf_counter() - started) * 1000.0)
    later: list[float] = []
    walked: list[int] = []
    cursor = None
    while True:
        started = time.perf_counter()
        page = await sv.dialogs.list_dialogs(me, params.page, cursor)
        if cursor is not None:
            later.append((time.perf_counter() - started) * 1000.0)
        walked += [d.chat.chat_id for d in page.chats]
        if page.next_cursor is None:
            return sorted(first), sorted(later), walked
        cursor = page.next_cursor


async def measure_ws(data_dir: Path, database_url: str | None, params: DialogsParams
                     ) -> tuple[list[float], float, float | None, int]:
    """First-page latencies over WebSocket, server CPU and database CPU (seconds)
    over them, and the reply's size."""
    async with aiohttp.ClientSession() as session, \
            server_process(data_dir, database_url, session) as server:
        setup = await RpcSocket.connect(session, server.ws_url)
        try:
            token = (await setup.call("auth.login", {
                "username": "dialogs_me", "password": p.PASSWORD}))["token"]
        finally:
            await setup.close()
        ws = await session.ws_connect(server.ws_url, max_msg_size=0)
        try:
            await ws.send_str(wire.encode({"id": 0, "method": "auth.token",
                                           "params": {"token": token}}).decode())
            await ws.receive()
            frame = wire.encode({"id": 1, "method": "chat.list",
                                 "params": {"limit": params.page}})
            latencies: list[float] = []
            size = 0
            db_cpu = PostgresCpu(enabled=database_url is not None, precise=True)
            db_cpu.start()
            cpu_start = server.cpu_seconds_precise()
            for _ in range(params.requests):
                started = time.perf_counter()
                await ws.send_bytes(frame)
                reply = await ws.receive()
                data = reply.data if isinstance(reply.data, bytes) else reply.data.encode()
                answer = reply_decoder.decode(data)
                if answer.error is not None:
                    raise RuntimeError(f"chat.list failed: {answer.error.code}")
                msgspec.json.decode(answer.result)  # as a client would
                latencies.append((time.perf_counter() - started) * 1000.0)
                size = len(data)
            server_cpu = server.cpu_seconds_precise() - cpu_start
            db_seconds = db_cpu.stop()
        finally:
            await ws.close()
    return sorted(latencies), server_cpu, db_seconds, size


async def run_dialogs(data_dir: Path, database_url: str | None, params: DialogsParams
                      ) -> DialogsResult:
    settings = test_settings(data_dir, database_url)
    started = time.perf_counter()
    async with bench_services(settings) as sv:
        me = await populate(sv, params)
        setup_seconds = time.perf_counter() - started
        first, later, walked = await measure_service(sv, me, params)
    ws, server_cpu, db_seconds, size = await measure_ws(data_dir, database_url, params)
    per_page = 1e6 / params.requests
    return DialogsResult(
        engine=engine_of(database_url), chats=params.chats, page=params.page,
        requests=params.requests, listed=params.listed, walked=len(set(walked)),
        walk_duplicates=len(walked) - len(set(walked)),
        walk_pages=len(later) + 1, setup_seconds=setup_seconds,
        service_p50_ms=percentile(first, 50), service_p99_ms=percentile(first, 99),
        later_page_p99_ms=percentile(later, 99), ws_p50_ms=percentile(ws, 50),
        ws_p99_ms=percentile(ws, 99), server_cpu_us_per_page=server_cpu * per_page,
        db_cpu_us_per_page=None if db_seconds is None else db_seconds * per_page,
        page_bytes=size)
