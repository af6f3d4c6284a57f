"""The preservation tier at the service level, on both engines (issue 8): the
chat storage pool and its sponsors, renewal from it, renewal requests, the
sender's custody and quota, and what each viewer sees (``actions``,
``expiring_soon``). Each change is checked with the updates it writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tidings import wire
from tidings.clock import FakeClock
from tidings.errors import ErrorCode
from tidings.services.container import Services
from tidings.services.files import Placeholder
from tidings.testing import service_harness, test_settings

from .helpers import make_users
from .media_service_helpers import (
    chat_kinds,
    counters_match,
    expect,
    file_bytes,
    file_row,
    published,
    run_jobs,
    send_file,
    set_entitlement,
    upload,
    user_kinds,
)

DAY = 86400
GRACE = 7 * DAY
FILE_TTL = 30 * DAY
SIZE = 100  # bytes of each test file


async def group(sv: Services) -> tuple[int, int, int, int]:
    """alice (owner), bob and carol (members) in a group."""
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await sv.chats.create(alice, "group", "friends", [bob, carol])
    return alice, bob, carol, chat.chat_id


async def shared(sv: Services, uploader: int, chat_id: int) -> tuple[wire.FileInfo, int]:
    """A file of SIZE bytes sent into the chat: (its info, the message id)."""
    f = await upload(sv, uploader, file_bytes(SIZE))
    return f, (await send_file(sv, uploader, chat_id, f)).msg_id


async def shown(sv: Services, viewer: int, chat_id: int, msg_id: int) -> wire.FileInfo:
    [m] = [m for m in await sv.timeline.history(viewer, chat_id, None, None, None)
           if m.msg_id == msg_id]
    assert m.file is not None
    return m.file


async def counters_agree(sv: Services) -> None:
    counted, recomputed = await counters_match(sv)
    assert counted == recomputed


# -- the pool ----------------------------------------------------------------------------


async def test_only_owners_and_admins_enable_or_disable_the_pool(sv: Services) -> None:
    alice, bob, _, chat_id = await group(sv)
    bus = published(sv)
    err = await expect(ErrorCode.FORBIDDEN, sv.media.set_pool(bob, chat_id, True, 10**6))
    assert err.data["permission"] == "pool"
    assert chat_kinds(bus) == []
    pool = await sv.media.set_pool(alice, chat_id, True, 1000)
    assert chat_kinds(bus) == ["pool.updated"]
    assert pool == {"enabled": True, "capacity": 1000, "used": 0, "free": 1000, "files": 0,
                    "by_kind": {}, "sponsors": [], "pts": pool["pts"]}
    bus = published(sv)
    off = await sv.media.set_pool(alice, chat_id, False, None)
    assert chat_kinds(bus) == ["pool.updated"]
    assert (off["enabled"], off["capacity"]) == (False, 1000)  # capacity kept
    assert off["pts"] == pool["pts"] + 1
    assert (await sv.media.pool(bob, chat_id))["enabled"] is False


async def test_members_sponsor_capacity(sv: Services) -> None:
    alice, bob, carol, chat_id = await group(sv)
    outsider, = await make_users(sv, "dave")
    for bad in (0, -5):
        await expect(ErrorCode.INVALID_PARAMS, sv.media.sponsor(bob, chat_id, bad))
    err = await expect(ErrorCode.FORBIDDEN, sv.media.sponsor(bob, chat_id, 500))
    assert err.data["permission"] == "pool"  # not enabled yet
    await sv.media.set_pool(alice, chat_id, True, 1000)
    await expect(ErrorCode.NOT_A_MEMBER, sv.media.sponsor(outsider, chat_id, 500))
    bus = published(sv)
    await sv.media.sponsor(bob, chat_id, 500)
    await sv.media.sponsor(carol, chat_id, 700)
    pool = await sv.media.sponsor(bob, chat_id, 300)
    assert chat_kinds(bus) == ["pool.updated"] * 3
    assert (pool["capacity"], pool["free"]) == (2500, 2500)
    assert pool["sponsors"] == [{"user_id": bob, "bytes": 800}, {"user_id": carol, "bytes": 700}]
    assert {k: v for k, v in (await sv.media.pool(carol, chat_id)).items()} == {
        k: v for k, v in pool.items() if k != "pts"}


async def test_renewal_from_the_pool(sv: Services, clock: FakeClock) -> None:
    alice, bob, carol, chat_id = await group(sv)
    direct = (await sv.chats.direct(bob, carol)).chat_id
    f, msg_id = await shared(sv, bob, chat_id)
    await sv.forward.forward(bob, chat_id, [msg_id], direct, None)
    err = await expect(ErrorCode.FORBIDDEN, sv.media.renew(alice, chat_id, msg_id, 30, "pool"))
    assert err.data["permission"] == "pool"  # not enabled
    await sv.media.set_pool(alice, chat_id, True, SIZE)
    await expect(ErrorCode.FORBIDDEN, sv.media.renew(carol, chat_id, msg_id, 30, "pool"))
    await expect(ErrorCode.INVALID_PARAMS, sv.media.renew(alice, chat_id, msg_id, 0, "pool"))
    await expect(ErrorCode.INVALID_PARAMS, sv.media.renew(alice, chat_id, msg_id, 30, "cash"))
    clock.advance(FILE_TTL)
    await run_jobs(sv)
    assert (await file_row(sv, f.file_id)).status == "expired"

    bus = published(sv)
    renewed = await sv.media.renew(alice, chat_id, msg_id, 30, "pool")
    assert (renewed.status, renewed.expires_at, renewed.preserved_by) == (
        "active", clock.now() + 30 * DAY, None)
    assert renewed.actions == ["renew_from_pool"]
    # The pool's use changed too: it now holds the file.
    assert chat_kinds(bus, chat_id) == ["media.renewed", "pool.updated"]
    assert chat_kinds(bus, direct) == ["media.renewed"]
    pool = await sv.media.pool(alice, chat_id)
    assert (pool["used"], pool["files"], pool["free"]) == (SIZE, 1, 0)
    assert pool["by_kind"] == {"file": {"count": 1, "bytes": SIZE}}
    # Renewed again (it is in the pool already): from its later deadline.
    again = await sv.media.renew(alice, chat_id, msg_id, 10, "pool")
    assert again.expires_at == clock.now() + 40 * DAY
    # Kept for good: no deadline, still counted.
    kept = await sv.media.renew(alice, chat_id, msg_id, None, "pool")
    assert (kept.expires_at, kept.preserved_by) == (None, "chat_pool")
    assert kept.actions == []
    await expect(ErrorCode.INVALID_PARAMS, sv.media.renew(alice, chat_id, msg_id, 30, "pool"))
    clock.advance(400 * DAY)
    await run_jobs(sv)
    assert (await file_row(sv, f.file_id)).status == "active"
    assert (await sv.media.pool(alice, chat_id))["used"] == SIZE
    await counters_agree(sv)


async def test_a_full_pool_refuses_and_changes_nothing(sv: Services, clock: FakeClock) -> None:
    alice, bob, _, chat_id = await group(sv)
    await sv.media.set_pool(alice, chat_id, True, SIZE + 50)
    first, first_msg = await shared(sv, bob, chat_id)
    second, second_msg = await shared(sv, bob, chat_id)
    await sv.media.renew(alice, chat_id, first_msg, 30, "pool")
    before = await file_row(sv, second.file_id)
    pool_before = await sv.media.pool(alice, chat_id)
    bus = published(sv)
    err = await expect(ErrorCode.POOL_FULL,
                       sv.media.renew(alice, chat_id, second_msg, 30, "pool"))
    assert err.data == {"capacity": SIZE + 50, "used": SIZE, "size": SIZE}
    assert await file_row(sv, second.file_id) == before
    assert await sv.media.pool(alice, chat_id) == pool_before
    assert chat_kinds(bus) == []
    # A sponsor makes room.
    await sv.media.sponsor(bob, chat_id, 50)
    assert (await sv.media.renew(alice, chat_id, second_msg, 30, "pool")).status == "active"
    assert (await sv.media.pool(alice, chat_id))["used"] == 2 * SIZE
    del first, clock


async def test_a_deleted_file_is_gone_for_good(sv: Services, clock: FakeClock) -> None:
    alice, bob, _, chat_id = await group(sv)
    await sv.media.set_pool(alice, chat_id, True, 10**6)
    f, msg_id = await shared(sv, bob, chat_id)
    await sv.media.renew(alice, chat_id, msg_id, 1, "pool")  # one day past its deadline
    clock.advance(FILE_TTL + DAY)
    await run_jobs(sv)  # expires, still in the pool
    assert (await sv.media.pool(alice, chat_id))["used"] == SIZE
    clock.advance(GRACE)
    await run_jobs(sv)
    assert (await file_row(sv, f.file_id)).status == "deleted"
    assert (await sv.media.pool(alice, chat_id))["used"] == 0  # the room is free again
    err = await expect(ErrorCode.MEDIA_GONE, sv.media.renew(alice, chat_id, msg_id, 30, "pool"))
    assert err.data["file_id"] == f.file_id
    await expect(ErrorCode.MEDIA_GONE, sv.media.preserve(bob, chat_id, msg_id))
    await expect(ErrorCode.MEDIA_GONE, sv.media.request_renewal(alice, chat_id, msg_id))
    assert (await shown(sv, bob, chat_id, msg_id)).actions == []
    opened = await sv.files.open(bob, f.file_id)
    assert isinstance(opened, Placeholder) and opened.error.code is ErrorCode.MEDIA_GONE
    await counters_agree(sv)


async def test_a_file_that_does_not_expire_cannot_be_renewed(sv: Services) -> None:
    """A chat that keeps its media: renewing would give the file a deadline."""
    alice, bob, _, chat_id = await group(sv)
    await sv.media.set_pool(alice, chat_id, True, 10**6)
    f, msg_id = await shared(sv, bob, chat_id)
    await sv.media.set_storage_policy(alice, chat_id, None, False)
    await run_jobs(sv)
    before = await file_row(sv, f.file_id)
    assert before.expires_at is None
    assert (await shown(sv, alice, chat_id, msg_id)).actions == []
    bus = published(sv)
    await expect(ErrorCode.INVALID_PARAMS, sv.media.renew(alice, chat_id, msg_id, 30, "pool"))
    await expect(ErrorCode.INVALID_PARAMS, sv.media.request_renewal(bob, chat_id, msg_id))
    assert await file_row(sv, f.file_id) == before
    assert (await sv.media.pool(alice, chat_id))["used"] == 0
    assert chat_kinds(bus) == []


# -- renewal requests ---------------------------------------------------------------------


async def test_members_ask_and_admins_decide(sv: Services) -> None:
    alice, bob, carol, chat_id = await group(sv)
    await sv.media.set_pool(alice, chat_id, True, 10**6)
    f, msg_id = await shared(sv, alice, chat_id)
    bus = published(sv)
    asked = await sv.media.request_renewal(bob, chat_id, msg_id)
    assert chat_kinds(bus) == ["media.renewal_requested"]
    await expect(ErrorCode.RATE_LIMITED, sv.media.request_renewal(bob, chat_id, msg_id))
    other = await sv.media.request_renewal(carol, chat_id, msg_id)
    await expect(ErrorCode.FORBIDDEN, sv.media.renewal_requests(bob, chat_id, "pending", 10))
    pending = await sv.media.renewal_requests(alice, chat_id, "pending", 10)
    assert [(r["request_id"], r["user_id"], r["file_id"], r["msg_id"], r["state"])
            for r in pending] == [(asked["request_id"], bob, f.file_id, msg_id, "pending"),
                                  (other["request_id"], carol, f.file_id, msg_id, "pending")]

    await expect(ErrorCode.FORBIDDEN,
                 sv.media.decide_renewal(bob, chat_id, asked["request_id"], True, 30))
    bus = published(sv)
    decided = await sv.media.decide_renewal(alice, chat_id, asked["request_id"], True, 30)
    assert decided["state"] == "approved"
    assert chat_kinds(bus) == ["media.renewed", "pool.updated", "media.renewal_decided"]
    row = await file_row(sv, f.file_id)
    assert (row.pool_chat_id, row.expires_at) == (chat_id, f.created_at + FILE_TTL + 30 * DAY)
    bus = published(sv)
    rejected = await sv.media.decide_renewal(alice, chat_id, other["request_id"], False, None)
    assert rejected["state"] == "rejected" and chat_kinds(bus) == ["media.renewal_decided"]
    assert await file_row(sv, f.file_id) == row
    await expect(ErrorCode.NOT_FOUND,
                 sv.media.decide_renewal(alice, chat_id, other["request_id"], True, 30))
    assert await sv.media.renewal_requests(alice, chat_id, "pending", 10) == []
    [done] = await sv.media.renewal_requests(alice, chat_id, "approved", 10)
    assert (done["decided_by"], done["user_id"]) == (alice, bob)
    # Decided: bob may ask again later.
    assert (await sv.media.request_renewal(bob, chat_id, msg_id))["request_id"] > 0


# -- custody -----------------------------------------------------------------------------


async def test_the_sender_preserves_and_releases(sv: Services, clock: FakeClock) -> None:
    alice, bob, carol, chat_id = await group(sv)
    direct = (await sv.chats.direct(bob, carol)).chat_id
    await sv.media.set_pool(alice, chat_id, True, 10**6)
    f, msg_id = await shared(sv, bob, chat_id)
    await sv.forward.forward(bob, chat_id, [msg_id], direct, None)
    await sv.media.renew(alice, chat_id, msg_id, 30, "pool")
    assert (await sv.media.pool(alice, chat_id))["used"] == SIZE
    await expect(ErrorCode.FORBIDDEN, sv.media.preserve(alice, chat_id, msg_id))
    await expect(ErrorCode.FORBIDDEN, sv.media.release(bob, chat_id, msg_id))

    bus = published(sv)
    kept = await sv.media.preserve(bob, chat_id, msg_id)
    assert (kept.status, kept.expires_at, kept.preserved_by, kept.actions) == (
        "active", None, "sender", ["release"])
    # It leaves the pool: one pool.updated for its new use.
    assert chat_kinds(bus, chat_id) == ["media.preserved", "pool.updated"]
    assert chat_kinds(bus, direct) == ["media.preserved"]
    assert user_kinds(bus) == [(bob, "quota.updated")]
    assert (await sv.media.pool(alice, chat_id))["used"] == 0  # out of the pool
    quota = await sv.media.quota(bob, 10)
    assert (quota["quota"], quota["used"], quota["count"]) == (1024 ** 3, SIZE, 1)
    assert [x.file_id for x in quota["files"]] == [f.file_id]
    await expect(ErrorCode.INVALID_PARAMS, sv.media.renew(alice, chat_id, msg_id, 30, "pool"))
    clock.advance(400 * DAY)
    await run_jobs(sv)
    assert (await file_row(sv, f.file_id)).status == "active"

    bus = published(sv)
    back = await sv.media.release(bob, chat_id, msg_id)
    assert (back.preserved_by, back.expires_at) == (None, f.created_at + FILE_TTL)
    assert chat_kinds(bus, chat_id) == ["media.released"]
    assert chat_kinds(bus, direct) == ["media.released"]
    assert user_kinds(bus) == [(bob, "quota.updated")]
    quota = await sv.media.quota(bob, 10)
    assert (quota["used"], quota["count"], quota["files"]) == (0, 0, [])
    await counters_agree(sv)
    clock.advance(sv.settings.jobs_interval_seconds)
    await run_jobs(sv)  # long past its lifetime: it expires now
    assert (await file_row(sv, f.file_id)).status == "expired"


async def test_a_full_custody_refuses(tmp_path: Path, database_url: str | None,
                                      clock: FakeClock) -> None:
    settings = test_settings(tmp_path / "custom", database_url, quota_default_bytes=SIZE + 50)
    async with service_harness(settings, clock) as sv:
        alice, bob, _, chat_id = await group(sv)
        _, first = await shared(sv, bob, chat_id)
        second_file, second = await shared(sv, bob, chat_id)
        await sv.media.preserve(bob, chat_id, first)
        before = await file_row(sv, second_file.file_id)
        bus = published(sv)
        err = await expect(ErrorCode.QUOTA_EXCEEDED, sv.media.preserve(bob, chat_id, second))
        assert err.data == {"quota": SIZE + 50, "used": SIZE, "size": SIZE}
        assert await file_row(sv, second_file.file_id) == before
        assert chat_kinds(bus) == [] and user_kinds(bus) == []
        await set_entitlement(sv, bob, 1)  # ten times the space
        assert (await sv.media.preserve(bob, chat_id, second)).preserved_by == "sender"
        assert (await sv.media.quota(bob, 10))["quota"] == 10 * (SIZE + 50)
        await counters_agree(sv)
        del alice


# -- what a viewer sees ------------------------------------------------------------------


async def test_actions_and_expiring_soon_are_per_viewer(sv: Services, clock: FakeClock) -> None:
    alice, bob, carol, chat_id = await group(sv)
    f, msg_id = await shared(sv, bob, chat_id)
    views = {u: await shown(sv, u, chat_id, msg_id) for u in (alice, bob, carol)}
    assert {u: v.actions for u, v in views.items()} == {
        alice: [], bob: ["preserve"], carol: ["request_renewal"]}
    assert not views[alice].expiring_soon
    await sv.media.set_pool(alice, chat_id, True, 10**6)
    assert (await shown(sv, alice, chat_id, msg_id)).actions == ["renew_from_pool"]
    clock.advance(FILE_TTL - 7 * DAY)
    seen = await shown(sv, carol, chat_id, msg_id)
    assert seen.expiring_soon and seen.status == "active"
    await sv.media.preserve(bob, chat_id, msg_id)
    assert (await shown(sv, bob, chat_id, msg_id)).actions == ["release"]
    assert (await shown(sv, carol, chat_id, msg_id)).actions == []
    assert not (await shown(sv, carol, chat_id, msg_id)).expiring_soon
    del f


async def test_either_member_of_a_direct_chat_may_renew(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = (await sv.chats.direct(alice, bob)).chat_id
    await sv.media.set_pool(bob, chat_id, True, 10**6)
    f, msg_id = await shared(sv, alice, chat_id)
    # What bob is shown is what he may do.
    assert (await shown(sv, bob, chat_id, msg_id)).actions == ["renew_from_pool"]
    assert (await shown(sv, alice, chat_id, msg_id)).actions == ["renew_from_pool", "preserve"]
    renewed = await sv.media.renew(bob, chat_id, msg_id, 30, "pool")
    assert f.expires_at is not None
    assert renewed.expires_at == f.expires_at + 30 * DAY


async def test_the_placeholder_shows_what_the_viewer_may_do(sv: Services, clock: FakeClock
                                                            ) -> None:
    alice, bob, carol, chat_id = await group(sv)
    f, msg_id = await shared(sv, bob, chat_id)
    clock.advance(FILE_TTL)
    await run_jobs(sv)
    opened: dict[int, Any] = {u: await sv.files.open(u, f.file_id) for u in (alice, bob, carol)}
    for u, p in opened.items():
        assert isinstance(p, Placeholder) and p.error.code is ErrorCode.MEDIA_EXPIRED, u
        assert (p.body["status"], p.body["msg_id"], p.body["sender_id"]) == (
            "expired", msg_id, bob)
    assert opened[bob].body["actions"] == ["preserve"]
    assert opened[carol].body["actions"] == ["request_renewal"]
    outsider, = await make_users(sv, "dave")
    await expect(ErrorCode.NOT_FOUND, sv.files.open(outsider, f.file_id))
    await expect(ErrorCode.NOT_FOUND, sv.files.open(outsider, 10**9))
