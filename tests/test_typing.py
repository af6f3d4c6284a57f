"""typing.send: an ephemeral push to the other members, throttled per user and
chat, with an expiry the receivers apply; nothing is written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tidings import wire
from tidings.bus.base import ChatEvent
from tidings.client import Client
from tidings.clock import FakeClock
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.services.hub import LiveHub
from tidings.testing import RecordingBus, running_server, service_harness, test_settings

from .helpers import PASSWORD, make_users
from .test_hub import FakeSink


def typing_pushes(sv: Services) -> list[dict[str, Any]]:
    assert isinstance(sv.bus, RecordingBus)
    return [{**wire.decode(e.frame), "skip_user": e.skip_user} for e in sv.bus.events
            if isinstance(e, ChatEvent) and e.frame.startswith(b'{"push":"typing"')]


async def group(sv: Services, *names: str) -> tuple[int, list[int]]:
    users = await make_users(sv, *names)
    chat = await sv.chats.create(users[0], "group", "g", users[1:])
    return chat.chat_id, users


async def test_typing_reaches_the_other_members_only_and_writes_nothing(sv: Services) -> None:
    chat_id, (alice, _, _) = await group(sv, "alice", "bob", "carol")
    before = await sv.chats.get(alice, chat_id)
    assert isinstance(sv.bus, RecordingBus)
    events_before = len(sv.bus.events)
    assert await sv.typing.send(alice, chat_id, "typing") is True
    assert typing_pushes(sv) == [{"push": "typing", "chat_id": chat_id, "user_id": alice,
                                  "action": "typing", "expires_in": 6, "skip_user": alice}]
    assert len(sv.bus.events) == events_before + 1  # the push only: no update published
    after = await sv.chats.get(alice, chat_id)
    assert after.chat.pts == before.chat.pts  # nothing in the chat's log


def test_the_hub_skips_the_typing_users_own_devices() -> None:
    hub, phone, laptop, bob = LiveHub(), FakeSink(), FakeSink(), FakeSink()
    for sink, user, device in ((phone, 1, 10), (laptop, 1, 11), (bob, 2, 20)):
        hub.attach(sink, user, device)
        hub.follow(user, [5])
    hub.deliver(ChatEvent(chat_id=5, frame=b"typing", skip_user=1))
    assert phone.frames == laptop.frames == []
    assert bob.frames == [b"typing"]


async def test_a_repeat_within_the_throttle_is_answered_not_relayed(
        sv: Services, clock: FakeClock) -> None:
    chat_id, (alice, bob, _) = await group(sv, "alice", "bob", "carol")
    assert await sv.typing.send(alice, chat_id, "typing")
    clock.advance(1)
    assert not await sv.typing.send(alice, chat_id, "typing")
    clock.advance(1.9)
    assert not await sv.typing.send(alice, chat_id, "typing")  # 2.9 s after the relay
    assert await sv.typing.send(bob, chat_id, "typing")  # per user: bob is not throttled
    clock.advance(0.1)
    assert await sv.typing.send(alice, chat_id, "typing")  # 3 s: renewed
    assert [(p["user_id"], p["action"]) for p in typing_pushes(sv)] == [
        (alice, "typing"), (bob, "typing"), (alice, "typing")]


async def test_cancel_and_a_change_of_action_are_always_relayed(
        sv: Services, clock: FakeClock) -> None:
    chat_id, (alice, _, _) = await group(sv, "alice", "bob", "carol")
    assert await sv.typing.send(alice, chat_id, "typing")
    assert await sv.typing.send(alice, chat_id, "uploading")  # a change of action
    assert not await sv.typing.send(alice, chat_id, "uploading")
    assert await sv.typing.send(alice, chat_id, "cancel")
    assert await sv.typing.send(alice, chat_id, "cancel")  # cancel always goes
    assert await sv.typing.send(alice, chat_id, "typing")  # after a cancel: at once
    pushes = typing_pushes(sv)
    assert [(p["action"], p["expires_in"]) for p in pushes] == [
        ("typing", 6), ("uploading", 6), ("cancel", 0), ("cancel", 0), ("typing", 6)]


async def test_throttle_state_is_forgotten_after_the_window(
        sv: Services, clock: FakeClock) -> None:
    chat_id, (alice, bob, carol) = await group(sv, "alice", "bob", "carol")
    for user in (alice, bob, carol):
        await sv.typing.send(user, chat_id, "typing")
    assert len(sv.typing) == 3
    clock.advance(3)
    await sv.typing.send(alice, chat_id, "typing")
    assert len(sv.typing) == 1  # only what relayed within the window is kept


async def test_who_may_send_typing(sv: Services, clock: FakeClock) -> None:
    chat_id, (alice, bob, carol) = await group(sv, "alice", "bob", "carol")
    [dave] = await make_users(sv, "dave")
    channel = await sv.chats.create(alice, "channel", "news", [bob])
    await sv.chats.remove_member(alice, chat_id, carol)
    cases: list[tuple[int, int, str, ErrorCode]] = [
        (dave, chat_id, "typing", ErrorCode.NOT_A_MEMBER),  # never a member
        (carol, chat_id, "typing", ErrorCode.NOT_A_MEMBER),  # removed
        (alice, 999, "typing", ErrorCode.CHAT_NOT_FOUND),
        (alice, chat_id, "dancing", ErrorCode.INVALID_PARAMS),
        (bob, channel.chat_id, "typing", ErrorCode.FORBIDDEN),  # may not post there
    ]
    for user, chat, action, code in cases:
        with pytest.raises(TidingsError) as err:
            await sv.typing.send(user, chat, action)
        assert err.value.code is code, (user, chat, action)
    await sv.chats.set_expire(alice, chat_id, clock.now() + 1)
    clock.advance(5)
    with pytest.raises(TidingsError) as err:
        await sv.typing.send(bob, chat_id, "typing")
    assert err.value.code is ErrorCode.CHAT_EXPIRED
    assert typing_pushes(sv) == []  # no refused call relayed anything


async def test_large_chats_do_not_relay_typing(tmp_path: Path,
                                               database_url: str | None) -> None:
    settings = test_settings(tmp_path / "data", database_url, typing_max_chat_members=3)
    async with service_harness(settings, FakeClock()) as sv:
        small, (alice, bob) = await group(sv, "alice", "bob")
        large = await sv.chats.create(alice, "group", "big",
                                      [bob, *await make_users(sv, "carol")])
        assert await sv.typing.send(alice, small, "typing")
        assert not await sv.typing.send(alice, large.chat_id, "typing")
        assert not await sv.typing.send(alice, large.chat_id, "cancel")
        assert [p["chat_id"] for p in typing_pushes(sv)] == [small]


@pytest.fixture
async def fast_expiry_server(tmp_path: Path, database_url: str | None
                             ) -> AsyncIterator[str]:
    settings = test_settings(tmp_path / "data", database_url, typing_expire_seconds=2,
                             typing_throttle_seconds=1.5)
    async with running_server(settings) as server:
        yield server.url


async def test_two_clients_see_each_others_typing_over_the_websocket(
        fast_expiry_server: str) -> None:
    async with Client(fast_expiry_server) as alice, Client(fast_expiry_server) as bob, \
            Client(fast_expiry_server) as alice_laptop:
        await alice.register("alice", PASSWORD)
        bob_id = (await bob.register("bob", PASSWORD))["user_id"]
        await alice_laptop.login("alice", PASSWORD, "laptop")
        chat = await alice.create_group("team", [bob_id])
        chat_id = chat["chat_id"]
        await bob.wait_for(lambda c: chat_id in c.chats)
        await alice_laptop.wait_for(lambda c: chat_id in c.chats)
        assert await alice.send_typing(chat_id) is True
        await bob.wait_for(lambda c: c.typing_in(chat_id) == {alice.user_id: "typing"})
        assert await alice.send_typing(chat_id) is False  # within the throttle
        # The indicator goes away by itself expires_in (2 s here) after the push.
        await bob.wait_for(lambda c: not c.typing_in(chat_id), timeout=4)
        assert await bob.send_typing(chat_id, "uploading") is True
        await alice.wait_for(lambda c: c.typing_in(chat_id) == {bob_id: "uploading"})
        await alice_laptop.wait_for(
            lambda c: c.typing_in(chat_id) == {bob_id: "uploading"})
        assert await bob.send_typing(chat_id, "cancel") is True
        await alice.wait_for(lambda c: not c.typing_in(chat_id))
        # alice's own devices never saw her typing
        assert alice_laptop.typing_in(chat_id) == {}
