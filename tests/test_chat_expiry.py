"""Chat expiry (issue 9, items 7-9): an expired chat is read-only for every
write but leaving, a durable job tells clients at the moment it expires, and
operators set expiry over the admin HTTP API. Both engines, injected clock."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tidings import wire
from tidings.app import TidingsServer
from tidings.client import Client
from tidings.client.errors import TidingsClientError
from tidings.clock import FakeClock
from tidings.config import Settings
from tidings.errors import ErrorCode, TidingsError
from tidings.jobs import build_runner
from tidings.services.container import Services
from tidings.services.search import SearchRequest
from tidings.testing import running_server, test_settings

from .helpers import PASSWORD, make_users, send_text

TOKEN = "operator-token-0123456789"


async def expired(call: Awaitable[Any], expire_at: int) -> None:
    with pytest.raises(TidingsError) as err:
        await call
    assert err.value.code is ErrorCode.CHAT_EXPIRED
    assert err.value.data["expire_at"] == expire_at


async def updates_after(sv: Services, user_id: int, chat_id: int, pts: int
                        ) -> list[dict[str, Any]]:
    found = (await sv.sync.get_chat_difference(user_id, chat_id, pts, None)).updates
    return list(wire.to_builtins(found))


def kinds(ups: list[dict[str, Any]]) -> list[str]:
    return [u["kind"] if u["kind"] != "message.new" else
            f"system:{u['message']['system']['action']}" if u["message"]["kind"] == "system"
            else "message" for u in ups]


async def group(sv: Services) -> tuple[int, int, int, int, int]:
    alice, bob, carol, dave = await make_users(sv, "alice", "bob", "carol", "dave")
    chat = await sv.chats.create(alice, "group", "Launch", [bob, carol])
    return alice, bob, carol, dave, chat.chat_id


async def test_every_write_into_an_expired_chat_is_refused(sv: Services,
                                                         clock: FakeClock) -> None:
    alice, bob, carol, dave, chat_id = await group(sv)
    elsewhere = (await sv.chats.create(alice, "group", "Other", [bob])).chat_id
    source = await send_text(sv, alice, elsewhere, "forward me")
    mine = await send_text(sv, alice, chat_id, "hello")
    await sv.reactions.react(bob, chat_id, mine.msg_id, "👍")
    await sv.pins.pin(alice, chat_id, mine.msg_id)
    at = clock.now() + 60
    await sv.chats.set_expire(alice, chat_id, at)
    clock.advance(60)

    await expired(send_text(sv, bob, chat_id, "late"), at)
    await expired(sv.forward.forward(bob, elsewhere, [source.msg_id], chat_id, None), at)
    await expired(sv.reactions.react(carol, chat_id, mine.msg_id, "👍"), at)
    await expired(sv.reactions.unreact(bob, chat_id, mine.msg_id, "👍"), at)
    await expired(sv.pins.unpin(alice, chat_id, mine.msg_id), at)
    await expired(sv.pins.pin(alice, chat_id, mine.msg_id), at)
    await expired(sv.message_attributes.set(alice, chat_id, mine.msg_id, tags=["x"]), at)
    await expired(sv.chats.add_members(alice, chat_id, [dave]), at)
    await expired(sv.chats.remove_member(alice, chat_id, carol), at)
    await expired(sv.messages.recall(alice, chat_id, mine.msg_id), at)
    await expired(sv.deletion.delete(alice, chat_id, [mine.msg_id], True), at)
    await expired(sv.deletion.clear_history(alice, chat_id, True), at)
    await expired(sv.message_ttl.set_ttl(alice, chat_id,
                                         sv.settings.min_message_ttl_seconds), at)
    await expired(sv.media.set_storage_policy(alice, chat_id, None, True), at)
    await expired(sv.media.set_pool(alice, chat_id, True, None), at)
    await expired(sv.media.sponsor(alice, chat_id, 1000), at)


async def test_reads_and_leaving_stay_allowed(sv: Services, clock: FakeClock) -> None:
    alice, bob, carol, _, chat_id = await group(sv)
    mine = await send_text(sv, alice, chat_id, "remember the launch")
    await sv.chats.set_expire(alice, chat_id, clock.now() + 1)
    clock.advance(5)

    history = await sv.timeline.history(bob, chat_id, None, None, None)
    assert mine.msg_id in [m.msg_id for m in history]
    found = await sv.search.search(SearchRequest(user_id=bob, query="launch",
                                                 chat_id=chat_id))
    assert [r.message.msg_id for r in found.results] == [mine.msg_id]
    assert (await sv.chats.get(bob, chat_id)).chat.expire_at == clock.now() - 4
    assert await sv.exports.request(alice, chat_id, "jsonl", None, None) > 0
    await sv.reads.mark(bob, chat_id, mine.msg_id)
    await sv.deletion.delete(bob, chat_id, [mine.msg_id], False)  # for me only
    await sv.chats.leave(carol, chat_id)
    assert (await sv.chats.get(alice, chat_id)).chat.member_count == 2


async def test_the_job_writes_chat_expired_at_the_moment(sv: Services,
                                                         clock: FakeClock) -> None:
    alice, bob, _, _, chat_id = await group(sv)
    runner = build_runner(sv)
    at = clock.now() + 3600
    await sv.chats.set_expire(alice, chat_id, at)
    offline_at = (await sv.chats.get(bob, chat_id)).chat.pts  # bob's device goes away

    clock.advance(3599)
    await runner.run_due()
    assert "chat.expired" not in kinds(await updates_after(sv, bob, chat_id, offline_at))
    clock.advance(1)
    await runner.run_due()
    ups = await updates_after(sv, bob, chat_id, offline_at)
    assert kinds(ups) == ["chat.expired", "system:chat.expired"]
    assert ups[0]["expire_at"] == at
    assert ups[1]["message"]["system"] == {"action": "chat.expired", "expire_at": at,
                                           "by": None}
    # The device that was offline catches up through sync.get_difference too.
    diff = await sv.sync.get_difference(bob, 0, {chat_id: offline_at}, None)
    caught = next(c for c in diff.chats if c.chat_id == chat_id)
    assert kinds(wire.to_builtins(caught.updates)) == ["chat.expired", "system:chat.expired"]
    clock.advance(3600)
    await runner.run_due()  # written once
    assert len(await updates_after(sv, bob, chat_id, offline_at)) == 2


async def test_changing_or_clearing_the_expiry_moves_the_job(sv: Services,
                                                             clock: FakeClock) -> None:
    alice, bob, _, _, chat_id = await group(sv)
    runner = build_runner(sv)
    start = (await sv.chats.get(alice, chat_id)).chat.pts
    await sv.chats.set_expire(alice, chat_id, clock.now() + 60)
    await sv.chats.set_expire(alice, chat_id, clock.now() + 120)
    clock.advance(60)
    await runner.run_due()
    assert "chat.expired" not in kinds(await updates_after(sv, bob, chat_id, start))
    await send_text(sv, bob, chat_id, "still open")
    clock.advance(60)
    await runner.run_due()
    assert kinds(await updates_after(sv, bob, chat_id, start))[-2:] == [
        "chat.expired", "system:chat.expired"]

    # Reopening: the owner clears it; a new expiry cleared before it is due writes nothing.
    before = (await sv.chats.get(alice, chat_id)).chat.pts
    await sv.chats.set_expire(alice, chat_id, None)
    await send_text(sv, bob, chat_id, "open again")
    await sv.chats.set_expire(alice, chat_id, clock.now() + 10)
    await sv.chats.set_expire(alice, chat_id, 0)
    clock.advance(20)
    await runner.run_due()
    assert kinds(await updates_after(sv, bob, chat_id, before)) == [
        "chat.expire_set", "system:expiry.set", "message", "chat.expire_set",
        "system:expiry.set", "chat.expire_set", "system:expiry.set"]


# -- over the wire -------------------------------------------------------------------------

@pytest.fixture
def admin_settings(tmp_path: Path, database_url: str | None) -> Settings:
    return test_settings(tmp_path / "data", database_url, admin_token=TOKEN)


async def test_set_expire_params(settings: Settings) -> None:
    async with running_server(settings) as srv, Client(srv.url) as alice:
        await alice.register("alice", PASSWORD)
        chat = await alice.create_group("Team", [])
        await alice.call("chat.set_expire", {"chat_id": chat["chat_id"],
                                             "expire_at": 2_000_000_000})
        await alice.call("chat.set_expire", {"chat_id": chat["chat_id"]})  # omitted: never
        assert (await alice.call("chat.get", {"chat_id": chat["chat_id"]}))[
            "chat"]["expire_at"] is None
        for bad in (-1, 1.5, "soon"):
            with pytest.raises(TidingsClientError) as err:
                await alice.call("chat.set_expire", {"chat_id": chat["chat_id"],
                                                     "expire_at": bad})
            assert err.value.code == "INVALID_PARAMS"
            assert err.value.data["field"] == "expire_at"


def base(srv: TidingsServer) -> str:
    return f"http://{srv.settings.host}:{srv.port}"


async def http(session: aiohttp.ClientSession, method: str, url: str, token: str | None,
               **kw: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, headers=headers, **kw) as resp:
        return resp.status, await resp.json()


async def test_admin_api_is_absent_without_a_token(settings: Settings) -> None:
    async with running_server(settings) as srv, aiohttp.ClientSession() as s:
        status, body = await http(s, "GET", f"{base(srv)}/admin/chats", TOKEN)
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
        status, body = await http(s, "POST", f"{base(srv)}/admin/chats/expire", TOKEN,
                                  json={"chat_id": 1, "expire_at": 0})
        assert status == 404


async def test_admin_sets_expiry_and_lists_chats(admin_settings: Settings) -> None:
    clock = FakeClock()
    async with running_server(admin_settings, clock) as srv, aiohttp.ClientSession() as s, \
            Client(srv.url) as alice, Client(srv.url) as bob:
        base = f"http://{admin_settings.host}:{srv.port}"
        alice_id = (await alice.register("alice", PASSWORD))["user_id"]
        bob_id = (await bob.register("bob", PASSWORD))["user_id"]
        team = await alice.create_group("Launch team", [bob_id])
        news = await alice.create_group("News", [], kind="channel")

        for token in (None, "wrong", TOKEN + "x"):
            status, body = await http(s, "GET", f"{base}/admin/chats", token)
            assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")

        at = clock.now() + 60
        status, body = await http(s, "POST", f"{base}/admin/chats/expire", TOKEN,
                                  json={"chat_id": team["chat_id"], "expire_at": at})
        assert status == 200
        assert (body["chat"]["chat_id"], body["chat"]["expire_at"], body["expired"]) == (
            team["chat_id"], at, False)
        assert body["pts"] > team["pts"]

        # A direct chat by its two users is created, and expires at once.
        status, body = await http(s, "POST", f"{base}/admin/chats/expire", TOKEN,
                                  json={"user_id": alice_id, "peer_user_id": bob_id,
                                        "expire_at": clock.now()})
        assert (status, body["chat"]["kind"], body["expired"]) == (200, "direct", True)
        direct = await bob.direct(alice_id)
        assert direct["chat_id"] == body["chat"]["chat_id"]
        with pytest.raises(TidingsClientError) as err:
            await bob.send_text(direct["chat_id"], "hi")
        assert err.value.code == "CHAT_EXPIRED"

        async def listed(query: str) -> list[int]:
            status, page = await http(s, "GET", f"{base}/admin/chats?{query}", TOKEN)
            assert status == 200, page
            return [c["chat"]["chat_id"] for c in page["chats"]]

        assert await listed("expired=true") == [direct["chat_id"]]
        assert await listed("expired=false") == [team["chat_id"], news["chat_id"]]
        assert await listed("kind=channel") == [news["chat_id"]]
        assert await listed("query=LAUNCH") == [team["chat_id"]]
        status, page = await http(s, "GET", f"{base}/admin/chats?limit=2", TOKEN)
        assert len(page["chats"]) == 2 and page["next_cursor"] is not None
        rest = await listed(f"limit=2&cursor={page['next_cursor']}")
        assert [c["chat"]["chat_id"] for c in page["chats"]] + rest == sorted(
            [team["chat_id"], news["chat_id"], direct["chat_id"]])

        for body_in, code, field in [
            ({"chat_id": team["chat_id"], "expire_at": -1}, "INVALID_PARAMS", "expire_at"),
            ({"chat_id": team["chat_id"], "expire_at": "soon"}, "INVALID_PARAMS",
             "expire_at"),
            ({"expire_at": 5}, "INVALID_PARAMS", "chat_id"),
            ({"chat_id": 0}, "INVALID_PARAMS", "chat_id"),
        ]:
            status, body = await http(s, "POST", f"{base}/admin/chats/expire", TOKEN,
                                      json=body_in)
            assert (status, body["error"]["code"], body["error"]["data"]["field"]) == (
                400, code, field)
        status, body = await http(s, "GET", f"{base}/admin/chats?limit=0", TOKEN)
        assert (status, body["error"]["data"]["field"]) == (400, "limit")
        status, body = await http(s, "POST", f"{base}/admin/chats/expire", TOKEN,
                                  json={"chat_id": 999_999, "expire_at": 0})
        assert (status, body["error"]["code"]) == (404, "CHAT_NOT_FOUND")
        status, body = await http(s, "POST", f"{base}/admin/chats/expire", TOKEN,
                                  json={"user_id": alice_id, "peer_user_id": 999_999})
        assert (status, body["error"]["code"]) == (404, "USER_NOT_FOUND")

        status, doc = await http(s, "GET", f"{base}/openapi.json", None)
        assert status == 200 and doc["openapi"].startswith("3.1")
        assert {"/admin/chats", "/admin/chats/expire"} <= set(doc["paths"])
        assert "SetExpireBody" in doc["components"]["schemas"]


async def test_sdk_shows_the_expiry_to_a_device_that_was_offline(settings: Settings) -> None:
    """Over a real server: bob's device is away when the chat expires; on resume
    it catches up and its view says expired, as the online one already does."""
    clock = FakeClock()
    async with running_server(settings, clock) as srv, Client(srv.url) as alice, \
            Client(srv.url) as bob:
        await alice.register("alice", PASSWORD)
        bob_id = (await bob.register("bob", PASSWORD))["user_id"]
        chat_id = (await alice.create_group("Team", [bob_id]))["chat_id"]
        await bob.wait_for(lambda c: chat_id in c.chats)
        at = clock.now() + 60
        await alice.call("chat.set_expire", {"chat_id": chat_id, "expire_at": at})
        token = bob.token
        assert token is not None
        await bob.disconnect()
        clock.advance(60)
        await srv.jobs.run_due()
        await alice.wait_for(lambda c: c.chats[chat_id].expired)
        await bob.resume(token)
        await bob.catch_up()
        assert bob.chats[chat_id].expired
        assert bob.chats[chat_id].pts == alice.chats[chat_id].pts
        with pytest.raises(TidingsClientError) as err:
            await bob.send_text(chat_id, "too late")
        assert err.value.code == "CHAT_EXPIRED"
        await alice.call("chat.set_expire", {"chat_id": chat_id, "expire_at": None})
        await bob.wait_for(lambda c: not c.chats[chat_id].expired)
