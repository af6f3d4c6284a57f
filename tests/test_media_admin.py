"""Operator tools for media (issue 8 items 11, 12): recomputing the usage
counters, the storage report, entitlements and the whitelist (with the
re-evaluation they cause), the Prometheus gauges, and ``tidings admin``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from tests.helpers import make_users
from tests.media_service_helpers import (
    counters_match,
    expect,
    file_bytes,
    file_row,
    run_jobs,
    send_file,
    upload,
    video_bytes,
)
from tidings.cli import main
from tidings.clock import FakeClock
from tidings.db.engine import Txn
from tidings.errors import ErrorCode
from tidings.services.container import Services
from tidings.services.media_admin import Difference, MediaAdmin
from tidings.services.media_metrics import MediaMetrics
from tidings.store import chat_media
from tidings.testing import service_harness, test_settings

DAY = 86400


def admin_of(sv: Services) -> MediaAdmin:
    return MediaAdmin(sv.db, sv.clock, sv.settings)


async def sql(sv: Services, statement: str, *args: object) -> None:
    async def run_txn(txn: Txn) -> None:
        await txn.execute(statement, *args)

    await sv.db.write("test_sql", run_txn)


async def test_recompute_reports_corrupt_counters_and_apply_fixes_them(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await sv.chats.create(alice, "group", "Team", [bob])
    await sv.media.set_pool(alice, chat.chat_id, True, 10**6)
    pooled = await send_file(sv, alice, chat.chat_id, await upload(sv, alice, file_bytes(300)))
    kept = await send_file(sv, alice, chat.chat_id, await upload(sv, alice, file_bytes(500)))
    await sv.media.renew(alice, chat.chat_id, pooled.msg_id, 30, "pool")
    await sv.media.preserve(alice, chat.chat_id, kept.msg_id)
    admin = admin_of(sv)
    assert await admin.recompute_usage(False) == []
    pool_size = (await file_row(sv, pooled.file_id or 0)).size
    kept_size = (await file_row(sv, kept.file_id or 0)).size

    await sql(sv, "UPDATE chat_media SET pool_used = pool_used + 999 WHERE chat_id = $1",
              chat.chat_id)
    await sql(sv, "UPDATE users SET custody_used = 7, custody_files = 2 WHERE user_id = $1",
              bob)
    wrong = [Difference("pool", chat.chat_id, pool_size + 999, 1, pool_size, 1),
             Difference("custody", bob, 7, 2, 0, 0)]
    assert await admin.recompute_usage(False) == wrong
    assert await admin.recompute_usage(False) == wrong  # reporting changes nothing

    assert await admin.recompute_usage(True) == wrong
    counted, recomputed = await counters_match(sv)
    assert counted == recomputed
    assert recomputed.pools == {chat.chat_id: (pool_size, 1)}
    assert recomputed.custody == {alice: (kept_size, 1)}
    assert await admin.recompute_usage(False) == []


@pytest.fixture
async def short(tmp_path: Path, database_url: str | None, clock: FakeClock
                ) -> AsyncIterator[Services]:
    """Files live 5 days, videos 20: the report's 7- and 30-day windows split them."""
    settings = test_settings(tmp_path / "data", database_url, media_ttl_file_seconds=5 * DAY,
                             media_ttl_video_seconds=20 * DAY, media_grace_seconds=30 * DAY)
    async with service_harness(settings, clock) as sv:
        yield sv


async def test_storage_report_on_a_known_data_set(short: Services, clock: FakeClock) -> None:
    sv = short
    alice, bob = await make_users(sv, "alice", "bob")
    a = (await sv.chats.create(alice, "group", "A", [bob])).chat_id
    b = (await sv.chats.create(alice, "group", "B", [bob])).chat_id
    videos_a = [await upload(sv, alice, video_bytes(n), kind="video", name="v.mp4")
                for n in (4000, 3000)]
    video_b = await upload(sv, bob, video_bytes(2000), kind="video", name="w.mp4")
    note_b = await upload(sv, bob, file_bytes(100))
    unsent = await upload(sv, alice, file_bytes(50))
    for v in videos_a:
        await send_file(sv, alice, a, v)
    await send_file(sv, bob, b, video_b)
    await send_file(sv, bob, b, note_b)
    now = clock.now()
    today = now // DAY * DAY
    size_a = sum(v.size for v in videos_a)
    notes = note_b.size + unsent.size

    report = await admin_of(sv).storage_report(now, 2)
    assert report["top_video_chats"] == [{"chat_id": a, "bytes": size_a, "files": 2},
                                         {"chat_id": b, "bytes": video_b.size, "files": 1}]
    assert [f["file_id"] for f in report["largest_files"]] == [v.file_id for v in videos_a]
    assert report["largest_files"][0]["chat_id"] == a
    assert report["daily"] == [
        {"chat_id": a, "day": today, "bytes": size_a, "files": 2},
        {"chat_id": b, "day": today, "bytes": video_b.size + note_b.size, "files": 2}]
    assert report["expiring"] == {"7d": {"files": 2, "bytes": notes},
                                  "30d": {"files": 5, "bytes": size_a + video_b.size + notes}}
    assert report["by_kind_status"] == [
        {"kind": "file", "status": "active", "files": 2, "bytes": notes},
        {"kind": "video", "status": "active", "files": 3, "bytes": size_a + video_b.size}]
    assert report["blobs"] == {"count": 5, "bytes": size_a + video_b.size + notes}

    clock.advance(6 * DAY)  # the notes expire (their bytes kept for the grace period)
    await run_jobs(sv)
    report = await admin_of(sv).storage_report(clock.now(), 2)
    assert report["expiring"] == {"7d": {"files": 0, "bytes": 0},
                                  "30d": {"files": 3, "bytes": size_a + video_b.size}}
    assert report["by_kind_status"][0] == {"kind": "file", "status": "expired", "files": 2,
                                           "bytes": notes}
    assert report["top_video_chats"][0]["bytes"] == size_a


async def test_whitelisting_and_entitlement_give_files_their_new_lifetime(
        sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = (await sv.chats.create(alice, "group", "Team", [bob])).chat_id
    other = (await sv.chats.create(bob, "group", "Other", [alice])).chat_id
    mine = await send_file(sv, alice, chat, await upload(sv, alice, file_bytes()))
    theirs = await send_file(sv, bob, other, await upload(sv, bob, file_bytes()))
    deadline = (await file_row(sv, theirs.file_id or 0)).expires_at
    assert deadline is not None
    admin = admin_of(sv)

    assert await admin.set_whitelisted("chat", chat, True) == [chat]
    await run_jobs(sv)
    assert (await file_row(sv, mine.file_id or 0)).expires_at is None
    assert await admin.set_whitelisted("chat", chat, False) == [chat]
    await run_jobs(sv)
    assert (await file_row(sv, mine.file_id or 0)).expires_at is not None

    assert await admin.set_whitelisted("user", bob, True) == [other]
    await run_jobs(sv)
    assert (await file_row(sv, theirs.file_id or 0)).expires_at is None
    await admin.set_whitelisted("user", bob, False)
    await run_jobs(sv)
    assert (await file_row(sv, theirs.file_id or 0)).expires_at == deadline

    assert await admin.set_entitlement(bob, 2) == [other]  # pro: no expiry of its own
    await run_jobs(sv)
    row = await file_row(sv, theirs.file_id or 0)
    assert (row.expires_at, row.preserved_by) == (None, "subscription")
    levels = await sv.db.read("t", lambda txn: chat_media.user_media_txn(txn, [bob]))
    assert levels == {bob: (2, False)}

    await expect(ErrorCode.USER_NOT_FOUND, admin.set_entitlement(10**9, 1))
    await expect(ErrorCode.INVALID_PARAMS, admin.set_entitlement(bob, 3))
    await expect(ErrorCode.USER_NOT_FOUND, admin.set_whitelisted("user", 10**9, True))
    await expect(ErrorCode.CHAT_NOT_FOUND, admin.set_whitelisted("chat", 10**9, True))


async def test_metrics_report_files_and_jobs_from_the_database(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = (await sv.chats.create(alice, "group", "Team", [bob])).chat_id
    video = await upload(sv, alice, video_bytes(1000), kind="video", name="v.mp4")
    await upload(sv, alice, file_bytes(10))
    await admin_of(sv).set_whitelisted("chat", chat, True)  # one media_reevaluate job
    registry = CollectorRegistry()
    metrics = MediaMetrics(registry)
    metrics.start(sv.db)
    second = MediaMetrics(registry)  # another node in this process: stays idle
    second.start(sv.db)
    await second.stop()
    try:
        await metrics.refresh()

        def value(name: str, **labels: str) -> float | None:
            return registry.get_sample_value(name, labels)

        assert value("tidings_media_bytes", kind="video", status="active") == video.size
        assert value("tidings_media_files", kind="video", status="active") == 1
        assert value("tidings_media_files", kind="file", status="active") == 1
        assert value("tidings_media_files", kind="image", status="deleted") == 0
        assert value("tidings_jobs_pending", kind="media_reevaluate") == 1
        assert value("tidings_jobs_given_up", kind="media_reevaluate") == 0

        await sql(sv, "UPDATE background_jobs SET failed_at = 1 WHERE kind = $1",
                  "media_reevaluate")
        await metrics.refresh()
        assert value("tidings_jobs_pending", kind="media_reevaluate") == 0
        assert value("tidings_jobs_given_up", kind="media_reevaluate") == 1
        await sql(sv, "DELETE FROM background_jobs WHERE kind = $1", "media_reevaluate")
        await metrics.refresh()  # a kind once seen stays, at zero
        assert value("tidings_jobs_given_up", kind="media_reevaluate") == 0
    finally:
        await metrics.stop()
    assert registry.get_sample_value("tidings_media_files",
                                     {"kind": "video", "status": "active"}) is None


# -- the command line, against a SQLite data dir ----------------------------------------

def _prepare(data_dir: Path) -> tuple[int, int]:
    """A migrated database with one user whose custody counter is wrong;
    returns (user_id, chat_id)."""
    async def go() -> tuple[int, int]:
        async with service_harness(test_settings(data_dir)) as sv:
            alice, bob = await make_users(sv, "alice", "bob")
            chat = (await sv.chats.create(alice, "group", "Team", [bob])).chat_id
            await sql(sv, "UPDATE users SET custody_used = 123, custody_files = 1"
                          " WHERE user_id = $1", bob)
            return bob, chat

    return asyncio.run(go())


def _entitlement(data_dir: Path, user_id: int) -> int:
    async def go() -> int:
        async with service_harness(test_settings(data_dir)) as sv:
            found = await sv.db.read("t", lambda txn: chat_media.user_media_txn(
                txn, [user_id]))
            return found[user_id][0]

    return asyncio.run(go())


def test_admin_commands_repair_and_set(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bob, chat = _prepare(data)
    runner = CliRunner()

    def admin(*args: str) -> tuple[int, str]:
        out = runner.invoke(main, ["admin", *args, "--data-dir", str(data)])
        return out.exit_code, out.output

    code, text = admin("recompute-usage")
    assert code == 0 and "custody" in text and "123" in text
    assert "1 counter(s) differ" in text
    code, text = admin("recompute-usage", "--apply")
    assert code == 0 and "1 counter(s) fixed" in text
    assert admin("recompute-usage") == (0, "all counters agree with the files\n")

    code, text = admin("set-entitlement", str(bob), "1")
    assert code == 0 and f"user {bob}: entitlement level 1" in text
    assert _entitlement(data, bob) == 1
    assert admin("set-entitlement", "999999", "1") == (1, "Error: no user 999999\n")
    assert admin("set-entitlement", str(bob), "9") == (1, "Error: level must be 0 to 2\n")
    assert admin("whitelist", "chat", "999999")[0] == 1
    code, text = admin("whitelist", "chat", str(chat))
    assert code == 0 and "whitelisted; 1 chat(s)" in text

    code, text = admin("storage-report", "--json")
    assert code == 0
    assert json.loads(text)["blobs"] == {"count": 0, "bytes": 0}
    code, text = admin("storage-report", "--top", "3")
    assert code == 0 and "Top chats by video bytes" in text and "Expiring" in text


def test_settings_of_the_admin_cli_are_validated(tmp_path: Path) -> None:
    out = CliRunner().invoke(main, ["admin", "recompute-usage", "--config",
                                    str(tmp_path / "missing.toml")])
    assert out.exit_code == 1 and out.output.startswith("Error: invalid configuration")
