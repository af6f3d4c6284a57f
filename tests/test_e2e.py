"""End to end: a real server on a free port, driven over WebSocket through the
client SDK (and raw frames where the point is bad input)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tidings.app import TidingsServer
from tidings.client import Client, TidingsClientError
from tidings.config import Settings
from tidings.testing import running_server, test_settings

PASSWORD = "correct horse"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[TidingsServer]:
    async with running_server(settings) as srv:
        yield srv


@pytest.fixture
async def clients(server: TidingsServer) -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    for c in made:
        await c.close()


async def new_client(server: TidingsServer, made: list[Client], **kw: Any) -> Client:
    client = Client(server.url, **kw)
    made.append(client)
    return client


async def registered(server: TidingsServer, made: list[Client], name: str) -> Client:
    client = await new_client(server, made)
    await client.register(name, PASSWORD, "first device")
    return client


def texts(client: Client, chat_id: int) -> list[str | None]:
    """The texts of the users' messages a device holds (system messages left out)."""
    view = client.chats[chat_id]
    return [view.messages[k]["text"] for k in sorted(view.messages)
            if view.messages[k]["kind"] != "system"]


def actions(client: Client, chat_id: int) -> list[str]:
    view = client.chats[chat_id]
    return [view.messages[k]["system"]["action"] for k in sorted(view.messages)
            if view.messages[k]["kind"] == "system"]


async def test_direct_chat_between_two_users(server: TidingsServer,
                                             clients: list[Client]) -> None:
    alice = await registered(server, clients, "alice")
    bob = await registered(server, clients, "bob")
    assert bob.user_id is not None
    chat = await alice.direct(bob.user_id)
    same = await bob.direct(alice.user_id or 0)
    assert same["chat_id"] == chat["chat_id"]
    sent = await alice.send_text(chat["chat_id"], "hello bob")
    await bob.wait_for(lambda c: sent["msg_id"] in c.chats[chat["chat_id"]].messages)
    reply = await bob.send_text(chat["chat_id"], "hi alice", reply_to=sent["msg_id"])
    await alice.wait_for(lambda c: reply["msg_id"] in c.chats[chat["chat_id"]].messages)
    assert texts(alice, chat["chat_id"]) == texts(bob, chat["chat_id"]) == ["hello bob",
                                                                            "hi alice"]
    got = alice.chats[chat["chat_id"]].messages[reply["msg_id"]]
    assert got["reply_to"] == sent["msg_id"] and got["sender_id"] == bob.user_id


async def test_group_chat_reaches_every_member_and_other_devices(
        server: TidingsServer, clients: list[Client]) -> None:
    alice = await registered(server, clients, "alice")
    bob = await registered(server, clients, "bob")
    carol = await registered(server, clients, "carol")
    alice_laptop = await new_client(server, clients)
    await alice_laptop.login("alice", PASSWORD, "laptop")
    assert bob.user_id and carol.user_id
    group = await alice.create_group("team", [bob.user_id])
    gid = group["chat_id"]
    await bob.wait_for(lambda c: gid in c.chats)
    await alice_laptop.wait_for(lambda c: gid in c.chats)
    await alice.add_members(gid, [carol.user_id])
    await carol.wait_for(lambda c: gid in c.chats)
    for i, sender in enumerate((alice, bob, carol)):
        await sender.send_text(gid, f"m{i}")
    final_pts = (await alice.call("chat.get", {"chat_id": gid}))["chat"]["pts"]
    for device in (alice, alice_laptop, bob, carol):
        await device.wait_for(lambda c: c.chats[gid].pts == final_pts)
        assert texts(device, gid) == ["m0", "m1", "m2"]
    # every member's timeline shows the same system messages from their join on
    assert actions(alice, gid) == actions(bob, gid) == ["chat.created", "member.added"]
    assert actions(carol, gid) == ["member.added"]
    dialogs = (await carol.call("chat.list"))["chats"]
    assert [(d["chat"]["chat_id"], d["unread_count"]) for d in dialogs] == [(gid, 2)]


async def test_offline_device_catches_up_without_a_gap(server: TidingsServer,
                                                       clients: list[Client]) -> None:
    alice = await registered(server, clients, "alice")
    bob = await registered(server, clients, "bob")
    assert bob.user_id and bob.token
    chat = await alice.direct(bob.user_id)
    cid = chat["chat_id"]
    await bob.wait_for(lambda c: cid in c.chats)
    await bob.disconnect()
    sent = [await alice.send_text(cid, f"offline {i}") for i in range(30)]
    group = await alice.create_group("while away", [bob.user_id])
    await alice.send_text(group["chat_id"], "welcome")
    await bob.resume(bob.token)
    assert texts(bob, cid) == [m["text"] for m in sent]
    assert bob.chats[cid].pts == sent[-1]["msg_id"]
    assert texts(bob, group["chat_id"]) == ["welcome"]


async def test_read_mark_syncs_the_users_other_devices(server: TidingsServer,
                                                       clients: list[Client]) -> None:
    alice = await registered(server, clients, "alice")
    bob = await registered(server, clients, "bob")
    bob_tablet = await new_client(server, clients)
    await bob_tablet.login("bob", PASSWORD, "tablet")
    assert bob.user_id
    chat = await alice.direct(bob.user_id)
    m = await alice.send_text(chat["chat_id"], "read me")
    await bob.wait_for(lambda c: m["msg_id"] in c.chats[chat["chat_id"]].messages)
    assert await bob.mark_read(chat["chat_id"], m["msg_id"]) == m["msg_id"]
    await bob_tablet.wait_for(lambda c: c.chats[chat["chat_id"]].read_pts == m["msg_id"])


async def test_recall_reaches_the_other_side(server: TidingsServer,
                                             clients: list[Client]) -> None:
    alice = await registered(server, clients, "alice")
    bob = await registered(server, clients, "bob")
    assert bob.user_id
    chat = await alice.direct(bob.user_id)
    m = await alice.send_text(chat["chat_id"], "wrong address")
    await alice.recall(chat["chat_id"], m["msg_id"])
    await bob.wait_for(
        lambda c: c.chats[chat["chat_id"]].messages[m["msg_id"]]["recalled_at"] is not None)
    assert bob.chats[chat["chat_id"]].messages[m["msg_id"]]["text"] is None


async def test_revoking_a_device_closes_its_connection(server: TidingsServer,
                                                       clients: list[Client]) -> None:
    phone = await registered(server, clients, "alice")
    laptop = await new_client(server, clients)
    await laptop.login("alice", PASSWORD, "laptop")
    await phone.call("device.revoke", {"device_id": laptop.device_id})
    await laptop.wait_for(lambda c: c.closed_reason is not None or not c.connected)
    await laptop.wait_for(lambda c: c.closed_reason is not None)
    assert isinstance(laptop.closed_reason, TidingsClientError)
    assert laptop.closed_reason.code == "UNAUTHORIZED"
    devices = (await phone.call("device.list"))["devices"]
    assert [d["device_id"] for d in devices] == [phone.device_id]


async def test_errors_have_stable_codes(server: TidingsServer, clients: list[Client]) -> None:
    alice = await registered(server, clients, "alice")
    carol = await registered(server, clients, "carol")
    fresh = await new_client(server, clients)
    await fresh.connect()
    group = await alice.create_group("private", [])
    cases = [
        (carol, "message.send", {"chat_id": group["chat_id"], "local_id": "x", "text": "hi"},
         "NOT_A_MEMBER"),
        (alice, "message.send", {"chat_id": 999, "local_id": "x", "text": "hi"},
         "CHAT_NOT_FOUND"),
        (alice, "message.send", {"chat_id": "one", "local_id": "x"}, "INVALID_PARAMS"),
        (alice, "message.history", {"chat_id": group["chat_id"], "limit": 1000},
         "INVALID_PARAMS"),
        (alice, "chat.create", {"title": "t", "unknown_field": 1}, "INVALID_PARAMS"),
        (alice, "no.such_method", {}, "METHOD_NOT_FOUND"),
        (fresh, "auth.login", {"username": "alice", "password": "wrong password"},
         "INVALID_CREDENTIALS"),
        (fresh, "chat.list", {}, "UNAUTHORIZED"),
        (fresh, "no.such_method", {}, "UNAUTHORIZED"),  # nothing is revealed before auth
        (alice, "auth.login", {"username": "alice", "password": PASSWORD}, "FORBIDDEN"),
    ]
    for client, method, params, code in cases:
        with pytest.raises(TidingsClientError) as err:
            await client.call(method, params)
        assert err.value.code == code, (method, err.value)
    assert alice.connected and carol.connected and fresh.connected


async def raw_call(ws: aiohttp.ClientWebSocketResponse, frame: str | dict[str, Any]
                   ) -> dict[str, Any]:
    await ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))
    while True:
        reply = json.loads((await ws.receive(timeout=5)).data)
        if "push" not in reply:
            return dict(reply)


async def test_bad_frames_keep_the_connection(server: TidingsServer) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(server.url) as ws:
        reply = await raw_call(ws, "{not json")
        assert reply["id"] is None and reply["error"]["code"] == "BAD_FRAME"
        reply = await raw_call(ws, {"id": 1, "method": "chat.list"})
        assert reply == {"id": 1, "error": {"code": "UNAUTHORIZED", "message": reply["error"][
            "message"]}}
        reply = await raw_call(ws, {"id": 2, "params": {}})
        assert reply["id"] == 2 and reply["error"]["code"] == "BAD_FRAME"
        reply = await raw_call(ws, {"id": 3, "method": "auth.register",
                                    "params": {"username": "dave", "password": PASSWORD,
                                               "device_name": "x" * 70_000}})
        assert reply["error"]["code"] == "TOO_LARGE"
        reply = await raw_call(ws, {"id": 4, "method": "auth.register",
                                    "params": {"username": "dave", "password": PASSWORD}})
        assert reply["id"] == 4 and reply["result"]["user_id"] > 0
        reply = await raw_call(ws, {"id": 5, "method": "auth.token", "params": {"token": "x"}})
        assert reply["error"]["code"] == "FORBIDDEN"  # already authenticated
        reply = await raw_call(ws, {"id": "s", "method": "sync.get_state"})
        assert reply["id"] == "s" and reply["result"] == {"seq": 0, "chats": {}}


async def test_forged_token_is_unauthorized(server: TidingsServer) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(server.url) as ws:
        reply = await raw_call(ws, {"id": 1, "method": "auth.token",
                                    "params": {"token": "eyJhbGciOiJub25lIn0.e30."}})
        assert reply["error"]["code"] == "UNAUTHORIZED"


async def test_rate_limit_when_loopback_is_not_exempt(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path, port=0, rate_limit_exempt_loopback=False,
                        rate_limit_per_second=1, rate_limit_burst=3, argon2_time_cost=1,
                        argon2_memory_cost_kib=64)
    async with running_server(settings) as srv, aiohttp.ClientSession() as http, \
            http.ws_connect(srv.url) as ws:
        codes = []
        for i in range(6):
            reply = await raw_call(ws, {"id": i, "method": "sync.get_state"})
            codes.append(reply["error"]["code"])
        assert codes[:3] == ["UNAUTHORIZED"] * 3
        assert "RATE_LIMITED" in codes[3:]
        assert not ws.closed


async def test_unauthenticated_connection_times_out(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path, port=0, auth_timeout_seconds=0.2)
    async with running_server(settings) as srv, aiohttp.ClientSession() as http, \
            http.ws_connect(srv.url) as ws:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4001


async def test_health_and_metrics(server: TidingsServer) -> None:
    base = f"http://{server.settings.host}:{server.port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as resp:
            assert resp.status == 200 and (await resp.json())["status"] == "ok"
        async with http.get(f"{base}/metrics") as resp:
            body = await resp.text()
            assert resp.status == 200 and "tidings_requests_total" in body


async def test_shutdown_closes_sockets_with_going_away(settings: Settings) -> None:
    srv = TidingsServer(settings)
    await srv.start()
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(srv.url) as ws:
            await raw_call(ws, {"id": 1, "method": "auth.register",
                                "params": {"username": "erin", "password": PASSWORD}})
            stopping = asyncio.create_task(srv.stop())
            msg = await ws.receive(timeout=10)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1001
            await stopping
    finally:
        if srv.node.ready:
            await srv.stop()


async def test_a_device_that_stops_reading_is_disconnected(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path, port=0, max_pending_pushes=10,
                        argon2_time_cost=1, argon2_memory_cost_kib=64)
    async with running_server(settings) as srv, aiohttp.ClientSession() as http:
        sender = Client(srv.url)
        try:
            await sender.register("alice", PASSWORD)
            async with http.ws_connect(srv.url) as lazy:
                reply = await raw_call(lazy, {"id": 1, "method": "auth.register", "params": {
                    "username": "bob", "password": PASSWORD}})
                chat = await sender.direct(reply["result"]["user_id"])
                # bob never reads again: his socket buffers fill, then his push queue
                text = "x" * 4000
                for _ in range(30):
                    await asyncio.gather(*(sender.send_text(chat["chat_id"], text)
                                           for _ in range(100)))
                codes = set()
                while True:
                    msg = await lazy.receive(timeout=15)
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                    aiohttp.WSMsgType.ERROR):
                        codes.add(msg.data if msg.type == aiohttp.WSMsgType.CLOSE else None)
                        break
            assert codes == {4008}
            for _ in range(100):
                if not any(c.device_id == reply["result"]["device_id"]
                           for c in srv.node.connections):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the slow device's connection is still open")
            assert sender.connected  # the sender is unaffected
            # bob's device catches up later like any other: nothing was lost
            later = Client(srv.url)
            try:
                await later.login("bob", PASSWORD)
                page = await later.history(chat["chat_id"], limit=100)
                assert len(page) == 100 and page[-1]["msg_id"] == chat["pts"] + 3000
            finally:
                await later.close()
        finally:
            await sender.close()


async def test_a_pin_below_my_cleared_history_stays_out_of_my_view(
        server: TidingsServer, clients: list[Client]) -> None:
    """The server leaves a message I cleared out of my pins; so does the client,
    whether the pin arrives live or through a catch-up after the clear."""
    alice = await registered(server, clients, "alice")
    bob = await registered(server, clients, "bob")
    assert bob.user_id is not None and alice.token is not None
    chat_id = (await alice.direct(bob.user_id))["chat_id"]
    m = await bob.send_text(chat_id, "pin me")
    await alice.wait_for(lambda c: m["msg_id"] in c.chats[chat_id].messages)
    await alice.call("message.clear_history", {"chat_id": chat_id})
    pinned = await bob.call("message.pin", {"chat_id": chat_id, "msg_id": m["msg_id"]})
    await alice.wait_for(lambda c: c.chats[chat_id].pts == pinned["pts"])
    assert alice.chats[chat_id].pinned == set()
    # what alice holds is the pin's system message, not the cleared message
    assert [x["kind"] for x in alice.chats[chat_id].messages.values()] == ["system"]
    assert (await alice.call("chat.get", {"chat_id": chat_id}))["pinned_msg_ids"] == []
    assert bob.chats[chat_id].pinned == {m["msg_id"]}


async def test_sends_within_the_push_delay_reach_members_in_one_push(
        tmp_path: Any, database_url: str | None) -> None:
    # bob sends a moment after alice, well within a delay no hiccup outlasts
    settings = test_settings(tmp_path / "data", database_url, push_delay_ms=100)
    made: list[Client] = []
    async with running_server(settings) as srv, aiohttp.ClientSession() as http:
        try:
            alice = await registered(srv, made, "alice")
            bob = await registered(srv, made, "bob")
            async with http.ws_connect(srv.url) as carol:
                reply = await raw_call(carol, {"id": 1, "method": "auth.register", "params": {
                    "username": "carol", "password": PASSWORD}})
                assert bob.user_id
                group = await alice.create_group("team", [bob.user_id,
                                                          reply["result"]["user_id"]])
                gid = group["chat_id"]
                await bob.wait_for(lambda c: gid in c.chats)
                # the delay holds a batch only after batches with company: send together
                await asyncio.gather(*(c.send_text(gid, f"warm-up {i}")
                                       for i in range(5) for c in (alice, bob)))
                first = asyncio.create_task(alice.send_text(gid, "lunch?"))
                await asyncio.sleep(0.01)  # without the delay, alice's send commits alone
                await asyncio.gather(first, bob.send_text(gid, "now?"))
                while True:  # the group's creation and the warm-up first
                    push = json.loads((await carol.receive(timeout=10)).data)
                    texts_seen = [u["message"]["text"] for u in push.get("updates", ())
                                  if u["kind"] == "message.new"
                                  and u["message"]["text"] in ("lunch?", "now?")]
                    if texts_seen:
                        break
                assert push["push"] == "chat_updates" and push["chat_id"] == gid
                assert sorted(texts_seen) == ["lunch?", "now?"]
                assert [u["pts"] for u in push["updates"]] == sorted(
                    u["pts"] for u in push["updates"])
        finally:
            for c in made:
                await c.close()
