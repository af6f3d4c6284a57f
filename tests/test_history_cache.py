"""The node's ``message.history`` page cache (``services.history_pages``): a
page read through it is the page the database gives now, after every kind of
change to the chat, for every viewer, and when another node made the change.
The oracle is the same service with the cache off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tidings import wire
from tidings.client import Client
from tidings.clock import FakeClock
from tidings.codecs import JSON, MSGPACK, PreEncoded
from tidings.config import Settings
from tidings.db import known_pts
from tidings.jobs import build_runner
from tidings.services.container import Services
from tidings.services.history_pages import STATS, CachedPage, HistoryPageCache
from tidings.services.timeline import TimelineService
from tidings.testing import running_server, service_harness, test_settings

from .helpers import make_users, send_text


def uncached(sv: Services) -> TimelineService:
    return TimelineService(sv.db, sv.settings, sv.visibility, sv.file_views)


async def same_as_database(sv: Services, user_id: int, chat_id: int, **query: Any
                           ) -> list[wire.Message]:
    """Read the page twice through the cache (fill, then hit) and check both
    against the uncached read, value and JSON bytes."""
    args = (query.get("before"), query.get("after"), query.get("limit"), query.get("tag"))
    truth = await uncached(sv).history(user_id, chat_id, *args)
    for _ in range(2):
        page = await sv.timeline.history_page(user_id, chat_id, *args)
        value = page.value if isinstance(page, PreEncoded) else page
        assert value == truth
        assert JSON.encode({"messages": page}) == JSON.encode({"messages": truth})
        assert MSGPACK.encode({"messages": page}) == MSGPACK.encode({"messages": truth})
    return truth


async def test_a_second_reader_with_the_same_view_hits(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat_id = (await sv.chats.create(alice, "group", "g", [bob, carol])).chat_id
    for i in range(5):
        await send_text(sv, alice, chat_id, f"m{i}")
    hits = STATS.counts["hit"]
    bob_page = await sv.timeline.history_page(bob, chat_id, None, None, 3)
    carol_page = await sv.timeline.history_page(carol, chat_id, None, None, 3)
    assert isinstance(bob_page, PreEncoded) and isinstance(carol_page, PreEncoded)
    assert carol_page.json is bob_page.json  # encoded once, shared
    assert STATS.counts["hit"] == hits + 1
    assert [m.text for m in bob_page.value] == ["m2", "m3", "m4"]


async def test_every_change_to_a_message_shows_at_once(sv: Services, clock: FakeClock
                                                       ) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    first = await send_text(sv, alice, chat_id, "first")
    reply = await send_text(sv, bob, chat_id, "reply", reply_to=first.msg_id)
    doomed = await send_text(sv, alice, chat_id, "doomed")
    for viewer in (alice, bob):
        await same_as_database(sv, viewer, chat_id)

    async def check() -> list[wire.Message]:
        await same_as_database(sv, alice, chat_id)
        await same_as_database(sv, alice, chat_id, before=doomed.msg_id, limit=2)
        await same_as_database(sv, alice, chat_id, after=0, limit=3)
        return await same_as_database(sv, bob, chat_id)

    await send_text(sv, alice, chat_id, "new")
    assert [m.text for m in await check()][-1] == "new"
    await sv.reactions.react(bob, chat_id, first.msg_id, "👍")
    page = await check()
    assert next(m for m in page if m.msg_id == first.msg_id).my_reactions == ["👍"]
    alices = await same_as_database(sv, alice, chat_id)
    assert next(m for m in alices if m.msg_id == first.msg_id).my_reactions == []
    await sv.message_attributes.set(alice, chat_id, first.msg_id, tags=["work"])
    assert [m.msg_id for m in await same_as_database(sv, bob, chat_id, tag="work")] == [
        first.msg_id]
    assert next(m for m in await check() if m.msg_id == first.msg_id).tags == ["work"]
    await sv.pins.pin(alice, chat_id, first.msg_id)
    await check()
    await sv.messages.recall(alice, chat_id, first.msg_id)
    page = await check()
    assert next(m for m in page if m.msg_id == first.msg_id).recalled_at is not None
    replied = next(m for m in page if m.msg_id == reply.msg_id)
    assert replied.reply_preview is not None and replied.reply_preview.state == "recalled"
    await sv.deletion.delete(alice, chat_id, [doomed.msg_id], True)
    assert doomed.msg_id not in {m.msg_id for m in await check()}
    await sv.message_ttl.set_ttl(alice, chat_id, 86400)
    await send_text(sv, alice, chat_id, "expiring")
    await check()
    clock.advance(86401)
    await build_runner(sv).run_due()
    assert "expiring" not in {m.text for m in await check()}


async def test_viewers_with_different_views_get_their_own_pages(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat_id = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    early = await send_text(sv, alice, chat_id, "before carol")
    await sv.chats.add_members(alice, chat_id, [carol])
    await send_text(sv, alice, chat_id, "after carol")
    bobs = await same_as_database(sv, bob, chat_id)
    carols = await same_as_database(sv, carol, chat_id)
    assert early.msg_id in {m.msg_id for m in bobs}
    assert early.msg_id not in {m.msg_id for m in carols}
    # Delete for me: bob's pages lose it, everyone else's keep it.
    await sv.deletion.delete(bob, chat_id, [early.msg_id], False)
    bypassed = STATS.counts["bypass"]
    assert early.msg_id not in {m.msg_id for m in await same_as_database(sv, bob, chat_id)}
    assert STATS.counts["bypass"] > bypassed
    assert early.msg_id in {m.msg_id for m in await same_as_database(sv, alice, chat_id)}
    # Clearing one's own history moves one's floor.
    await sv.deletion.clear_history(alice, chat_id, False)
    assert [m for m in await same_as_database(sv, alice, chat_id) if m.kind != "system"] == []
    assert "after carol" in {m.text for m in await same_as_database(sv, carol, chat_id)}


@pytest.fixture
async def other_node(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    """A second node on the same database, with its own cache and its own bus:
    it learns of no change through the bus."""
    async with service_harness(settings, clock) as services:
        yield services


async def test_a_change_made_on_another_node_shows_without_the_bus(
        sv: Services, other_node: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    sent = await send_text(sv, alice, chat_id, "one")
    await same_as_database(other_node, bob, chat_id)
    await send_text(sv, alice, chat_id, "two")
    assert [m.text for m in await same_as_database(other_node, bob, chat_id)][-1] == "two"
    await sv.messages.recall(alice, chat_id, sent.msg_id)
    page = await same_as_database(other_node, bob, chat_id)
    assert next(m for m in page if m.msg_id == sent.msg_id).recalled_at is not None


def test_the_cache_keeps_within_its_bound() -> None:
    page = [wire.Message(1, i, 2, 0, "text", "x" * 100, None, None) for i in range(10)]
    entry = CachedPage(5, page, JSON.encode(page))
    cache = HistoryPageCache(3 * entry.size)
    for before in range(10):
        cache.put((1, (), before, None, 10, None), CachedPage(5, page, JSON.encode(page)))
    assert len(cache) == 3 and cache.counted_bytes == 3 * entry.size
    assert cache.get((1, (), 9, None, 10, None), 5) is not None
    assert cache.get((1, (), 9, None, 10, None), 6) is None  # the chat moved on
    assert cache.get((1, (), 0, None, 10, None), 5) is None  # evicted


async def test_a_real_server_serves_cached_pages_in_both_codecs(tmp_path: Path) -> None:
    """Over the wire: readers on JSON and MessagePack get the same page, a
    recall between two reads shows in the next, and the hits are counted."""
    async with running_server(test_settings(tmp_path / "data")) as srv:
        clients = [Client(srv.url, codec=codec) for codec in ("json", "msgpack", "json")]
        try:
            for client, name in zip(clients, ("alice", "bob", "carol"), strict=True):
                await client.register(name, "correct horse", "device")
            alice, bob, carol = clients
            chat = await alice.call("chat.create", {
                "kind": "group", "title": "g", "member_ids": [bob.user_id, carol.user_id]})
            chat_id = chat["chat"]["chat_id"]
            sent = [await alice.send_text(chat_id, f"m{i}") for i in range(3)]
            hits = STATS.counts["hit"]
            pages = [await c.call("message.history", {"chat_id": chat_id}) for c in clients]
            assert pages[0] == pages[1] == pages[2]
            assert STATS.counts["hit"] >= hits + 2
            await alice.call("message.recall", {"chat_id": chat_id, "msg_id": sent[1]["msg_id"]})
            for client in (bob, carol):
                page = await client.call("message.history", {"chat_id": chat_id})
                recalled = next(m for m in page["messages"] if m["msg_id"] == sent[1]["msg_id"])
                assert recalled["text"] is None and recalled["recalled_at"] is not None
            base = f"http://{srv.settings.host}:{srv.port}"
            async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as r:
                assert 'tidings_history_cache_total{outcome="hit"}' in await r.text()
        finally:
            for client in clients:
                await client.close()


async def test_a_hit_reads_nothing_where_this_process_makes_every_change(sv: Services) -> None:
    """SQLite (one process writes the file): a repeated page is answered
    without a statement, and a change made since is still seen at once.
    PostgreSQL has other writers and reads the chat's pts on every page."""
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    await send_text(sv, alice, chat_id, "one")
    await same_as_database(sv, bob, chat_id)
    known = sv.db.engine.known_pts
    if sv.db.engine.name == "postgres":
        assert known is None
        return
    assert known is not None and known.get(chat_id) is not None
    statements: list[str] = []
    reader = sv.db.engine._reader  # type: ignore[attr-defined]
    reader.set_trace_callback(statements.append)
    try:
        page = await sv.timeline.history_page(bob, chat_id, None, None, None)
        assert isinstance(page, PreEncoded) and statements == []
        await send_text(sv, alice, chat_id, "two")
        assert known.get(chat_id) is None  # forgotten once the send committed
        assert [m.text for m in await same_as_database(sv, bob, chat_id)][-1] == "two"
    finally:
        reader.set_trace_callback(None)


def test_known_pts_start_empty_when_a_file_is_opened_again(tmp_path: Path) -> None:
    """Engines open on one file share what they know; once all closed (a
    restore may replace the file), the next opening starts from nothing."""
    path = tmp_path / "db.sqlite"
    first = known_pts.acquire(path)
    assert known_pts.acquire(path) is first  # a second node in this process
    first.fill(7, 12)
    known_pts.release(path)
    assert known_pts.acquire(path) is first and first.get(7) == 12
    known_pts.release(path)
    known_pts.release(path)
    assert known_pts.acquire(path).get(7) is None
    known_pts.release(path)
