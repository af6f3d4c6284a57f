"""The ``tidings bench`` command group.

Registered on the main ``tidings`` command, so this module imports only click
at load time: the workloads (and the server they import) load when a bench
command runs, not on every ``tidings config ...``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

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
              show_default=True, help="service layer in process, or WebSocket end to end")
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
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="also write the JSON results here")
def ingest(engine: str, database_url: str | None, messages: int, chats: tuple[int, ...],
           mode: str, clients: int, connections: int, window: int, inflight: int,
           senders: int, json_path: Path | None) -> None:
    """Persisted / acknowledged messages per second, with group commit."""
    from tidings.bench.ingest import IngestOptions, run_ingest
    from tidings.bench.report import format_table, machine, to_json
    from tidings.bench.storage import server_versions

    options = IngestOptions(
        engines=("sqlite", "postgres") if engine == "both" else (engine,),
        modes=("service", "ws") if mode == "both" else (mode,),
        chats=chats or (1, 1000), messages=messages, clients=clients,
        connections=connections, window=window, inflight=inflight, senders=senders,
        pg_url=database_url)
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


def _shown(options: IngestOptions) -> dict[str, Any]:
    shown = asdict(options)
    shown.pop("pg_url")  # may carry a password
    return shown
