"""The sync model: logs, visibility, get_difference, and how many updates each
mutation writes (exactly the ones it should: no more, no fewer)."""

from __future__ import annotations

from typing import Any

from tidings.bus.base import ChatEvent, UserEvent
from tidings.clock import FakeClock
from tidings.services.container import Services
from tidings.testing import RecordingBus

from .helpers import make_users, send_text


async def seqs(sv: Services, *user_ids: int) -> list[int]:
    return [(await sv.sync.get_difference(u, 10**9, {}, 1)).seq for u in user_ids]


async def chat_pts(sv: Services, user_id: int, chat_id: int) -> int:
    return (await sv.chats.get(user_id, chat_id)).chat.pts


def kinds(updates: list[dict[str, Any]]) -> list[str]:
    return [u["kind"] for u in updates]


def published(sv: Services) -> RecordingBus:
    assert isinstance(sv.bus, RecordingBus)
    return sv.bus


async def test_create_group_writes_created_and_joins(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    bus = published(sv)
    bus.events.clear()
    chat = await sv.chats.create(alice, "group", "g", [bob, carol])
    diff = await sv.sync.get_chat_difference(alice, chat.chat_id, 0, None)
    # then the system message that shows the creation in the timeline
    assert kinds(diff.updates) == ["chat.created"] + ["member.joined"] * 3 + ["message.new"]
    assert [u["pts"] for u in diff.updates] == [1, 2, 3, 4, 5]
    assert diff.updates[-1]["message"].system == {"action": "chat.created", "title": "g",
                                                  "user_ids": [bob, carol], "by": alice}
    assert await seqs(sv, alice, bob, carol) == [1, 1, 1]
    chat_events = [e for e in bus.events if isinstance(e, ChatEvent)]
    user_events = [e for e in bus.events if isinstance(e, UserEvent)]
    assert len(chat_events) == 1 and sorted(chat_events[0].joined) == sorted([alice, bob, carol])
    assert sorted(e.user_id for e in user_events) == sorted([alice, bob, carol])


async def test_send_writes_one_chat_update_and_no_user_updates(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await sv.chats.direct(alice, bob)
    before_pts, before_seqs = await chat_pts(sv, alice, chat.chat_id), await seqs(sv, alice, bob)
    m = await send_text(sv, alice, chat.chat_id)
    assert await chat_pts(sv, alice, chat.chat_id) == before_pts + 1 == m.msg_id
    assert await seqs(sv, alice, bob) == before_seqs
    diff = await sv.sync.get_chat_difference(bob, chat.chat_id, before_pts, None)
    assert kinds(diff.updates) == ["message.new"]
    assert diff.updates[0]["message"].text == "hi"


async def test_add_remove_leave_update_counts(sv: Services) -> None:
    alice, bob, carol, dave = await make_users(sv, "alice", "bob", "carol", "dave")
    chat = await sv.chats.create(alice, "group", "g", [bob])
    cid = chat.chat_id
    p0 = await chat_pts(sv, alice, cid)
    s0 = await seqs(sv, alice, bob, carol, dave)
    await sv.chats.add_members(alice, cid, [carol, dave])
    assert await chat_pts(sv, alice, cid) == p0 + 3  # two joins, one system message
    assert await seqs(sv, alice, bob, carol, dave) == [s0[0], s0[1], s0[2] + 1, s0[3] + 1]
    await sv.chats.remove_member(alice, cid, carol)
    await sv.chats.leave(dave, cid)
    assert await chat_pts(sv, alice, cid) == p0 + 7
    assert await seqs(sv, alice, bob, carol, dave) == [s0[0], s0[1], s0[2] + 2, s0[3] + 2]
    diff = await sv.sync.get_chat_difference(alice, cid, p0, None)
    assert kinds(diff.updates) == ["member.joined", "member.joined", "message.new",
                                   "message.new", "member.left", "message.new", "member.left"]
    actions = [u["message"].system["action"] for u in diff.updates
               if u["kind"] == "message.new"]
    assert actions == ["member.added", "member.removed", "member.left"]
    # adding someone already in the chat writes nothing
    assert await sv.chats.add_members(alice, cid, [bob]) == p0 + 7


async def test_owner_leaving_passes_ownership(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await sv.chats.create(alice, "group", "g", [bob, carol])
    await sv.chats.leave(alice, chat.chat_id)
    details = await sv.chats.get(bob, chat.chat_id)
    roles = {m.user_id: m.role for m in details.members}
    assert roles == {bob: "owner", carol: "member"}
    diff = await sv.sync.get_chat_difference(bob, chat.chat_id, 5, None)
    assert kinds(diff.updates) == ["member.role", "message.new", "member.left"]


async def test_read_mark_moves_forward_only_and_syncs_devices(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await sv.chats.direct(alice, bob)
    m1 = await send_text(sv, alice, chat.chat_id)
    m2 = await send_text(sv, alice, chat.chat_id)
    [s0] = await seqs(sv, bob)
    assert await sv.reads.mark(bob, chat.chat_id, m2.msg_id) == m2.msg_id
    assert await sv.reads.mark(bob, chat.chat_id, m1.msg_id) == m2.msg_id  # never backwards
    assert await sv.reads.mark(bob, chat.chat_id, 10**6) == m2.msg_id  # clamped to the chat
    diff = await sv.sync.get_difference(bob, s0, {}, None)
    assert [(u["kind"], u["read_pts"]) for u in diff.user_updates] == [
        ("read.updated", m2.msg_id)]
    [dialog] = (await sv.dialogs.list_dialogs(bob)).chats
    assert dialog.unread_count == 0 and dialog.read_pts == m2.msg_id


async def test_dialogs_unread_and_order(sv: Services, clock: FakeClock) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    with_carol = await sv.chats.direct(alice, carol)
    with_bob = await sv.chats.direct(alice, bob)
    clock.advance(10)
    await send_text(sv, carol, with_carol.chat_id, "newest")
    clock.advance(10)
    await send_text(sv, bob, with_bob.chat_id, "1")
    await send_text(sv, bob, with_bob.chat_id, "2")
    await send_text(sv, alice, with_bob.chat_id, "mine")  # own messages are not unread
    dialogs = (await sv.dialogs.list_dialogs(alice)).chats
    assert [d.chat.chat_id for d in dialogs] == [with_bob.chat_id, with_carol.chat_id]
    clock.advance(10)
    await send_text(sv, carol, with_carol.chat_id, "newest")
    dialogs = (await sv.dialogs.list_dialogs(alice)).chats
    assert [d.chat.chat_id for d in dialogs] == [with_carol.chat_id, with_bob.chat_id]
    unread = {d.chat.chat_id: d.unread_count for d in dialogs}
    assert unread == {with_bob.chat_id: 2, with_carol.chat_id: 2}
    last = {d.chat.chat_id: d.last_message.text for d in dialogs if d.last_message}
    assert last == {with_bob.chat_id: "mine", with_carol.chat_id: "newest"}


async def test_get_difference_catches_up_everything(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    direct = await sv.chats.direct(alice, bob)
    state = await sv.sync.get_state(bob)
    await send_text(sv, alice, direct.chat_id, "while you were away")
    group = await sv.chats.create(carol, "group", "new", [bob])
    await send_text(sv, carol, group.chat_id, "welcome")
    diff = await sv.sync.get_difference(bob, state.seq, {int(k): v for k, v in
                                                         state.chats.items()}, None)
    assert kinds(diff.user_updates) == ["chat.joined"]
    by_chat = {c.chat_id: c for c in diff.chats}
    assert kinds(by_chat[direct.chat_id].updates) == ["message.new"]
    assert kinds(by_chat[group.chat_id].updates) == ["chat.created", "member.joined",
                                                     "member.joined", "message.new",
                                                     "message.new"]
    assert not any(c.too_long for c in diff.chats)
    again = await sv.sync.get_difference(bob, diff.seq, {c.chat_id: c.pts for c in diff.chats},
                                         None)
    assert again.user_updates == [] and again.chats == []


async def test_too_long_returns_the_newest_slice(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await sv.chats.direct(alice, bob)
    start = await chat_pts(sv, bob, chat.chat_id)
    for i in range(10):
        await send_text(sv, alice, chat.chat_id, str(i))
    diff = await sv.sync.get_chat_difference(bob, chat.chat_id, start, 4)
    assert diff.too_long and diff.pts == start + 10
    assert [u["pts"] for u in diff.updates] == list(range(start + 7, start + 11))
    full = await sv.sync.get_chat_difference(bob, chat.chat_id, start, 10)
    assert not full.too_long and len(full.updates) == 10


async def test_limit_is_clamped_not_rejected(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await sv.chats.direct(alice, bob)
    diff = await sv.sync.get_chat_difference(bob, chat.chat_id, 0, 10**9)
    assert not diff.too_long
    tiny = await sv.sync.get_chat_difference(bob, chat.chat_id, 0, 0)
    assert tiny.too_long and [u["pts"] for u in tiny.updates] == [diff.pts]


async def test_visibility_window_of_a_late_member(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await sv.chats.create(alice, "group", "g", [bob])
    await send_text(sv, alice, chat.chat_id, "before")
    joined_at = await sv.chats.add_members(alice, chat.chat_id, [carol]) - 1  # then "added"
    await send_text(sv, alice, chat.chat_id, "during")
    left_at = await sv.chats.leave(carol, chat.chat_id)
    await send_text(sv, alice, chat.chat_id, "after")
    diff = await sv.sync.get_chat_difference(carol, chat.chat_id, 0, None)
    assert [u["pts"] for u in diff.updates] == list(range(joined_at, left_at + 1))
    assert diff.pts == left_at
    state = await sv.sync.get_state(carol)
    assert str(chat.chat_id) not in state.chats
    # a former member who lists the chat gets the rest of their window, no more
    catch = await sv.sync.get_difference(carol, 0, {chat.chat_id: joined_at}, None)
    [entry] = [c for c in catch.chats if c.chat_id == chat.chat_id]
    assert entry.pts == left_at and entry.updates[-1]["kind"] == "member.left"


async def test_user_updates_page_with_more(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    for i in range(5):
        await sv.chats.create(alice, "group", f"g{i}", [bob])
    first = await sv.sync.get_difference(bob, 0, {}, 3)
    assert first.more and [u["seq"] for u in first.user_updates] == [1, 2, 3]
    second = await sv.sync.get_difference(bob, first.seq, {}, 3)
    assert not second.more and [u["seq"] for u in second.user_updates] == [4, 5]


async def test_pts_are_contiguous_with_one_entry_each(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await sv.chats.create(alice, "group", "g", [bob])
    m = await send_text(sv, alice, chat.chat_id)
    await sv.chats.add_members(alice, chat.chat_id, [carol])
    await sv.messages.recall(alice, chat.chat_id, m.msg_id)
    await send_text(sv, carol, chat.chat_id)
    await sv.chats.set_expire(alice, chat.chat_id, 0)
    await sv.chats.remove_member(alice, chat.chat_id, carol)
    diff = await sv.sync.get_chat_difference(alice, chat.chat_id, 0, None)
    assert [u["pts"] for u in diff.updates] == list(range(1, diff.pts + 1))
    assert kinds(diff.updates)[-8:] == ["member.joined", "message.new", "message.recalled",
                                        "message.new", "chat.expire_set", "message.new",
                                        "message.new", "member.left"]


async def test_rejoined_member_keeps_the_earlier_span(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await sv.chats.create(alice, "group", "g", [bob])
    cid = chat.chat_id
    seen_before = await chat_pts(sv, bob, cid)
    first = await send_text(sv, alice, cid, "first span")
    left_at = await sv.chats.leave(bob, cid)
    hidden = await send_text(sv, alice, cid, "while bob was out")
    added = await sv.chats.add_members(alice, cid, [bob])  # member.joined, then "added"
    joined_at = added - 1
    second = await send_text(sv, alice, cid, "second span")
    # a device that last saw pts `seen_before` gets the rest of span one, then span two
    diff = await sv.sync.get_chat_difference(bob, cid, seen_before, None)
    pts = [u["pts"] for u in diff.updates]
    assert pts == [first.msg_id, left_at - 1, left_at, joined_at, added, second.msg_id]
    assert hidden.msg_id not in pts and not diff.too_long
    history = await sv.timeline.history(bob, cid, None, None, None)
    texts = [m.text for m in history if m.kind != "system"]
    assert texts == ["first span", "second span"]
    older = await sv.timeline.history(bob, cid, added, None, 2)
    assert [m.text for m in older] == ["first span", None]  # and bob's "left" message
    newer = await sv.timeline.history(bob, cid, None, 0, 10)
    assert [m.text for m in newer if m.kind != "system"] == ["first span", "second span"]
    assert await sv.timeline.get(bob, cid, [first.msg_id, hidden.msg_id]) == [first]
    # too_long keeps the newest pts across spans
    tail = await sv.sync.get_chat_difference(bob, cid, seen_before, 2)
    assert tail.too_long and [u["pts"] for u in tail.updates] == [added, second.msg_id]


async def test_recall_reaches_former_members_as_a_user_update(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await sv.chats.create(alice, "group", "g", [bob])
    m = await send_text(sv, alice, chat.chat_id, "pay to account 1")
    await sv.chats.remove_member(alice, chat.chat_id, bob)
    await sv.chats.add_members(alice, chat.chat_id, [carol])  # joined after m: never saw it
    s_bob, s_carol, s_alice = await seqs(sv, bob, carol, alice)
    await sv.messages.recall(alice, chat.chat_id, m.msg_id)
    assert await seqs(sv, bob, carol, alice) == [s_bob + 1, s_carol, s_alice]
    [update] = (await sv.sync.get_difference(bob, s_bob, {}, None)).user_updates
    assert (update["kind"], update["chat_id"], update["msg_id"], update["recalled_by"]) == (
        "message.recalled", chat.chat_id, m.msg_id, alice)
