"""W3, history: one group holding ``messages`` messages; ``readers`` members,
each on its own connection, spread over ``clients`` load-generator processes
(``tidings.bench.history_load``), page backwards through it with
``message.history`` pages of ``page``, one request at a time, for
``duration`` seconds (or ``passes`` passes each).

Figures: pages per second, page latency (request → reply), and the server's
CPU per page (server CPU over the run / pages answered).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import msgspec

from tidings.bench.history_load import HistoryConfig, HistoryLoadResult
from tidings.bench.loader import loaders, run_all
from tidings.bench.procstat import PostgresCpu
from tidings.bench.results import HistoryResult, percentile
from tidings.bench.rpc import RpcSocket
from tidings.bench.server_proc import ServerProcess, reference_process, server_process
from tidings.bench.storage import engine_of
from tidings.bench.wsetup import Account, fill, group_of, register_accounts, signed_in

MODULE = "tidings.bench.history_load"


@dataclass(frozen=True)
class HistoryParams:
    messages: int = 4000
    readers: int = 20
    clients: int = 2
    page: int = 50
    duration: float | None = 15.0
    passes: int | None = None  # when given, each reader makes this many passes instead
    reference: bool = False  # also run the same load on the reference server

    def __post_init__(self) -> None:
        if self.duration is None and self.passes is None:
            raise ValueError("give a duration or a number of passes")
        if self.messages < 1 or self.readers < 1 or self.clients < 1:
            raise ValueError("at least one message, one reader and one client")

    @property
    def pages_per_pass(self) -> int:
        return math.ceil(self.messages / self.page)


async def history_phase(session: aiohttp.ClientSession, server: ServerProcess, engine: str,
                        params: HistoryParams, directory: Path) -> HistoryResult:
    url = server.ws_url
    names = ["hist_owner"] + [f"hist_reader{i}" for i in range(params.readers)]
    owner, *readers = await register_accounts(session, url, names)
    chat_id = await group_of(session, url, owner, readers, "history")
    async with signed_in(session, url, owner) as sock:
        msg_ids = await fill(sock, chat_id, params.messages, "h")
    result = await measured_run(server, engine, params, readers, chat_id, msg_ids[0],
                                directory, "hist")
    if params.reference:
        async with signed_in(session, url, readers[0]) as sock:
            pages = await all_pages(sock, chat_id, msg_ids[0], params.page)
        tokens = {r.token: r.user_id for r in readers}
        async with reference_process(directory, chat_id, tokens, session, pages) as ref:
            floor = await measured_run(ref, "reference", params, readers, chat_id, msg_ids[0],
                                       directory, "hist-ref")
        result.reference = floor.to_json()
    return result


async def all_pages(sock: RpcSocket, chat_id: int, first_msg_id: int, page: int
                    ) -> dict[str, bytes]:
    """Every page a reader's pass asks for, as tidings answered it, by ``before``."""
    pages: dict[str, bytes] = {}
    before: int | None = None
    while True:
        params: dict[str, int] = {"chat_id": chat_id, "limit": page}
        if before is not None:
            params["before"] = before
        result = await sock.call("message.history", params)
        pages["" if before is None else str(before)] = msgspec.json.encode(result)
        messages = result["messages"]
        if not messages or messages[0]["msg_id"] <= first_msg_id:
            return pages
        before = int(messages[0]["msg_id"])


async def measured_run(server: ServerProcess, engine: str, params: HistoryParams,
                       readers: list[Account], chat_id: int, first_msg_id: int,
                       directory: Path, prefix: str) -> HistoryResult:
    """The load generators against ``server``, its CPU read around the run."""
    clients = min(params.clients, params.readers)
    paths = [directory / f"{prefix}-gen{k}.result.json" for k in range(clients)]
    configs = [HistoryConfig(url=server.ws_url, result_path=str(paths[k]), chat_id=chat_id,
                             first_msg_id=first_msg_id, messages=params.messages,
                             page=params.page, duration=params.duration, passes=params.passes,
                             tokens=[r.token for r in readers[k::clients]])
               for k in range(clients)]
    db_cpu = PostgresCpu(enabled=engine == "postgres", precise=True)
    async with loaders(configs, directory, MODULE, name=f"{prefix}-gen") as started:
        for loader in started:
            await loader.ready()
        db_cpu.start()
        cpu_start = server.cpu_seconds_precise()
        results = await run_all(started, paths, HistoryLoadResult)
        server_cpu = server.cpu_seconds_precise() - cpu_start
        db_seconds = db_cpu.stop()
    return summarize(engine, params, clients, results, server_cpu, db_seconds)


def summarize(engine: str, params: HistoryParams, clients: int,
              results: list[HistoryLoadResult], server_cpu: float, db_cpu: float | None
              ) -> HistoryResult:
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    for r in results:
        errors.update(r.errors)
        latencies += r.latencies_ms
    latencies.sort()
    firsts = [t for r in results if (t := r.first_request) is not None]
    lasts = [t for r in results if (t := r.last_reply) is not None]
    expected = (None if params.passes is None
                else params.passes * params.readers * params.pages_per_pass)
    return HistoryResult(
        engine=engine, messages=params.messages, readers=params.readers, page=params.page,
        clients=clients, pages=sum(r.pages for r in results),
        passes=sum(r.passes for r in results), bad_passes=sum(r.bad_passes for r in results),
        seconds=max(lasts) - min(firsts) if firsts and lasts else 0.0,
        server_cpu_seconds=server_cpu, expected_pages=expected, db_cpu_seconds=db_cpu,
        client_cpu_seconds=sum(r.cpu_seconds for r in results),
        p50_ms=percentile(latencies, 50), p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99), errors=sum(errors.values()),
        error_codes=dict(errors))


async def run_history(data_dir: Path, database_url: str | None, params: HistoryParams
                      ) -> HistoryResult:
    async with (aiohttp.ClientSession() as session,
                server_process(data_dir, database_url, session) as server):
        return await history_phase(session, server, engine_of(database_url), params, data_dir)
