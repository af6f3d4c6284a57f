"""The client SDK's own logic, against a scripted fake server.

The fake server is a real aiohttp WebSocket on a free loopback port.  Each
connection runs one *script* (by connection index): a linear coroutine that
expects requests, answers them (in any order) and pushes updates.  Whatever the
client sends after its script ended is recorded in ``server.unexpected`` and
answered with an error, so a test can assert that the client sent exactly what
the protocol calls for and nothing more.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from tidings import wire
from tidings.client import (
    CHAT_RELOADED,
    Client,
    ConnectionLost,
    RequestTimeout,
    TidingsClientError,
    Update,
)
from tidings.client.backoff import backoff_delays

RECV_TIMEOUT = 5.0
TOKEN = "tok-1"

Script = Callable[["FakeSocket"], Awaitable[None]]


class FakeSocket:
    """The server side of one client connection, driven by a script."""

    def __init__(self, server: FakeServer, ws: web.WebSocketResponse, index: int) -> None:
        self.server = server
        self.ws = ws
        self.index = index

    async def recv(self) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=RECV_TIMEOUT)
        if msg.type != WSMsgType.TEXT:
            raise AssertionError(f"connection {self.index}: wanted a request, got {msg.type!r}")
        frame: dict[str, Any] = json.loads(msg.data)
        self.server.log.append((self.index, frame["method"], frame["params"]))
        return frame

    async def expect(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        frame = await self.recv()
        assert frame["method"] == method, f"wanted {method}, got {frame}"
        if params is not None:
            assert frame["params"] == params, f"{method}: {frame['params']} != {params}"
        return frame

    async def reply(self, request: dict[str, Any], result: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps({"id": request["id"], "result": result}))

    async def fail(
        self,
        request: dict[str, Any] | None,
        code: str,
        message: str = "",
        data: dict[str, Any] | None = None,
    ) -> None:
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        req_id = None if request is None else request["id"]
        await self.ws.send_str(json.dumps({"id": req_id, "error": error}))

    async def push(self, frame: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def drop(self) -> None:
        await self.ws.close()

    # -- common script steps ---------------------------------------------------

    async def register(self, seq: int = 0, chats: dict[str, int] | None = None) -> None:
        """auth.register then sync.get_state: what a fresh client does first."""
        req = await self.expect("auth.register", {"username": "alice", "password": "pw"})
        await self.reply(req, {"user_id": 1, "device_id": 10, "token": TOKEN})
        req = await self.expect("sync.get_state", {})
        await self.reply(req, {"seq": seq, "chats": chats or {}})


class FakeServer:
    def __init__(self) -> None:
        self.scripts: dict[int, Script] = {}
        self.sockets: list[FakeSocket] = []
        self.log: list[tuple[int, str, dict[str, Any]]] = []
        self.unexpected: list[tuple[int, Any, Any]] = []
        self.errors: list[BaseException] = []
        app = web.Application()
        app.router.add_get("/ws", self._handle)
        self._server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self._server.make_url("/ws"))

    def methods(self, index: int | None = None) -> list[str]:
        return [m for i, m, _ in self.log if index is None or i == index]

    async def start(self) -> None:
        await self._server.start_server()

    async def stop(self) -> None:
        for sock in self.sockets:
            await sock.ws.close()
        await self._server.close()

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sock = FakeSocket(self, ws, len(self.sockets))
        self.sockets.append(sock)
        try:
            script = self.scripts.get(sock.index)
            if script is not None:
                await script(sock)
            await self._answer_unexpected(sock)
        except Exception as exc:  # surfaced by the fixture and by until()
            self.errors.append(exc)
        finally:
            await ws.close()
        return ws

    async def _answer_unexpected(self, sock: FakeSocket) -> None:
        async for msg in sock.ws:
            if msg.type == WSMsgType.TEXT:
                frame = json.loads(msg.data)
                self.unexpected.append((sock.index, frame.get("method"), frame.get("params")))
                await sock.fail(frame, "UNEXPECTED", "not in the script")


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    srv = FakeServer()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()
    assert not srv.errors, srv.errors


async def until(server: FakeServer, check: Callable[[], object]) -> None:
    """Poll a condition on the server side (client state has ``wait_for``)."""
    try:
        async with asyncio.timeout(RECV_TIMEOUT):
            while not check():
                if server.errors:
                    raise AssertionError(server.errors)
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out; log={server.log} errors={server.errors}") from None


async def settle(client: Client, server: FakeServer, predicate: Callable[[Client], object]) -> None:
    """``client.wait_for`` with the server's log in the failure message."""
    try:
        await client.wait_for(predicate, timeout=RECV_TIMEOUT)
    except TimeoutError:
        raise AssertionError(
            f"client never got there; log={server.log} errors={server.errors}"
        ) from None


def message(chat_id: int, msg_id: int, text: str | None = None) -> dict[str, Any]:
    return {
        "chat_id": chat_id,
        "msg_id": msg_id,
        "sender_id": 2,
        "date": 1_800_000_000 + msg_id,
        "kind": "text",
        "text": f"m{msg_id}" if text is None else text,
        "reply_to": None,
        "local_id": f"l{msg_id}",
        "entities": None,
        "location": None,
        "file_id": None,
        "recalled_at": None,
        "recalled_by": None,
        "system": None,
    }


def new(chat_id: int, pts: int) -> dict[str, Any]:
    return {
        "pts": pts,
        "kind": "message.new",
        "date": 1_800_000_000 + pts,
        "message": message(chat_id, pts),
    }


def chat_push(chat_id: int, *updates: dict[str, Any]) -> dict[str, Any]:
    return {"push": "chat_updates", "chat_id": chat_id, "updates": list(updates)}


def chat_info(chat_id: int, pts: int) -> dict[str, Any]:
    return {
        "chat_id": chat_id,
        "kind": "group",
        "title": f"chat {chat_id}",
        "pts": pts,
        "creator_id": 2,
        "created_at": 1_800_000_000,
        "member_count": 2,
    }


# -- (a) request/response correlation ----------------------------------------------


async def test_results_are_matched_by_id_when_answered_out_of_order(server: FakeServer) -> None:
    async def script(sock: FakeSocket) -> None:
        await sock.register()
        requests = [await sock.recv() for _ in range(3)]
        ids = [r["id"] for r in requests]
        assert len(set(ids)) == 3 and ids == sorted(ids)  # fresh, increasing ids
        for req in reversed(requests):
            await sock.reply(req, {"echo": req["params"]["n"]})
        await sock.push({"id": None, "error": {"code": "BAD_FRAME", "message": "not json"}})
        req = await sock.expect("message.send")
        await sock.fail(req, "CHAT_EXPIRED", "expired", {"expire_at": 5})
        req = await sock.expect("ping")
        await sock.reply(req, {"pong": True})

    server.scripts[0] = script
    async with Client(server.url, reconnect=False) as c:
        auth = await c.register("alice", "pw")
        assert auth == {"user_id": 1, "device_id": 10, "token": TOKEN}
        assert (c.user_id, c.device_id, c.token) == (1, 10, TOKEN)
        results = await asyncio.gather(*(c.call(f"test.m{n}", {"n": n}) for n in (1, 2, 3)))
        assert results == [{"echo": 1}, {"echo": 2}, {"echo": 3}]
        with pytest.raises(TidingsClientError) as err:
            await c.send_text(12, "hi")
        assert err.value.code == "CHAT_EXPIRED"
        assert err.value.message == "expired"
        assert err.value.data == {"expire_at": 5}
        # Neither the BAD_FRAME notice nor the error broke the connection.
        assert await c.call("ping") == {"pong": True}
    assert server.unexpected == []


async def test_pending_call_fails_with_connection_lost_when_socket_drops(
    server: FakeServer,
) -> None:
    async def script(sock: FakeSocket) -> None:
        await sock.register()
        await sock.expect("slow.call")
        await sock.drop()  # never answered

    server.scripts[0] = script
    async with Client(server.url, reconnect=False) as c:
        await c.register("alice", "pw")
        with pytest.raises(ConnectionLost):
            await c.call("slow.call")
        await c.wait_for(lambda c: not c.connected, timeout=RECV_TIMEOUT)
        with pytest.raises(ConnectionLost):  # fails fast while disconnected
            await c.call("anything")
        await asyncio.sleep(0.05)
    assert len(server.sockets) == 1  # reconnect=False: no second connection


async def test_request_timeout_and_late_answer_is_ignored(server: FakeServer) -> None:
    async def script(sock: FakeSocket) -> None:
        await sock.register()
        late = await sock.expect("slow.call")
        nxt = await sock.expect("ping")
        await sock.reply(late, {"late": True})  # arrives after the client gave up
        await sock.reply(nxt, {"pong": True})

    server.scripts[0] = script
    async with Client(server.url, reconnect=False, request_timeout=0.2) as c:
        await c.register("alice", "pw")
        with pytest.raises(RequestTimeout) as err:
            await c.call("slow.call")
        assert isinstance(err.value, TimeoutError)
        assert await c.call("ping") == {"pong": True}


# -- (b) pushes, gaps and duplicates --------------------------------------------------


async def test_push_gap_fetches_chat_difference_once_and_ignores_duplicates(
    server: FakeServer,
) -> None:
    async def script(sock: FakeSocket) -> None:
        await sock.register(seq=3, chats={"12": 4})
        await sock.push(chat_push(12, new(12, 7)))  # local pts 4: 5 and 6 are missing
        req = await sock.expect("sync.get_chat_difference", {"chat_id": 12, "pts": 4})
        await sock.reply(
            req, {"pts": 7, "updates": [new(12, 5), new(12, 6), new(12, 7)], "too_long": False}
        )
        await sock.push(chat_push(12, new(12, 6), new(12, 7)))  # duplicates
        await sock.push(chat_push(12, new(12, 7), new(12, 8)))  # one old, one new
        recall = {
            "pts": 9,
            "kind": "message.recalled",
            "date": 1_800_000_100,
            "msg_id": 5,
            "recalled_by": 2,
            "recalled_at": 1_800_000_100,
        }
        await sock.push(chat_push(12, recall))
        await sock.push(chat_push(99, new(99, 3)))  # a chat we have no view of

    server.scripts[0] = script
    seen: list[Update] = []
    async with Client(server.url, reconnect=False) as c:
        c.on_update(seen.append)
        stream = c.updates()
        await c.register("alice", "pw")
        assert c.seq == 3 and c.chats[12].pts == 4 and c.chats[12].messages == {}
        await settle(c, server, lambda c: c.chats[12].pts == 9)
        view = c.chats[12]
        assert sorted(view.messages) == [5, 6, 7, 8]
        assert view.messages[6] == wire.with_message_defaults(message(12, 6))
        assert view.messages[5]["text"] is None
        assert view.messages[5]["recalled_by"] == 2
        assert view.messages[5]["recalled_at"] == 1_800_000_100
        streamed = [await anext(stream) for _ in range(5)]
        await stream.aclose()
        await asyncio.sleep(0.05)  # give the push for chat 99 time to be (not) handled
        assert 99 not in c.chats
    assert server.methods().count("sync.get_chat_difference") == 1
    assert [(u.chat_id, u.pts, u.kind) for u in seen] == [
        (12, 5, "message.new"),
        (12, 6, "message.new"),
        (12, 7, "message.new"),
        (12, 8, "message.new"),
        (12, 9, "message.recalled"),
    ]
    assert [u.pts for u in streamed] == [5, 6, 7, 8, 9]
    # Recalling edits the stored copy, never the update handed to listeners.
    assert seen[0].data["message"]["text"] == "m5"
    assert server.unexpected == []


async def test_too_long_difference_drops_and_reloads_the_view(server: FakeServer) -> None:
    async def script(sock: FakeSocket) -> None:
        await sock.register(chats={"12": 2})
        await sock.push(chat_push(12, new(12, 3)))
        await sock.push(chat_push(12, new(12, 501)))
        req = await sock.expect("sync.get_chat_difference", {"chat_id": 12, "pts": 3})
        recall = {"pts": 500, "kind": "message.recalled", "date": 1, "msg_id": 499}
        recall.update(recalled_by=2, recalled_at=1)
        await sock.reply(req, {"pts": 501, "updates": [recall, new(12, 501)], "too_long": True})
        # reload_limit=150: a page of 100, then the 50 just older than it
        req = await sock.expect("message.history", {"chat_id": 12, "limit": 100})
        await sock.reply(req, {"messages": [message(12, i) for i in range(402, 502)]})
        req = await sock.expect("message.history", {"chat_id": 12, "limit": 50, "before": 402})
        await sock.reply(req, {"messages": [message(12, i) for i in range(352, 402)]})

    server.scripts[0] = script
    seen: list[Update] = []
    async with Client(server.url, reconnect=False, reload_limit=150) as c:
        c.on_update(seen.append)
        await c.register("alice", "pw")
        await settle(c, server, lambda c: c.chats[12].pts == 501)
        view = c.chats[12]
        assert sorted(view.messages) == list(range(352, 502))  # message 3 was dropped
        assert view.messages[499]["text"] is None
    assert [(u.kind, u.pts) for u in seen] == [("message.new", 3), (CHAT_RELOADED, 501)]
    assert server.unexpected == []


async def test_chat_joined_creates_view_and_fetches_from_the_join(server: FakeServer) -> None:
    async def script(sock: FakeSocket) -> None:
        await sock.register(seq=1)
        # The chat's own push may overtake the user update: no view yet, ignored.
        await sock.push(chat_push(30, new(30, 5)))
        joined = {"seq": 2, "kind": "chat.joined", "date": 1, "chat": chat_info(30, 5)}
        joined["joined_pts"] = 4
        await sock.push({"push": "user_updates", "updates": [joined]})
        req = await sock.expect("sync.get_chat_difference", {"chat_id": 30, "pts": 3})
        member = {"pts": 4, "kind": "member.joined", "date": 1, "user_id": 1, "role": "member"}
        member["by"] = 2
        await sock.reply(req, {"pts": 5, "updates": [member, new(30, 5)], "too_long": False})

    server.scripts[0] = script
    async with Client(server.url, reconnect=False) as c:
        await c.register("alice", "pw")
        await settle(c, server, lambda c: c.chats[30].pts == 5)
        view = c.chats[30]
        assert c.seq == 2
        assert view.chat is not None and view.chat["title"] == "chat 30"
        assert view.members == {1} and view.roles == {1: "member"}
        assert sorted(view.messages) == [5]
        assert not view.left
    assert server.unexpected == []


async def test_user_seq_gap_runs_get_difference(server: FakeServer) -> None:
    def read(seq: int, read_pts: int) -> dict[str, Any]:
        return {"seq": seq, "kind": "read.updated", "date": 1, "chat_id": 12, "read_pts": read_pts}

    async def script(sock: FakeSocket) -> None:
        await sock.register(seq=2, chats={"12": 6})
        await sock.push({"push": "user_updates", "updates": [read(5, 6)]})
        req = await sock.expect("sync.get_difference", {"seq": 2, "chats": {"12": 6}})
        revoked = {"seq": 4, "kind": "device.revoked", "date": 1, "device_id": 11}
        result = {"seq": 5, "user_updates": [read(3, 4), revoked, read(5, 6)], "more": False}
        await sock.reply(req, {**result, "chats": []})
        await sock.push({"push": "user_updates", "updates": [read(5, 6)]})  # duplicate

    server.scripts[0] = script
    seen: list[Update] = []
    async with Client(server.url, reconnect=False) as c:
        c.on_update(seen.append)
        await c.register("alice", "pw")
        await settle(c, server, lambda c: c.seq == 5)
        assert c.chats[12].read_pts == 6
        await asyncio.sleep(0.05)
    assert [(u.scope, u.seq, u.kind) for u in seen] == [
        ("user", 3, "read.updated"),
        ("user", 4, "device.revoked"),
        ("user", 5, "read.updated"),
    ]
    assert server.unexpected == []


async def test_own_send_is_folded_into_the_view_and_its_echo_ignored(
    server: FakeServer,
) -> None:
    sent: dict[str, Any] = {}

    async def script(sock: FakeSocket) -> None:
        await sock.register(chats={"12": 4})
        req = await sock.expect("message.send")
        sent.update(req["params"])
        msg = message(12, 5, req["params"]["text"]) | {"local_id": req["params"]["local_id"]}
        await sock.reply(req, {"message": msg})
        await sock.push(chat_push(12, {"pts": 5, "kind": "message.new", "date": 1, "message": msg}))

    server.scripts[0] = script
    seen: list[Update] = []
    async with Client(server.url, reconnect=False) as c:
        c.on_update(seen.append)
        await c.register("alice", "pw")
        msg = await c.send_text(12, "hello")
        # Applied from the result, before (and regardless of) any push.
        assert c.chats[12].pts == 5 and c.chats[12].messages[5]["text"] == "hello"
        await until(server, lambda: server.sockets[0].ws.closed or len(server.log) >= 3)
        await asyncio.sleep(0.05)
    assert msg["msg_id"] == 5
    assert sent["chat_id"] == 12 and sent["text"] == "hello"
    assert re.fullmatch(r"[0-9a-f]{32}", sent["local_id"])
    assert [u.pts for u in seen] == [5]  # the echo was a duplicate
    assert server.unexpected == []


# -- (c) reconnect ---------------------------------------------------------------------


async def test_reconnect_resumes_with_token_and_applies_difference(server: FakeServer) -> None:
    drop_now = asyncio.Event()

    async def first(sock: FakeSocket) -> None:
        await sock.register(seq=1, chats={"12": 2})
        await sock.push(chat_push(12, new(12, 3)))
        await sock.expect("slow.call")  # left unanswered
        await drop_now.wait()
        await sock.drop()

    async def refused(sock: FakeSocket) -> None:
        await sock.drop()  # server still coming up: the client must try again

    async def second(sock: FakeSocket) -> None:
        req = await sock.expect("auth.token", {"token": TOKEN})
        await sock.reply(req, {"user_id": 1, "device_id": 10})
        req = await sock.expect("sync.get_difference", {"seq": 1, "chats": {"12": 3}})
        read = {"seq": 2, "kind": "read.updated", "date": 1, "chat_id": 12, "read_pts": 3}
        chat = {"chat_id": 12, "pts": 4, "updates": [new(12, 4)], "too_long": False}
        await sock.reply(req, {"seq": 2, "user_updates": [read], "more": True, "chats": [chat]})
        req = await sock.expect("sync.get_difference", {"seq": 2, "chats": {"12": 4}})
        await sock.reply(req, {"seq": 2, "user_updates": [], "more": False, "chats": []})
        req = await sock.expect("ping")
        await sock.reply(req, {"pong": True})

    server.scripts.update({0: first, 1: refused, 2: second})
    async with Client(server.url, backoff_initial=0.01, backoff_max=0.05) as c:
        await c.register("alice", "pw")
        await settle(c, server, lambda c: c.chats[12].pts == 3)
        slow = asyncio.create_task(c.call("slow.call"))
        await until(server, lambda: "slow.call" in server.methods())
        drop_now.set()
        with pytest.raises(ConnectionLost):
            await slow
        await settle(c, server, lambda c: c.reconnects == 1)
        assert c.connected
        view = c.chats[12]
        assert (c.seq, view.pts, view.read_pts) == (2, 4, 3)
        assert sorted(view.messages) == [3, 4]
        assert await c.call("ping") == {"pong": True}
    assert server.methods(2) == [
        "auth.token",
        "sync.get_difference",
        "sync.get_difference",
        "ping",
    ]
    assert server.unexpected == []


# -- (d) revoked token -----------------------------------------------------------------


async def test_unauthorized_token_stops_reconnecting(server: FakeServer) -> None:
    async def first(sock: FakeSocket) -> None:
        await sock.register()
        await sock.drop()

    async def revoked(sock: FakeSocket) -> None:
        req = await sock.expect("auth.token", {"token": TOKEN})
        await sock.fail(req, "UNAUTHORIZED", "device revoked")

    server.scripts.update({0: first, 1: revoked})
    async with Client(server.url, backoff_initial=0.01, backoff_max=0.02) as c:
        await c.register("alice", "pw")
        await settle(c, server, lambda c: c.closed_reason is not None)
        reason = c.closed_reason
        assert isinstance(reason, TidingsClientError) and reason.code == "UNAUTHORIZED"
        assert c.closed and not c.connected
        await asyncio.sleep(0.2)  # many backoff periods: no further attempts
        assert len(server.sockets) == 2
        with pytest.raises(ConnectionLost):
            await c.call("ping")
    assert server.unexpected == []


# -- pieces ----------------------------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    delays = backoff_delays(0.2, 2.0, rng=random.Random(7))
    ceilings = [0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
    for ceiling in ceilings:
        delay = next(delays)
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(next(delays), 6) for _ in range(5)}) > 1  # jittered, not constant


async def test_wait_for_times_out_and_treats_lookup_errors_as_not_yet() -> None:
    c = Client("ws://127.0.0.1:9/ws")
    try:
        with pytest.raises(TimeoutError):
            await c.wait_for(lambda c: 7 in c.chats[12].messages, timeout=0.05)
        await c.wait_for(lambda c: c.seq == 0, timeout=0.05)
    finally:
        await c.close()
    with pytest.raises(ConnectionLost):
        await c.connect()  # closed for good
