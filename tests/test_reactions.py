"""Reactions at the service level, on both engines: react/unreact, the caps, who
may react to what, the list of who reacted, the derived counts and their
recompute, and exactly which updates each call writes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tidings.bus.base import ChatEvent
from tidings.client import Client, TidingsClientError
from tidings.clock import FakeClock
from tidings.config import Settings
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.services.reactions import normalize_emoji
from tidings.store import reactions as reaction_store
from tidings.testing import RecordingBus, running_server, test_settings

from .helpers import PASSWORD, make_users, send_text

KINDS = 4  # max_reaction_kinds_per_message in this module
PER_USER = 2  # max_reactions_per_user


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return test_settings(tmp_path / "data", database_url, max_reaction_kinds_per_message=KINDS,
                         max_reactions_per_user=PER_USER, reactions_max_limit=3)


def bus_of(sv: Services) -> RecordingBus:
    assert isinstance(sv.bus, RecordingBus)
    return sv.bus


async def group(sv: Services, *names: str) -> tuple[list[int], int]:
    users = await make_users(sv, *names)
    chat = await sv.chats.create(users[0], "group", "g", users[1:])
    return users, chat.chat_id


async def code_of(call: object) -> ErrorCode:
    with pytest.raises(TidingsError) as err:
        await call  # type: ignore[misc]
    return err.value.code


async def test_react_counts_and_my_reactions(sv: Services) -> None:
    (alice, bob, carol), chat_id = await group(sv, "alice", "bob", "carol")
    m = await send_text(sv, alice, chat_id, "vote")
    first = await sv.reactions.react(bob, chat_id, m.msg_id, "👍")
    assert (first.reactions, first.my_reactions) == ({"👍": 1}, ["👍"])
    await sv.reactions.react(carol, chat_id, m.msg_id, "👍")
    state = await sv.reactions.react(carol, chat_id, m.msg_id, "🎉")
    assert state.reactions == {"👍": 2, "🎉": 1} and state.my_reactions == ["👍", "🎉"]
    [stored] = await sv.timeline.get(alice, chat_id, [m.msg_id])
    assert stored.reactions == {"👍": 2, "🎉": 1}
    history = await sv.timeline.history(bob, chat_id, None, None, None)
    assert history[-1].reactions == {"👍": 2, "🎉": 1}
    gone = await sv.reactions.unreact(carol, chat_id, m.msg_id, "👍")
    assert gone.reactions == {"👍": 1, "🎉": 1} and gone.my_reactions == ["🎉"]
    last = await sv.reactions.unreact(carol, chat_id, m.msg_id, "🎉")
    assert last.reactions == {"👍": 1} and last.my_reactions == []

    async def mine_txn(txn: Txn) -> dict[int, list[str]]:
        return await reaction_store.mine_txn(txn, bob, chat_id, [m.msg_id, m.msg_id + 99])

    assert await sv.db.read("t", mine_txn) == {m.msg_id: ["👍"]}


async def test_one_update_per_change_and_none_for_a_no_op(sv: Services) -> None:
    (alice, bob), chat_id = await group(sv, "alice", "bob")
    m = await send_text(sv, alice, chat_id)
    bus = bus_of(sv)
    bus.events.clear()
    seq_before = (await sv.sync.get_difference(bob, 0, {}, 1)).seq
    state = await sv.reactions.react(bob, chat_id, m.msg_id, "👍")
    [event] = bus.events
    assert isinstance(event, ChatEvent) and event.chat_id == chat_id
    diff = await sv.sync.get_chat_difference(alice, chat_id, m.msg_id, None)
    [update] = diff.updates
    assert update == {"pts": state.pts, "kind": "message.reactions", "date": update["date"],
                      "msg_id": m.msg_id, "reactions": {"👍": 1}, "user_id": bob,
                      "emoji": "👍", "op": "add", "user_reactions": ["👍"]}
    assert (await sv.sync.get_difference(bob, 0, {}, 1)).seq == seq_before  # no user update

    bus.events.clear()
    again = await sv.reactions.react(bob, chat_id, m.msg_id, "👍")
    assert again.pts is None and again.reactions == {"👍": 1} and bus.events == []
    nothing = await sv.reactions.unreact(alice, chat_id, m.msg_id, "👍")
    assert nothing.pts is None and nothing.my_reactions == [] and bus.events == []
    assert (await sv.chats.get(alice, chat_id)).chat.pts == state.pts

    removed = await sv.reactions.unreact(bob, chat_id, m.msg_id, "👍")
    [event] = bus.events
    diff = await sv.sync.get_chat_difference(alice, chat_id, state.pts or 0, None)
    [update] = diff.updates
    assert (update["pts"], update["op"], update["reactions"], update["user_reactions"]) == (
        removed.pts, "remove", {}, [])
    [stored] = await sv.timeline.get(alice, chat_id, [m.msg_id])
    assert stored.reactions == {}


@pytest.mark.parametrize("bad", ["", "a", "👍👍", "👍 ", "🏻", "🇦", ":+1:", "x" * 200,
                                 "\u200d", "👍\u200d"])
def test_not_a_single_emoji_is_refused(bad: str) -> None:
    with pytest.raises(TidingsError) as err:
        normalize_emoji(bad)
    assert err.value.code is ErrorCode.INVALID_PARAMS and err.value.data["field"] == "emoji"


@pytest.mark.parametrize("given, stored", [
    ("👍", "👍"), ("👍🏽", "👍🏽"), ("❤", "❤️"), ("❤️", "❤️"), ("👍\ufe0f", "👍"),
    ("👨‍👩‍👧", "👨‍👩‍👧"), ("🇩🇪", "🇩🇪"), ("*⃣", "*️⃣"), ("🏳️‍🌈", "🏳️‍🌈"),
])
def test_emoji_are_stored_fully_qualified(given: str, stored: str) -> None:
    assert normalize_emoji(given) == stored


async def test_text_and_emoji_forms_count_as_one(sv: Services) -> None:
    (alice, bob), chat_id = await group(sv, "alice", "bob")
    m = await send_text(sv, alice, chat_id)
    await sv.reactions.react(alice, chat_id, m.msg_id, "❤")
    state = await sv.reactions.react(bob, chat_id, m.msg_id, "❤️")
    assert state.reactions == {"❤️": 2}
    assert (await sv.reactions.unreact(alice, chat_id, m.msg_id, "❤️")).reactions == {"❤️": 1}


async def test_caps_on_kinds_and_per_user(sv: Services) -> None:
    users, chat_id = await group(sv, "alice", "bob", "carol", "dave", "erin")
    m = await send_text(sv, users[0], chat_id)
    emoji = ["😀", "😂", "😍", "😎", "🤔"]
    for user, e in zip(users[:KINDS], emoji, strict=False):
        await sv.reactions.react(user, chat_id, m.msg_id, e)
    bus_of(sv).events.clear()
    with pytest.raises(TidingsError) as err:
        await sv.reactions.react(users[KINDS], chat_id, m.msg_id, emoji[KINDS])
    assert err.value.code is ErrorCode.FORBIDDEN and err.value.data["limit"] == KINDS
    # an emoji already on the message still counts up
    state = await sv.reactions.react(users[KINDS], chat_id, m.msg_id, emoji[0])
    assert state.reactions[emoji[0]] == 2 and len(state.reactions) == KINDS

    await sv.reactions.react(users[0], chat_id, m.msg_id, emoji[1])  # alice: 2 now
    with pytest.raises(TidingsError) as err:
        await sv.reactions.react(users[0], chat_id, m.msg_id, emoji[2])
    assert err.value.code is ErrorCode.FORBIDDEN and err.value.data["limit"] == PER_USER
    # removing one makes room again
    await sv.reactions.unreact(users[0], chat_id, m.msg_id, emoji[1])
    assert (await sv.reactions.react(users[0], chat_id, m.msg_id, emoji[2])).my_reactions == [
        emoji[0], emoji[2]]


async def test_who_may_react_to_what(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat_id = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    early = await send_text(sv, alice, chat_id, "before carol")
    await sv.chats.add_members(alice, chat_id, [carol])
    other = (await sv.chats.create(bob, "group", "other", [])).chat_id
    for i in range(20):  # msg_ids there run past chat g's pts
        elsewhere = await send_text(sv, bob, other, f"not in chat g {i}")
    recalled = await send_text(sv, bob, chat_id, "oops")
    await sv.messages.recall(bob, chat_id, recalled.msg_id)
    deleted = await send_text(sv, bob, chat_id, "gone")
    await sv.deletion.delete(bob, chat_id, [deleted.msg_id], True)
    hidden = await send_text(sv, alice, chat_id, "hide me")
    await sv.deletion.delete(bob, chat_id, [hidden.msg_id], False)
    pinned = await sv.pins.pin(alice, chat_id, early.msg_id)  # writes a system message
    assert pinned is not None
    r = sv.reactions
    assert await code_of(r.react(carol, chat_id, early.msg_id, "👍")) is \
        ErrorCode.MESSAGE_NOT_FOUND  # before carol joined
    assert await code_of(r.react(alice, chat_id, elsewhere.msg_id, "👍")) is \
        ErrorCode.MESSAGE_NOT_FOUND  # a message of another chat
    assert await code_of(r.react(alice, chat_id, 10**6, "👍")) is ErrorCode.MESSAGE_NOT_FOUND
    assert await code_of(r.react(alice, chat_id, 2, "👍")) is \
        ErrorCode.MESSAGE_NOT_FOUND  # pts 2 is a member.joined, not a message
    assert await code_of(r.react(alice, chat_id, deleted.msg_id, "👍")) is \
        ErrorCode.MESSAGE_NOT_FOUND
    assert await code_of(r.react(bob, chat_id, hidden.msg_id, "👍")) is \
        ErrorCode.MESSAGE_NOT_FOUND  # deleted for bob alone
    assert (await r.react(alice, chat_id, hidden.msg_id, "👍")).reactions == {"👍": 1}
    assert await code_of(r.react(alice, chat_id, recalled.msg_id, "👍")) is ErrorCode.FORBIDDEN
    assert await code_of(r.react(alice, chat_id, pinned, "👍")) is ErrorCode.FORBIDDEN
    assert await code_of(r.react(carol, other, elsewhere.msg_id, "👍")) is \
        ErrorCode.NOT_A_MEMBER
    assert await code_of(r.react(alice, 10**6, 1, "👍")) is ErrorCode.CHAT_NOT_FOUND
    assert await code_of(r.list(carol, chat_id, early.msg_id, None, None, None)) is \
        ErrorCode.MESSAGE_NOT_FOUND


async def test_reactions_leave_with_a_deleted_message(sv: Services) -> None:
    (alice, bob), chat_id = await group(sv, "alice", "bob")
    m = await send_text(sv, alice, chat_id)
    await sv.reactions.react(bob, chat_id, m.msg_id, "👍")
    await sv.deletion.delete(alice, chat_id, [m.msg_id], True)

    async def facts_txn(txn: Txn) -> dict[int, dict[str, int]]:
        return await reaction_store.counts_from_facts_txn(txn, chat_id)

    assert await sv.db.read("t", facts_txn) == {}


async def test_list_newest_first_with_paging_and_filter(sv: Services, clock: FakeClock) -> None:
    users, chat_id = await group(sv, "alice", "bob", "carol", "dave")
    m = await send_text(sv, users[0], chat_id)
    done = []
    for i, (user, e) in enumerate([(users[0], "👍"), (users[1], "🎉"), (users[2], "👍"),
                                    (users[3], "👍"), (users[1], "👍")]):
        clock.advance(1)
        await sv.reactions.react(user, chat_id, m.msg_id, e)
        done.append((user, e, i))
    page = await sv.reactions.list(users[0], chat_id, m.msg_id, None, None, None)
    assert [(r.user_id, r.emoji) for r in page.reactions] == [
        (users[1], "👍"), (users[3], "👍"), (users[2], "👍")]  # limit 3 by setting
    assert page.next_cursor is not None
    rest = await sv.reactions.list(users[0], chat_id, m.msg_id, None, 3, page.next_cursor)
    assert [(r.user_id, r.emoji) for r in rest.reactions] == [(users[1], "🎉"),
                                                             (users[0], "👍")]
    assert rest.next_cursor is None
    dates = [r.date for r in page.reactions + rest.reactions]
    assert dates == sorted(dates, reverse=True)
    only = await sv.reactions.list(users[0], chat_id, m.msg_id, "🎉", 2, None)
    assert [(r.user_id, r.emoji) for r in only.reactions] == [(users[1], "🎉")]
    assert only.next_cursor is None
    two = await sv.reactions.list(users[0], chat_id, m.msg_id, "👍", 2, None)
    more = await sv.reactions.list(users[0], chat_id, m.msg_id, "👍", 2, two.next_cursor)
    assert [r.user_id for r in two.reactions + more.reactions] == [
        users[1], users[3], users[2], users[0]]


@pytest.mark.parametrize("params, field", [
    ({"limit": 0}, "limit"), ({"limit": 4}, "limit"), ({"cursor": "x"}, "cursor"),
    ({"cursor": "1:2:"}, "cursor"), ({"cursor": "-1:2:👍"}, "cursor"),
    ({"cursor": "1:99999999999999999999:👍"}, "cursor"), ({"emoji": "ab"}, "emoji"),
])
async def test_list_bad_input(sv: Services, params: dict[str, object], field: str) -> None:
    (alice,), chat_id = await group(sv, "alice")
    m = await send_text(sv, alice, chat_id)
    args: dict[str, object] = {"emoji": None, "limit": None, "cursor": None, **params}
    with pytest.raises(TidingsError) as err:
        await sv.reactions.list(alice, chat_id, m.msg_id, args["emoji"],  # type: ignore[arg-type]
                                args["limit"], args["cursor"])  # type: ignore[arg-type]
    assert err.value.code is ErrorCode.INVALID_PARAMS and err.value.data["field"] == field


async def test_counts_agree_with_the_facts_and_recompute(sv: Services) -> None:
    users, chat_id = await group(sv, "alice", "bob", "carol")
    msgs = [await send_text(sv, users[0], chat_id, f"m{i}") for i in range(3)]
    plan = [(0, 0, "👍", True), (1, 0, "👍", True), (2, 0, "🎉", True), (0, 1, "😂", True),
            (1, 0, "👍", False), (1, 1, "😂", True), (2, 2, "👍", True), (2, 2, "🔥", True),
            (2, 2, "👍", False), (0, 1, "😂", False), (1, 1, "😂", False)]
    for user, msg, e, add in plan:
        call = sv.reactions.react if add else sv.reactions.unreact
        await call(users[user], chat_id, msgs[msg].msg_id, e)

    async def both_txn(txn: Txn) -> tuple[dict[int, dict[str, int]], dict[int, dict[str, int]]]:
        return (await reaction_store.counts_from_facts_txn(txn, chat_id),
                await reaction_store.stored_counts_txn(txn, chat_id))

    facts, stored = await sv.db.read("t", both_txn)
    assert facts == stored == {msgs[0].msg_id: {"👍": 1, "🎉": 1}, msgs[2].msg_id: {"🔥": 1}}
    assert await sv.reactions.recompute(chat_id) == 0

    async def corrupt_txn(txn: Txn) -> None:
        await reaction_store.set_counts_txn(txn, chat_id, msgs[0].msg_id, {"👍": 7})
        await reaction_store.set_counts_txn(txn, chat_id, msgs[1].msg_id, {"😂": 1})
        await reaction_store.set_counts_txn(txn, chat_id, msgs[2].msg_id, {})

    await sv.db.write("t", corrupt_txn)
    assert await sv.reactions.recompute(chat_id) == 3
    facts, stored = await sv.db.read("t", both_txn)
    assert facts == stored
    got = await sv.timeline.get(users[0], chat_id, [m.msg_id for m in msgs])
    assert [m.reactions for m in got] == [{"👍": 1, "🎉": 1}, {}, {"🔥": 1}]


async def test_concurrent_reactions_lose_no_count(sv: Services) -> None:
    """Many members reacting at once (PostgreSQL runs them in parallel): the
    derived counts still equal the facts."""
    users = await make_users(sv, *[f"user{i}" for i in range(12)])
    chat_id = (await sv.chats.create(users[0], "group", "g", users[1:])).chat_id
    m = await send_text(sv, users[0], chat_id)
    await asyncio.gather(*(sv.reactions.react(u, chat_id, m.msg_id, e)
                           for u in users for e in ("👍", "🎉")))
    await asyncio.gather(*(sv.reactions.unreact(u, chat_id, m.msg_id, "🎉") for u in users[:5]))
    [stored] = await sv.timeline.get(users[0], chat_id, [m.msg_id])
    assert stored.reactions == {"👍": 12, "🎉": 7}
    assert await sv.reactions.recompute(chat_id) == 0
    diff = await sv.sync.get_chat_difference(users[0], chat_id, m.msg_id, None)
    assert len(diff.updates) == 12 * 2 + 5  # one update per change, pts without gaps
    assert diff.updates[-1]["reactions"] == {"👍": 12, "🎉": 7}


async def test_e2e_another_member_sees_reactions_pins_and_tags(settings: Settings) -> None:
    """Over WebSocket: bob's client sees alice's reaction counts, pin and tags as
    pushes; bob's second device, offline meanwhile, catches up to the same view."""
    async with running_server(settings) as server, Client(server.url) as alice, \
            Client(server.url) as bob, Client(server.url) as bob_phone:
        await alice.register("alice", PASSWORD)
        bob_id = (await bob.register("bob", PASSWORD))["user_id"]
        await bob_phone.login("bob", PASSWORD)
        chat_id = (await alice.create_group("team", [bob_id]))["chat_id"]
        msg = await alice.send_text(chat_id, "lunch?")
        msg_id = msg["msg_id"]
        await bob_phone.wait_for(lambda c: msg_id in c.chats[chat_id].messages)
        await bob_phone.disconnect()

        mine = await alice.call("message.react", {"chat_id": chat_id, "msg_id": msg_id,
                                                  "emoji": "👍"})
        assert (mine["reactions"], mine["my_reactions"]) == ({"👍": 1}, ["👍"])
        await bob.call("message.react", {"chat_id": chat_id, "msg_id": msg_id, "emoji": "❤"})
        await alice.call("message.pin", {"chat_id": chat_id, "msg_id": msg_id})
        await alice.call("message.set_attributes", {"chat_id": chat_id, "msg_id": msg_id,
                                                    "attributes": {"place": "canteen"},
                                                    "tags": ["Food"]})

        def seen(c: Client) -> bool:
            held = c.chats[chat_id].messages[msg_id]
            return held.get("tags") == ["food"] and c.chats[chat_id].pinned == {msg_id}

        await bob.wait_for(seen)
        held = bob.chats[chat_id].messages[msg_id]
        assert held["reactions"] == {"👍": 1, "❤️": 1}
        assert held["attributes"] == {"place": "canteen"}
        system = [m for m in bob.chats[chat_id].messages.values() if m["kind"] == "system"]
        assert system[-1]["system"] == {"action": "message.pinned", "msg_id": msg_id,
                                        "by": alice.user_id}
        got = await bob.call("chat.get", {"chat_id": chat_id})
        assert got["pinned_msg_ids"] == [msg_id]
        assert (await bob.call("message.list_tags", {"chat_id": chat_id}))["tags"] == [
            {"tag": "food", "count": 1}]
        who = await bob.call("message.reactions", {"chat_id": chat_id, "msg_id": msg_id})
        assert sorted((r["user_id"], r["emoji"]) for r in who["reactions"]) == sorted(
            [(alice.user_id, "👍"), (bob_id, "❤️")])
        [fetched] = (await bob.call("message.get", {"chat_id": chat_id,
                                                    "msg_ids": [msg_id]}))["messages"]
        assert fetched["reactions"] == held["reactions"] and fetched["tags"] == ["food"]

        assert bob_phone.token is not None
        await bob_phone.resume(bob_phone.token)
        await bob_phone.wait_for(seen)
        assert bob_phone.chats[chat_id].messages == bob.chats[chat_id].messages

        for method, params, code, field in [
            ("message.react", {"emoji": "ab"}, "INVALID_PARAMS", "emoji"),
            ("message.react", {"emoji": "👍", "msg_id": 10**6}, "MESSAGE_NOT_FOUND", "msg_id"),
            ("message.set_attributes", {"attributes": {"a": ["\x00"]}}, "INVALID_PARAMS",
             "attributes"),
            ("message.set_attributes", {"tags": ["x" * 40]}, "INVALID_PARAMS", "tags"),
            ("message.set_attributes", {"attributes": {"a": "x" * 3000}}, "TOO_LARGE",
             "attributes"),
            ("message.reactions", {"cursor": "nope"}, "INVALID_PARAMS", "cursor"),
        ]:
            with pytest.raises(TidingsClientError) as err:
                await bob.call(method, {"chat_id": chat_id, "msg_id": msg_id, **params})
            assert (err.value.code, (err.value.data or {}).get("field")) == (code, field)
