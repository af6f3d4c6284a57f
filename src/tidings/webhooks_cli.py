"""``tidings admin webhooks``: the webhook outbox as an operator sees it
(waiting and given-up events, the latest errors), and ``--retry-failed`` to
send the given-up events again once the receiver is fixed. Runs against the
configured database, with the server running or not."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click


@click.command("webhooks")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              help="TOML settings file")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--database-url", default=None)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="given-up events listed")
@click.option("--retry-failed", is_flag=True,
              help="give every given-up event a fresh set of tries, due now")
def webhooks(config_file: Path | None, limit: int, retry_failed: bool, **flags: Any) -> None:
    """Webhook events waiting and given up; --retry-failed sends the given-up ones again."""
    from tidings.app import StartupError, open_database
    from tidings.cli import settings_from
    from tidings.clock import SystemClock
    from tidings.db.engine import Txn
    from tidings.store import webhooks as outbox

    settings = settings_from(config_file, **flags)

    async def report_txn(txn: Txn) -> tuple[int, outbox.OutboxStats, list[Any]]:
        retried = await outbox.retry_failed_txn(txn) if retry_failed else 0
        return retried, await outbox.stats_txn(txn), await outbox.failed_txn(txn, limit)

    async def go() -> tuple[int, outbox.OutboxStats, list[Any]]:
        db = open_database(settings)
        await db.engine.open()
        try:
            return await db.write("webhook_admin", report_txn)
        finally:
            await db.engine.close()

    try:
        retried, stats, failed = asyncio.run(go())
    except Exception as exc:  # unreachable database, schema not migrated, ...
        raise click.ClickException(str(StartupError.from_exception(exc, "run"))) from exc
    now = SystemClock().now()
    age = "-" if stats.oldest_pending_at is None else f"{now - stats.oldest_pending_at} s"
    if retried:
        click.echo(f"{retried} given-up event(s) will be sent again")
    click.echo(f"waiting: {stats.pending} (oldest {age}); given up: {stats.failed}")
    for event_id, kind, attempts, error, failed_at in failed:
        when = datetime.fromtimestamp(failed_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"  #{event_id} {kind}: {attempts} tries, given up {when}: {error}")
