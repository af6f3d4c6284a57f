"""Pinned messages at the service level, on both engines, and how the client
SDK's view follows them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidings.bus.base import ChatEvent
from tidings.client.state import ChatView, apply_chat_update
from tidings.clock import FakeClock
from tidings.config import Settings
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.testing import RecordingBus, test_settings

from .helpers import make_users, send_text

MAX_PINS = 3


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return test_settings(tmp_path / "data", database_url, max_pinned_messages=MAX_PINS)


def bus_of(sv: Services) -> RecordingBus:
    assert isinstance(sv.bus, RecordingBus)
    return sv.bus


async def code_of(call: object) -> ErrorCode:
    with pytest.raises(TidingsError) as err:
        await call  # type: ignore[misc]
    return err.value.code


async def pinned(sv: Services, user_id: int, chat_id: int) -> list[int]:
    return (await sv.chats.get(user_id, chat_id)).pinned_msg_ids


async def test_pin_writes_the_update_and_a_system_message(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    m = await send_text(sv, bob, chat_id, "the address")
    bus = bus_of(sv)
    bus.events.clear()
    seqs = (await sv.sync.get_difference(bob, 0, {}, 1)).seq
    pts = await sv.pins.pin(alice, chat_id, m.msg_id)
    [event] = bus.events  # both updates in one push
    assert isinstance(event, ChatEvent) and event.chat_id == chat_id
    diff = await sv.sync.get_chat_difference(bob, chat_id, m.msg_id, None)
    assert [u["kind"] for u in diff.updates] == ["message.pinned", "message.new"]
    pin_update, system = diff.updates
    assert pin_update["msg_id"] == m.msg_id and pin_update["by"] == alice
    assert system["pts"] == pts == pin_update["pts"] + 1
    message = system["message"]
    assert message.kind == "system" and message.sender_id == alice
    assert message.system == {"action": "message.pinned", "msg_id": m.msg_id, "by": alice}
    assert (await sv.sync.get_difference(bob, 0, {}, 1)).seq == seqs  # no user updates
    assert await pinned(sv, bob, chat_id) == [m.msg_id]

    bus.events.clear()
    assert await sv.pins.pin(alice, chat_id, m.msg_id) is None  # already pinned
    assert bus.events == []
    unpin_pts = await sv.pins.unpin(alice, chat_id, m.msg_id)
    [event] = bus.events
    diff = await sv.sync.get_chat_difference(bob, chat_id, pts or 0, None)
    assert [(u["kind"], u["pts"], u["msg_id"], u["by"]) for u in diff.updates] == [
        ("message.unpinned", unpin_pts, m.msg_id, alice)]
    assert await pinned(sv, bob, chat_id) == []
    bus.events.clear()
    assert await sv.pins.unpin(alice, chat_id, m.msg_id) is None  # not pinned
    assert bus.events == []


async def test_who_may_pin(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    group = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    channel = (await sv.chats.create(alice, "channel", "c", [bob])).chat_id
    direct = (await sv.chats.direct(bob, carol)).chat_id
    in_group = await send_text(sv, bob, group, "mine")
    in_channel = await send_text(sv, alice, channel, "news")
    in_direct = await send_text(sv, carol, direct, "hey")
    assert await code_of(sv.pins.pin(bob, group, in_group.msg_id)) is ErrorCode.FORBIDDEN
    assert await code_of(sv.pins.pin(bob, channel, in_channel.msg_id)) is ErrorCode.FORBIDDEN
    assert await code_of(sv.pins.pin(carol, group, in_group.msg_id)) is ErrorCode.NOT_A_MEMBER
    assert await sv.pins.pin(alice, channel, in_channel.msg_id) is not None
    assert await sv.pins.pin(bob, direct, in_direct.msg_id) is not None  # either member
    assert await code_of(sv.pins.unpin(bob, channel, in_channel.msg_id)) is ErrorCode.FORBIDDEN
    assert await sv.pins.unpin(carol, direct, in_direct.msg_id) is not None


async def test_bad_targets(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    other = (await sv.chats.create(alice, "group", "other", [])).chat_id
    for i in range(12):
        elsewhere = await send_text(sv, alice, other, f"o{i}")
    recalled = await send_text(sv, alice, chat_id, "oops")
    await sv.messages.recall(alice, chat_id, recalled.msg_id)
    ok = await send_text(sv, alice, chat_id, "ok")
    system = await sv.pins.pin(alice, chat_id, ok.msg_id)
    assert system is not None
    p = sv.pins
    assert await code_of(p.pin(alice, chat_id, 10**6)) is ErrorCode.MESSAGE_NOT_FOUND
    assert await code_of(p.pin(alice, chat_id, elsewhere.msg_id)) is ErrorCode.MESSAGE_NOT_FOUND
    assert await code_of(p.pin(alice, chat_id, 1)) is ErrorCode.MESSAGE_NOT_FOUND
    assert await code_of(p.pin(alice, chat_id, recalled.msg_id)) is ErrorCode.FORBIDDEN
    assert await code_of(p.pin(alice, chat_id, system)) is ErrorCode.FORBIDDEN
    assert await code_of(p.unpin(alice, chat_id, 10**6)) is ErrorCode.MESSAGE_NOT_FOUND
    assert await code_of(p.pin(alice, 10**6, ok.msg_id)) is ErrorCode.CHAT_NOT_FOUND


async def test_cap_and_newest_pin_first(sv: Services, clock: FakeClock) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = (await sv.chats.direct(alice, bob)).chat_id
    msgs = [await send_text(sv, alice, chat_id, f"m{i}") for i in range(MAX_PINS + 1)]
    for m in reversed(msgs[:MAX_PINS]):
        clock.advance(1)
        await sv.pins.pin(bob, chat_id, m.msg_id)
    assert await pinned(sv, alice, chat_id) == [m.msg_id for m in msgs[:MAX_PINS]]
    with pytest.raises(TidingsError) as err:
        await sv.pins.pin(alice, chat_id, msgs[-1].msg_id)
    assert err.value.code is ErrorCode.FORBIDDEN and err.value.data["limit"] == MAX_PINS
    await sv.pins.unpin(alice, chat_id, msgs[1].msg_id)
    clock.advance(1)
    await sv.pins.pin(alice, chat_id, msgs[-1].msg_id)
    assert await pinned(sv, bob, chat_id) == [msgs[-1].msg_id, msgs[0].msg_id, msgs[2].msg_id]


async def test_a_deleted_message_loses_its_pin_silently(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    m = await send_text(sv, bob, chat_id, "soon gone")
    pts = await sv.pins.pin(alice, chat_id, m.msg_id)
    await sv.deletion.delete(alice, chat_id, [m.msg_id], True)
    diff = await sv.sync.get_chat_difference(bob, chat_id, pts or 0, None)
    assert [u["kind"] for u in diff.updates] == ["message.deleted"]
    assert await pinned(sv, bob, chat_id) == []
    assert await code_of(sv.pins.unpin(alice, chat_id, m.msg_id)) is ErrorCode.MESSAGE_NOT_FOUND
    assert await code_of(sv.pins.pin(alice, chat_id, m.msg_id)) is ErrorCode.MESSAGE_NOT_FOUND


async def test_chat_get_lists_only_pins_within_your_view(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat_id = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    early = await send_text(sv, alice, chat_id, "before carol")
    hidden = await send_text(sv, alice, chat_id, "bob hides this")
    await sv.chats.add_members(alice, chat_id, [carol])
    late = await send_text(sv, alice, chat_id, "after carol")
    for m in (early, hidden, late):
        await sv.pins.pin(alice, chat_id, m.msg_id)
    await sv.deletion.delete(bob, chat_id, [hidden.msg_id], False)
    assert sorted(await pinned(sv, alice, chat_id)) == [early.msg_id, hidden.msg_id,
                                                        late.msg_id]
    # deleting a message for yourself leaves the chat's pin in place
    assert sorted(await pinned(sv, bob, chat_id)) == [early.msg_id, hidden.msg_id,
                                                      late.msg_id]
    assert await pinned(sv, carol, chat_id) == [late.msg_id]


def test_the_sdk_view_follows_pins() -> None:
    view = ChatView(chat_id=1)
    for update in ({"kind": "message.pinned", "msg_id": 5}, {"kind": "message.pinned",
                                                             "msg_id": 7},
                   {"kind": "message.pinned", "msg_id": 9},
                   {"kind": "message.unpinned", "msg_id": 7}):
        apply_chat_update(view, {"pts": 0, "date": 0, "by": 1, **update})
    assert view.pinned == {5, 9}
    apply_chat_update(view, {"pts": 0, "date": 0, "kind": "message.deleted", "msg_ids": [9],
                             "by": 1})
    assert view.pinned == {5}
