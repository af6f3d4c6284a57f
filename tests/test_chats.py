"""Chats and membership rules."""

from __future__ import annotations

import pytest

from tidings.bus.base import ChatEvent, UserEvent
from tidings.config import Settings
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.services.hub import LiveHub
from tidings.testing import RecordingBus, service_harness

from .helpers import make_users, send_text
from .test_hub import FakeSink


async def test_direct_chat_is_one_per_pair(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    a = await sv.chats.direct(alice, bob)
    b = await sv.chats.direct(bob, alice)
    c = await sv.chats.direct(alice, carol)
    assert a.chat_id == b.chat_id != c.chat_id
    assert a.kind == "direct" and a.member_count == 2


async def test_direct_chat_with_unknown_user(sv: Services) -> None:
    [alice] = await make_users(sv, "alice")
    with pytest.raises(TidingsError) as err:
        await sv.chats.direct(alice, 999)
    assert err.value.code is ErrorCode.USER_NOT_FOUND


async def test_create_group_roles(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await sv.chats.create(alice, "group", "  Friends ", [bob, carol, bob, alice])
    assert chat.title == "Friends" and chat.member_count == 3 and chat.creator_id == alice
    details = await sv.chats.get(bob, chat.chat_id)
    assert {m.user_id: m.role for m in details.members} == {
        alice: "owner", bob: "member", carol: "member"}


@pytest.mark.parametrize(("kind", "title"), [("group", ""), ("secret", "x"), ("group", "t" * 200)])
async def test_create_validates(sv: Services, kind: str, title: str) -> None:
    [alice] = await make_users(sv, "alice")
    with pytest.raises(TidingsError) as err:
        await sv.chats.create(alice, kind, title, [])
    assert err.value.code is ErrorCode.INVALID_PARAMS


async def test_only_admins_remove_and_nobody_removes_the_owner(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await sv.chats.create(alice, "group", "g", [bob, carol])
    with pytest.raises(TidingsError) as err:
        await sv.chats.remove_member(bob, chat.chat_id, carol)
    assert err.value.code is ErrorCode.FORBIDDEN
    await sv.chats.remove_member(alice, chat.chat_id, carol)
    with pytest.raises(TidingsError) as err:
        await sv.chats.remove_member(alice, chat.chat_id, carol)
    assert err.value.code is ErrorCode.NOT_FOUND


async def test_channel_only_admins_add(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    channel = await sv.chats.create(alice, "channel", "news", [bob])
    with pytest.raises(TidingsError) as err:
        await sv.chats.add_members(bob, channel.chat_id, [carol])
    assert err.value.code is ErrorCode.FORBIDDEN
    group = await sv.chats.create(alice, "group", "g", [bob])
    await sv.chats.add_members(bob, group.chat_id, [carol])  # groups let members invite


async def test_direct_chats_cannot_be_left_or_extended(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await sv.chats.direct(alice, bob)
    for call in (sv.chats.leave(alice, chat.chat_id),
                 sv.chats.add_members(alice, chat.chat_id, [carol]),
                 sv.chats.set_expire(alice, chat.chat_id, 2_000_000_000)):
        with pytest.raises(TidingsError) as err:
            await call
        assert err.value.code is ErrorCode.FORBIDDEN


async def test_rejoin_after_leaving(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await sv.chats.create(alice, "group", "g", [bob])
    await sv.chats.leave(bob, chat.chat_id)
    assert [d.chat.chat_id for d in (await sv.dialogs.list_dialogs(bob)).chats] == []
    await sv.chats.add_members(alice, chat.chat_id, [bob])
    listed = (await sv.dialogs.list_dialogs(bob)).chats
    assert [d.chat.chat_id for d in listed] == [chat.chat_id]
    assert (await sv.chats.get(alice, chat.chat_id)).chat.member_count == 2


async def test_member_limit(settings: Settings) -> None:
    async with service_harness(settings.model_copy(update={"max_group_members": 3})) as sv:
        ids = await make_users(sv, *(f"user{i}" for i in range(4)))
        chat = await sv.chats.create(ids[0], "group", "g", ids[1:3])
        with pytest.raises(TidingsError) as err:
            await sv.chats.add_members(ids[0], chat.chat_id, [ids[3]])
        assert err.value.code is ErrorCode.FORBIDDEN


async def test_set_expire_rules(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await sv.chats.create(alice, "group", "g", [bob])
    with pytest.raises(TidingsError) as err:
        await sv.chats.set_expire(bob, chat.chat_id, 2_000_000_000)
    assert err.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(TidingsError) as err:
        await sv.chats.set_expire(alice, chat.chat_id, -5)
    assert err.value.code is ErrorCode.INVALID_PARAMS
    await sv.chats.set_expire(alice, chat.chat_id, 2_000_000_000)
    assert (await sv.chats.get(bob, chat.chat_id)).chat.expire_at == 2_000_000_000
    await sv.chats.set_expire(alice, chat.chat_id, 0)
    assert (await sv.chats.get(bob, chat.chat_id)).chat.expire_at is None


async def test_dialog_hides_a_last_message_from_before_joining(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await sv.chats.create(alice, "group", "g", [bob])
    await send_text(sv, alice, chat.chat_id, "secret from before carol")
    await sv.chats.add_members(alice, chat.chat_id, [carol])
    [dialog] = (await sv.dialogs.list_dialogs(carol)).chats
    # the newest message carol may see is the system message that added her
    assert dialog.last_message is not None and dialog.last_message.kind == "system"
    assert dialog.unread_count == 0
    await send_text(sv, alice, chat.chat_id, "hello carol")
    [dialog] = (await sv.dialogs.list_dialogs(carol)).chats
    assert dialog.last_message is not None and dialog.last_message.text == "hello carol"
    assert dialog.unread_count == 1


async def test_chat_created_update_describes_the_new_chat(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await sv.chats.create(alice, "group", "g", [bob])
    diff = await sv.sync.get_chat_difference(bob, chat.chat_id, 0, None)
    created = diff.updates[0]["chat"]
    assert (created["pts"], created["member_count"], created["title"]) == (1, 2, "g")


async def test_membership_events_carry_their_pts_so_hubs_resist_reordering(
        sv: Services) -> None:
    assert isinstance(sv.bus, RecordingBus)
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await sv.chats.create(alice, "group", "g", [])
    start = len(sv.bus.events)
    await sv.chats.add_members(alice, chat.chat_id, [bob])
    await sv.chats.leave(bob, chat.chat_id)
    await sv.chats.add_members(alice, chat.chat_id, [bob])
    changes = [e for e in sv.bus.events[start:]
               if (isinstance(e, ChatEvent) and (e.joined or e.left))
               or (isinstance(e, UserEvent) and (e.joined_chats or e.left_chats))]
    assert len(changes) == 6  # join, leave, join: one chat and one user event each
    pts = [e.membership_pts for e in changes]
    assert all(p > 0 for p in pts)
    assert max(pts[0:2]) < min(pts[2:4]) and max(pts[2:4]) < min(pts[4:6])
    # A node receiving the first join last still follows the chat for bob.
    hub, sink = LiveHub(), FakeSink()
    hub.attach(sink, bob, 1)
    hub.follow(bob, [])
    for event in [*changes[2:], *changes[:2]]:
        hub.deliver(event)
    hub.deliver(ChatEvent(chat_id=chat.chat_id, frame=b"next"))
    assert sink.frames[-1] == b"next"
    # ... and one receiving the leave after the re-join does not drop it
    hub, sink = LiveHub(), FakeSink()
    hub.attach(sink, bob, 1)
    hub.follow(bob, [])
    for event in [*changes[:2], *changes[4:], *changes[2:4]]:
        hub.deliver(event)
    hub.deliver(ChatEvent(chat_id=chat.chat_id, frame=b"next"))
    assert sink.frames[-1] == b"next"
