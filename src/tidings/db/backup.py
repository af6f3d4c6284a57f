"""Backups of the database, taken while the server runs, and restores.

SQLite: the online backup API copies the live database in one step, inside
one read transaction: in WAL mode writers go on meanwhile, and the copy is the
database as of the moment the step began (a stepwise copy would restart on
every write of the running server and might never finish under load). The
copy is written beside ``dest`` and renamed into place, so a crash never
leaves half a backup under the final name.

PostgreSQL: ``pg_dump --format=custom`` (one consistent snapshot, taken
without blocking writers) and ``pg_restore``; both must be on PATH, in a
version at least the server's. A URL that names a schema (``search_path``)
dumps and restores that schema only.

Blobs (media under ``data_dir``, or the S3 bucket) are not in the database:
back them up with the store's own tools (see docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why."""


@dataclass(frozen=True)
class Outcome:
    engine: str
    path: Path
    size_bytes: int
    detail: str  # what was run, for the operator


def libpq_url(url: str) -> tuple[str, str | None]:
    """The URL as libpq tools take it, and the schema it names: asyncpg passes
    unknown query parameters on as server settings, libpq refuses them."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "search_path"), None)
    kept = [(k, v) for k, v in query if k != "search_path"]
    return urlunsplit(parts._replace(query=urlencode(kept))), schema


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not on PATH: install the PostgreSQL client tools")
    return path


async def _run(args: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        text = (err or out).decode(errors="replace").strip()
        raise BackupError(f"{Path(args[0]).name} failed (exit {proc.returncode}): {text}")


def _sqlite_copy(source: Path, dest: Path) -> None:
    if not source.exists():
        raise BackupError(f"no database at {source}")
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # pages=-1: one step, one snapshot
        finally:
            dst.close()
    finally:
        src.close()
    os.replace(partial, dest)


def _sqlite_backup(source: Path, dest: Path) -> Outcome:
    _sqlite_copy(source, dest)
    return Outcome("sqlite", dest, dest.stat().st_size, f"SQLite online backup of {source}")


def _sqlite_restore(source: Path, target: Path, force: bool) -> Outcome:
    if not source.exists():
        raise BackupError(f"no backup at {source}")
    if _has_tables(target) and not force:
        raise BackupError(f"{target} holds a database: stop the server and pass --force "
                          "to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm"):  # a stale log would be replayed over the copy
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    _sqlite_copy(source, target)
    return Outcome("sqlite", target, target.stat().st_size, f"SQLite backup API from {source}")


def _size(path: Path) -> int:
    return path.stat().st_size


def _has_tables(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]) > 0
    finally:
        conn.close()


async def backup(database_url: str | None, sqlite_path: Path, dest: Path) -> Outcome:
    """Write a backup of the configured database to ``dest``."""
    await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
    if database_url is None:
        return await asyncio.to_thread(_sqlite_backup, sqlite_path, dest)
    url, schema = libpq_url(database_url)
    args = [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
            f"--file={dest}"]
    if schema is not None:
        args.append(f"--schema={schema}")
    await _run([*args, url])
    shown = " ".join(a for a in args[1:] if not a.startswith("--file"))
    return Outcome("postgres", dest, await asyncio.to_thread(_size, dest), f"pg_dump {shown}")


async def _pg_has_tables(url: str, schema: str | None) -> bool:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_name = 'schema_migrations' AND table_schema = $1",
            schema or "public")
        return bool(found)
    finally:
        await conn.close()


async def restore(database_url: str | None, sqlite_path: Path, source: Path, *,
                  force: bool) -> Outcome:
    """Put the backup ``source`` in place of the configured database. Refuses a
    database that already holds tidings data unless ``force``: stop the server
    first, a restore under a running server loses what it writes."""
    if database_url is None:
        return await asyncio.to_thread(_sqlite_restore, source, sqlite_path, force)
    try:
        size = await asyncio.to_thread(_size, source)
    except FileNotFoundError:
        raise BackupError(f"no backup at {source}") from None
    url, schema = libpq_url(database_url)
    if await _pg_has_tables(url, schema) and not force:
        raise BackupError("the database already holds tidings tables: stop the server "
                          "and pass --force to replace them")
    args = [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error"]
    if force:
        args += ["--clean", "--if-exists"]
    await _run([*args, f"--dbname={url}", str(source)])
    return Outcome("postgres", source, size, "pg_restore " + " ".join(args[1:]))
