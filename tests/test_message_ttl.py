"""Auto-delete: chat.set_message_ttl and the sweeper job, on both engines."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tidings import wire
from tidings.bus.base import ChatEvent, UserEvent
from tidings.client import Client, TidingsClientError
from tidings.clock import FakeClock
from tidings.config import Settings
from tidings.errors import ErrorCode, TidingsError
from tidings.jobs import build_runner
from tidings.services.container import Services
from tidings.services.message_ttl import TTL_PRESETS
from tidings.store import jobs as job_store
from tidings.testing import RecordingBus, running_server, service_harness, test_settings

from .helpers import make_users, send_text

DAY = 86400


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    """The sweeper runs every second of (fake) time, so a test sees a message go
    the second its deadline passes; by default it runs every 10 seconds."""
    return test_settings(tmp_path / "data", database_url, jobs_interval_seconds=1)


def pushed(sv: Services) -> tuple[list[dict[str, Any]], list[UserEvent]]:
    """The chat updates pushed since the last call (decoded, in order), and the
    user events; then forgets them."""
    assert isinstance(sv.bus, RecordingBus)
    chat_updates = [u for e in sv.bus.events if isinstance(e, ChatEvent)
                    for u in wire.decode(e.frame)["updates"]]
    user_events = [e for e in sv.bus.events if isinstance(e, UserEvent)]
    sv.bus.events.clear()
    return chat_updates, user_events


async def group(sv: Services) -> tuple[int, int, int, int]:
    owner, member, outsider = await make_users(sv, "owner", "member", "outsider")
    chat = await sv.chats.create(owner, "group", "ttl", [member])
    return owner, member, outsider, chat.chat_id


async def live_ids(sv: Services, user_id: int, chat_id: int) -> list[int]:
    return [m.msg_id for m in await sv.timeline.history(user_id, chat_id, None, None, 100)
            if m.kind != "system"]


async def test_setting_the_ttl_is_one_system_message(sv: Services, clock: FakeClock) -> None:
    owner, member, _, chat_id = await group(sv)
    pushed(sv)
    pts = await sv.message_ttl.set_ttl(owner, chat_id, DAY)
    chat_updates, user_events = pushed(sv)
    assert user_events == []
    [update] = chat_updates  # the system message is the chat's one update
    assert (update["pts"], update["kind"]) == (pts, "message.new")
    message = update["message"]
    assert (message["kind"], message["msg_id"], message["sender_id"]) == ("system", pts, owner)
    assert message["system"] == {"action": "ttl.changed", "seconds": DAY, "by": owner}
    assert message.get("ttl_expires_at") is None  # the announcement itself is kept
    details = await sv.chats.get(member, chat_id)
    assert details.chat.message_ttl == DAY and details.chat.pts == pts
    # The same value again changes nothing and writes nothing.
    assert await sv.message_ttl.set_ttl(owner, chat_id, DAY) == pts
    assert pushed(sv) == ([], [])
    # null turns it off, again as a system message.
    off = await sv.message_ttl.set_ttl(owner, chat_id, None)
    [update], _ = pushed(sv)
    assert update["pts"] == off and update["message"]["system"] == {
        "action": "ttl.changed", "seconds": None, "by": owner}
    assert (await sv.chats.get(owner, chat_id)).chat.message_ttl is None


async def test_who_may_set_the_ttl(sv: Services) -> None:
    owner, member, outsider, chat_id = await group(sv)
    with pytest.raises(TidingsError) as err:
        await sv.message_ttl.set_ttl(member, chat_id, DAY)
    assert err.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(TidingsError) as err:
        await sv.message_ttl.set_ttl(outsider, chat_id, DAY)
    assert err.value.code is ErrorCode.NOT_A_MEMBER
    with pytest.raises(TidingsError) as err:
        await sv.message_ttl.set_ttl(owner, 999_999, DAY)
    assert err.value.code is ErrorCode.CHAT_NOT_FOUND
    channel = await sv.chats.create(owner, "channel", "news", [member])
    with pytest.raises(TidingsError) as err:
        await sv.message_ttl.set_ttl(member, channel.chat_id, DAY)
    assert err.value.code is ErrorCode.FORBIDDEN
    await sv.message_ttl.set_ttl(owner, channel.chat_id, DAY)
    # In a direct chat both members are equals: either may set it.
    direct = await sv.chats.direct(member, outsider)
    await sv.message_ttl.set_ttl(outsider, direct.chat_id, DAY)
    await sv.message_ttl.set_ttl(member, direct.chat_id, 7 * DAY)
    assert (await sv.chats.get(outsider, direct.chat_id)).chat.message_ttl == 7 * DAY
    # A member who left may not.
    await sv.chats.leave(member, chat_id)
    with pytest.raises(TidingsError) as err:
        await sv.message_ttl.set_ttl(member, chat_id, DAY)
    assert err.value.code is ErrorCode.NOT_A_MEMBER


@pytest.mark.parametrize("seconds", [0, 1, 59, 3599, -1, -DAY, 31536001, 2**62])
async def test_values_outside_the_range_are_invalid(sv: Services, seconds: int) -> None:
    owner, _, _, chat_id = await group(sv)
    pushed(sv)
    with pytest.raises(TidingsError) as err:
        await sv.message_ttl.set_ttl(owner, chat_id, seconds)
    assert err.value.code is ErrorCode.INVALID_PARAMS
    assert err.value.data["field"] == "seconds"
    assert pushed(sv) == ([], [])


@pytest.mark.parametrize("seconds", [*TTL_PRESETS, 3600, 5000, 31536000])
async def test_presets_and_custom_values_are_accepted(sv: Services, seconds: int) -> None:
    owner, _, _, chat_id = await group(sv)
    await sv.message_ttl.set_ttl(owner, chat_id, seconds)
    assert (await sv.chats.get(owner, chat_id)).chat.message_ttl == seconds


async def test_presets_stay_valid_under_a_higher_custom_minimum(settings: Settings) -> None:
    strict = settings.model_copy(update={"min_message_ttl_seconds": 10 * DAY})
    async with service_harness(strict) as sv:
        owner, _, _, chat_id = await group(sv)
        await sv.message_ttl.set_ttl(owner, chat_id, DAY)
        with pytest.raises(TidingsError) as err:
            await sv.message_ttl.set_ttl(owner, chat_id, 2 * DAY)
        assert err.value.code is ErrorCode.INVALID_PARAMS


async def test_messages_sent_afterwards_carry_their_deadline(sv: Services,
                                                             clock: FakeClock) -> None:
    owner, member, _, chat_id = await group(sv)
    before = await send_text(sv, member, chat_id, "kept")
    await sv.message_ttl.set_ttl(owner, chat_id, DAY)
    clock.advance(10)
    after = await send_text(sv, member, chat_id, "goes")
    assert before.ttl_expires_at is None
    assert after.ttl_expires_at == after.date + DAY == clock.now() + DAY
    [stored] = await sv.timeline.get(owner, chat_id, [after.msg_id])
    assert stored.ttl_expires_at == after.ttl_expires_at
    await sv.message_ttl.set_ttl(owner, chat_id, None)
    assert (await send_text(sv, member, chat_id, "kept again")).ttl_expires_at is None


async def test_the_sweeper_deletes_due_messages_for_everyone(sv: Services,
                                                             clock: FakeClock) -> None:
    owner, member, _, chat_id = await group(sv)
    kept = await send_text(sv, member, chat_id, "before the ttl")
    await sv.message_ttl.set_ttl(owner, chat_id, 3600)
    first = await send_text(sv, member, chat_id, "one")
    clock.advance(100)
    second = await send_text(sv, owner, chat_id, "two")
    runner = build_runner(sv)
    await runner.run_due()
    pushed(sv)

    clock.advance(3500 - 1)  # one second before the first deadline
    await runner.run_due()
    assert pushed(sv) == ([], [])
    clock.advance(1)
    await runner.run_due()
    chat_updates, user_events = pushed(sv)
    assert user_events == []
    [update] = chat_updates
    assert (update["kind"], update["msg_ids"], update["by"]) == (
        "message.deleted", [first.msg_id], None)
    assert await live_ids(sv, member, chat_id) == [kept.msg_id, second.msg_id]

    clock.advance(100)
    await runner.run_due()
    [update], _ = pushed(sv)
    assert update["msg_ids"] == [second.msg_id]
    for user in (owner, member):
        assert await live_ids(sv, user, chat_id) == [kept.msg_id]
    # A device that was offline learns it from the log.
    diff = await sv.sync.get_chat_difference(member, chat_id, 0, None)
    deleted = [u for u in diff.updates if u["kind"] == "message.deleted"]
    assert [u["msg_ids"] for u in deleted] == [[first.msg_id], [second.msg_id]]
    # Nothing is deleted twice.
    clock.advance(DAY)
    await runner.run_due()
    assert pushed(sv) == ([], [])


async def test_the_sweeper_deletes_in_batches_of_at_most_1000(sv: Services,
                                                              clock: FakeClock) -> None:
    owner, member, _, chat_a = await group(sv)
    chat_b = (await sv.chats.create(owner, "group", "second", [member])).chat_id
    for chat_id in (chat_a, chat_b):
        await sv.message_ttl.set_ttl(owner, chat_id, 3600)
    sent = await asyncio.gather(*(send_text(sv, member, chat_a if i % 2 else chat_b, f"m{i}")
                                  for i in range(1300)))
    runner = build_runner(sv)
    await runner.run_due()
    pushed(sv)
    clock.advance(3600)
    await runner.run_due()
    first_round, _ = pushed(sv)
    # One transaction: at most 1,000 messages, one message.deleted per chat.
    assert sorted(u["kind"] for u in first_round) == ["message.deleted"] * 2
    assert sum(len(u["msg_ids"]) for u in first_round) == 1000
    [sweeper] = await sv.db.read("t", lambda txn: job_store.list_txn(txn, "message_ttl"))
    assert sweeper.run_at == clock.now()  # more is due: it runs again at once
    await runner.run_due()
    second_round, _ = pushed(sv)
    assert sum(len(u["msg_ids"]) for u in second_round) == 300
    assert len(second_round) <= 2
    gone = sorted(m for u in first_round + second_round for m in u["msg_ids"])
    assert gone == sorted(m.msg_id for m in sent)
    for chat_id in (chat_a, chat_b):
        assert await live_ids(sv, owner, chat_id) == []


async def test_deadlines_survive_a_restart(settings: Settings, clock: FakeClock) -> None:
    async with service_harness(settings, clock) as sv:
        owner, member, _, chat_id = await group(sv)
        await sv.message_ttl.set_ttl(owner, chat_id, 3600)
        doomed = await send_text(sv, member, chat_id, "short-lived")
        await build_runner(sv).run_due()
    clock.advance(3600)
    async with service_harness(settings, clock) as sv:
        await build_runner(sv).run_due()
        [update], _ = pushed(sv)
        assert update["kind"] == "message.deleted" and update["msg_ids"] == [doomed.msg_id]
        assert await live_ids(sv, member, chat_id) == []


async def test_the_sweeper_is_one_job_that_reschedules_itself(sv: Services,
                                                               clock: FakeClock) -> None:
    runner = build_runner(sv)
    for _ in range(3):
        await runner.run_due()
        clock.advance(sv.settings.jobs_interval_seconds)
    [sweeper] = await sv.db.read("t", lambda txn: job_store.list_txn(txn, "message_ttl"))
    assert (sweeper.kind, sweeper.dedupe_key, sweeper.attempts) == (
        "message_ttl", "message_ttl", 0)
    assert sweeper.run_at == clock.now()


async def test_over_the_wire_with_the_server_running_the_sweeper(settings: Settings) -> None:
    """End to end: the method is validated at the edge, and the job runner the
    server starts deletes a due message while both clients are connected."""
    clock = FakeClock()
    async with running_server(settings, clock) as srv, \
            Client(srv.url) as alice, Client(srv.url) as bob:
        await alice.register("alice", "correct horse")
        bob_id = (await bob.register("bob", "battery staple"))["user_id"]
        chat_id = (await alice.direct(bob_id))["chat_id"]
        for bad in ({"chat_id": chat_id}, {"chat_id": chat_id, "seconds": "1d"},
                    {"chat_id": chat_id, "seconds": 2**64}, {"chat_id": chat_id, "seconds": 60}):
            with pytest.raises(TidingsClientError) as err:
                await alice.call("chat.set_message_ttl", bad)
            assert err.value.code == "INVALID_PARAMS"
        result = await bob.call("chat.set_message_ttl", {"chat_id": chat_id, "seconds": DAY})
        msg = await alice.send_text(chat_id, "for a day")
        assert msg["ttl_expires_at"] == msg["date"] + DAY
        await bob.wait_for(lambda c: msg["msg_id"] in c.chats[chat_id].messages)
        assert result["pts"] < msg["msg_id"]
        clock.advance(DAY)
        await alice.wait_for(lambda c: msg["msg_id"] not in c.chats[chat_id].messages,
                             timeout=10)
        await bob.wait_for(lambda c: msg["msg_id"] not in c.chats[chat_id].messages,
                           timeout=10)
        assert [m["kind"] for m in await alice.history(chat_id)] == ["system"]
