"""Backups (issue 11, item 8) on both engines: taken while a client keeps
sending, restored into an empty database, and a server started on the copy
finds every message acknowledged before the backup began. A restore over a
database holding data is refused without --force."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from click.testing import CliRunner

from tidings.cli import main
from tidings.client import Client
from tidings.db.backup import BackupError, backup, libpq_url, restore
from tidings.testing import running_server, test_settings, with_search_path

from .helpers import PASSWORD


@contextlib.asynccontextmanager
async def empty_database(url: str | None) -> AsyncIterator[str | None]:
    """Where to restore: a new SQLite file, or a new PostgreSQL database that
    will hold the dumped schema (dropped afterwards)."""
    if url is None:
        yield None
        return
    server_url, schema = libpq_url(url)
    name = "restore_" + uuid.uuid4().hex[:10]
    admin = await asyncpg.connect(server_url)
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        parts = urlsplit(server_url)
        target = urlunsplit(parts._replace(path="/" + name))
        yield with_search_path(target, schema) if schema else target
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def all_ids(client: Client, chat_id: int) -> set[int]:
    ids: set[int] = set()
    before = None
    while True:
        page = await client.history(chat_id, before=before, limit=100)
        if not page:
            return ids
        ids |= {m["msg_id"] for m in page}
        before = min(m["msg_id"] for m in page)


async def test_backup_under_load_restores_every_acknowledged_message(
        tmp_path: Path, database_url: str | None) -> None:
    settings = test_settings(tmp_path / "data", database_url)
    dest = tmp_path / "backups" / "tidings.backup"
    acked: list[int] = []
    async with running_server(settings) as srv, Client(srv.url) as alice:
        await alice.register("alice", PASSWORD)
        chat_id = (await alice.create_group("Team", []))["chat_id"]
        stop, warm = asyncio.Event(), asyncio.Event()

        async def keep_sending() -> None:
            i = 0
            while not stop.is_set():
                acked.append((await alice.send_text(chat_id, f"m{i}"))["msg_id"])
                i += 1
                if i == 30:
                    warm.set()

        load = asyncio.create_task(keep_sending())
        await warm.wait()
        before = set(acked)  # acknowledged before the backup began
        done = await backup(database_url, settings.sqlite_path, dest)
        await asyncio.sleep(0.05)
        stop.set()
        await load
    assert done.size_bytes == dest.stat().st_size > 0
    assert len(acked) > len(before)  # the load went on through the backup

    async with empty_database(database_url) as target_url:
        restored = test_settings(tmp_path / "restored", target_url)
        await restore(target_url, restored.sqlite_path, dest, force=False)
        with pytest.raises(BackupError, match="--force"):
            await restore(target_url, restored.sqlite_path, dest, force=False)
        await restore(target_url, restored.sqlite_path, dest, force=True)
        async with running_server(restored) as srv, Client(srv.url) as alice:
            await alice.login("alice", PASSWORD)
            found = await all_ids(alice, chat_id)
            assert before <= found  # every acknowledged message, nothing lost
            assert found <= set(acked) | {min(found)}  # and nothing never sent (+ "created")
            # The restored database takes writes at the next pts.
            sent = await alice.send_text(chat_id, "after the restore")
            assert sent["msg_id"] == max(found) + 1


def test_cli_backs_up_and_refuses_to_restore_over_data(tmp_path: Path) -> None:
    data = tmp_path / "data"

    async def make() -> None:
        async with running_server(test_settings(data)) as srv, Client(srv.url) as alice:
            await alice.register("alice", PASSWORD)

    asyncio.run(make())
    runner = CliRunner()
    out = runner.invoke(main, ["admin", "backup", "--data-dir", str(data),
                               str(tmp_path / "b.db")])
    assert out.exit_code == 0, out.output
    assert "SQLite online backup" in out.output
    out = runner.invoke(main, ["admin", "restore", "--data-dir", str(data),
                               str(tmp_path / "b.db")])
    assert out.exit_code == 1
    assert "--force" in out.output
    out = runner.invoke(main, ["admin", "restore", "--data-dir", str(data),
                               str(tmp_path / "missing.db")])
    assert out.exit_code == 1
    assert "no backup at" in out.output
