"""Ingest over the network: a real server process, K load-generator processes
with C connections each, ``window`` pipelined sends per connection, over
WebSocket or TCP (``transport``) in JSON or MessagePack (``codec``).

Setup (users, groups) happens over the same protocol before the clock starts;
the loaders log in, report ready, and all start on one ``go``. Throughput is
acknowledged sends over the span from the first send to the last ack seen by
any loader; server CPU is read from /proc over the load phase.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tidings.bench import plan as p
from tidings.bench.loader import Loader, loaders
from tidings.bench.procstat import PostgresCpu
from tidings.bench.results import IngestResult, percentile
from tidings.bench.rpc import RpcSocket
from tidings.bench.server_proc import ServerProcess, server_process
from tidings.bench.storage import count_messages_at, engine_of
from tidings.bench.wsload import ConnSpec, LoadConfig, LoadResult

MAX_IDS_PER_CALL = 200  # Settings.max_user_ids_per_call default
SETUP_CONCURRENCY = 32


@dataclass(frozen=True)
class WsParams:
    messages: int
    chats: int
    clients: int = 2
    connections: int = 4
    window: int = 256
    transport: str = "ws"  # ws | tcp (the generators'; setup always uses WebSocket JSON)
    codec: str = "json"  # json | msgpack

    @property
    def mode(self) -> str:
        """How the result row names the run: ``ws`` (WebSocket JSON, as before
        transports were chosen), else ``<transport>+<codec>``."""
        if (self.transport, self.codec) == ("ws", "json"):
            return "ws"
        return f"{self.transport}+{self.codec}"


# -- setup over the wire -------------------------------------------------------

async def register(sock: RpcSocket, name: str) -> int:
    result = await sock.call("auth.register", {"username": name, "password": p.PASSWORD,
                                               "device_name": "bench setup"})
    return int(result["user_id"])


async def register_listener(session: aiohttp.ClientSession, url: str, name: str) -> int:
    sock = await RpcSocket.connect(session, url)
    try:
        return await register(sock, name)
    finally:
        await sock.close()


async def create_group(owner: RpcSocket, title: str, member_ids: list[int]) -> int:
    first, rest = member_ids[:MAX_IDS_PER_CALL], member_ids[MAX_IDS_PER_CALL:]
    chat = await owner.call("chat.create", {"kind": "group", "title": title,
                                            "member_ids": first})
    chat_id = int(chat["chat"]["chat_id"])
    for start in range(0, len(rest), MAX_IDS_PER_CALL):
        await owner.call("chat.add_members", {"chat_id": chat_id,
                                              "user_ids": rest[start:start + MAX_IDS_PER_CALL]})
    return chat_id


async def setup_over_ws(session: aiohttp.ClientSession, url: str, plan: p.Plan) -> list[int]:
    """Register every sender and listener, create the groups; chat ids by plan index."""
    socks = [await RpcSocket.connect(session, url) for _ in range(plan.senders)]
    try:
        sender_ids = await asyncio.gather(*(register(sock, p.sender_name(s))
                                            for s, sock in enumerate(socks)))
        listener_ids = [await register_listener(session, url, p.listener_name(i))
                        for i in range(p.LISTENERS)]
        limit = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def one_chat(chat: int) -> int:
            senders = plan.senders_of_chat(chat)
            others = [sender_ids[s] for s in senders[1:]] + listener_ids
            async with limit:
                return await create_group(socks[senders[0]], f"bench {chat}", others)

        return list(await asyncio.gather(*(one_chat(c) for c in range(plan.chats))))
    finally:
        for sock in socks:
            await sock.close()


def result_path(directory: Path, client: int) -> Path:
    return directory / f"loader{client}.result.json"


def loader_configs(url: str, plan: p.Plan, chat_ids: list[int], params: WsParams,
                   directory: Path) -> list[LoadConfig]:
    """Client k drives senders k*C .. k*C+C-1, one connection each."""
    configs = []
    for k in range(params.clients):
        specs = [ConnSpec(username=p.sender_name(s), password=p.PASSWORD, sender=s,
                          chat_ids=[chat_ids[c] for c in plan.chats_of_sender(s)],
                          count=plan.messages_of_sender(s))
                 for s in range(k * params.connections, (k + 1) * params.connections)]
        configs.append(LoadConfig(url=url, result_path=str(result_path(directory, k)),
                                  window=params.window, text=p.TEXT, connections=specs,
                                  codec=params.codec))
    return configs


# -- the run ---------------------------------------------------------------------

@dataclass
class LoadPhase:
    results: list[LoadResult]
    server_cpu: float
    db_cpu: float | None
    batches: tuple[float, float]  # group-commit (messages, transactions) in the phase


async def load_phase(session: aiohttp.ClientSession, server: ServerProcess,
                     started: list[Loader], db_cpu: PostgresCpu, directory: Path
                     ) -> LoadPhase:
    await asyncio.gather(*(loader.ready() for loader in started))
    batch_start = await server.batch_totals(session)
    db_cpu.start()
    cpu_start = server.cpu_seconds()
    for loader in started:
        await loader.go()
    results = list(await asyncio.gather(*(loader.result(result_path(directory, k), LoadResult)
                                          for k, loader in enumerate(started))))
    server_cpu = server.cpu_seconds() - cpu_start
    db_seconds = db_cpu.stop()
    batch_end = await server.batch_totals(session)
    return LoadPhase(results, server_cpu, db_seconds,
                     (batch_end[0] - batch_start[0], batch_end[1] - batch_start[1]))


async def ws_ingest(data_dir: Path, database_url: str | None, params: WsParams) -> IngestResult:
    plan = p.Plan(senders=params.clients * params.connections, chats=params.chats,
                  messages=params.messages)
    async with (aiohttp.ClientSession() as session,
                server_process(data_dir, database_url, session,
                               tcp=params.transport == "tcp") as server):
        chat_ids = await setup_over_ws(session, server.ws_url, plan)
        before = await count_messages_at(data_dir, database_url)
        configs = loader_configs(server.url_for(params.transport), plan, chat_ids, params,
                                 data_dir)
        async with loaders(configs, data_dir) as started:
            phase = await load_phase(session, server, started,
                                     PostgresCpu(enabled=database_url is not None), data_dir)
    # Counted after the server stopped: anything it committed is in the store.
    persisted = await count_messages_at(data_dir, database_url) - before
    return summarize(plan, database_url, phase, persisted, params.mode)


def summarize(plan: p.Plan, database_url: str | None, phase: LoadPhase, persisted: int,
              mode: str = "ws") -> IngestResult:
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    for r in phase.results:
        errors.update(r.errors)
        latencies += r.latencies_ms
    latencies.sort()
    firsts = [r.first_send for r in phase.results if r.first_send is not None]
    lasts = [r.last_ack for r in phase.results if r.last_ack is not None]
    seconds = max(lasts) - min(firsts) if firsts and lasts else 0.0
    messages, transactions = phase.batches
    return IngestResult(
        engine=engine_of(database_url), mode=mode, chats=plan.chats, messages=plan.messages,
        acknowledged=sum(r.acked for r in phase.results), persisted=persisted,
        seconds=seconds, errors=sum(errors.values()), server_cpu_seconds=phase.server_cpu,
        senders=plan.senders, db_cpu_seconds=phase.db_cpu,
        client_cpu_seconds=sum(r.cpu_seconds for r in phase.results),
        p50_ms=percentile(latencies, 50), p99_ms=percentile(latencies, 99),
        avg_batch=messages / transactions if transactions else None,
        error_codes=dict(errors),
    )
