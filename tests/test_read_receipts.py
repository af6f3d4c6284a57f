"""Read receipts on both engines: counts and readers across devices, late
joiners and leavers, the privacy opt-out, both size thresholds, the live read
push in a small chat, and the in-memory index staying equal to a rebuild."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tidings import wire
from tidings.bus.base import ChatEvent, UserEvent
from tidings.client import Client
from tidings.clock import FakeClock
from tidings.config import Settings
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.services.read_index import ChatReads
from tidings.testing import RecordingBus, running_server, test_settings

from .helpers import PASSWORD, make_users, send_text


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return test_settings(tmp_path / "data", database_url, reads_small_chat_threshold=3,
                         reads_large_chat_threshold=5)


async def counts(sv: Services, user_id: int, chat_id: int, msg_ids: list[int]
                 ) -> dict[int, int]:
    result = await sv.reads.receipts(user_id, chat_id, msg_ids)
    assert "hidden" not in result
    return dict(result["counts"])


async def rebuilt_equals_cached(sv: Services, chat_id: int, msg_ids: list[int]) -> None:
    cached = await sv.reads.index.chat(chat_id)
    rebuilt = ChatReads(await sv.reads.index._load(chat_id))
    assert [cached.count(m) for m in msg_ids] == [rebuilt.count(m) for m in msg_ids]
    assert [cached.readers(m, 50, None) for m in msg_ids] == [
        rebuilt.readers(m, 50, None) for m in msg_ids]


async def test_counts_follow_marks_joins_and_leaves(sv: Services, clock: FakeClock) -> None:
    alice, bob, carol, dave = await make_users(sv, "alice", "bob", "carol", "dave")
    chat = await sv.chats.create(alice, "group", "team", [bob, carol])
    first = (await send_text(sv, alice, chat.chat_id, "one")).msg_id
    assert await counts(sv, alice, chat.chat_id, [first]) == {first: 0}

    clock.advance(5)
    await sv.reads.mark(bob, chat.chat_id, first)
    await sv.reads.mark(alice, chat.chat_id, first)  # the sender never counts
    assert await counts(sv, alice, chat.chat_id, [first]) == {first: 1}

    await sv.chats.add_members(alice, chat.chat_id, [dave])  # joined late
    second = (await send_text(sv, bob, chat.chat_id, "two")).msg_id
    await sv.reads.mark(dave, chat.chat_id, second)
    assert await counts(sv, alice, chat.chat_id, [first, second]) == {first: 1, second: 1}

    clock.advance(1)
    await sv.reads.mark(carol, chat.chat_id, second)
    await sv.chats.leave(carol, chat.chat_id)  # what carol read while a member still counts
    assert await counts(sv, alice, chat.chat_id, [first, second]) == {first: 2, second: 2}
    await rebuilt_equals_cached(sv, chat.chat_id, [first, second])

    readers = await sv.reads.readers(alice, chat.chat_id, second, None, None)
    assert [r.user_id for r in readers["readers"]] == [carol, dave]  # newest first
    with pytest.raises(TidingsError) as err:
        await sv.reads.receipts(dave, chat.chat_id, [first])  # before dave joined
    assert err.value.code == ErrorCode.MESSAGE_NOT_FOUND
    with pytest.raises(TidingsError) as err:
        await sv.reads.receipts(carol, chat.chat_id, [first])
    assert err.value.code == ErrorCode.NOT_A_MEMBER


async def test_readers_pages_newest_first(sv: Services, clock: FakeClock) -> None:
    alice, bob, carol, dave = await make_users(sv, "alice", "bob", "carol", "dave")
    chat = await sv.chats.create(alice, "group", "team", [bob, carol, dave])
    msg = (await send_text(sv, alice, chat.chat_id)).msg_id
    for user in (dave, bob, carol, alice):
        clock.advance(1)
        await sv.reads.mark(user, chat.chat_id, msg)
    page = await sv.reads.readers(bob, chat.chat_id, msg, 2, None)
    assert [r.user_id for r in page["readers"]] == [carol, bob]
    rest = await sv.reads.readers(bob, chat.chat_id, msg, 2, page["next_cursor"])
    assert [r.user_id for r in rest["readers"]] == [dave]
    assert rest["next_cursor"] is None


async def test_opted_out_member_is_not_counted_and_sees_nothing(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await sv.chats.create(alice, "group", "team", [bob, carol])
    msg = (await send_text(sv, alice, chat.chat_id)).msg_id
    await sv.reads.mark(bob, chat.chat_id, msg)
    await sv.reads.mark(carol, chat.chat_id, msg)
    assert await counts(sv, alice, chat.chat_id, [msg]) == {msg: 2}

    assert (await sv.privacy.update(bob, {"read_receipts": False}))["read_receipts"] is False
    assert (await sv.privacy.get(bob))["read_receipts"] is False
    assert await counts(sv, alice, chat.chat_id, [msg]) == {msg: 1}
    readers = await sv.reads.readers(alice, chat.chat_id, msg, None, None)
    assert [r.user_id for r in readers["readers"]] == [carol]

    await sv.privacy.update(alice, {"read_receipts": False})
    assert await sv.reads.receipts(alice, chat.chat_id, [msg]) == {"counts": {},
                                                                   "hidden": True}
    hidden = await sv.reads.readers(alice, chat.chat_id, msg, None, None)
    assert hidden["readers"] == [] and hidden["hidden"] is True
    await sv.privacy.update(bob, {"read_receipts": True})
    assert await counts(sv, carol, chat.chat_id, [msg]) == {msg: 2}  # bob back, sender not


async def test_chat_get_hides_other_cursors_and_shows_peer(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    direct = await sv.chats.direct(alice, bob)
    msg = (await send_text(sv, alice, direct.chat_id)).msg_id
    await sv.reads.mark(bob, direct.chat_id, msg)
    details = await sv.chats.get(alice, direct.chat_id)
    assert {m.user_id: m.read_pts for m in details.members}[bob] is None
    assert details.peer_read_pts == msg
    listed = (await sv.dialogs.list_dialogs(alice)).chats
    assert [d.peer_read_pts for d in listed] == [msg]
    await sv.privacy.update(bob, {"read_receipts": False})
    assert (await sv.chats.get(alice, direct.chat_id)).peer_read_pts is None
    assert [d.peer_read_pts for d in (await sv.dialogs.list_dialogs(alice)).chats] == [None]


async def test_large_chat_hides_readers(sv: Services) -> None:
    users = await make_users(sv, *[f"user{i}" for i in range(7)])
    chat = await sv.chats.create(users[0], "group", "big", users[1:])
    msg = (await send_text(sv, users[0], chat.chat_id)).msg_id
    await sv.reads.mark(users[1], chat.chat_id, msg)
    assert await counts(sv, users[0], chat.chat_id, [msg]) == {msg: 1}
    with pytest.raises(TidingsError) as err:
        await sv.reads.readers(users[0], chat.chat_id, msg, None, None)
    assert err.value.code == ErrorCode.READERS_HIDDEN


async def test_small_chat_pushes_reads_live(sv: Services) -> None:
    assert isinstance(sv.bus, RecordingBus)
    alice, bob, carol, dave = await make_users(sv, "alice", "bob", "carol", "dave")
    small = await sv.chats.create(alice, "group", "small", [bob])
    large = await sv.chats.create(alice, "group", "large", [bob, carol, dave])
    for chat in (small, large):
        msg = (await send_text(sv, alice, chat.chat_id)).msg_id
        await sv.reads.mark(bob, chat.chat_id, msg)
    events = [e for e in sv.bus.events
              if isinstance(e, ChatEvent) and b'"push":"read"' in e.frame]
    pushes = [wire.decode(e.frame) for e in events]
    assert pushes == [{"push": "read", "chat_id": small.chat_id, "user_id": bob,
                       "read_pts": pushes[0]["read_pts"]}]
    assert [e.skip_user for e in events] == [bob]  # to the other members only


async def test_index_follows_marks_from_another_node(sv: Services) -> None:
    """A read.updated arriving on the bus (another node's mark) moves the cursor."""
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await sv.chats.create(alice, "group", "team", [bob])
    msg = (await send_text(sv, alice, chat.chat_id)).msg_id
    assert await counts(sv, alice, chat.chat_id, [msg]) == {msg: 0}
    update = {"seq": 1, "kind": "read.updated", "date": 9, "chat_id": chat.chat_id,
              "read_pts": msg}
    sv.reads.index.on_event(UserEvent(user_id=bob, frame=wire.encode(
        {"push": "user_updates", "updates": [update]})))
    assert (await sv.reads.index.chat(chat.chat_id)).count(msg) == 1


async def test_concurrent_marks_commit_together_and_alone_fail(sv: Services) -> None:
    """Marks arriving together share a transaction: each answers the cursor after
    it as if they ran one by one, one read.updated per moved cursor, and a
    refused mark (not a member) fails alone."""
    import asyncio

    assert isinstance(sv.bus, RecordingBus)
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await sv.chats.create(alice, "group", "team", [bob])
    other = await sv.chats.create(carol, "group", "other", [])
    ids = [(await send_text(sv, alice, chat.chat_id, f"m{i}")).msg_id for i in range(3)]
    sv.bus.events.clear()
    results = await asyncio.gather(
        sv.reads.mark(bob, chat.chat_id, ids[1]),
        sv.reads.mark(bob, chat.chat_id, ids[0]),   # lower: a no-op, answers ids[1]
        sv.reads.mark(bob, other.chat_id, 1),       # not a member: fails alone
        sv.reads.mark(bob, chat.chat_id, ids[2]),
        sv.reads.mark(carol, other.chat_id, 10**6),  # clamped to the chat's pts
        return_exceptions=True)
    assert results[:2] == [ids[1], ids[1]]
    assert isinstance(results[2], TidingsError)
    assert results[2].code == ErrorCode.NOT_A_MEMBER
    assert results[3] == ids[2]
    top = (await sv.chats.get(carol, other.chat_id)).chat.pts
    assert results[4] == top
    user_updates = [(e.user_id, u["kind"], u["chat_id"], u["read_pts"])
                    for e in sv.bus.events if isinstance(e, UserEvent)
                    for u in wire.decode(e.frame)["updates"]]
    assert sorted(user_updates) == sorted([(bob, "read.updated", chat.chat_id, ids[2]),
                                           (carol, "read.updated", other.chat_id, top)])
    assert await counts(sv, alice, chat.chat_id, ids) == {m: 1 for m in ids}


async def test_live_read_push_reaches_the_sender(settings: Settings) -> None:
    """Over a real server: bob reads, alice's connection gets the ephemeral push."""
    async with running_server(settings) as server, Client(server.url) as bob, \
            aiohttp.ClientSession() as http, http.ws_connect(server.url) as alice:
        bob_id = (await bob.register("bob", PASSWORD))["user_id"]

        async def call(frame_id: int, method: str, params: dict[str, Any]) -> Any:
            await alice.send_str(json.dumps({"id": frame_id, "method": method,
                                             "params": params}))
            while True:
                reply = json.loads((await alice.receive(timeout=5)).data)
                if reply.get("id") == frame_id:
                    return reply["result"]

        await call(1, "auth.register", {"username": "alice", "password": PASSWORD})
        chat = await call(2, "chat.create", {"kind": "group", "title": "t",
                                             "member_ids": [bob_id]})
        chat_id = chat["chat"]["chat_id"]
        sent = await call(3, "message.send", {"chat_id": chat_id, "local_id": "a",
                                              "text": "hi"})
        msg_id = sent["message"]["msg_id"]
        await bob.call("read.mark", {"chat_id": chat_id, "pts": msg_id})
        while True:
            frame = json.loads((await alice.receive(timeout=5)).data)
            if frame.get("push") == "read":
                break
        assert frame == {"push": "read", "chat_id": chat_id, "user_id": bob_id,
                         "read_pts": msg_id}
