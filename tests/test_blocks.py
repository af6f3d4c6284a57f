"""The block list on both engines: its updates, and what a block refuses
(direct messages, being added to groups, contact requests)."""

from __future__ import annotations

import asyncio

from tidings.errors import ErrorCode
from tidings.services.container import Services

from .helpers import make_users, send_text
from .people_helpers import UserLogs, code_of, refusal


async def test_block_add_remove_list_check_and_their_updates(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    logs = await UserLogs(sv, alice, bob, carol).start()
    sv.clock.advance(5)  # type: ignore[attr-defined]
    assert await sv.blocks.add(alice, bob) == {"blocked": True}
    assert await logs.new() == [(alice, "block.added", {"user_id": bob})]  # bob is not told
    assert await sv.blocks.add(alice, bob) == {"blocked": True}
    assert await logs.new() == []  # already blocked: no update
    await sv.blocks.add(alice, carol)
    assert await logs.new() == [(alice, "block.added", {"user_id": carol})]
    listed = (await sv.blocks.list(alice))["blocked"]
    assert {b["user_id"] for b in listed} == {bob, carol}
    assert await sv.blocks.check(alice, bob) == {"blocked": True}
    assert await sv.blocks.check(bob, alice) == {"blocked": False}

    assert await sv.blocks.remove(alice, bob) == {"blocked": False}
    assert await logs.new() == [(alice, "block.removed", {"user_id": bob})]
    assert await sv.blocks.remove(alice, bob) == {"blocked": False}
    assert await logs.new() == []  # not blocked: no update
    assert [b["user_id"] for b in (await sv.blocks.list(alice))["blocked"]] == [carol]


async def test_block_refuses_bad_targets(sv: Services) -> None:
    [alice] = await make_users(sv, "alice")
    logs = await UserLogs(sv, alice).start()
    assert await code_of(sv.blocks.add(alice, alice)) == ErrorCode.INVALID_PARAMS
    assert await code_of(sv.blocks.add(alice, 999)) == ErrorCode.USER_NOT_FOUND
    assert await logs.new() == []


async def test_blocked_user_cannot_message_me_directly(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    direct = (await sv.chats.direct(alice, bob)).chat_id
    await send_text(sv, bob, direct, "before")
    await sv.blocks.add(alice, bob)
    pts = (await sv.chats.get(alice, direct)).chat.pts
    err = await refusal(send_text(sv, bob, direct, "after"))
    assert err.code == ErrorCode.BLOCKED and err.data == {"user_id": alice}
    assert (await sv.chats.get(alice, direct)).chat.pts == pts  # nothing stored, no pts
    await send_text(sv, alice, direct, "alice may still write")  # the blocker is not refused
    await sv.blocks.remove(alice, bob)
    await send_text(sv, bob, direct, "unblocked")


async def test_a_batch_refuses_only_the_blocked_sends(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    ab = (await sv.chats.direct(alice, bob)).chat_id
    cb = (await sv.chats.direct(carol, bob)).chat_id
    await sv.blocks.add(alice, bob)
    results = await asyncio.gather(
        send_text(sv, bob, ab, "x"), send_text(sv, bob, cb, "y"),
        send_text(sv, alice, ab, "z"), return_exceptions=True)
    assert getattr(results[0], "code", None) == ErrorCode.BLOCKED
    assert not isinstance(results[1], BaseException)
    assert not isinstance(results[2], BaseException)


async def test_blocked_user_cannot_add_me_or_request_contact(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    await sv.blocks.add(alice, bob)
    logs = await UserLogs(sv, alice, bob, carol).start()
    err = await refusal(sv.chats.create(bob, "group", "g", [alice, carol]))
    assert err.code == ErrorCode.BLOCKED and err.data == {"user_id": alice}
    group = (await sv.chats.create(bob, "group", "g", [carol])).chat_id
    pts = (await sv.chats.get(bob, group)).chat.pts
    await logs.new()
    assert await code_of(sv.chats.add_members(bob, group, [alice])) == ErrorCode.BLOCKED
    assert (await sv.chats.get(bob, group)).chat.pts == pts
    assert await code_of(sv.contacts.request(bob, alice, "group", "hi")) == ErrorCode.BLOCKED
    assert await logs.new() == []
    assert await sv.contacts.pending(alice) == {"incoming": [], "outgoing": []}
    # carol may add alice; and bob may open no new direct chat with alice
    await sv.chats.add_members(carol, group, [alice])
    assert await code_of(sv.chats.direct(bob, alice)) == ErrorCode.BLOCKED


async def test_blocking_drops_their_pending_request(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    await sv.contacts.request(bob, alice, "search", None)
    logs = await UserLogs(sv, alice, bob).start()
    await sv.blocks.add(alice, bob)
    assert await logs.new() == [
        (alice, "block.added", {"user_id": bob}),
        (alice, "contact.rejected", {"user_id": bob, "direction": "incoming"}),
        (bob, "contact.rejected", {"user_id": alice, "direction": "outgoing"})]
    assert await sv.contacts.pending(alice) == {"incoming": [], "outgoing": []}
