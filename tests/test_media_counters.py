"""Usage counters are derived (issue 8, point 11): whatever happens to files —
uploads, sends, forwards, renewals from a pool, custody and release, retention
changes, entitlements, expiry and deletion as time passes — the counters kept
incrementally (a pool's ``pool_used``/``pool_files``, a user's
``custody_used``/``custody_files``) equal the ones recomputed from ``files``,
after every step, on both engines.

Hypothesis draws a list of operations; each example runs them on a fresh
database. Refusals (``POOL_FULL``, ``QUOTA_EXCEEDED``, ``MEDIA_EXPIRED``...)
are expected outcomes; any other failure is a bug. After each step it also
checks that every file holding bytes has its blob, and that no blob outlives
every file holding it once the due jobs have run.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tidings.clock import FakeClock
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.store import files
from tidings.testing import postgres_schema, service_harness, test_settings

from .conftest import IN_CI, PG_URL
from .helpers import make_users
from .media_service_helpers import (
    audio_bytes,
    counters_match,
    file_bytes,
    run_jobs,
    send_file,
    set_chat_whitelisted,
    set_entitlement,
    upload,
    video_bytes,
)

DAY = 86400
EXPECTED = {ErrorCode.POOL_FULL, ErrorCode.QUOTA_EXCEEDED, ErrorCode.MEDIA_EXPIRED,
            ErrorCode.MEDIA_GONE, ErrorCode.FORBIDDEN, ErrorCode.INVALID_PARAMS,
            ErrorCode.NOT_FOUND, ErrorCode.RATE_LIMITED, ErrorCode.NOT_A_MEMBER,
            ErrorCode.MESSAGE_NOT_FOUND}
SIZES = (60, 100, 250)
KINDS = ("file", "video", "audio")

small = st.integers(0, 7)  # indexes, taken modulo what exists
# Custody, renewals and the passing of time are drawn twice as often: they are
# what moves the counters.
OPS = st.one_of(
    st.tuples(st.just("upload"), small, st.sampled_from(KINDS), st.sampled_from(SIZES),
              st.booleans()),
    st.tuples(st.just("send"), small, small),
    st.tuples(st.just("forward"), small, small, small),
    st.tuples(st.just("pool"), small, st.booleans(), st.sampled_from([0, 150, 400, None])),
    st.tuples(st.just("sponsor"), small, small, st.sampled_from([60, 250])),
    st.tuples(st.just("renew"), small, st.sampled_from([None, 1, 30])),
    st.tuples(st.just("request"), small, small, st.booleans()),
    st.tuples(st.just("preserve"), small),
    st.tuples(st.just("preserve"), small),
    st.tuples(st.just("release"), small),
    st.tuples(st.just("release"), small),
    st.tuples(st.just("renew"), small, st.sampled_from([None, 1, 30])),
    st.tuples(st.just("policy"), small, st.sampled_from([None, 3600, DAY, 20 * DAY]),
              st.booleans()),
    st.tuples(st.just("entitle"), small, st.integers(0, 2)),
    st.tuples(st.just("whitelist"), small),
    st.tuples(st.just("advance"), st.sampled_from([3600, DAY, 4 * DAY, 12 * DAY])),
    st.tuples(st.just("advance"), st.sampled_from([3600, DAY, 4 * DAY, 12 * DAY])),
)


@dataclass
class World:
    sv: Services
    clock: FakeClock
    users: list[int]
    chats: list[tuple[int, int]]  # (chat_id, a user who may manage it)
    uploads: list[tuple[int, int, bytes]] = field(default_factory=list)  # (file, user, data)
    shown: list[tuple[int, int, int]] = field(default_factory=list)  # (chat, msg, uploader)


async def build(sv: Services, clock: FakeClock) -> World:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    g1 = (await sv.chats.create(alice, "group", "one", [bob, carol])).chat_id
    g2 = (await sv.chats.create(bob, "group", "two", [alice, carol])).chat_id
    direct = (await sv.chats.direct(alice, carol)).chat_id
    w = World(sv, clock, [alice, bob, carol], [(g1, alice), (g2, bob), (direct, carol)])
    # A head start, so that most drawn operations find something to act on: a
    # small pool and a large one, and a file of each user shown in each group.
    await sv.media.set_pool(alice, g1, True, 300)
    await sv.media.set_pool(bob, g2, True, 10**6)
    for user in w.users:
        for chat_id in (g1, g2):
            await step(w, ("upload", w.users.index(user), "file", SIZES[user % 3], False))
            await step(w, ("send", len(w.uploads) - 1, [c for c, _ in w.chats].index(chat_id)))
    return w


T = TypeVar("T")
Op = tuple[Any, ...]  # (name, drawn values...), as OPS draws them


def pick(seq: list[T], i: int) -> T:
    return seq[i % len(seq)]


async def step(w: World, op: Op) -> None:
    sv, name = w.sv, op[0]
    if name == "upload":
        _, u, kind, size, again = op
        user = pick(w.users, u)
        if again and w.uploads:  # the same bytes as an earlier upload: a shared blob
            data = pick(w.uploads, u)[2]
            kind = "file"
        else:
            make = {"file": file_bytes, "video": video_bytes, "audio": audio_bytes}[kind]
            data = make(size)
        f = await upload(sv, user, data, kind=kind, name="x")
        w.uploads.append((f.file_id, user, data))
    elif name == "send" and w.uploads:
        file_id, user, _ = pick(w.uploads, op[1])
        chat_id, _ = pick(w.chats, op[2])
        kind = (await _file(sv, file_id)).kind
        m = await send_file(sv, user, chat_id, file_id, kind=kind)
        w.shown.append((chat_id, m.msg_id, user))
    elif name == "forward" and w.shown:
        chat_id, msg_id, uploader = pick(w.shown, op[1])
        to, _ = pick(w.chats, op[2])
        by = pick(w.users, op[3])
        [m] = await sv.forward.forward(by, chat_id, [msg_id], to, None)
        w.shown.append((to, m.msg_id, uploader))
    elif name == "pool":
        chat_id, manager = pick(w.chats, op[1])
        await sv.media.set_pool(manager, chat_id, op[2], op[3])
    elif name == "sponsor":
        chat_id, _ = pick(w.chats, op[1])
        await sv.media.sponsor(pick(w.users, op[2]), chat_id, op[3])
    elif name == "renew" and w.shown:
        chat_id, msg_id, _ = pick(w.shown, op[1])
        manager = dict(w.chats)[chat_id]
        await sv.media.renew(manager, chat_id, msg_id, op[2], "pool")
    elif name == "request" and w.shown:
        chat_id, msg_id, _ = pick(w.shown, op[1])
        asked = await sv.media.request_renewal(pick(w.users, op[2]), chat_id, msg_id)
        await sv.media.decide_renewal(dict(w.chats)[chat_id], chat_id, asked["request_id"],
                                      op[3], 30)
    elif name == "preserve" and w.shown:
        chat_id, msg_id, uploader = pick(w.shown, op[1])
        await sv.media.preserve(uploader, chat_id, msg_id)
    elif name == "release":
        kept = [s for s in w.shown if (await _file_of(sv, s)).preserved_by == "sender"]
        if kept:
            chat_id, msg_id, uploader = pick(kept, op[1])
            await sv.media.release(uploader, chat_id, msg_id)
    elif name == "policy":
        chat_id, manager = pick(w.chats, op[1])
        await sv.media.set_storage_policy(manager, chat_id, op[2], op[3])
        await run_jobs(sv)
    elif name == "entitle":
        await set_entitlement(sv, pick(w.users, op[1]), op[2])
    elif name == "whitelist":
        await set_chat_whitelisted(sv, pick(w.chats, op[1])[0])
    elif name == "advance":
        w.clock.advance(op[1])
        await run_jobs(sv)


async def _file_of(sv: Services, shown: tuple[int, int, int]) -> files.FileRow:
    [m] = await sv.timeline.get(shown[2], shown[0], [shown[1]])
    assert m.file_id is not None
    return await _file(sv, m.file_id)


async def _file(sv: Services, file_id: int) -> files.FileRow:
    async def get_txn(txn: Txn) -> files.FileRow:
        row = await files.get_file_txn(txn, file_id)
        assert row is not None
        return row

    return await sv.db.read("test_file", get_txn)


async def check(sv: Services, where: str) -> None:
    counted, recomputed = await counters_match(sv)
    assert counted == recomputed, f"{where}: counters {counted} != recomputed {recomputed}"

    async def blobs_txn(txn: Txn) -> tuple[set[str], set[str]]:
        held = {r[0] for r in await txn.fetch(
            "SELECT DISTINCT sha256 FROM files WHERE status IN ('active', 'expired')")}
        rows = {r[0] for r in await txn.fetch("SELECT sha256 FROM blobs")}
        return held, rows

    held, rows = await sv.db.read("test_blobs", blobs_txn)
    assert held <= rows, f"{where}: files hold bytes without a blob row: {held - rows}"
    for sha256 in held:
        assert await sv.files.blobs.exists(sha256), f"{where}: blob {sha256} is missing"


async def run_example(engine: str, ops: list[Op]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="tidings-counters-"))
    try:
        async with contextlib.AsyncExitStack() as stack:
            url = (await stack.enter_async_context(postgres_schema(PG_URL))
                   if engine == "postgres" else None)
            clock = FakeClock()
            settings = test_settings(tmp / "data", url, media_ttl_file_seconds=10 * DAY,
                                     media_ttl_video_seconds=20 * DAY,
                                     media_ttl_audio_seconds=5 * DAY,
                                     media_grace_seconds=3 * DAY, quota_default_bytes=200)
            sv = await stack.enter_async_context(service_harness(settings, clock))
            w = await build(sv, clock)
            for i, op in enumerate(ops):
                try:
                    await step(w, op)
                except TidingsError as exc:
                    assert exc.code in EXPECTED, f"step {i} {op}: {exc}"
                await check(sv, f"after step {i} {op}")
            # Let everything run out: every blob no file holds is removed.
            w.clock.advance(400 * DAY)
            await run_jobs(sv)
            w.clock.advance(400 * DAY)
            await run_jobs(sv)
            await check(sv, "at the end")
            await _no_orphan_blobs(sv)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _no_orphan_blobs(sv: Services) -> None:
    """No blob row and no stored blob outlives every file holding its bytes."""
    async def orphans_txn(txn: Txn) -> tuple[list[str], set[str]]:
        orphans = [r[0] for r in await txn.fetch(
            "SELECT sha256 FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM files f WHERE"
            " f.sha256 = b.sha256 AND f.status IN ('active', 'expired'))")]
        held = {r[0] for r in await txn.fetch(
            "SELECT sha256 FROM files WHERE status IN ('active', 'expired')")}
        return orphans, held

    orphans, held = await sv.db.read("test_orphans", orphans_txn)
    assert orphans == []
    stored = {p.name for p in (sv.settings.media_path / "blobs").rglob("*") if p.is_file()}
    assert stored <= held, f"blobs no file holds: {stored - held}"


def _require_postgres() -> None:
    async def probe() -> None:
        async with postgres_schema(PG_URL):
            pass

    try:
        asyncio.run(probe())
    except OSError as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is not reachable: {exc}")
        pytest.skip(f"PostgreSQL is not reachable: {exc}")


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_usage_counters_always_equal_the_recomputed_ones(engine: str) -> None:
    if engine == "postgres":
        _require_postgres()

    # Bounded so that each engine finishes well within a minute.
    @hypothesis_settings(max_examples=40 if engine == "sqlite" else 20, deadline=None,
                         database=None,
                         suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(OPS, min_size=5, max_size=30))
    def example(ops: list[Op]) -> None:
        asyncio.run(run_example(engine, ops))

    example()
