"""Media writers running at once on PostgreSQL (SQLite has one writer, so
these interleavings cannot happen there): a quota check that concurrent
preserves must not both pass, and the expiry sweep taking its locks in the
order renewals take them (chat, then file), so that the two never deadlock.

Each test stops one transaction at the point that matters and lets the other
run into it, so the interleaving is forced, not left to chance."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tidings import wire
from tidings.clock import FakeClock
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError
from tidings.jobs import build_runner
from tidings.services import media_expiry
from tidings.services.container import Services
from tidings.services.media_updates import announce_txn as announce
from tidings.store import files
from tidings.testing import service_harness, test_settings

from .helpers import make_users
from .media_service_helpers import counters_match, file_bytes, file_row, send_file, upload

SIZE = 100
DAY = 86400


async def shared(sv: Services, uploader: int, chat_id: int) -> tuple[wire.FileInfo, int]:
    f = await upload(sv, uploader, file_bytes(SIZE))
    return f, (await send_file(sv, uploader, chat_id, f)).msg_id


async def test_concurrent_preserves_respect_the_quota(tmp_path: Path, pg_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Two preserves of the sender's files in two chats hold different chat and
    file locks; both reach the quota check before either writes. Only one fits."""
    settings = test_settings(tmp_path / "data", pg_url, quota_default_bytes=SIZE + 50)
    async with service_harness(settings, FakeClock()) as sv:
        alice, bob = await make_users(sv, "alice", "bob")
        chat_ids = [(await sv.chats.create(alice, "group", t, [bob])).chat_id
                    for t in ("one", "two")]
        targets = [(c, (await shared(sv, bob, c))[1]) for c in chat_ids]
        both_there = asyncio.Barrier(2)
        read_custody = files.custody_usage_txn
        arrivals = 0

        async def meet_then_read(txn: Txn, user_id: int, **kw: Any) -> tuple[int, int, int]:
            nonlocal arrivals
            arrivals += 1
            if arrivals <= 2:  # each preserve's quota check, not the reads after it
                await both_there.wait()
            return await read_custody(txn, user_id, **kw)

        monkeypatch.setattr(files, "custody_usage_txn", meet_then_read)
        outcomes = await asyncio.gather(*(sv.media.preserve(bob, c, m) for c, m in targets),
                                        return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(refused) == 1, outcomes
        assert isinstance(refused[0], TidingsError)
        assert refused[0].code is ErrorCode.QUOTA_EXCEEDED
        assert (await sv.media.quota(bob, 10))["used"] == SIZE
        counted, recomputed = await counters_match(sv)
        assert counted == recomputed


async def test_a_renewal_during_the_expiry_sweep_does_not_deadlock(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep holds its locks and waits until a renewal of the same file is
    blocked behind them; then it writes its updates. Both must succeed: the
    file expires, then is renewed."""
    clock = FakeClock()
    async with service_harness(test_settings(tmp_path / "data", pg_url), clock) as sv:
        alice, bob = await make_users(sv, "alice", "bob")
        chat_id = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
        await sv.media.set_pool(alice, chat_id, True, 10**6)
        f, msg_id = await shared(sv, bob, chat_id)
        clock.advance(30 * DAY)
        sweep_locked = asyncio.Event()

        async def wait_for_a_blocked_renewal(txn: Txn, *args: Any, **kw: Any) -> None:
            pid = await txn.fetchval("SELECT pg_backend_pid()")
            sweep_locked.set()
            async with asyncio.timeout(10):
                # The state is in PostgreSQL: no event to await, so poll it.
                while not await blocked_behind(sv, pid):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            await announce(txn, *args, **kw)

        async def renew_once_locked() -> wire.FileInfo:
            await sweep_locked.wait()
            return await sv.media.renew(alice, chat_id, msg_id, 30, "pool")

        monkeypatch.setattr(media_expiry, "announce_txn", wait_for_a_blocked_renewal)
        done, renewed = await asyncio.gather(build_runner(sv).run_due(), renew_once_locked(),
                                             return_exceptions=True)
        assert isinstance(renewed, wire.FileInfo), renewed
        assert (renewed.status, renewed.expires_at) == ("active", clock.now() + 30 * DAY)
        row = await file_row(sv, f.file_id)
        assert (row.status, row.pool_chat_id) == ("active", chat_id)
        diff = await sv.sync.get_chat_difference(bob, chat_id, 0, None)
        kinds = [u["kind"] for u in diff.updates if u["kind"].startswith("media.")]
        assert kinds == ["media.expired", "media.renewed"]
        assert await failed_jobs(sv) == []
        del done


async def blocked_behind(sv: Services, pid: int) -> bool:
    async def blocked_txn(txn: Txn) -> bool:
        return bool(await txn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity"
            " WHERE $1 = ANY(pg_blocking_pids(pid)))", pid))

    return await sv.db.read("test_blocked", blocked_txn, snapshot=False)


async def failed_jobs(sv: Services) -> list[tuple[str, str]]:
    async def failed_txn(txn: Txn) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in await txn.fetch(
            "SELECT kind, last_error FROM background_jobs WHERE attempts > 0")]

    return await sv.db.read("test_failed_jobs", failed_txn)
