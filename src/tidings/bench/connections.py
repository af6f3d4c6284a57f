"""Idle connections: how many authenticated WebSockets one server process
holds, and what each costs in resident memory; then a small W1 (fan-out)
while they stay connected, to show the idle ones do not slow the live ones.

Accounts are few (argon2 is slow on purpose): ``users`` accounts are
registered once and every connection authenticates with ``auth.token`` using
one of their tokens (one token may serve many connections). The idle users
belong to no chat, so nothing is pushed to them. Connections are spread over
``clients`` generator processes (``tidings.bench.idle_load``), each with its
descriptor limit raised to the hard limit; the server starts with its soft
limit raised the same way. When the server's limit cannot hold the requested
number (plus what W1 and the server itself need), the run opens what fits and
says what limited it; the RSS per connection is then extrapolated to the
requested number.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tidings.bench.fanout import FanoutParams, fanout_phase
from tidings.bench.idle_load import IdleConfig, IdleLoadResult
from tidings.bench.loader import loaders, read_result
from tidings.bench.results import ConnectionsResult
from tidings.bench.server_proc import ServerProcess, server_process
from tidings.bench.storage import engine_of
from tidings.bench.wsetup import register_accounts

MODULE = "tidings.bench.idle_load"
SETTLE_SECONDS = 1.0
# Descriptors left free in the server beyond W1's members: setup and /metrics
# sockets, database files and connections, log files.
RESERVE_FDS = 128


def small_w1() -> FanoutParams:
    return FanoutParams(members=50, senders=10, messages=2000, clients=2)


@dataclass(frozen=True)
class ConnectionsParams:
    connections: int = 20_000
    users: int = 200
    clients: int = 4
    concurrency: int = 32  # handshakes in flight per generator
    w1: FanoutParams | None = field(default_factory=small_w1)

    def __post_init__(self) -> None:
        if self.connections < 1 or self.users < 1 or self.clients < 1:
            raise ValueError("at least one connection, one user and one client")


def plan_connections(server: ServerProcess, params: ConnectionsParams
                     ) -> tuple[int, str | None, tuple[int, int, int]]:
    """(connections to open, what capped them or None, (soft, hard, fds open))."""
    soft, hard, used = server.fd_headroom()
    w1_members = params.w1.members if params.w1 is not None else 0
    room = max(0, soft - used - RESERVE_FDS - w1_members)
    if room >= params.connections:
        return params.connections, None, (soft, hard, used)
    return room, f"server RLIMIT_NOFILE {soft} (hard {hard})", (soft, hard, used)


def split(total: int, parts: int) -> list[int]:
    share, rest = divmod(total, parts)
    return [share + (1 if k < rest else 0) for k in range(parts)]


async def connections_phase(session: aiohttp.ClientSession, server: ServerProcess,
                            engine: str, params: ConnectionsParams, directory: Path
                            ) -> ConnectionsResult:
    url = server.ws_url
    users = min(params.users, params.connections)
    accounts = await register_accounts(session, url, [f"idle{i}" for i in range(users)])
    tokens = [a.token for a in accounts]
    planned, limited_by, (soft, hard, used) = plan_connections(server, params)
    counts = [c for c in split(planned, params.clients) if c > 0]
    paths = [directory / f"idle-gen{k}.result.json" for k in range(len(counts))]
    configs = [IdleConfig(url=url, result_path=str(paths[k]), count=count,
                          concurrency=params.concurrency,
                          # rotated, so that every generator spreads over all tokens
                          tokens=tokens[k % len(tokens):] + tokens[:k % len(tokens)])
               for k, count in enumerate(counts)]
    rss_before = server.rss_bytes()
    failed: Counter[str] = Counter()
    held = 0
    connect_seconds = 0.0  # the slowest generator's, from its first handshake
    async with loaders(configs, directory, MODULE, name="idle-gen") as started:
        for loader in started:
            ready = json.loads(await loader.ready() or b"{}")
            held += int(ready.get("held", 0))
            failed.update(ready.get("failed", {}))
            connect_seconds = max(connect_seconds, float(ready.get("seconds", 0.0)))
        await asyncio.sleep(SETTLE_SECONDS)
        rss_after = server.rss_bytes()
        online = await server.metric(session, "tidings_online_devices")
        w1 = None
        if params.w1 is not None:
            w1 = await fanout_phase(session, server, engine, params.w1, directory, prefix="w1")
        for loader in started:
            await loader.go()
        results = []
        for loader, path in zip(started, paths, strict=True):
            await loader.done()
            results.append(read_result(path, IdleLoadResult))
    return ConnectionsResult(
        engine=engine, requested=params.connections, planned=planned, held=held,
        online=None if online is None else int(online),
        dropped=sum(r.dropped for r in results), users=users, clients=len(counts),
        connect_seconds=connect_seconds, rss_before_bytes=rss_before,
        rss_after_bytes=rss_after, nofile_soft=soft, nofile_hard=hard, fds_before=used,
        limited_by=limited_by, failed=dict(failed), w1=w1)


async def run_connections(data_dir: Path, database_url: str | None,
                          params: ConnectionsParams) -> ConnectionsResult:
    async with (aiohttp.ClientSession() as session,
                server_process(data_dir, database_url, session) as server):
        return await connections_phase(session, server, engine_of(database_url), params,
                                       data_dir)
