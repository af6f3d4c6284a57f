"""The media lifecycle at the service level, on both engines (issue 8): uploads
that leave nothing behind when refused, sending and forwarding files, lifetimes
by kind, entitlement and chat retention, and expiry and deletion as durable
jobs with their ``media.*`` updates in every chat showing a file. Time moves
with the FakeClock; due jobs run with ``run_due`` (never a sleep).

The pool, renewals, custody and viewer actions are in test_media_pool.py."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tidings.clock import FakeClock
from tidings.errors import ErrorCode
from tidings.jobs import build_runner
from tidings.services.container import Services
from tidings.testing import service_harness, test_settings

from .helpers import make_users, send_text
from .media_helpers import pdf_bytes, png_bytes
from .media_service_helpers import (
    audio_bytes,
    blob_rows,
    chat_kinds,
    count_rows,
    expect,
    file_bytes,
    file_row,
    published,
    run_jobs,
    send_file,
    set_chat_whitelisted,
    set_entitlement,
    staged_files,
    upload,
    video_bytes,
)

DAY = 86400
GRACE = 7 * DAY  # media_grace_seconds' default
FILE_TTL = 30 * DAY  # media_ttl_file_seconds' default


@contextlib.asynccontextmanager
async def harness(tmp_path: Path, database_url: str | None, clock: FakeClock,
                  **overrides: Any) -> AsyncIterator[Services]:
    """Services with settings of the test's own (instead of the ``sv`` fixture)."""
    settings = test_settings(tmp_path / "custom", database_url, **overrides)
    async with service_harness(settings, clock) as sv:
        yield sv


async def group(sv: Services) -> tuple[int, int, int, int]:
    """alice (owner), bob and carol (members) in a group."""
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await sv.chats.create(alice, "group", "friends", [bob, carol])
    return alice, bob, carol, chat.chat_id


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def nothing_stored(sv: Services) -> None:
    assert await count_rows(sv, "files") == 0
    assert await blob_rows(sv) == []
    assert staged_files(sv) == []
    blob_dir = sv.settings.media_path / "blobs"
    assert not blob_dir.exists() or [p for p in blob_dir.rglob("*") if p.is_file()] == []


# -- upload ------------------------------------------------------------------------------


async def test_a_kind_mime_mismatch_is_refused_and_leaves_nothing(sv: Services) -> None:
    alice, = await make_users(sv, "alice")
    pdf = pdf_bytes()
    err = await expect(ErrorCode.UNSUPPORTED_MEDIA,
                       upload(sv, alice, pdf, kind="image", name="x.png", mime="image/png"))
    assert err.data["sniffed"] == "application/pdf"
    await expect(ErrorCode.UNSUPPORTED_MEDIA,
                 upload(sv, alice, png_bytes(), kind="video", name="x.mp4", mime="video/mp4"))
    await nothing_stored(sv)
    assert not await sv.files.blobs.exists(sha(pdf))


async def test_a_malformed_image_is_refused_and_leaves_nothing(sv: Services) -> None:
    alice, = await make_users(sv, "alice")
    broken = png_bytes()[:40]  # a PNG signature and header, then nothing
    err = await expect(ErrorCode.UNSUPPORTED_MEDIA,
                       upload(sv, alice, broken, kind="image", name="x.png"))
    assert err.data["kind"] == "image"
    await nothing_stored(sv)


async def test_identical_bytes_make_two_files_and_one_blob(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    image = png_bytes(32, 32)
    first = await upload(sv, alice, image, kind="image", name="a.png")
    second = await upload(sv, bob, image, kind="image", name="b.png")
    assert first.file_id != second.file_id
    assert (first.sha256, second.sha256) == (sha(image), sha(image))
    assert (first.mime, first.size, first.width, first.height, first.thumbnail) == (
        "image/png", len(image), 32, 32, True)
    assert await count_rows(sv, "files") == 2
    assert await blob_rows(sv) == [sha(image)]
    assert await sv.files.blobs.exists(sha(image))
    assert staged_files(sv) == []


@pytest.mark.parametrize(("kind", "name", "data", "field"), [
    ("sticker", "a.bin", b"abc", "kind"),
    ("file", "", b"abc", "name"),
    ("file", "   ", b"abc", "name"),
    ("file", "dir/a.txt", b"abc", "name"),
    ("file", "a\nb.txt", b"abc", "name"),
    ("file", "x" * 256, b"abc", "name"),
    ("file", "empty.txt", b"", "body"),
])
async def test_bad_upload_requests_are_invalid_and_leave_nothing(
        sv: Services, kind: str, name: str, data: bytes, field: str) -> None:
    alice, = await make_users(sv, "alice")
    err = await expect(ErrorCode.INVALID_PARAMS, upload(sv, alice, data, kind=kind, name=name))
    assert err.data["field"] == field
    await nothing_stored(sv)


async def test_an_oversized_upload_is_too_large(tmp_path: Path, database_url: str | None,
                                                clock: FakeClock) -> None:
    async with harness(tmp_path, database_url, clock, max_upload_bytes=100) as sv:
        alice, = await make_users(sv, "alice")
        err = await expect(ErrorCode.TOO_LARGE, upload(sv, alice, b"y" * 101))
        assert err.data["limit"] == 100
        await nothing_stored(sv)
        assert (await upload(sv, alice, b"y" * 100)).size == 100


# -- send and forward --------------------------------------------------------------------


async def test_media_kinds_need_a_file_id_and_others_take_none(sv: Services) -> None:
    alice, _, _, chat_id = await group(sv)
    f = await upload(sv, alice, file_bytes())
    await expect(ErrorCode.INVALID_PARAMS,
                 send_text(sv, alice, chat_id, "caption", kind="image"))
    await expect(ErrorCode.INVALID_PARAMS,
                 send_text(sv, alice, chat_id, "hi", file_id=f.file_id))
    assert (await file_row(sv, f.file_id)).chat_id is None


async def test_someone_elses_upload_is_not_found_and_sends_nothing(sv: Services) -> None:
    alice, bob, _, chat_id = await group(sv)
    theirs = await upload(sv, bob, file_bytes())
    bus = published(sv)
    before = await sv.timeline.history(alice, chat_id, None, None, None)
    err = await expect(ErrorCode.NOT_FOUND, send_file(sv, alice, chat_id, theirs))
    assert err.data["field"] == "file_id"
    await expect(ErrorCode.NOT_FOUND, send_file(sv, alice, chat_id, 10**9, kind="file"))
    assert await sv.timeline.history(alice, chat_id, None, None, None) == before
    assert chat_kinds(bus) == []
    assert (await file_row(sv, theirs.file_id)).chat_id is None


async def test_a_kind_mismatch_at_send_is_invalid(sv: Services) -> None:
    alice, _, _, chat_id = await group(sv)
    video = await upload(sv, alice, video_bytes(), kind="video", name="v.mp4")
    assert video.mime == "video/mp4"
    err = await expect(ErrorCode.INVALID_PARAMS,
                       send_file(sv, alice, chat_id, video, kind="image"))
    assert err.data["field"] == "kind"


async def test_forwarding_shares_the_file_and_its_home(sv: Services) -> None:
    alice, bob, carol, chat_id = await group(sv)
    direct = (await sv.chats.direct(bob, carol)).chat_id
    f = await upload(sv, alice, file_bytes(), name="plan.txt")
    sent = await send_file(sv, alice, chat_id, f, text="the plan")
    assert sent.file is not None and sent.file.file_id == f.file_id
    [copy] = await sv.forward.forward(bob, chat_id, [sent.msg_id], direct, None)
    assert copy.file_id == f.file_id and copy.kind == "file" and copy.text == "the plan"
    assert await count_rows(sv, "files") == 1
    assert (await file_row(sv, f.file_id)).chat_id == chat_id  # the first chat stays home
    # Forwarding is the only way to send someone else's file.
    await expect(ErrorCode.NOT_FOUND, send_file(sv, bob, direct, f))
    # The uploader may send it again, into another chat: one file, two homes never.
    other = (await sv.chats.direct(alice, carol)).chat_id
    again = await send_file(sv, alice, other, f)
    assert again.file_id == f.file_id
    assert (await file_row(sv, f.file_id)).chat_id == chat_id


async def test_an_expired_or_deleted_file_cannot_be_sent(sv: Services, clock: FakeClock
                                                         ) -> None:
    alice, bob, carol, chat_id = await group(sv)
    f = await upload(sv, alice, file_bytes())
    sent = await send_file(sv, alice, chat_id, f)
    direct = (await sv.chats.direct(bob, carol)).chat_id
    clock.advance(FILE_TTL)
    await run_jobs(sv)
    assert (await file_row(sv, f.file_id)).status == "expired"
    err = await expect(ErrorCode.MEDIA_EXPIRED, send_file(sv, alice, chat_id, f))
    assert err.data["status"] == "expired"
    await expect(ErrorCode.MEDIA_EXPIRED,
                 sv.forward.forward(bob, chat_id, [sent.msg_id], direct, None))
    clock.advance(GRACE)
    await run_jobs(sv)
    await expect(ErrorCode.MEDIA_GONE, send_file(sv, alice, chat_id, f))


async def test_the_first_chat_becomes_home_and_its_retention_applies(sv: Services) -> None:
    alice, bob, _, chat_id = await group(sv)
    await sv.media.set_storage_policy(alice, chat_id, DAY, None)
    f = await upload(sv, alice, png_bytes(), kind="image", name="p.png")
    assert f.expires_at == f.created_at + 180 * DAY  # not sent yet: the kind's lifetime
    assert (await file_row(sv, f.file_id)).chat_id is None
    sent = await send_file(sv, alice, chat_id, f)
    assert sent.file is not None and sent.file.expires_at == f.created_at + DAY
    row = await file_row(sv, f.file_id)
    assert (row.chat_id, row.expires_at) == (chat_id, f.created_at + DAY)
    # A forward into a chat that keeps media longer does not change its fate.
    other = (await sv.chats.direct(alice, bob)).chat_id
    await sv.forward.forward(alice, chat_id, [sent.msg_id], other, None)
    assert (await file_row(sv, f.file_id)).expires_at == f.created_at + DAY


# -- lifetimes ---------------------------------------------------------------------------


async def test_each_kind_lives_as_long_as_its_setting(tmp_path: Path, database_url: str | None,
                                                      clock: FakeClock) -> None:
    ttl = {"image": 100, "video": 200, "audio": 300, "file": 400}
    async with harness(tmp_path, database_url, clock, media_ttl_image_seconds=100,
                       media_ttl_video_seconds=200, media_ttl_audio_seconds=300,
                       media_ttl_file_seconds=400) as sv:
        alice, = await make_users(sv, "alice")
        data = {"image": png_bytes(), "video": video_bytes(), "audio": audio_bytes(),
                "file": file_bytes()}
        for kind, body in data.items():
            f = await upload(sv, alice, body, kind=kind, name=f"a.{kind}")
            assert (f.kind, f.expires_at, f.preserved_by) == (
                kind, clock.now() + ttl[kind], None)


async def test_entitlement_levels_scale_lifetimes(sv: Services, clock: FakeClock) -> None:
    alice, bob, carol, chat_id = await group(sv)
    await set_entitlement(sv, bob, 1)
    await set_entitlement(sv, carol, 2)
    free = await upload(sv, alice, file_bytes())
    plus = await upload(sv, bob, file_bytes())
    pro = await upload(sv, carol, file_bytes())
    assert free.expires_at == clock.now() + FILE_TTL
    assert plus.expires_at == clock.now() + 2 * FILE_TTL
    assert (pro.expires_at, pro.preserved_by) == (None, "subscription")
    # A chat's retention still applies to every level.
    await sv.media.set_storage_policy(alice, chat_id, 7 * DAY, None)
    sent = await send_file(sv, carol, chat_id, pro)
    assert sent.file is not None
    assert (sent.file.expires_at, sent.file.preserved_by) == (pro.created_at + 7 * DAY, None)


async def test_a_retention_change_is_announced_and_reevaluates_the_chats_files(
        sv: Services) -> None:
    alice, bob, _, chat_id = await group(sv)
    other = (await sv.chats.direct(alice, bob)).chat_id
    here = await upload(sv, alice, png_bytes(), kind="image", name="p.png")
    there = await upload(sv, alice, file_bytes())
    short = await upload(sv, alice, file_bytes())
    msg = await send_file(sv, alice, chat_id, here)
    await send_text(sv, alice, chat_id, "words stay")
    await send_file(sv, alice, chat_id, short)
    await send_file(sv, alice, other, there)
    await expect(ErrorCode.FORBIDDEN, sv.media.set_storage_policy(bob, chat_id, DAY, None))
    await expect(ErrorCode.INVALID_PARAMS,
                 sv.media.set_storage_policy(alice, chat_id, 3599, None))

    bus = published(sv)
    pts = await sv.media.set_storage_policy(alice, chat_id, 90 * DAY, None)
    assert chat_kinds(bus) == ["chat.updated", "message.new"]
    diff = await sv.sync.get_chat_difference(bob, chat_id, pts - 2, None)
    changed, message = diff.updates
    assert changed["kind"] == "chat.updated"
    assert changed["storage"] == {"media_ttl_seconds": 90 * DAY, "cleanup": True}
    assert message["message"].kind == "system" and message["pts"] == pts
    assert message["message"].system["action"] == "storage.changed"
    assert await sv.media.storage_policy(bob, chat_id) == {
        "media_ttl_seconds": 90 * DAY, "cleanup": True, "whitelisted": False}
    # Nothing moves until the job runs; then only what got shorter.
    assert (await file_row(sv, here.file_id)).expires_at == here.created_at + 180 * DAY
    bus = published(sv)
    await run_jobs(sv)
    assert chat_kinds(bus, chat_id) == ["media.updated"]
    assert (await file_row(sv, here.file_id)).expires_at == here.created_at + 90 * DAY
    assert (await file_row(sv, short.file_id)).expires_at == short.created_at + FILE_TTL
    assert (await file_row(sv, there.file_id)).expires_at == there.created_at + FILE_TTL
    [shown] = await sv.timeline.get(bob, chat_id, [msg.msg_id])
    assert shown.file is not None and shown.file.expires_at == here.created_at + 90 * DAY
    texts = [m.text for m in await sv.timeline.history(bob, chat_id, None, None, None)]
    assert "words stay" in texts
    # Back to "forever": the kinds' lifetimes again.
    await sv.media.set_storage_policy(alice, chat_id, None, None)
    await run_jobs(sv)
    assert (await file_row(sv, here.file_id)).expires_at == here.created_at + 180 * DAY


async def test_keep_media_freezes_expiry(sv: Services, clock: FakeClock) -> None:
    alice, _, _, chat_id = await group(sv)
    f = await upload(sv, alice, file_bytes())
    await send_file(sv, alice, chat_id, f)
    await sv.media.set_storage_policy(alice, chat_id, None, False)
    await run_jobs(sv)
    assert (await file_row(sv, f.file_id)).expires_at is None
    clock.advance(FILE_TTL + GRACE + DAY)
    await run_jobs(sv)
    assert (await file_row(sv, f.file_id)).status == "active"
    # Cleanup on again: the lifetime counts from the upload, so it is due at the
    # sweep's next run.
    await sv.media.set_storage_policy(alice, chat_id, None, True)
    await run_jobs(sv)
    assert (await file_row(sv, f.file_id)).expires_at == f.created_at + FILE_TTL
    clock.advance(sv.settings.jobs_interval_seconds)
    await run_jobs(sv)
    row = await file_row(sv, f.file_id)
    assert (row.status, row.expires_at) == ("expired", f.created_at + FILE_TTL)


async def test_a_whitelisted_chat_freezes_its_files_when_they_fall_due(
        sv: Services, clock: FakeClock) -> None:
    alice, _, _, chat_id = await group(sv)
    f = await upload(sv, alice, file_bytes())
    await send_file(sv, alice, chat_id, f)
    await set_chat_whitelisted(sv, chat_id)
    assert (await file_row(sv, f.file_id)).expires_at == f.created_at + FILE_TTL
    clock.advance(FILE_TTL)
    bus = published(sv)
    await run_jobs(sv)
    assert chat_kinds(bus, chat_id) == ["media.updated"]
    row = await file_row(sv, f.file_id)
    assert (row.status, row.expires_at) == ("active", None)
    assert (await sv.media.storage_policy(alice, chat_id))["whitelisted"] is True


# -- expiry ------------------------------------------------------------------------------


async def test_expiry_and_deletion_reach_every_chat_showing_the_file(
        sv: Services, clock: FakeClock) -> None:
    alice, bob, carol, chat_id = await group(sv)
    direct = (await sv.chats.direct(bob, carol)).chat_id
    image = png_bytes(48, 48)
    f = await upload(sv, alice, image, kind="image", name="p.png")
    sent = await send_file(sv, alice, chat_id, f)
    [copy] = await sv.forward.forward(bob, chat_id, [sent.msg_id], direct, None)
    deadline = f.created_at + 180 * DAY
    pts = (await sv.sync.get_chat_difference(carol, direct, 0, None)).pts

    # The sweep runs every jobs_interval_seconds: once just before the deadline,
    # then at it.
    every = int(sv.settings.jobs_interval_seconds)
    clock.advance(deadline - clock.now() - every)
    bus = published(sv)
    await run_jobs(sv)
    assert chat_kinds(bus) == [] and (await file_row(sv, f.file_id)).status == "active"
    clock.advance(every)
    await run_jobs(sv)
    assert chat_kinds(bus, chat_id) == ["media.expired"]
    assert chat_kinds(bus, direct) == ["media.expired"]
    # carol was offline: she learns it from the difference.
    diff = await sv.sync.get_chat_difference(carol, direct, pts, None)
    [update] = diff.updates
    assert update["kind"] == "media.expired" and update["msg_ids"] == [copy.msg_id]
    assert update["file"]["status"] == "expired"
    for viewer, chat, msg_id in ((alice, chat_id, sent.msg_id), (carol, direct, copy.msg_id)):
        [shown] = await sv.timeline.get(viewer, chat, [msg_id])
        assert shown.file is not None and shown.file.status == "expired"
    assert await sv.files.blobs.exists(f.sha256)  # kept for the grace period

    clock.advance(GRACE - every)
    bus = published(sv)
    await run_jobs(sv)
    assert chat_kinds(bus) == []
    clock.advance(every)
    await run_jobs(sv)
    assert chat_kinds(bus, chat_id) == ["media.deleted"]
    assert chat_kinds(bus, direct) == ["media.deleted"]
    row = await file_row(sv, f.file_id)
    assert (row.status, row.deleted_at) == ("deleted", clock.now())
    assert await blob_rows(sv) == []
    assert not await sv.files.blobs.exists(f.sha256)
    assert not await sv.files.blobs.exists(f"{f.sha256}.thumb")
    # Running again changes nothing.
    clock.advance(DAY)
    bus = published(sv)
    await run_jobs(sv)
    assert chat_kinds(bus) == [] and (await file_row(sv, f.file_id)).status == "deleted"
    # The same bytes can be uploaded again: a new blob.
    again = await upload(sv, alice, image, kind="image", name="p.png")
    assert again.status == "active" and await sv.files.blobs.exists(f.sha256)


async def test_a_blob_stays_while_another_file_holds_it(sv: Services, clock: FakeClock
                                                        ) -> None:
    alice, bob, _, chat_id = await group(sv)
    data = file_bytes()
    first = await upload(sv, alice, data)
    await send_file(sv, alice, chat_id, first)
    clock.advance(10 * DAY)
    second = await upload(sv, bob, data)
    clock.advance(FILE_TTL - 10 * DAY)
    await run_jobs(sv)  # the first expires; its grace counts from now
    clock.advance(GRACE)
    await run_jobs(sv)
    assert (await file_row(sv, first.file_id)).status == "deleted"
    assert (await file_row(sv, second.file_id)).status == "active"
    assert await blob_rows(sv) == [sha(data)]
    assert await sv.files.blobs.exists(sha(data))
    clock.advance(10 * DAY)
    await run_jobs(sv)
    assert (await file_row(sv, second.file_id)).status == "expired"
    assert await sv.files.blobs.exists(sha(data))
    clock.advance(GRACE)
    await run_jobs(sv)
    assert (await file_row(sv, second.file_id)).status == "deleted"
    assert await blob_rows(sv) == []
    assert not await sv.files.blobs.exists(sha(data))


async def test_expiry_works_in_bounded_batches(tmp_path: Path, database_url: str | None,
                                               clock: FakeClock) -> None:
    async with harness(tmp_path, database_url, clock, media_expiry_batch_size=2) as sv:
        alice, _, _, chat_id = await group(sv)
        ids = []
        for _ in range(5):
            f = await upload(sv, alice, file_bytes())
            await send_file(sv, alice, chat_id, f)
            ids.append(f.file_id)
        clock.advance(FILE_TTL)
        bus = published(sv)
        await build_runner(sv).run_due()  # one sweep: one transaction, one batch
        assert chat_kinds(bus) == ["media.expired"] * 2
        assert [(await file_row(sv, i)).status for i in ids] == ["expired"] * 2 + ["active"] * 3
        await run_jobs(sv)
        assert chat_kinds(bus) == ["media.expired"] * 5
        assert {(await file_row(sv, i)).status for i in ids} == {"expired"}


async def test_a_retention_change_reevaluates_in_batches(tmp_path: Path,
                                                         database_url: str | None,
                                                         clock: FakeClock) -> None:
    async with harness(tmp_path, database_url, clock, media_expiry_batch_size=2) as sv:
        alice, _, _, chat_id = await group(sv)
        sent = [await upload(sv, alice, file_bytes()) for _ in range(5)]
        for f in sent:
            await send_file(sv, alice, chat_id, f)
        await sv.media.set_storage_policy(alice, chat_id, DAY, None)
        bus = published(sv)
        await run_jobs(sv)
        assert chat_kinds(bus) == ["media.updated"] * 5
        for f in sent:
            assert (await file_row(sv, f.file_id)).expires_at == f.created_at + DAY


async def test_the_cleanup_kill_switch_stops_the_job(tmp_path: Path, database_url: str | None,
                                                     clock: FakeClock) -> None:
    async with harness(tmp_path, database_url, clock, cleanup_job_enabled=False) as sv:
        alice, = await make_users(sv, "alice")
        f = await upload(sv, alice, file_bytes())
        clock.advance(FILE_TTL + GRACE + 1)
        await run_jobs(sv)
        assert (await file_row(sv, f.file_id)).status == "active"
