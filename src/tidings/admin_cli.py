"""``tidings admin``: operator commands (media, backups) against the
configured database, with the server running or not.

An unknown user or chat, or an invalid value, ends with one line and exit
status 1. Heavy imports happen when a command runs, as in ``tidings bench``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from tidings.services.media_admin import Difference, MediaAdmin

T = TypeVar("T")


def _run(config_file: Path | None, flags: dict[str, Any],
         action: Callable[[MediaAdmin], Awaitable[T]]) -> T:
    """Open the database of these settings, run ``action`` and close it."""
    from tidings.app import StartupError, open_database
    from tidings.cli import settings_from
    from tidings.clock import SystemClock
    from tidings.errors import TidingsError
    from tidings.services.media_admin import MediaAdmin

    settings = settings_from(config_file, **flags)

    async def go() -> T:
        db = open_database(settings)
        await db.engine.open()
        try:
            return await action(MediaAdmin(db, SystemClock(), settings))
        finally:
            await db.engine.close()

    try:
        return asyncio.run(go())
    except TidingsError as exc:
        raise click.ClickException(exc.message) from exc
    except Exception as exc:  # unreachable database, schema not migrated, ...
        raise click.ClickException(str(StartupError.from_exception(exc, "run"))) from exc


def _common(fn: Any) -> Any:
    from tidings.cli import common_options

    return common_options(fn)


@click.group()
def admin() -> None:
    """Operator commands: usage counters, storage report, entitlements, whitelist,
    backup and restore."""


@admin.command("recompute-usage")
@_common
@click.option("--apply", is_flag=True, help="overwrite the counters that differ")
def recompute_usage(config_file: Path | None, apply: bool, **flags: Any) -> None:
    """Compare pool and custody counters with the files; report every difference."""
    found = _run(config_file, flags, lambda a: a.recompute_usage(apply))
    if not found:
        click.echo("all counters agree with the files")
        return
    click.echo(_table(["counter", "id", "counted bytes", "counted files", "files say bytes",
                       "files say files"], [_diff_row(d) for d in found]))
    click.echo(f"{len(found)} counter(s) " + ("fixed" if apply else
                                              "differ; --apply overwrites them"))


def _diff_row(d: Difference) -> list[Any]:
    return [d.scope, d.owner_id, d.counted_bytes, d.counted_files, d.recomputed_bytes,
            d.recomputed_files]


@admin.command("storage-report")
@_common
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="chats and files listed per section")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of tables")
def storage_report(config_file: Path | None, top: int, as_json: bool, **flags: Any) -> None:
    """Top chats by video bytes, largest files, bytes per chat per day, what expires soon."""
    from tidings.clock import SystemClock

    now = SystemClock().now()
    report = _run(config_file, flags, lambda a: a.storage_report(now, top))
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    sections = [
        ("Top chats by video bytes", ["chat", "bytes", "files"],
         [[r["chat_id"], r["bytes"], r["files"]] for r in report["top_video_chats"]]),
        ("Largest files", ["file", "chat", "uploader", "kind", "bytes", "status", "expires"],
         [[r["file_id"], r["chat_id"], r["uploader_id"], r["kind"], r["size"], r["status"],
           _date(r["expires_at"])] for r in report["largest_files"]]),
        ("Bytes per chat per upload day (last 30 days)", ["chat", "day", "bytes", "files"],
         [[r["chat_id"], _date(r["day"]), r["bytes"], r["files"]] for r in report["daily"]]),
        ("Expiring", ["within", "files", "bytes"],
         [[w, r["files"], r["bytes"]] for w, r in report["expiring"].items()]),
        ("By kind and status", ["kind", "status", "files", "bytes"],
         [[r["kind"], r["status"], r["files"], r["bytes"]] for r in report["by_kind_status"]]),
        ("Blobs (identical uploads stored once)", ["blobs", "bytes"],
         [[report["blobs"]["count"], report["blobs"]["bytes"]]]),
    ]
    for title, headings, rows in sections:
        click.echo(f"\n{title}")
        click.echo(_table(headings, rows) if rows else "  (none)")


@admin.command("set-entitlement")
@_common
@click.argument("user_id", type=int)
@click.argument("level", type=int)
def set_entitlement(config_file: Path | None, user_id: int, level: int, **flags: Any
                    ) -> None:
    """Set USER_ID's entitlement LEVEL (0 free, 1 plus, 2 pro by default)."""
    chats = _run(config_file, flags, lambda a: a.set_entitlement(user_id, level))
    click.echo(f"user {user_id}: entitlement level {level}; "
               f"{len(chats)} chat(s) re-evaluated by the expiry job")


@admin.command("whitelist")
@_common
@click.argument("target", type=click.Choice(["chat", "user"]))
@click.argument("target_id", metavar="ID", type=int)
@click.option("--off", is_flag=True, help="remove from the whitelist")
def whitelist(config_file: Path | None, target: str, target_id: int, off: bool,
              **flags: Any) -> None:
    """Keep a chat's or a user's media forever (or, with --off, no longer)."""
    on = not off
    chats = _run(config_file, flags, lambda a: a.set_whitelisted(
        "chat" if target == "chat" else "user", target_id, on))
    click.echo(f"{target} {target_id}: {'whitelisted' if on else 'not whitelisted'}; "
               f"{len(chats)} chat(s) re-evaluated by the expiry job")


def _date(ts: int | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(headings: list[str], rows: list[list[Any]]) -> str:
    cells = [headings, *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headings))]
    lines = ["  " + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
             for row in cells]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _backup_call(action: Callable[[], Coroutine[Any, Any, T]]) -> T:
    from tidings.db.backup import BackupError

    try:
        return asyncio.run(action())
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc


@admin.command("backup")
@_common
@click.argument("dest", type=click.Path(path_type=Path, dir_okay=False))
def backup(config_file: Path | None, dest: Path, **flags: Any) -> None:
    """Back up the configured database to DEST while the server runs: SQLite's
    online backup API, or pg_dump --format=custom for PostgreSQL. Blobs are
    not included (docs/deployment.md)."""
    from tidings.cli import settings_from
    from tidings.db import backup as ops

    s = settings_from(config_file, **flags)
    done = _backup_call(lambda: ops.backup(s.database_url, s.sqlite_path, dest))
    click.echo(f"{done.engine}: {done.detail}")
    click.echo(f"wrote {done.path} ({done.size_bytes:,} bytes)")


@admin.command("restore")
@_common
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True,
              help="replace a database that already holds data (stop the server first)")
def restore(config_file: Path | None, source: Path, force: bool, **flags: Any) -> None:
    """Restore the configured database from SOURCE (made by ``tidings admin
    backup``). Refuses to overwrite a database holding data without --force."""
    from tidings.cli import settings_from
    from tidings.db import backup as ops

    s = settings_from(config_file, **flags)
    done = _backup_call(lambda: ops.restore(s.database_url, s.sqlite_path, source,
                                            force=force))
    click.echo(f"{done.engine}: {done.detail}")
    click.echo(f"restored from {source}; start the server to use it")
