"""The ``tidings bench`` command group.

Registered on the main ``tidings`` command, so this module imports only click
at load time: the workloads (and the server they import) load when a bench
command runs, not on every ``tidings config ...``.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import click

if TYPE_CHECKING:
    from tidings.bench.ingest import IngestOptions
    from tidings.bench.results import IngestResult

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """uvloop when available, as ``tidings serve`` runs, so in-process figures
    compare with the server's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional off Linux
        return asyncio.run(coro)
    result: T = uvloop.run(coro)
    return result


@click.group()
def bench() -> None:
    """Measure the DESIGN §8 targets; figures go to docs/benchmarks.md."""


def _progress(result: IngestResult) -> None:
    click.echo(f"  {result.engine} {result.mode} chats={result.chats}: "
               f"{result.msgs_per_s:,.0f} msgs/s, {result.acknowledged:,} acked, "
               f"{result.persisted:,} stored, {result.errors} errors", err=True)


@bench.command()
@click.option("--engine", type=click.Choice(["sqlite", "postgres", "both"]), default="sqlite",
              show_default=True)
@click.option("--database-url", default=None,
              help="PostgreSQL server for --engine postgres (a throwaway schema is created "
                   "and dropped); default $TIDINGS_BENCH_PG_URL or "
                   "postgresql://postgres@127.0.0.1:5432/postgres")
@click.option("--messages", type=click.IntRange(min=1), default=100_000, show_default=True)
@click.option("--chats", type=click.IntRange(min=1), multiple=True,
              help="chats the messages spread over; repeatable [default: 1 and 1000]")
@click.option("--mode", type=click.Choice(["service", "ws", "both"]), default="both",
              show_default=True, help="service layer in process, or over the network end "
              "to end (ws: the transport of --transport)")
@click.option("--transport", type=click.Choice(["ws", "tcp", "all"]), default="ws",
              show_default=True, help="ws mode: WebSocket or TCP load generators (all: both)")
@click.option("--codec", type=click.Choice(["json", "msgpack", "all"]), default="json",
              show_default=True, help="ws mode: the generators' frame codec (all: both)")
@click.option("--clients", type=click.IntRange(min=1), default=2, show_default=True,
              help="ws: load-generator processes")
@click.option("--connections", type=click.IntRange(min=1), default=4, show_default=True,
              help="ws: connections per load-generator process (one sender each)")
@click.option("--window", type=click.IntRange(min=1), default=256, show_default=True,
              help="ws: requests in flight per connection")
@click.option("--inflight", type=click.IntRange(min=1), default=2000, show_default=True,
              help="service: sends awaiting their ack at once")
@click.option("--senders", type=click.IntRange(min=1), default=64, show_default=True,
              help="service: distinct sending users")
@click.option("--floor/--no-floor", default=True, show_default=True,
              help="service: follow each run with the bare driver loop writing the same "
                   "rows, and report the run as a ratio to it")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="also write the JSON results here")
def ingest(engine: str, database_url: str | None, messages: int, chats: tuple[int, ...],
           mode: str, transport: str, codec: str, clients: int, connections: int,
           window: int, inflight: int, senders: int, floor: bool, json_path: Path | None
           ) -> None:
    """Persisted / acknowledged messages per second, with group commit."""
    from tidings.bench.ingest import IngestOptions, run_ingest
    from tidings.bench.report import format_table, machine, to_json
    from tidings.bench.storage import server_versions

    options = IngestOptions(
        engines=("sqlite", "postgres") if engine == "both" else (engine,),
        modes=("service", "ws") if mode == "both" else (mode,),
        chats=chats or (1, 1000), messages=messages, clients=clients,
        connections=connections, window=window, inflight=inflight, senders=senders,
        pg_url=database_url, transports=choices(transport, ("ws", "tcp")),
        codecs=choices(codec, ("json", "msgpack")), floor=floor)
    uses_pg = "postgres" in options.engines

    async def go() -> tuple[list[IngestResult], dict[str, str]]:
        versions = await server_versions(database_url if uses_pg else None, uses_pg)
        return await run_ingest(options, _progress), versions

    results, versions = run_async(go())
    document = to_json("ingest", results, machine(versions), _shown(options))
    click.echo(format_table(results))
    click.echo(document)
    if json_path is not None:
        json_path.write_text(document + "\n")
    failed = [r for r in results if not r.ok]
    if failed:
        raise click.ClickException(
            f"{len(failed)} run(s) lost or failed messages: requested, acknowledged and "
            "persisted differ or errors were reported (see the table)")


def choices(value: str, every: tuple[str, ...]) -> tuple[str, ...]:
    return every if value == "all" else (value,)


_TRANSPORT_OPTIONS = [
    click.option("--transport", type=click.Choice(["ws", "tcp", "all"]), default="ws",
                 show_default=True, help="how the load generators connect (all: each in turn)"),
    click.option("--codec", type=click.Choice(["json", "msgpack", "all"]), default="json",
                 show_default=True, help="the generators' frame codec (all: each in turn)"),
]


def transport_options(fn: Any) -> Any:
    for option in reversed(_TRANSPORT_OPTIONS):
        fn = option(fn)
    return fn


def combinations(transport: str, codec: str) -> list[tuple[str, str]]:
    return [(t, c) for t in choices(transport, ("ws", "tcp"))
            for c in choices(codec, ("json", "msgpack"))]


def _shown(options: IngestOptions) -> dict[str, Any]:
    shown = asdict(options)
    shown.pop("pg_url")  # may carry a password
    return shown


# -- the workloads after ingest: fanout, catchup, history, connections -----------

class Row(Protocol):
    @property
    def ok(self) -> bool: ...

    def to_json(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=Row)

_WORKLOAD_OPTIONS = [
    click.option("--engine", type=click.Choice(["sqlite", "postgres", "both"]),
                 default="sqlite", show_default=True),
    click.option("--database-url", default=None,
                 help="PostgreSQL server for --engine postgres (a throwaway schema is "
                      "created and dropped); default $TIDINGS_BENCH_PG_URL or "
                      "postgresql://postgres@127.0.0.1:5432/postgres"),
    click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
                 help="also write the JSON results here"),
]


def workload_options(fn: Any) -> Any:
    for option in reversed(_WORKLOAD_OPTIONS):
        fn = option(fn)
    return fn


DEFAULT_BUS_URLS = {"redis": "redis://127.0.0.1:6379/0", "nats": "nats://127.0.0.1:4222"}


def engines_of(engine: str) -> tuple[str, ...]:
    return ("sqlite", "postgres") if engine == "both" else (engine,)


# A workload answers one row, or several (one per setup it compared).
Workload = Callable[[Path, str | None], Coroutine[Any, Any, R | list[R]]]


def run_workload(name: str, engine: str, database_url: str | None, json_path: Path | None,
                 columns: list[tuple[str, str]], options: dict[str, Any],
                 one: Workload[R] | list[Workload[R]]) -> list[R]:
    """Run ``one(data_dir, database_url)`` on a fresh database per engine (each
    with a server process of its own), then print the table and the JSON. A
    list of workloads (variants, e.g. per transport) runs each in turn; a
    workload may answer several rows (one per setup it compared)."""
    variants = one if isinstance(one, list) else [one]
    from tidings.bench.report import format_table, machine, to_json
    from tidings.bench.storage import fresh_database, server_versions

    engines = engines_of(engine)
    uses_pg = "postgres" in engines

    async def go() -> tuple[list[R], dict[str, str]]:
        versions = await server_versions(database_url if uses_pg else None, uses_pg)
        results: list[R] = []
        with tempfile.TemporaryDirectory(prefix="tidings-bench-") as tmp:
            for eng in engines:
                for i, variant in enumerate(variants):
                    async with fresh_database(eng, database_url) as url:
                        found = await variant(Path(tmp) / f"{name}-{eng}-{i}", url)
                    for result in found if isinstance(found, list) else [found]:
                        # fanout's variants are named by how the members connected
                        label = " ".join(p for p in (
                            name, eng, getattr(result, "transport", "")) if p)
                        click.echo(f"  {label}: {'ok' if result.ok else 'FAILED'}", err=True)
                        results.append(result)
        return results, versions

    results, versions = run_async(go())
    document = to_json(name, results, machine(versions), options)
    click.echo(format_table(results, columns))
    click.echo(document)
    if json_path is not None:
        json_path.write_text(document + "\n")
    return results


def fail_unless_ok(results: list[R], what: str) -> None:
    failed = [r for r in results if not r.ok]
    if failed:
        raise click.ClickException(f"{len(failed)} run(s) failed: {what} (see the table)")


@bench.command()
@workload_options
@click.option("--members", type=click.IntRange(min=2), default=50, show_default=True)
@click.option("--senders", type=click.IntRange(min=1), default=10, show_default=True,
              help="members that send, one message at a time each")
@click.option("--messages", type=click.IntRange(min=1), default=2000, show_default=True,
              help="messages sent, all senders together")
@click.option("--clients", type=click.IntRange(min=1), default=4, show_default=True,
              help="load-generator processes the members are spread over")
@click.option("--text-bytes", type=click.IntRange(min=32, max=4096), default=100,
              show_default=True)
@transport_options
@click.option("--nodes", type=click.IntRange(min=1), default=1, show_default=True,
              help="server processes over one PostgreSQL database and a bus; members "
                   "connect to them in turn (more than 1 runs on PostgreSQL)")
@click.option("--bus", type=click.Choice(["redis", "nats"]), default="redis",
              show_default=True, help="the bus the nodes share (with --nodes > 1)")
@click.option("--bus-url", default=None,
              help="its server; default redis://127.0.0.1:6379/0 or nats://127.0.0.1:4222 "
                   "(the run uses a channel of its own)")
@click.option("--versus-one", is_flag=True,
              help="also run the workload on one node over the same bus, for comparison")
@click.option("--reference", is_flag=True, default=False,
              help="also run the same load on the reference server (no storage, no "
                   "logic; WebSocket JSON) and report tidings as a ratio to it")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="serve --workers N (needs --engine postgres; the bus is Redis at "
                   "$TIDINGS_REDIS_URL or its default)")
def fanout(engine: str, database_url: str | None, json_path: Path | None, members: int,
           senders: int, messages: int, clients: int, text_bytes: int, transport: str,
           codec: str, nodes: int, bus: str, bus_url: str | None, versus_one: bool,
           reference: bool, workers: int) -> None:
    """W1: group fan-out, every member online; send and delivery latency."""
    from tidings.bench.fanout import BusChoice, FanoutParams, run_fanout
    from tidings.bench.results import FANOUT_COLUMNS, FanoutResult

    if senders > members:
        raise click.BadParameter("at most --members senders", param_hint="--senders")
    several = nodes > 1 or versus_one
    source = click.get_current_context().get_parameter_source("engine")
    if several and source is click.core.ParameterSource.DEFAULT:
        engine = "postgres"  # several nodes share one database: SQLite cannot serve them
    if several and engine != "postgres":
        raise click.BadParameter("several nodes share one database: use --engine postgres",
                                 param_hint="--nodes")
    if workers > 1 and engine != "postgres":
        raise click.BadParameter("several workers need --engine postgres (SQLite is one "
                                 "process)", param_hint="--workers")
    choice = BusChoice(bus, bus_url or DEFAULT_BUS_URLS[bus]) if several else None
    variants = [FanoutParams(members=members, senders=senders, messages=messages,
                             clients=clients, text_bytes=text_bytes, transport=t, codec=c,
                             nodes=nodes, reference=reference, workers=workers)
                for t, c in combinations(transport, codec)]

    def runner(params: FanoutParams) -> Workload[FanoutResult]:
        return lambda d, url: run_fanout(d, url, params, choice, versus_one)

    shown = {**asdict(variants[0]), "transport": transport, "codec": codec,
             "bus": bus if several else "local", "versus_one": versus_one}
    results = run_workload("fanout", engine, database_url, json_path, FANOUT_COLUMNS,
                           shown, [runner(p) for p in variants])
    fail_unless_ok(results, "deliveries missing or duplicated, or sends failed")


@bench.command()
@workload_options
@click.option("--members", type=click.IntRange(min=2), default=5000, show_default=True)
@click.option("--senders", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--messages", type=click.IntRange(min=1), default=500, show_default=True,
              help="messages sent, all senders together")
@click.option("--clients", type=click.IntRange(min=1), default=4, show_default=True,
              help="load-generator processes the members are spread over")
def bigroup(engine: str, database_url: str | None, json_path: Path | None, members: int,
            senders: int, messages: int, clients: int) -> None:
    """W4: one large group, every member online (W1 at scale): RSS, slow closes."""
    from tidings.bench.bigroup import BIGROUP_COLUMNS, BigroupParams, run_bigroup, shown

    if senders > members:
        raise click.BadParameter("at most --members senders", param_hint="--senders")
    params = BigroupParams(members=members, senders=senders, messages=messages,
                           clients=clients)
    results = run_workload("bigroup", engine, database_url, json_path, BIGROUP_COLUMNS,
                           shown(params), lambda d, url: run_bigroup(d, url, params))
    fail_unless_ok(results, "deliveries missing or duplicated, sends failed, or slow "
                            "consumers were closed")


@bench.command()
@workload_options
@click.option("--messages", type=click.IntRange(min=1), default=2000, show_default=True,
              help="messages sent while the device is offline, per round")
@click.option("--repeats", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="the limit asked of sync.get_difference (the server clamps it)")
def catchup(engine: str, database_url: str | None, json_path: Path | None, messages: int,
            repeats: int, limit: int) -> None:
    """W2: an offline device catches up on missed messages."""
    from tidings.bench.catchup import CatchupParams, run_catchup
    from tidings.bench.results import CATCHUP_COLUMNS

    params = CatchupParams(messages=messages, repeats=repeats, limit=limit)
    results = run_workload("catchup", engine, database_url, json_path, CATCHUP_COLUMNS,
                           asdict(params), lambda d, url: run_catchup(d, url, params))
    fail_unless_ok(results, "a device did not end with exactly the messages it missed")


@bench.command()
@workload_options
@click.option("--messages", type=click.IntRange(min=1), default=4000, show_default=True,
              help="messages in the chat")
@click.option("--readers", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--clients", type=click.IntRange(min=1), default=2, show_default=True,
              help="load-generator processes the readers are spread over")
@click.option("--page", type=click.IntRange(min=1, max=100), default=50, show_default=True)
@click.option("--duration", type=click.FloatRange(min=0.1), default=15.0, show_default=True,
              help="seconds of paging")
@click.option("--passes", type=click.IntRange(min=1), default=None,
              help="instead of --duration: complete passes per reader")
@click.option("--reference", is_flag=True, default=False,
              help="also run the same load on the reference server (pages answered "
                   "from memory) and report tidings as a ratio to it")
def history(engine: str, database_url: str | None, json_path: Path | None, messages: int,
            readers: int, clients: int, page: int, duration: float, passes: int | None,
            reference: bool) -> None:
    """W3: concurrent readers page backwards through one chat."""
    from tidings.bench.history import HistoryParams, run_history
    from tidings.bench.results import HISTORY_COLUMNS

    params = HistoryParams(messages=messages, readers=readers, clients=clients, page=page,
                           duration=None if passes else duration, passes=passes,
                           reference=reference)
    results = run_workload("history", engine, database_url, json_path, HISTORY_COLUMNS,
                           asdict(params), lambda d, url: run_history(d, url, params))
    fail_unless_ok(results, "pages failed or a pass did not see every message once")


@bench.command()
@workload_options
@click.option("--connections", type=click.IntRange(min=1), default=20_000, show_default=True,
              help="idle authenticated WebSockets to hold")
@click.option("--users", type=click.IntRange(min=1), default=200, show_default=True,
              help="accounts whose tokens the connections share")
@click.option("--clients", type=click.IntRange(min=1), default=4, show_default=True,
              help="load-generator processes the connections are spread over")
@click.option("--w1/--no-w1", default=True, show_default=True,
              help="run a small fan-out (50 members, 10 senders x 200) while connected")
def connections(engine: str, database_url: str | None, json_path: Path | None,
                connections: int, users: int, clients: int, w1: bool) -> None:
    """Idle connections per process: RSS per connection, then W1 beside them."""
    from tidings.bench.connections import ConnectionsParams, run_connections, small_w1
    from tidings.bench.results import CONNECTIONS_COLUMNS

    params = ConnectionsParams(connections=connections, users=users, clients=clients,
                               w1=small_w1() if w1 else None)
    results = run_workload("connections", engine, database_url, json_path,
                           CONNECTIONS_COLUMNS, asdict(params),
                           lambda d, url: run_connections(d, url, params))
    fail_unless_ok(results, "connections failed or dropped, or W1 lost deliveries")


@bench.command()
@workload_options
@click.option("--chats", type=click.IntRange(min=1), default=5000, show_default=True,
              help="chats the measured user is a member of")
@click.option("--messages", type=click.IntRange(min=1), default=3, show_default=True,
              help="messages per chat")
@click.option("--pinned", type=click.IntRange(min=0, max=5), default=5, show_default=True)
@click.option("--hidden", type=click.IntRange(min=0), default=100, show_default=True)
@click.option("--page", type=click.IntRange(min=1, max=200), default=50, show_default=True)
@click.option("--requests", type=click.IntRange(min=1), default=500, show_default=True,
              help="first pages asked, one at a time, in process and over WebSocket")
@click.option("--direct", type=click.IntRange(min=0, max=50), default=0, show_default=True,
              help="of the chats, the newest this many are direct chats (one per other user)")
def dialogs(engine: str, database_url: str | None, json_path: Path | None, chats: int,
            messages: int, pinned: int, hidden: int, page: int, requests: int,
            direct: int) -> None:
    """chat.list: one user in many chats, first page latency."""
    from tidings.bench.dialogs import DIALOGS_COLUMNS, DialogsParams, run_dialogs

    if pinned + hidden + direct > chats:
        raise click.BadParameter("pinned, hidden and direct dialogs must fit in --chats",
                                 param_hint="--hidden")
    params = DialogsParams(chats=chats, messages=messages, pinned=pinned, hidden=hidden,
                           page=page, requests=requests, direct=direct)
    results = run_workload("dialogs", engine, database_url, json_path, DIALOGS_COLUMNS,
                           asdict(params), lambda d, url: run_dialogs(d, url, params))
    fail_unless_ok(results, "the walk over the pages missed or repeated a dialog")


@bench.command("search")
@workload_options
@click.option("--messages", type=click.IntRange(min=1), default=1_000_000, show_default=True)
@click.option("--chats", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--user-chats", type=click.IntRange(min=1), default=50, show_default=True,
              help="chats each searching user is in (scope 'all')")
@click.option("--queries", type=click.IntRange(min=1), default=200, show_default=True,
              help="queries per scope and kind, one at a time")
@click.option("--heavy/--no-heavy", default=True, show_default=True,
              help="also search as a user in every chat (scope 'every')")
def search_bench(engine: str, database_url: str | None, json_path: Path | None,
                 messages: int, chats: int, user_chats: int, queries: int, heavy: bool
                 ) -> None:
    """message.search: p50/p99 per query kind over a large store."""
    from tidings.bench.search import SearchBenchParams, report, run_search_bench

    if user_chats > chats:
        raise click.BadParameter("at most --chats", param_hint="--user-chats")
    params = SearchBenchParams(messages=messages, chats=chats, user_chats=user_chats,
                               queries=queries, heavy=heavy)
    rows, versions = run_async(run_search_bench(
        engines_of(engine), database_url, params, lambda line: click.echo(line, err=True)))
    table, document = report(rows, versions, params)
    click.echo(table)
    click.echo(document)
    if json_path is not None:
        json_path.write_text(document + "\n")
    fail_unless_ok(rows, "a result did not contain what was searched")


@bench.command("expiry")
@workload_options
@click.option("--files", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="files past their deadline")
@click.option("--chats", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="chats the files are sent into (every 10th is also forwarded)")
def expiry_bench(engine: str, database_url: str | None, json_path: Path | None, files: int,
                 chats: int) -> None:
    """Media expiry: the sweeper over a backlog; files/s and the longest transaction."""
    from tidings.bench.expiry import EXPIRY_COLUMNS, ExpiryParams, run_expiry

    params = ExpiryParams(files=files, chats=chats)
    results = run_workload("expiry", engine, database_url, json_path, EXPIRY_COLUMNS,
                           asdict(params), lambda d, url: run_expiry(d, url, params))
    fail_unless_ok(results, "a file was not expired, or media.expired updates are missing")


@bench.command("reads")
@workload_options
@click.option("--members", type=click.IntRange(min=2), default=10_000, show_default=True,
              help="members of the chat whose read index is measured")
@click.option("--messages", type=click.IntRange(min=100), default=100_000, show_default=True)
@click.option("--ws-users", type=click.IntRange(min=2), default=64, show_default=True)
@click.option("--ws-marks", type=click.IntRange(min=2), default=20_000, show_default=True)
@click.option("--window", type=click.IntRange(min=1), default=16, show_default=True,
              help="marks in flight per connection")
def reads_bench(engine: str, database_url: str | None, json_path: Path | None, members: int,
                messages: int, ws_users: int, ws_marks: int, window: int) -> None:
    """Read receipts: counts, readers and memory of a large chat's index, and
    read.mark throughput through the service layer and over WebSocket."""
    from tidings.bench.reads import READS_COLUMNS, ReadsParams, run_reads

    params = ReadsParams(members=members, messages=messages, ws_users=ws_users,
                         ws_marks=ws_marks, window=window)
    results = run_workload("reads", engine, database_url, json_path, READS_COLUMNS,
                           asdict(params), lambda d, url: run_reads(d, url, params))
    fail_unless_ok(results, "a read.mark was not acknowledged or a cursor is wrong")


