"""``tidings bench ingest``: every requested (engine, chats, mode) run, each on
a fresh database in its own temporary data dir."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tidings.bench.ingest_floor import ingest_floor
from tidings.bench.results import IngestResult
from tidings.bench.service_ingest import ServiceParams, service_ingest
from tidings.bench.storage import fresh_database
from tidings.bench.ws_ingest import WsParams, ws_ingest
from tidings.testing import test_settings


@dataclass(frozen=True)
class IngestOptions:
    engines: tuple[str, ...]
    modes: tuple[str, ...]
    chats: tuple[int, ...]
    messages: int
    clients: int
    connections: int
    window: int
    inflight: int
    senders: int
    pg_url: str | None = None
    transports: tuple[str, ...] = ("ws",)  # mode ws: how the generators connect
    codecs: tuple[str, ...] = ("json",)
    floor: bool = True  # after each service run, the bare driver loop on its rows


async def run_one(options: IngestOptions, engine: str, mode: str, chats: int,
                  data_dir: Path) -> list[IngestResult]:
    """``mode``: service (then its floor), or ``transport+codec`` over the network."""
    async with fresh_database(engine, options.pg_url) as database_url:
        if mode != "service":
            transport, _, codec = mode.partition("+")
            return [await ws_ingest(data_dir, database_url, WsParams(
                messages=options.messages, chats=chats, clients=options.clients,
                connections=options.connections, window=options.window, transport=transport,
                codec=codec))]
        service = await service_ingest(data_dir, database_url, ServiceParams(
            messages=options.messages, chats=chats, senders=options.senders,
            inflight=options.inflight))
        if not options.floor:
            return [service]
        floor = await ingest_floor(test_settings(data_dir, database_url), chats, service)
        service.floor_msgs_per_s = floor.msgs_per_s
        service.floor_cpu_us_per_msg = floor.total_cpu_us_per_msg
        return [service, floor]


def runs_of(options: IngestOptions) -> list[str]:
    """Each mode to run: ``service``, and ``transport+codec`` for each network one."""
    runs = []
    for mode in options.modes:
        if mode == "service":
            runs.append(mode)
        else:
            runs += [f"{t}+{c}" for t in options.transports for c in options.codecs]
    return runs


async def run_ingest(options: IngestOptions,
                     progress: Callable[[IngestResult], None] | None = None
                     ) -> list[IngestResult]:
    results = []
    with tempfile.TemporaryDirectory(prefix="tidings-bench-") as tmp:
        for engine in options.engines:
            for chats in options.chats:
                for mode in runs_of(options):
                    data_dir = Path(tmp) / f"{engine}-{mode}-{chats}"
                    for result in await run_one(options, engine, mode, chats, data_dir):
                        if progress is not None:
                            progress(result)
                        results.append(result)
    return results
