"""Every transport and codec, end to end: WebSocket and TCP, each with JSON and
MessagePack, serve the same dispatcher, auth, limits and pushes. A real server
(one process, both listeners) is driven through the client SDK, and through
raw links where the point is a frame the SDK would never send."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY

from tidings.api.dispatcher import Dispatcher
from tidings.api.methods import all_methods
from tidings.app import TidingsServer
from tidings.client import Client, TidingsClientError
from tidings.client.links import Link, open_link
from tidings.codecs import CODECS, JSON
from tidings.services.container import Services
from tidings.testing import running_server, test_settings
from tidings.transport.tcp import frame_bytes

PASSWORD = "correct horse"
COMBOS = ["ws+json", "ws+msgpack", "tcp+json", "tcp+msgpack"]


def url_of(srv: TidingsServer, combo: str) -> str:
    return srv.url if combo.startswith("ws") else srv.tcp_url


def codec_of(combo: str) -> str:
    return combo.partition("+")[2]


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, **overrides: Any) -> AsyncIterator[TidingsServer]:
    # Transport behaviour does not depend on the engine: SQLite only.
    async with running_server(test_settings(tmp_path / "data", tcp_port=0, **overrides)) as srv:
        yield srv


@pytest.fixture(params=COMBOS)
def combo(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[TidingsServer]:
    async with serving(tmp_path) as srv:
        yield srv


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    for c in made:
        await c.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def registered(srv: TidingsServer, combo: str, made: list[Client], name: str,
                     **kw: Any) -> Client:
    client = Client(url_of(srv, combo), codec=codec_of(combo), **kw)
    made.append(client)
    await client.register(name, PASSWORD, "device")
    return client


# -- raw links


class Raw:
    """Frames over one link, encoded and decoded with its codec."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.codec = link.codec

    async def send(self, frame: dict[str, Any]) -> None:
        await self.link.send(self.codec.encode(frame))

    async def reply(self) -> dict[str, Any]:
        """The next frame that is not a push."""
        while True:
            async with asyncio.timeout(10):
                data = await self.link.receive()
            assert data is not None, "the connection closed"
            frame = self.codec.decode(data)
            if "push" not in frame:
                return dict(frame)

    async def call(self, frame: dict[str, Any]) -> dict[str, Any]:
        await self.send(frame)
        return await self.reply()

    async def until_closed(self) -> tuple[list[dict[str, Any]], int | None]:
        """Every frame up to the close, and the close code (WebSocket status or
        TCP close frame)."""
        frames: list[dict[str, Any]] = []
        code = None
        while True:
            async with asyncio.timeout(10):
                data = await self.link.receive()
            if data is None:
                return frames, code if code is not None else self.link.close_code
            frame = self.codec.decode(data)
            if "close" in frame:
                code = frame["close"]["code"]
            else:
                frames.append(frame)


@contextlib.asynccontextmanager
async def raw(http: aiohttp.ClientSession, srv: TidingsServer, combo: str
              ) -> AsyncIterator[Raw]:
    link = await open_link(http, url_of(srv, combo), CODECS[codec_of(combo)], heartbeat=None)
    try:
        yield Raw(link)
    finally:
        await link.close()


async def eventually(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")


# -- the same product over each


async def test_auth_send_and_push(server: TidingsServer, combo: str,
                                  clients: list[Client]) -> None:
    alice = await registered(server, combo, clients, "alice")
    bob = await registered(server, combo, clients, "bob")
    assert bob.user_id is not None
    chat = await alice.direct(bob.user_id)
    sent = await alice.send_text(chat["chat_id"], "hello", entities=[
        {"type": "bold", "offset": 0, "length": 5}])
    await bob.wait_for(lambda c: sent["msg_id"] in c.chats[chat["chat_id"]].messages)
    got = bob.chats[chat["chat_id"]].messages[sent["msg_id"]]
    assert got["text"] == "hello" and got["sender_id"] == alice.user_id
    assert [(e["type"], e["offset"], e["length"]) for e in got["entities"]] == [("bold", 0, 5)]


async def test_results_decode_to_the_same_values_as_over_websocket_json(
        server: TidingsServer, combo: str, clients: list[Client]) -> None:
    alice = await registered(server, combo, clients, "alice")
    bob = await registered(server, "ws+json", clients, "bob")
    assert bob.user_id is not None
    chat = await alice.direct(bob.user_id)
    await alice.send_text(chat["chat_id"], "héllo ✓", local_id="x" * 64)
    twin = Client(server.url)  # alice again, over WebSocket and JSON
    clients.append(twin)
    await twin.login("alice", PASSWORD)
    for method, params in (("sync.get_state", {}),
                           ("message.history", {"chat_id": chat["chat_id"]}),
                           ("chat.list", {}),
                           ("sync.get_difference", {"seq": 0, "chats": {
                               str(chat["chat_id"]): 0}})):
        here, there = await alice.call(method, params), await twin.call(method, params)
        assert here == there, method
    state = await alice.call("sync.get_state")
    assert list(state["chats"]) == [str(chat["chat_id"])]  # keys are strings in every codec


async def test_an_offline_device_catches_up(server: TidingsServer, combo: str,
                                            clients: list[Client]) -> None:
    alice = await registered(server, combo, clients, "alice")
    bob = await registered(server, combo, clients, "bob")
    assert bob.user_id and bob.token
    chat = await alice.direct(bob.user_id)
    cid = chat["chat_id"]
    await bob.wait_for(lambda c: cid in c.chats)
    await bob.disconnect()
    sent = [await alice.send_text(cid, f"offline {i}") for i in range(20)]
    await bob.resume(bob.token)
    view = bob.chats[cid]
    assert [view.messages[k]["text"] for k in sorted(view.messages)
            if view.messages[k]["kind"] != "system"] == [m["text"] for m in sent]


async def test_a_revoked_device_is_closed_with_4001(server: TidingsServer, combo: str,
                                                   clients: list[Client]) -> None:
    phone = await registered(server, combo, clients, "carol")
    laptop = Client(url_of(server, combo), codec=codec_of(combo), backoff_initial=0.05)
    clients.append(laptop)
    await laptop.login("carol", PASSWORD, "laptop")
    await phone.call("device.revoke", {"device_id": laptop.device_id})
    await laptop.wait_for(lambda c: c.closed_reason is not None)
    assert laptop.close_code == 4001
    assert isinstance(laptop.closed_reason, TidingsClientError)
    assert laptop.closed_reason.code == "UNAUTHORIZED"  # its token no longer works
    assert phone.connected


async def test_a_reader_too_far_behind_is_closed_with_4008(
        tmp_path: Path, combo: str, clients: list[Client], http: aiohttp.ClientSession
        ) -> None:
    async with serving(tmp_path, max_pending_pushes=100_000,
                       max_pending_push_bytes=512 * 1024) as srv:
        sender = await registered(srv, combo, clients, "alice")
        async with raw(http, srv, combo) as lazy:
            bob = (await lazy.call({"id": 1, "method": "auth.register", "params": {
                "username": "bob", "password": PASSWORD}}))["result"]
            chat = await sender.direct(bob["user_id"])
            [conn] = [c for c in srv.node.connections if c.device_id == bob["device_id"]]
            sent = 0
            while conn.state.value != "closing" and sent < 10_000:
                await asyncio.gather(*(sender.send_text(chat["chat_id"], "x" * 4000)
                                       for _ in range(100)))
                sent += 100
            _, code = await lazy.until_closed()
        assert code == 4008
        assert sender.connected
        page = await sender.history(chat["chat_id"], limit=1)
        assert page[-1]["msg_id"] == chat["pts"] + sent  # nothing was lost


async def test_a_frame_over_the_limit_is_refused_and_one_far_over_closes(
        tmp_path: Path, combo: str, http: aiohttp.ClientSession) -> None:
    limit = 4096
    async with serving(tmp_path, max_frame_bytes=limit) as srv:
        async with raw(http, srv, combo) as link:
            big = {"id": 1, "method": "auth.register", "params": {
                "username": "dave", "password": "p" * limit}}
            reply = await link.call(big)
            assert reply["id"] is None and reply["error"]["code"] == "TOO_LARGE"
            assert reply["error"]["data"] == {"limit": limit}
            ok = await link.call({"id": 2, "method": "auth.register", "params": {
                "username": "dave", "password": PASSWORD}})
            assert ok["id"] == 2 and "token" in ok["result"]  # the connection stayed open
            huge = {"id": 3, "method": "sync.get_state", "params": {"pad": "p" * limit * 5}}
            await link.send(huge)
            frames, code = await link.until_closed()
        assert frames == [] and code == 1009


async def test_rate_limits_apply(tmp_path: Path, combo: str, clients: list[Client]) -> None:
    async with serving(tmp_path, rate_limit_exempt_loopback=False, rate_limit_burst=5,
                       rate_limit_per_second=1.0) as srv:
        client = await registered(srv, combo, clients, "erin")
        results = await asyncio.gather(*(client.call("sync.get_state") for _ in range(10)),
                                       return_exceptions=True)
        refused = [r for r in results if isinstance(r, TidingsClientError)]
        assert refused and all(r.code == "RATE_LIMITED" for r in refused)
        assert all(r.data["retry_after"] >= 1 for r in refused)
        assert len(refused) < len(results)


async def test_a_bad_frame_is_answered_and_the_connection_stays_open(
        server: TidingsServer, combo: str, http: aiohttp.ClientSession) -> None:
    async with raw(http, server, combo) as link:
        garbage = b"{nope" if codec_of(combo) == "json" else b"\xc1\x00"
        await link.link.send(garbage)
        reply = await link.reply()
        assert reply["id"] is None and reply["error"]["code"] == "BAD_FRAME"
        not_a_request = await link.call({"id": 7, "params": {}})
        assert not_a_request["id"] == 7 and not_a_request["error"]["code"] == "BAD_FRAME"
        first = await link.call({"id": 8, "method": "sync.get_state"})
        assert first["error"]["code"] == "UNAUTHORIZED"
        wrong = await link.call({"id": 9, "method": "auth.register", "params": {
            "username": 5, "password": PASSWORD}})
        assert wrong["error"]["code"] == "INVALID_PARAMS"
        assert wrong["error"]["data"] == {"field": "username"}


async def test_shutdown_closes_with_1001(tmp_path: Path, combo: str,
                                         clients: list[Client]) -> None:
    async with serving(tmp_path) as srv:
        client = await registered(srv, combo, clients, "frank", reconnect=False)
    await client.wait_for(lambda c: not c.connected)
    assert client.close_code == 1001


# -- TCP specifics


def tcp_connections() -> float:
    return REGISTRY.get_sample_value("tidings_connections", {"transport": "tcp"}) or 0.0


async def test_tcp_connections_are_counted_apart(server: TidingsServer,
                                                 clients: list[Client]) -> None:
    before = tcp_connections()
    client = await registered(server, "tcp+msgpack", clients, "gina")
    assert tcp_connections() == before + 1
    await client.close()
    await eventually(lambda: tcp_connections() == before, "the connection was counted out")


async def test_tcp_hello_with_an_unknown_codec_stays_on_json(server: TidingsServer) -> None:
    assert server.tcp_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.tcp_port)
    try:
        writer.write(frame_bytes(JSON.encode({"hello": {"codec": "xml"}})))
        writer.write(frame_bytes(JSON.encode({"id": 1, "method": "sync.get_state"})))
        replies = []
        for _ in range(2):
            length = int.from_bytes(await reader.readexactly(4), "big")
            replies.append(JSON.decode(await reader.readexactly(length)))
    finally:
        writer.close()
    assert replies[0]["id"] is None and replies[0]["error"]["code"] == "INVALID_PARAMS"
    assert replies[0]["error"]["data"]["codecs"] == ["json", "msgpack"]
    assert replies[1] == {"id": 1, "error": {"code": "UNAUTHORIZED", "message":
                          "authenticate first: auth.register, auth.login or auth.token"}}


@pytest.mark.parametrize("combo", ["ws+msgpack", "tcp+msgpack"])
async def test_msgpack_requests_may_key_ids_by_integers(
        server: TidingsServer, combo: str, http: aiohttp.ClientSession) -> None:
    async with raw(http, server, combo) as link:
        me = (await link.call({"id": 1, "method": "auth.register", "params": {
            "username": "hana", "password": PASSWORD}}))["result"]
        group = (await link.call({"id": 2, "method": "chat.create", "params": {
            "kind": "group", "title": "keys", "member_ids": []}}))["result"]["chat"]
        for request_id, key in ((3, group["chat_id"]), (4, str(group["chat_id"]))):
            diff = await link.call({"id": request_id, "method": "sync.get_difference",
                                    "params": {"seq": 1, "chats": {key: 0}}})
            [entry] = diff["result"]["chats"]
            assert entry["chat_id"] == group["chat_id"] and entry["updates"]
        wrong = await link.call({"id": 5, "method": "user.get", "params": {
            "user_id": str(me["user_id"]).encode()}})  # bytes where an id goes
        assert wrong["error"]["code"] == "INVALID_PARAMS"
        assert wrong["error"]["data"] == {"field": "user_id"}


async def test_tcp_from_a_blocked_network_is_closed_with_4003(
        tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with (serving(tmp_path, blocked_networks=["127.0.0.0/8"]) as srv,
                raw(http, srv, "tcp+json") as link):
        frames, code = await link.until_closed()
    assert frames == [] and code == 4003


async def test_pipelined_reads_and_writes_on_one_link_are_all_answered(
        server: TidingsServer, combo: str, clients: list[Client],
        http: aiohttp.ClientSession) -> None:
    """Reads that never suspend (SQLite) are answered in the link's read loop,
    writes in tasks of their own: a burst mixing both, with bad requests among
    them, gets every answer, each under its id, and the reads see the link's
    earlier committed writes."""
    alice = await registered(server, combo, clients, "alice")
    chat = await alice.call("chat.create", {"kind": "group", "title": "g", "member_ids": []})
    chat_id = chat["chat"]["chat_id"]
    assert server.node.dispatcher.runs_inline(
        server.node.dispatcher.decode(b'{"method":"message.history","id":1}'))
    assert not server.node.dispatcher.runs_inline(
        server.node.dispatcher.decode(b'{"method":"message.send","id":1}'))
    async with raw(http, server, combo) as link:
        login = await link.call({"id": 0, "method": "auth.login", "params": {
            "username": "alice", "password": PASSWORD, "device_name": "raw"}})
        assert "result" in login, login
        requests: list[dict[str, Any]] = []
        for i in range(1, 61):
            if i % 3 == 0:
                requests.append({"id": i, "method": "message.send", "params": {
                    "chat_id": chat_id, "local_id": f"l{i}", "text": f"t{i}"}})
            elif i % 10 == 1:
                requests.append({"id": i, "method": "message.history",
                                 "params": {"chat_id": chat_id, "limit": 0}})
            else:
                requests.append({"id": i, "method": "message.history",
                                 "params": {"chat_id": chat_id}})
        for request in requests:
            await link.send(request)
        replies = {}
        for _ in requests:
            reply = await link.reply()
            replies[reply["id"]] = reply
        assert sorted(replies) == list(range(1, 61))
        for i, reply in replies.items():
            if i % 3 == 0:
                assert reply["result"]["message"]["text"] == f"t{i}"
            elif i % 10 == 1:
                assert reply["error"]["code"] == "INVALID_PARAMS"
            else:
                assert isinstance(reply["result"]["messages"], list)
        final = await link.call({"id": 99, "method": "message.history",
                                 "params": {"chat_id": chat_id, "limit": 100}})
        sent = [m["text"] for m in final["result"]["messages"] if m["kind"] == "text"]
        assert sent == [f"t{i}" for i in range(3, 61, 3)]


READS_ANSWERED_INLINE = {
    "message.history", "message.get", "message.replies", "message.reply_graph",
    "message.mentions", "sync.get_state", "sync.get_difference", "sync.get_chat_difference",
    "chat.list", "chat.get"}


async def test_only_reads_run_in_the_read_loop_and_only_on_sqlite(sv: Services) -> None:
    """SQLite reads never suspend, so those methods skip their task; on
    PostgreSQL every request waits on the network and gets one."""
    dispatcher = Dispatcher(sv, all_methods())
    inline = {name for name in dispatcher.methods if dispatcher.runs_inline(
        dispatcher.decode(JSON.encode({"id": 1, "method": name})))}
    assert inline == (READS_ANSWERED_INLINE if sv.db.engine.name == "sqlite" else set())
    assert not dispatcher.runs_inline(dispatcher.decode(b"{nope"))
