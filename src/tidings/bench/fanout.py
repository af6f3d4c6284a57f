"""W1, group fan-out: ``members`` users in one group, every member connected
(one WebSocket each) and reading its pushes; ``senders`` of them send
``messages`` in total, each one message at a time (ack before the next), all
in parallel. Members are spread over ``clients`` load-generator processes
(``tidings.bench.fanout_load``) so that decoding the pushes does not make the
generator the bottleneck.

Figures: send throughput and latency (request → ack), delivery latency over
every (member, message) pair (a sender's ack is its own delivery), the time
until everything was delivered, missing and duplicate deliveries, and the
server's CPU per delivery (server CPU / (members x messages)).

With ``nodes`` > 1 (PostgreSQL only) that many server processes share the
database and a bus (Redis or NATS, on a channel of the run's own), member i
connects to node i % nodes, and the server CPU is the nodes' sum. Asked to
(``versus_one``), the same workload also runs on one node over the same bus,
for the table to show both.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp

from tidings.bench.fanout_load import FanoutConfig, FanoutLoadResult, FanoutMember
from tidings.bench.loader import loaders, run_all
from tidings.bench.plan import Plan
from tidings.bench.procstat import PostgresCpu
from tidings.bench.results import FanoutResult, percentile
from tidings.bench.server_proc import ServerProcess, reference_process, server_process
from tidings.bench.storage import engine_of
from tidings.bench.wsetup import Account, group_of, register_accounts

MODULE = "tidings.bench.fanout_load"


@dataclass(frozen=True)
class FanoutParams:
    members: int = 50
    senders: int = 10
    messages: int = 2000
    clients: int = 4
    text_bytes: int = 100
    idle_timeout: float = 10.0  # after the senders finished, give up on what is missing
    transport: str = "ws"  # ws | tcp: how the members connect (setup uses WebSocket JSON)
    codec: str = "json"  # json | msgpack
    nodes: int = 1
    reference: bool = False  # also run the same load on the reference server
    workers: int = 1  # serve --workers (PostgreSQL and the Redis bus beyond 1)

    def __post_init__(self) -> None:
        if not 1 <= self.senders <= self.members:
            raise ValueError("senders must be between 1 and the number of members")
        if self.clients < 1:
            raise ValueError("at least one load-generator process")
        if self.nodes < 1:
            raise ValueError("at least one node")


@dataclass(frozen=True)
class BusChoice:
    """The bus several nodes share: ``kind`` redis or nats, and its server's URL."""

    kind: str
    url: str

    def env(self) -> dict[str, str]:
        return {"TIDINGS_BUS": self.kind, f"TIDINGS_{self.kind.upper()}_URL": self.url,
                # a channel of this run's own: other users of the server see nothing
                "TIDINGS_BUS_CHANNEL_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
                "TIDINGS_SECRET_KEY": uuid.uuid4().hex * 2}


def configs_for(urls: list[str], chat_id: int, accounts: list[Account],
                params: FanoutParams, directory: Path, prefix: str
                ) -> tuple[list[FanoutConfig], list[Path]]:
    """Member i goes to generator i % clients and to node ``urls[i % len(urls)]``;
    members 0 .. senders-1 send."""
    plan = Plan(senders=params.senders, chats=1, messages=params.messages)
    clients = min(params.clients, len(accounts))
    members: list[list[FanoutMember]] = [[] for _ in range(clients)]
    for i, account in enumerate(accounts):
        sender = i if i < params.senders else -1
        sends = plan.messages_of_sender(i) if sender >= 0 else 0
        members[i % clients].append(FanoutMember(token=account.token, user_id=account.user_id,
                                                 sender=sender, sends=sends,
                                                 url=urls[i % len(urls)]))
    paths = [directory / f"{prefix}-gen{k}.result.json" for k in range(clients)]
    configs = [FanoutConfig(url=urls[0], result_path=str(paths[k]), chat_id=chat_id,
                            total=params.messages, text_bytes=params.text_bytes,
                            idle_timeout=params.idle_timeout, members=members[k],
                            codec=params.codec)
               for k in range(clients)]
    return configs, paths


async def fanout_phase(session: aiohttp.ClientSession, server: ServerProcess | list[ServerProcess],
                       engine: str, params: FanoutParams, directory: Path, prefix: str = "fan"
                       ) -> FanoutResult:
    """Set up a fresh group on running server(s) and run W1 against it."""
    servers = server if isinstance(server, list) else [server]
    url = servers[0].ws_url
    accounts = await register_accounts(session, url,
                                       [f"{prefix}{i}" for i in range(params.members)])
    chat_id = await group_of(session, url, accounts[0], accounts[1:], f"{prefix} group")
    result = await measured_run(servers, engine, params, accounts, chat_id, directory, prefix)
    if params.reference:
        tokens = {a.token: a.user_id for a in accounts}
        async with reference_process(directory, chat_id, tokens, session) as ref:
            floor = await measured_run([ref], "reference", replace(params, transport="ws",
                                                                   codec="json"),
                                       accounts, chat_id, directory, f"{prefix}-ref")
        result.reference = floor.to_json()
    return result


async def measured_run(servers: list[ServerProcess], engine: str, params: FanoutParams,
                       accounts: list[Account], chat_id: int, directory: Path, prefix: str
                       ) -> FanoutResult:
    """The load generators against ``servers``, their CPU read around the run."""
    configs, paths = configs_for([s.url_for(params.transport) for s in servers], chat_id,
                                 accounts, params, directory, prefix)
    db_cpu = PostgresCpu(enabled=engine == "postgres", precise=True)
    async with loaders(configs, directory, MODULE, name=f"{prefix}-gen") as started:
        for loader in started:
            await loader.ready()
        db_cpu.start()
        cpu_start = sum(s.cpu_seconds_precise() for s in servers)
        results = await run_all(started, paths, FanoutLoadResult)
        server_cpu = sum(s.cpu_seconds_precise() for s in servers) - cpu_start
        db_seconds = db_cpu.stop()
    result = summarize(engine, params, len(configs), results, server_cpu, db_seconds,
                       nodes=len(servers))
    result.workers = params.workers if engine != "reference" else 1
    return result


def summarize(engine: str, params: FanoutParams, clients: int,
              results: list[FanoutLoadResult], server_cpu: float, db_cpu: float | None,
              nodes: int = 1) -> FanoutResult:
    errors: Counter[str] = Counter()
    send_ms: list[float] = []
    delivery_ms: list[float] = []
    for r in results:
        errors.update(r.errors)
        send_ms += r.send_ms
        delivery_ms += r.delivery_ms
    send_ms.sort()
    delivery_ms.sort()
    acknowledged = sum(r.acked for r in results)
    members = [m for r in results for m in r.members]
    firsts = [t for r in results if (t := r.first_send) is not None]
    acks = [t for r in results if (t := r.last_ack) is not None]
    lasts = [t for r in results if (t := r.last_delivery) is not None]
    start = min(firsts, default=None)
    return FanoutResult(
        engine=engine, transport=f"{params.transport}+{params.codec}",
        members=len(members), senders=params.senders,
        messages=params.messages, acknowledged=acknowledged,
        seconds=max(acks) - start if start is not None and acks else 0.0,
        all_delivered_s=max(lasts) - start if start is not None and lasts else None,
        delivered=sum(m.delivered for m in members),
        missing=sum(max(0, acknowledged - m.delivered) for m in members),
        duplicates=sum(m.duplicates for m in members),
        unparsed=sum(m.unparsed for m in members),
        push_frames=sum(m.frames for m in members),
        server_cpu_seconds=server_cpu, clients=clients, db_cpu_seconds=db_cpu, nodes=nodes,
        client_cpu_seconds=sum(r.cpu_seconds for r in results),
        send_p50_ms=percentile(send_ms, 50), send_p95_ms=percentile(send_ms, 95),
        send_p99_ms=percentile(send_ms, 99),
        delivery_p50_ms=percentile(delivery_ms, 50),
        delivery_p95_ms=percentile(delivery_ms, 95),
        delivery_p99_ms=percentile(delivery_ms, 99),
        errors=sum(errors.values()), error_codes=dict(errors))


async def run_fanout(data_dir: Path, database_url: str | None, params: FanoutParams,
                     bus: BusChoice | None = None, versus_one: bool = False
                     ) -> list[FanoutResult]:
    """W1 on ``params.nodes`` nodes (over ``bus`` when given), then, with
    ``versus_one``, on one node over the same bus; each on a group of its own."""
    if (params.nodes > 1 or versus_one) and (bus is None or database_url is None):
        raise ValueError("several nodes need PostgreSQL and a bus")
    runs = [params.nodes] + ([1] if versus_one and params.nodes != 1 else [])
    results: list[FanoutResult] = []
    async with aiohttp.ClientSession() as session:
        for k, nodes in enumerate(runs):
            async with running_nodes(data_dir / f"run{k}", database_url, session, nodes,
                                     bus, tcp=params.transport == "tcp",
                                     workers=params.workers) as servers:
                results.append(await fanout_phase(
                    session, servers, engine_of(database_url), replace(params, nodes=nodes),
                    data_dir / f"run{k}", prefix=f"fan{k}n"))
    return results


@contextlib.asynccontextmanager
async def running_nodes(data_dir: Path, database_url: str | None,
                        session: aiohttp.ClientSession, nodes: int, bus: BusChoice | None,
                        *, tcp: bool = False, workers: int = 1
                        ) -> AsyncIterator[list[ServerProcess]]:
    """``nodes`` server processes on one database (and ``bus``); the first
    migrates the schema, the others start together once it is ready."""
    env = bus.env() if bus is not None else None
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(
            server_process(data_dir / "node0", database_url, session, env, tcp=tcp,
                           workers=workers))
        others = await asyncio.gather(*(
            stack.enter_async_context(
                server_process(data_dir / f"node{i}", database_url, session, env, tcp=tcp,
                               workers=workers))
            for i in range(1, nodes)))
        yield [first, *others]
