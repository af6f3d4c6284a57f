"""The conversation list (chat.list), dialog.pin/unpin/hide/mute and
message.mentions: order, paging, counts, previews, the updates each setting
writes, and a second device following them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tidings import wire
from tidings.bench.dialogs import DialogsParams, run_dialogs
from tidings.bus.base import ChatEvent, UserEvent
from tidings.client import Client, TidingsClientError
from tidings.clock import FakeClock
from tidings.config import Settings
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.services.dialogs import MUTE_FOREVER
from tidings.testing import RecordingBus, running_server, service_harness

from .helpers import PASSWORD, make_users, send_text


async def listed(sv: Services, user_id: int, **kw: Any) -> list[wire.Dialog]:
    return (await sv.dialogs.list_dialogs(user_id, **kw)).chats


async def ids(sv: Services, user_id: int, **kw: Any) -> list[int]:
    return [d.chat.chat_id for d in await listed(sv, user_id, **kw)]


async def dialog(sv: Services, user_id: int, chat_id: int) -> wire.Dialog:
    found = [d for d in await listed(sv, user_id, limit=200, include_hidden=True)
             if d.chat.chat_id == chat_id]
    assert len(found) == 1
    return found[0]


async def walk(sv: Services, user_id: int, limit: int, between: Any = None) -> list[int]:
    """Every page from the top; ``between(page_no)`` runs before each next page."""
    seen: list[int] = []
    cursor = None
    page_no = 0
    while True:
        page = await sv.dialogs.list_dialogs(user_id, limit, cursor)
        assert len(page.chats) <= limit
        seen += [d.chat.chat_id for d in page.chats]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor
        page_no += 1
        if between is not None:
            await between(page_no)


def mention(user_id: int, text: str) -> list[wire.Entity]:
    return [wire.Entity(type="mention", offset=0, length=len(text), user_id=user_id)]


async def expect(code: ErrorCode, call: Any) -> TidingsError:
    with pytest.raises(TidingsError) as err:
        await call
    assert err.value.code is code, err.value
    return err.value


# -- order and paging ---------------------------------------------------------------

async def test_pinned_first_in_pin_order_then_by_activity(sv: Services, clock: FakeClock
                                                         ) -> None:
    alice, bob, carol, dave = await make_users(sv, "alice", "bob", "carol", "dave")
    a = (await sv.chats.direct(alice, bob)).chat_id
    clock.advance(10)
    b = (await sv.chats.direct(alice, carol)).chat_id
    clock.advance(10)
    c = (await sv.chats.direct(alice, dave)).chat_id
    clock.advance(10)
    g = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    assert await ids(sv, alice) == [g, c, b, a]
    clock.advance(10)
    await send_text(sv, bob, a, "wake up")
    assert await ids(sv, alice) == [a, g, c, b]
    assert await sv.dialogs.pin(alice, b) == 1
    assert await sv.dialogs.pin(alice, g) == 2
    dialogs = await listed(sv, alice)
    assert [d.chat.chat_id for d in dialogs] == [b, g, a, c]
    assert [(d.pinned, d.pinned_order) for d in dialogs] == [
        (True, 1), (True, 2), (False, 0), (False, 0)]
    clock.advance(10)
    await send_text(sv, dave, c)  # activity never lifts a dialog above the pinned ones
    assert await ids(sv, alice) == [b, g, c, a]
    assert await sv.dialogs.unpin(alice, b) == 0
    assert await sv.dialogs.pin(alice, b) == 3  # pinned again: now last of the pinned
    assert await ids(sv, alice) == [g, b, c, a]
    assert await ids(sv, bob) == [a, g]  # settings are per user


async def test_pages_cover_the_list_once_while_messages_arrive(sv: Services, clock: FakeClock
                                                              ) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chats = []
    for i in range(23):
        clock.advance(1)
        chats.append((await sv.chats.create(bob, "group", f"g{i}", [alice])).chat_id)
    for chat_id in (chats[0], chats[5], chats[9]):
        await sv.dialogs.pin(alice, chat_id)
    top = await ids(sv, alice, limit=200)
    assert top[:3] == [chats[0], chats[5], chats[9]]
    assert await walk(sv, alice, 4) == top  # quiet: pages are the list, cut in pieces

    moved: list[int] = []

    async def traffic(page_no: int) -> None:
        # One dialog already listed and one not reached yet get new messages.
        clock.advance(1)
        current = await ids(sv, alice, limit=200)
        for chat_id in (current[page_no * 4 - 1], current[-1]):
            await send_text(sv, bob, chat_id, f"during page {page_no}")
            moved.append(chat_id)

    seen = await walk(sv, alice, 4, traffic)
    assert len(seen) == len(set(seen)), "a dialog came twice"
    assert set(top) - set(seen) <= set(moved), "a dialog that did not move was skipped"
    # What the walk skipped moved to the top, where a new walk (or the update
    # that moved it) shows it.
    assert set(seen) | set(moved) == set(top)
    fresh = await ids(sv, alice, limit=200)
    assert sorted(fresh) == sorted(top)
    assert fresh[:3] == [chats[0], chats[5], chats[9]]


async def test_limits_and_cursors_are_checked(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = (await sv.chats.direct(alice, bob)).chat_id
    for bad in (0, -1, 201):
        err = await expect(ErrorCode.INVALID_PARAMS, sv.dialogs.list_dialogs(alice, bad))
        assert err.data == {"field": "limit"}
    for cursor in ("", "x", "p.0", "p.-1", "a.1", "a.1.x", "p.99999999999999999999",
                   "a.1.2 ", "m.3"):
        err = await expect(ErrorCode.INVALID_PARAMS,
                           sv.dialogs.list_dialogs(alice, 10, cursor))
        assert err.data == {"field": "cursor"}
    await expect(ErrorCode.INVALID_PARAMS, sv.dialogs.mentions(alice, chat, 0))
    await expect(ErrorCode.INVALID_PARAMS, sv.dialogs.mentions(alice, chat, None, "p.1"))
    page = await sv.dialogs.list_dialogs(alice)
    assert page.next_cursor is None and [d.chat.chat_id for d in page.chats] == [chat]


# -- counts and previews ----------------------------------------------------------------

async def test_unread_count_leaves_out_own_read_deleted_hidden_and_cleared(
        sv: Services, clock: FakeClock) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = (await sv.chats.direct(alice, bob)).chat_id
    m1 = await send_text(sv, bob, chat, "1")
    m2 = await send_text(sv, bob, chat, "2")
    await send_text(sv, alice, chat, "mine")
    m4 = await send_text(sv, bob, chat, "4")
    m5 = await send_text(sv, bob, chat, "5")
    assert (await dialog(sv, alice, chat)).unread_count == 4
    await sv.reads.mark(alice, chat, m1.msg_id)
    assert (await dialog(sv, alice, chat)).unread_count == 3
    await sv.deletion.delete(bob, chat, [m2.msg_id], True)  # for everyone
    assert (await dialog(sv, alice, chat)).unread_count == 2
    await sv.deletion.delete(alice, chat, [m4.msg_id], False)  # for alice only
    assert (await dialog(sv, alice, chat)).unread_count == 1
    assert (await dialog(sv, bob, chat)).unread_count == 1  # bob's own are not unread
    await sv.deletion.clear_history(alice, chat, False)
    d = await dialog(sv, alice, chat)
    assert d.unread_count == 0 and d.last_message is None and d.last_message_state is None
    m6 = await send_text(sv, bob, chat, "after the clear")
    d = await dialog(sv, alice, chat)
    assert d.unread_count == 1 and d.last_message is not None
    assert d.last_message.msg_id == m6.msg_id > m5.msg_id


async def test_unread_and_preview_start_where_a_member_joined(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    await send_text(sv, alice, chat, "secret from before carol")
    await sv.chats.add_members(alice, chat, [carol])
    d = await dialog(sv, carol, chat)
    assert d.unread_count == 0  # at most the system message of her join, never unread
    assert d.last_message is None or d.last_message.kind == "system"
    await send_text(sv, alice, chat, "hello carol")
    d = await dialog(sv, carol, chat)
    assert d.last_message is not None and d.last_message.text == "hello carol"
    assert d.unread_count == 1 and d.last_message_state == "ok"


async def test_preview_says_recalled_or_deleted(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = (await sv.chats.direct(alice, bob)).chat_id
    first = await send_text(sv, bob, chat, "first")
    last = await send_text(sv, bob, chat, "last")
    await sv.messages.recall(bob, chat, last.msg_id)
    d = await dialog(sv, alice, chat)
    assert d.last_message is not None and d.last_message.msg_id == last.msg_id
    assert d.last_message_state == "recalled" and d.last_message.text is None
    # Deleted for me: the preview is the newest message I still see.
    await sv.deletion.delete(alice, chat, [last.msg_id], False)
    d = await dialog(sv, alice, chat)
    assert d.last_message is not None and d.last_message.msg_id == first.msg_id
    assert d.last_message_state == "ok" and d.last_message.text == "first"
    assert (await dialog(sv, bob, chat)).last_message_state == "recalled"
    # Deleted for everyone: a marker with the sender and date, no content.
    newest = await send_text(sv, bob, chat, "newest")
    await sv.deletion.delete(bob, chat, [newest.msg_id], True)
    for user_id in (alice, bob):
        d = await dialog(sv, user_id, chat)
        assert d.last_message is not None and d.last_message.msg_id == newest.msg_id
        assert d.last_message_state == "deleted" and d.last_message.text is None
        assert d.last_message.sender_id == bob and d.last_message.date == newest.date


async def test_direct_chats_name_their_peer(sv: Services) -> None:
    """A client names a direct chat from the list alone, without a chat.get."""
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    with_bob = (await sv.chats.direct(alice, bob)).chat_id
    with_me = (await sv.chats.direct(alice, alice)).chat_id
    group = (await sv.chats.create(alice, "group", "Team", [bob, carol])).chat_id
    peers = {d.chat.chat_id: d.peer_id for d in await listed(sv, alice)}
    assert peers == {with_bob: bob, with_me: alice, group: None}
    assert (await dialog(sv, bob, with_bob)).peer_id == alice
    await sv.privacy.update(bob, {"read_receipts": False})  # the peer stays named
    shown = await dialog(sv, alice, with_bob)
    assert (shown.peer_id, shown.peer_read_pts) == (bob, None)


async def test_unread_mentions_and_message_mentions(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = (await sv.chats.create(alice, "group", "g", [bob, carol])).chat_id
    plain = await send_text(sv, alice, chat, "no mention")
    mentions = [await send_text(sv, alice, chat, "@bob", entities=mention(bob, "@bob"))
                for _ in range(5)]
    await send_text(sv, carol, chat, "@carol", entities=mention(carol, "@carol"))
    d = await dialog(sv, bob, chat)
    assert d.unread_mentions == 5 and d.unread_count == 7
    assert (await dialog(sv, carol, chat)).unread_mentions == 0  # not by herself
    newest_first = [m.msg_id for m in reversed(mentions)]
    page = await sv.dialogs.mentions(bob, chat)
    assert page.msg_ids == newest_first and page.next_cursor is None
    got: list[int] = []
    cursor = None
    while True:
        page = await sv.dialogs.mentions(bob, chat, 2, cursor)
        got += page.msg_ids
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert got == newest_first
    await sv.reads.mark(bob, chat, mentions[2].msg_id)
    assert (await dialog(sv, bob, chat)).unread_mentions == 2
    assert (await sv.dialogs.mentions(bob, chat)).msg_ids == newest_first[:2]
    await sv.deletion.delete(bob, chat, [mentions[4].msg_id], False)  # hidden for bob
    assert (await dialog(sv, bob, chat)).unread_mentions == 1
    assert (await sv.dialogs.mentions(bob, chat)).msg_ids == [mentions[3].msg_id]
    await sv.reads.mark(bob, chat, 10**6)
    assert (await dialog(sv, bob, chat)).unread_mentions == 0
    assert (await sv.dialogs.mentions(bob, chat)).msg_ids == []
    assert plain.msg_id not in got


async def test_a_recalled_or_deleted_mention_is_no_longer_unread(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    first, second = [await send_text(sv, alice, chat, "@bob", entities=mention(bob, "@bob"))
                     for _ in range(2)]
    assert (await dialog(sv, bob, chat)).unread_mentions == 2
    await sv.messages.recall(alice, chat, second.msg_id)
    await sv.deletion.delete(alice, chat, [first.msg_id], True)
    assert (await dialog(sv, bob, chat)).unread_mentions == 0
    assert (await sv.dialogs.mentions(bob, chat)).msg_ids == []


# -- dialog settings ---------------------------------------------------------------

async def test_hidden_dialog_comes_back_with_the_next_message(sv: Services, clock: FakeClock
                                                              ) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    a = (await sv.chats.direct(alice, bob)).chat_id
    b = (await sv.chats.direct(alice, carol)).chat_id
    await send_text(sv, bob, a, "before")
    hidden_pts = await sv.dialogs.hide(alice, a)
    assert hidden_pts == (await sv.chats.get(alice, a)).chat.pts
    assert await sv.dialogs.hide(alice, a) == hidden_pts  # still hidden: nothing changes
    assert await ids(sv, alice) == [b]
    assert await ids(sv, bob) == [a]  # hidden for alice only
    d = await dialog(sv, alice, a)  # include_hidden lists it, marked
    assert d.hidden and d.last_message is not None and d.last_message.text == "before"
    await sv.chats.get(alice, a)  # reading does not bring it back
    assert await ids(sv, alice) == [b]
    await send_text(sv, alice, a, "my own message brings it back too")
    assert a in await ids(sv, alice)
    assert not (await dialog(sv, alice, a)).hidden
    assert await sv.dialogs.hide(alice, a) > hidden_pts  # hidden again, at the new pts
    clock.advance(5)
    await send_text(sv, bob, a, "back")
    assert await ids(sv, alice) == [a, b]


async def test_mute_forever_until_and_unmute(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = (await sv.chats.direct(alice, bob)).chat_id
    assert (await dialog(sv, alice, chat)).muted_until == 0
    assert await sv.dialogs.mute(alice, chat, None) == MUTE_FOREVER
    assert (await dialog(sv, alice, chat)).muted_until == MUTE_FOREVER
    assert await sv.dialogs.mute(alice, chat, 2_000_000_000) == 2_000_000_000
    assert (await dialog(sv, alice, chat)).muted_until == 2_000_000_000
    assert await sv.dialogs.mute(alice, chat, wire.INT64_MAX) == MUTE_FOREVER
    assert await sv.dialogs.mute(alice, chat, 0) == 0
    assert (await dialog(sv, alice, chat)).muted_until == 0
    assert (await dialog(sv, bob, chat)).muted_until == 0
    await expect(ErrorCode.INVALID_PARAMS, sv.dialogs.mute(alice, chat, -1))


async def test_pin_limit(settings: Settings) -> None:
    limited = settings.model_copy(update={"max_pinned_dialogs": 2})
    async with service_harness(limited) as sv:
        alice, bob, carol, dave = await make_users(sv, "alice", "bob", "carol", "dave")
        chats = [(await sv.chats.direct(alice, u)).chat_id for u in (bob, carol, dave)]
        assert await sv.dialogs.pin(alice, chats[0]) == 1
        assert await sv.dialogs.pin(alice, chats[1]) == 2
        assert await sv.dialogs.pin(alice, chats[1]) == 2  # already pinned: unchanged
        err = await expect(ErrorCode.FORBIDDEN, sv.dialogs.pin(alice, chats[2]))
        assert err.data == {"limit": 2}
        await sv.dialogs.unpin(alice, chats[0])
        assert await sv.dialogs.pin(alice, chats[2]) == 3
        assert await ids(sv, alice) == [chats[1], chats[2], chats[0]]
        assert await sv.dialogs.pin(bob, chats[0]) == 1  # each user has their own


async def test_settings_need_a_current_membership(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    for call in (sv.dialogs.pin(carol, chat), sv.dialogs.unpin(carol, chat),
                 sv.dialogs.hide(carol, chat), sv.dialogs.mute(carol, chat, None),
                 sv.dialogs.mentions(carol, chat)):
        await expect(ErrorCode.NOT_A_MEMBER, call)
    for call in (sv.dialogs.pin(alice, 999), sv.dialogs.hide(alice, 999),
                 sv.dialogs.mentions(alice, 999)):
        await expect(ErrorCode.CHAT_NOT_FOUND, call)
    await sv.dialogs.pin(bob, chat)
    await sv.chats.leave(bob, chat)
    await expect(ErrorCode.NOT_A_MEMBER, sv.dialogs.unpin(bob, chat))
    assert await ids(sv, bob) == []


# -- updates -------------------------------------------------------------------------

def recording(sv: Services) -> RecordingBus:
    assert isinstance(sv.bus, RecordingBus)
    return sv.bus


async def test_each_setting_writes_exactly_one_user_update(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = (await sv.chats.direct(alice, bob)).chat_id
    await send_text(sv, bob, chat)
    bus = recording(sv)
    s0 = (await sv.sync.get_difference(alice, 10**9, {}, 1)).seq
    pts = (await sv.chats.get(alice, chat)).chat.pts
    calls: list[tuple[Any, str, dict[str, Any]]] = [
        (sv.dialogs.pin, "dialog.pinned", {"pinned_order": 1}),
        (sv.dialogs.unpin, "dialog.unpinned", {}),
        (sv.dialogs.hide, "dialog.hidden", {"hidden_pts": pts}),
        (lambda u, c: sv.dialogs.mute(u, c, None), "dialog.muted",
         {"muted_until": MUTE_FOREVER}),
        (lambda u, c: sv.dialogs.mute(u, c, 0), "dialog.muted", {"muted_until": 0}),
    ]
    seq = s0
    for call, kind, payload in calls:
        bus.events.clear()
        await call(alice, chat)
        assert not [e for e in bus.events if isinstance(e, ChatEvent)]
        [event] = [e for e in bus.events if isinstance(e, UserEvent)]
        assert event.user_id == alice
        [update] = wire.decode(event.frame)["updates"]
        seq += 1
        assert update == {"seq": seq, "kind": kind, "date": update["date"],
                          "chat_id": chat, **payload}
        # The same call again changes nothing and writes nothing.
        bus.events.clear()
        await call(alice, chat)
        assert bus.events == []
    diff = await sv.sync.get_difference(alice, s0, {}, None)
    assert [u["kind"] for u in diff.user_updates] == [k for _, k, _ in calls]
    assert (await sv.sync.get_difference(bob, 0, {}, None)).seq == 1  # chat.joined only


async def test_reads_write_nothing(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = (await sv.chats.direct(alice, bob)).chat_id
    bus = recording(sv)
    bus.events.clear()
    await sv.dialogs.list_dialogs(alice)
    await sv.dialogs.mentions(alice, chat)
    assert bus.events == []


# -- over the wire -------------------------------------------------------------------

async def test_a_second_device_follows_dialog_settings(tmp_path: Path,
                                                       settings: Settings) -> None:
    async with running_server(settings) as server, \
            Client(server.url) as phone, Client(server.url) as laptop, \
            Client(server.url) as bob:
        await phone.register("alice", PASSWORD, "phone")
        await laptop.login("alice", PASSWORD, "laptop")
        bob_id = (await bob.register("bob", PASSWORD))["user_id"]
        chat = (await phone.direct(bob_id))["chat_id"]
        await laptop.wait_for(lambda c: chat in c.chats)
        seen: list[dict[str, Any]] = []
        laptop.on_update(lambda u: seen.append(u.data) if u.kind.startswith("dialog.")
                         else None)

        assert await phone.call("dialog.pin", {"chat_id": chat}) == {"pinned_order": 1}
        assert await phone.call("dialog.mute", {"chat_id": chat}) == {
            "muted_until": MUTE_FOREVER}
        assert await phone.call("dialog.mute", {"chat_id": chat, "until": 0}) == {
            "muted_until": 0}
        assert await phone.call("dialog.unpin", {"chat_id": chat}) == {"pinned_order": 0}
        hidden = await phone.call("dialog.hide", {"chat_id": chat})
        await laptop.wait_for(lambda c: len(seen) == 5)
        assert [(u["kind"], u["chat_id"]) for u in seen] == [
            ("dialog.pinned", chat), ("dialog.muted", chat), ("dialog.muted", chat),
            ("dialog.unpinned", chat), ("dialog.hidden", chat)]
        assert seen[-1]["hidden_pts"] == hidden["hidden_pts"]
        # the SDK keeps the dialog settings in its view, as the phone set them
        view = laptop.chats[chat]
        assert (view.dialog_pinned, view.muted_until, view.dialog_hidden) == (
            0, 0, hidden["hidden_pts"])

        listing = await laptop.call("chat.list", {"limit": 10})
        assert listing == {"chats": [], "next_cursor": None}
        listing = await laptop.call("chat.list", {"include_hidden": True})
        [row] = listing["chats"]
        assert row["hidden"] is True and row["pinned"] is False
        assert row["unread_mentions"] == 0 and row["last_message_state"] is None
        await bob.send_text(chat, "hi alice")
        [row] = (await laptop.call("chat.list", {}))["chats"]
        assert row["hidden"] is False and row["unread_count"] == 1
        assert row["last_message"]["text"] == "hi alice"
        assert row["last_message_state"] == "ok"
        assert await laptop.call("message.mentions", {"chat_id": chat}) == {
            "msg_ids": [], "next_cursor": None}
        with pytest.raises(TidingsClientError) as err:
            await laptop.call("chat.list", {"cursor": "nonsense"})
        assert err.value.code == "INVALID_PARAMS"


# -- the bench workload ----------------------------------------------------------------

async def test_bench_dialogs_walks_every_dialog_once(tmp_path: Path,
                                                     database_url: str | None) -> None:
    """Tiny counts, both engines: the workload runs and its walk is exact (no
    timing asserted; figures come from `tidings bench dialogs`)."""
    params = DialogsParams(chats=40, others=3, messages=2, pinned=2, hidden=4, page=7,
                           requests=3, direct=3)
    result = await run_dialogs(tmp_path / "bench", database_url, params)
    assert result.ok, result
    assert (result.walked, result.walk_duplicates, result.walk_pages) == (36, 0, 6)
    assert result.ws_p99_ms is not None and result.page_bytes > 0
