"""Webhooks through the services, on both engines, against a real receiving
HTTP server (tests/webhook_receiver.py): events are written with the facts
(none for a rolled-back send), arrive once, in order per chat, signed, after
the receiver failed the first tries (an error status and a timeout), and are
given up after ``webhook_max_attempts``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tidings.clock import FakeClock
from tidings.config import Settings
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError
from tidings.jobs.webhooks import WebhookDeliverer
from tidings.services.container import Services
from tidings.store import webhooks as outbox
from tidings.testing import service_harness, test_settings

from .helpers import make_users, send_text
from .webhook_receiver import SECRET, Receiver, receiver


def hook_settings(tmp_path: Path, database_url: str | None, url: str, **kw: Any) -> Settings:
    return test_settings(tmp_path / "data", database_url, webhook_url=url,
                         webhook_secret=SECRET, webhook_timeout_seconds=0.5,
                         webhook_retry_seconds=1, webhook_retry_max_seconds=4, **kw)


@pytest.fixture
async def rec() -> AsyncIterator[Receiver]:
    async with receiver(["500", "hang"]) as r:
        yield r


async def rows(sv: Services) -> list[tuple[int, int, str, int, str | None, int | None]]:
    async def list_txn(txn: Txn) -> list[tuple[int, int, str, int, str | None, int | None]]:
        return await outbox.list_txn(txn)

    return await sv.db.read("outbox", list_txn)


async def drain(deliverer: WebhookDeliverer, clock: FakeClock, sv: Services,
                rounds: int = 50) -> None:
    """Deliver until the outbox holds nothing pending, moving the clock past
    each backoff instead of sleeping."""
    for _ in range(rounds):
        if all(r[5] is not None for r in await rows(sv)):
            return
        _, delivered = await deliverer.deliver_once()
        if not delivered:
            clock.advance(5)
    raise AssertionError(f"outbox not drained: {await rows(sv)}")


async def test_events_arrive_once_in_order_signed_after_failures(
        tmp_path: Path, database_url: str | None, rec: Receiver) -> None:
    settings = hook_settings(tmp_path, database_url, rec.url, webhook_batch_size=25)
    clock = FakeClock()
    async with service_harness(settings, clock) as sv:
        alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
        group = (await sv.chats.create(alice, "group", "g", [bob, carol])).chat_id
        direct = (await sv.chats.direct(alice, bob)).chat_id
        sends = [send_text(sv, (alice, bob, carol)[i % 3], group, f"g{i}") for i in range(40)]
        sends += [send_text(sv, (alice, bob)[i % 2], direct, f"d{i}") for i in range(20)]
        sent = await asyncio.gather(*sends)  # concurrent: several group-commit batches
        assert {r[2] for r in await rows(sv)} == {"message.sent", "message.undelivered"}

        deliverer = WebhookDeliverer(sv.db, clock, settings)
        try:
            claimed, delivered = await deliverer.deliver_once()  # answered 500
            assert claimed == 25 and not delivered
            tried = [r for r in await rows(sv) if r[3] == 1]
            assert len(tried) == 25 and all(r[4] == "HTTP 500" for r in tried)
            claimed, delivered = await deliverer.deliver_once()  # hangs past the timeout
            assert claimed > 0 and not delivered
            await drain(deliverer, clock, sv)
        finally:
            await deliverer.stop()
        assert await rows(sv) == []  # delivered rows are deleted

    assert [p.status for p in rec.posts[:2]] == [500, None]
    failed_ids = {e["id"] for p in rec.posts[:2] for e in p.events}
    assert all(p.signed for p in rec.posts)
    events = rec.accepted()
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "a delivered event was sent again"
    assert failed_ids <= set(ids)
    news = [e for e in events if e["kind"] == "message.sent"]
    assert sorted((e["chat_id"], e["message"]["msg_id"]) for e in news) == sorted(
        (m.chat_id, m.msg_id) for m in sent)
    for chat_id in (group, direct):
        in_chat = [e for e in events if e.get("chat_id") == chat_id]
        assert [e["id"] for e in in_chat] == sorted(e["id"] for e in in_chat)
        msg_ids = [e["message"]["msg_id"] for e in in_chat if e["kind"] == "message.sent"]
        assert msg_ids == sorted(msg_ids)
    # Nobody was connected: every message tells who to notify.
    undelivered = {(e["chat_id"], e["msg_id"]): e for e in events
                   if e["kind"] == "message.undelivered"}
    assert len(undelivered) == len(sent)
    for m in sent:
        expected = sorted({alice, bob, carol} - {m.sender_id} if m.chat_id == group
                          else {alice, bob} - {m.sender_id})
        assert undelivered[(m.chat_id, m.msg_id)]["user_ids"] == expected


async def test_a_rolled_back_send_records_no_event(
        tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = hook_settings(tmp_path, database_url, "http://127.0.0.1:9/unused")
    async with service_harness(settings, FakeClock()) as sv:
        alice, bob = await make_users(sv, "alice", "bob")
        direct = (await sv.chats.direct(alice, bob)).chat_id
        from tidings.services import messages as message_service

        real = message_service.search.index_messages_txn
        calls = 0

        async def fail_once(txn: Txn, written: Any, text_entries: Any = None) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:  # after the outbox rows were written in this transaction
                raise RuntimeError("the disk is full")
            await real(txn, written, text_entries)

        monkeypatch.setattr(message_service.search, "index_messages_txn", fail_once)
        with pytest.raises(TidingsError) as refused:
            await send_text(sv, alice, direct, "lost")
        assert refused.value.code is ErrorCode.UNAVAILABLE
        assert await rows(sv) == []
        kept = await send_text(sv, alice, direct, "kept")
        assert [r[2] for r in await rows(sv)] == ["message.sent", "message.undelivered"]
        assert kept.msg_id > 0


async def test_without_a_webhook_nothing_is_recorded(sv: Services) -> None:
    assert sv.webhooks is None
    alice, bob = await make_users(sv, "alice", "bob")
    await send_text(sv, alice, (await sv.chats.direct(alice, bob)).chat_id)
    assert await rows(sv) == []


async def test_events_are_given_up_after_max_attempts_and_later_ones_go_on(
        tmp_path: Path, database_url: str | None) -> None:
    async with receiver(["500", "503"]) as rec:
        settings = hook_settings(tmp_path, database_url, rec.url, webhook_max_attempts=2,
                                 webhook_events=["message.sent"])
        clock = FakeClock()
        async with service_harness(settings, clock) as sv:
            alice, bob = await make_users(sv, "alice", "bob")
            direct = (await sv.chats.direct(alice, bob)).chat_id
            first = await send_text(sv, alice, direct, "first")
            deliverer = WebhookDeliverer(sv.db, clock, settings)
            try:
                assert (await deliverer.deliver_once()) == (1, False)
                second = await send_text(sv, bob, direct, "second")
                clock.advance(1)
                # The retry takes both, in order; the first has used up its tries.
                assert (await deliverer.deliver_once()) == (2, False)
                [(_, _, kind, attempts, error, failed_at)] = [
                    r for r in await rows(sv) if r[5] is not None]
                assert (kind, attempts, error, failed_at) == (
                    "message.sent", 2, "HTTP 503", clock.now())
                clock.advance(1)
                assert (await deliverer.deliver_once()) == (1, True)  # the second alone
                clock.advance(settings.webhook_failed_retention_seconds + 1)
                await deliverer.prune()
                assert await rows(sv) == []
            finally:
                await deliverer.stop()
    assert [e["message"]["msg_id"] for p in rec.posts for e in p.events] == [
        first.msg_id, first.msg_id, second.msg_id, second.msg_id]


async def test_two_deliverers_send_each_event_once_in_order_per_chat(
        tmp_path: Path, database_url: str | None) -> None:
    """Two nodes' deliverers over one database, claiming at the same time."""
    async with receiver() as rec:
        settings = hook_settings(tmp_path, database_url, rec.url, webhook_batch_size=7,
                                 webhook_events=["message.sent"])
        clock = FakeClock()
        async with service_harness(settings, clock) as sv:
            users = await make_users(sv, "alice", "bob", "carol")
            chats = [(await sv.chats.create(users[0], "group", f"g{i}", users[1:])).chat_id
                     for i in range(3)]
            sent = await asyncio.gather(*(send_text(sv, users[i % 3], chats[i % 3], f"m{i}")
                                          for i in range(90)))
            nodes = [WebhookDeliverer(sv.db, clock, settings) for _ in range(2)]
            try:
                for _ in range(60):
                    if not await rows(sv):
                        break
                    await asyncio.gather(*(n.deliver_once() for n in nodes))
            finally:
                for n in nodes:
                    await n.stop()
            assert await rows(sv) == []
    events = rec.accepted()
    assert len(events) == len({e["id"] for e in events}) == len(sent)
    for chat_id in chats:
        arrived = [e["message"]["msg_id"] for e in events if e["chat_id"] == chat_id]
        assert arrived == sorted(m.msg_id for m in sent if m.chat_id == chat_id)


async def test_operators_see_given_up_events_and_send_them_again(
        tmp_path: Path, database_url: str | None) -> None:
    from click.testing import CliRunner

    from tidings.cli import main

    async with receiver(["500"]) as rec:
        settings = hook_settings(tmp_path, database_url, rec.url, webhook_max_attempts=1,
                                 webhook_events=["message.sent"])
        clock = FakeClock()
        async with service_harness(settings, clock) as sv:
            alice, bob = await make_users(sv, "alice", "bob")
            sent = await send_text(sv, alice, (await sv.chats.direct(alice, bob)).chat_id)
            deliverer = WebhookDeliverer(sv.db, clock, settings)
            try:
                assert (await deliverer.deliver_once()) == (1, False)  # given up at once
                where = ["--data-dir", str(settings.data_dir)] + (
                    ["--database-url", database_url] if database_url else [])

                def admin(*args: str) -> str:
                    result = CliRunner().invoke(main, ["admin", "webhooks", *where, *args])
                    assert result.exit_code == 0, result.output
                    return result.output

                shown = await asyncio.to_thread(admin)
                assert "waiting: 0 (oldest -); given up: 1" in shown
                assert "message.sent: 1 tries" in shown and "HTTP 500" in shown
                shown = await asyncio.to_thread(admin, "--retry-failed")
                assert shown.startswith("1 given-up event(s) will be sent again")
                assert (await deliverer.deliver_once()) == (1, True)
            finally:
                await deliverer.stop()
    assert [p.events[0]["message"]["msg_id"] for p in rec.posts] == [sent.msg_id] * 2


async def test_a_chat_waiting_for_a_retry_does_not_hold_back_other_chats(
        tmp_path: Path, database_url: str | None) -> None:
    async with receiver(["500"]) as rec:
        settings = hook_settings(tmp_path, database_url, rec.url, webhook_batch_size=1,
                                 webhook_events=["message.sent"])
        clock = FakeClock()
        async with service_harness(settings, clock) as sv:
            alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
            x = (await sv.chats.direct(alice, bob)).chat_id
            y = (await sv.chats.direct(alice, carol)).chat_id
            x1, x2 = [await send_text(sv, alice, x, t) for t in ("x1", "x2")]
            y1 = await send_text(sv, alice, y, "y1")
            deliverer = WebhookDeliverer(sv.db, clock, settings)
            try:
                assert (await deliverer.deliver_once()) == (1, False)  # x1: 500
                assert (await deliverer.deliver_once()) == (1, True)   # y1, not x2
                assert (await deliverer.deliver_once()) == (0, False)  # x2 waits for x1
                clock.advance(1)
                await drain(deliverer, clock, sv)
            finally:
                await deliverer.stop()
    assert [(p.status, p.events[0]["message"]["text"]) for p in rec.posts] == [
        (500, "x1"), (200, "y1"), (200, "x1"), (200, "x2")]
    assert (x1.chat_id, x2.chat_id, y1.chat_id) == (x, x, y)


@pytest.mark.parametrize(("values", "problem"), [
    ({"webhook_url": "http://backend/hooks"}, "webhook_url needs webhook_secret"),
    ({"webhook_url": "http://backend/hooks", "webhook_secret": "short"},
     "webhook_url needs webhook_secret"),
    ({"webhook_url": "ftp://backend/hooks", "webhook_secret": SECRET},
     "webhook_url must start with http:// or https://"),
    ({"webhook_retry_seconds": 700}, "webhook_retry_seconds must not exceed"),
    ({"webhook_events": ["message.edited"]}, "webhook_events"),
])
def test_webhook_settings_are_checked(tmp_path: Path, values: dict[str, Any],
                                      problem: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=problem):
        test_settings(tmp_path, **values)


async def test_undelivered_leaves_out_members_who_muted_the_chat(
        tmp_path: Path, database_url: str | None) -> None:
    settings = hook_settings(tmp_path, database_url, "http://127.0.0.1:9/unused",
                             webhook_events=["message.undelivered"])
    async with service_harness(settings, FakeClock()) as sv:
        alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
        group = (await sv.chats.create(alice, "group", "g", [bob, carol])).chat_id
        await sv.dialogs.mute(bob, group, None)

        async def payloads_txn(txn: Txn) -> list[str]:
            return [r[0] for r in await txn.fetch("SELECT payload FROM webhook_outbox")]

        sent = await send_text(sv, alice, group, "hello")
        [payload] = await sv.db.read("payloads", payloads_txn)
    assert json.loads(payload) == {"kind": "message.undelivered", "date": sent.date,
                                   "chat_id": group, "msg_id": sent.msg_id,
                                   "sender_id": alice, "user_ids": [carol]}
