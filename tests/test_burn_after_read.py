"""Burn after read: the recipient's read starts the countdown (one
``message.ttl_started`` per deadline, in the read's transaction), the sweeper
job deletes the message for both when it runs out, and the schedule survives a
restart. Both engines, FakeClock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tidings import wire
from tidings.bus.base import ChatEvent, UserEvent
from tidings.clock import FakeClock
from tidings.config import Settings
from tidings.jobs import build_runner
from tidings.services.container import Services
from tidings.testing import RecordingBus, service_harness, test_settings

from .helpers import make_users, send_text


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    """The sweeper runs every second of (fake) time (by default every 10 s)."""
    return test_settings(tmp_path / "data", database_url, jobs_interval_seconds=1)


def logged(sv: Services) -> list[ChatEvent | UserEvent]:
    """Events carrying logged updates (not the ephemeral live ``read`` push)."""
    assert isinstance(sv.bus, RecordingBus)
    return [e for e in sv.bus.events if isinstance(e, ChatEvent | UserEvent)
            and not e.frame.startswith(b'{"push":"read"')]


def pushed(sv: Services) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Chat updates and user updates pushed since the last call; then forgets them."""
    assert isinstance(sv.bus, RecordingBus)
    chat_updates = [u for e in logged(sv) if isinstance(e, ChatEvent)
                    for u in wire.decode(e.frame)["updates"]]
    user_updates = [u for e in logged(sv) if isinstance(e, UserEvent)
                    for u in wire.decode(e.frame)["updates"]]
    sv.bus.events.clear()
    return chat_updates, user_updates


async def direct(sv: Services) -> tuple[int, int, int]:
    alice, bob = await make_users(sv, "alice", "bob")
    return alice, bob, (await sv.chats.direct(alice, bob)).chat_id


async def live_ids(sv: Services, user_id: int, chat_id: int) -> list[int]:
    return [m.msg_id for m in await sv.timeline.history(user_id, chat_id, None, None, 100)]


async def deadline(sv: Services, user_id: int, chat_id: int, msg_id: int) -> int | None:
    [m] = await sv.timeline.get(user_id, chat_id, [msg_id])
    return m.ttl_expires_at


async def test_the_recipients_read_starts_the_countdown(sv: Services, clock: FakeClock) -> None:
    alice, bob, chat_id = await direct(sv)
    burn = await send_text(sv, alice, chat_id, "read me once", burn_after_seconds=30)
    assert (burn.burn_after_seconds, burn.ttl_expires_at) == (30, None)  # not read yet
    clock.advance(50)
    pushed(sv)
    assert await sv.reads.mark(bob, chat_id, burn.msg_id) == burn.msg_id
    assert isinstance(sv.bus, RecordingBus)
    assert [type(e).__name__ for e in logged(sv)] == ["UserEvent", "ChatEvent"]
    chat_updates, user_updates = pushed(sv)
    # Exactly: bob's read cursor (his devices), and the countdown (both users).
    assert [(u["kind"], u["read_pts"]) for u in user_updates] == [
        ("read.updated", burn.msg_id)]
    [started] = chat_updates
    assert started["kind"] == "message.ttl_started"
    assert (started["msg_ids"], started["ttl_expires_at"]) == ([burn.msg_id], clock.now() + 30)
    for user in (alice, bob):
        assert await deadline(sv, user, chat_id, burn.msg_id) == clock.now() + 30
    # Reading again, or further, does not restart it.
    other = await send_text(sv, alice, chat_id, "plain")
    clock.advance(5)
    pushed(sv)
    await sv.reads.mark(bob, chat_id, other.msg_id)
    chat_updates, user_updates = pushed(sv)
    assert chat_updates == [] and len(user_updates) == 1
    await sv.reads.mark(bob, chat_id, other.msg_id)
    assert pushed(sv) == ([], [])
    assert await deadline(sv, bob, chat_id, burn.msg_id) == clock.now() - 5 + 30


async def test_the_senders_own_read_does_not_start_it(sv: Services) -> None:
    alice, bob, chat_id = await direct(sv)
    mine = await send_text(sv, alice, chat_id, "from alice", burn_after_seconds=30)
    his = await send_text(sv, bob, chat_id, "from bob", burn_after_seconds=60)
    pushed(sv)
    await sv.reads.mark(alice, chat_id, his.msg_id)  # passes both; only bob's starts
    chat_updates, _ = pushed(sv)
    assert [(u["kind"], u["msg_ids"]) for u in chat_updates] == [
        ("message.ttl_started", [his.msg_id])]
    assert await deadline(sv, alice, chat_id, mine.msg_id) is None
    await sv.reads.mark(bob, chat_id, his.msg_id)  # bob reads: now alice's starts
    chat_updates, _ = pushed(sv)
    assert [u["msg_ids"] for u in chat_updates] == [[mine.msg_id]]


async def test_one_update_per_distinct_deadline(sv: Services, clock: FakeClock) -> None:
    alice, bob, chat_id = await direct(sv)
    a = await send_text(sv, alice, chat_id, "a", burn_after_seconds=10)
    b = await send_text(sv, alice, chat_id, "b", burn_after_seconds=60)
    await send_text(sv, alice, chat_id, "plain")
    c = await send_text(sv, alice, chat_id, "c", burn_after_seconds=10)
    pushed(sv)
    await sv.reads.mark(bob, chat_id, c.msg_id)
    assert isinstance(sv.bus, RecordingBus)
    assert [type(e).__name__ for e in logged(sv)] == ["UserEvent", "ChatEvent"]
    chat_updates, user_updates = pushed(sv)
    assert len(user_updates) == 1
    now = clock.now()
    assert [(u["kind"], u["msg_ids"], u["ttl_expires_at"]) for u in chat_updates] == [
        ("message.ttl_started", [a.msg_id, c.msg_id], now + 10),
        ("message.ttl_started", [b.msg_id], now + 60),
    ]
    # One transaction: consecutive pts (and one push, checked above for one update).
    assert chat_updates[1]["pts"] == chat_updates[0]["pts"] + 1


async def test_when_time_is_up_the_sweeper_deletes_it_for_both(sv: Services,
                                                              clock: FakeClock) -> None:
    alice, bob, chat_id = await direct(sv)
    kept = await send_text(sv, alice, chat_id, "stays")
    burn = await send_text(sv, alice, chat_id, "burns", burn_after_seconds=30)
    runner = build_runner(sv)
    clock.advance(3600)  # unread, nothing counts down
    await runner.run_due()
    await sv.reads.mark(bob, chat_id, burn.msg_id)
    pushed(sv)
    clock.advance(29)
    await runner.run_due()
    assert pushed(sv) == ([], [])
    assert burn.msg_id in await live_ids(sv, alice, chat_id)
    clock.advance(1)
    await runner.run_due()
    chat_updates, user_updates = pushed(sv)
    assert user_updates == []
    [deleted] = chat_updates
    assert (deleted["kind"], deleted["msg_ids"], deleted["by"]) == (
        "message.deleted", [burn.msg_id], None)
    for user in (alice, bob):
        assert await live_ids(sv, user, chat_id) == [kept.msg_id]
    # An offline device replays: the countdown, then the deletion.
    diff = await sv.sync.get_chat_difference(alice, chat_id, burn.msg_id, None)
    assert [u["kind"] for u in diff.updates] == ["message.ttl_started", "message.deleted"]


async def test_a_chat_ttl_deadline_moves_only_earlier(sv: Services, clock: FakeClock) -> None:
    alice, bob, chat_id = await direct(sv)
    await sv.message_ttl.set_ttl(alice, chat_id, 3600)
    short = await send_text(sv, alice, chat_id, "short", burn_after_seconds=60)
    long = await send_text(sv, alice, chat_id, "long", burn_after_seconds=7200)
    sent_at = clock.now()
    assert short.ttl_expires_at == long.ttl_expires_at == sent_at + 3600
    clock.advance(100)
    pushed(sv)
    await sv.reads.mark(bob, chat_id, long.msg_id)
    chat_updates, _ = pushed(sv)
    assert [(u["msg_ids"], u["ttl_expires_at"]) for u in chat_updates] == [
        ([short.msg_id], clock.now() + 60)]
    assert await deadline(sv, bob, chat_id, long.msg_id) == sent_at + 3600


async def test_a_started_countdown_survives_a_restart(settings: Settings,
                                                      clock: FakeClock) -> None:
    async with service_harness(settings, clock) as sv:
        alice, bob, chat_id = await direct(sv)
        burn = await send_text(sv, alice, chat_id, "burns", burn_after_seconds=600)
        await sv.reads.mark(bob, chat_id, burn.msg_id)
        await build_runner(sv).run_due()
    clock.advance(600)
    async with service_harness(settings, clock) as sv:
        await build_runner(sv).run_due()
        [deleted], _ = pushed(sv)
        assert (deleted["kind"], deleted["msg_ids"]) == ("message.deleted", [burn.msg_id])
        for user in (alice, bob):
            assert await live_ids(sv, user, chat_id) == []
        # At most once: nothing left to do.
        clock.advance(3600)
        await build_runner(sv).run_due()
        assert pushed(sv) == ([], [])


async def test_a_deleted_burn_message_never_starts(sv: Services) -> None:
    alice, bob, chat_id = await direct(sv)
    burn = await send_text(sv, alice, chat_id, "burns", burn_after_seconds=30)
    await sv.deletion.delete(alice, chat_id, [burn.msg_id], True)
    pushed(sv)
    await sv.reads.mark(bob, chat_id, burn.msg_id + 1)
    chat_updates, user_updates = pushed(sv)
    assert chat_updates == [] and [u["kind"] for u in user_updates] == ["read.updated"]
