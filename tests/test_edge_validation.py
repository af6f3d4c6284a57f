"""Bad input is refused at the edge with a stable code naming the field, the
same on both engines, and the connection keeps serving (raw frames over a
real WebSocket)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tidings.client import Client
from tidings.config import Settings
from tidings.testing import running_server

PASSWORD = "correct horse"


class Raw:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, frame: str) -> dict[str, Any]:
        await self.ws.send_str(frame)
        while True:
            msg = await self.ws.receive(timeout=10)
            assert msg.type is aiohttp.WSMsgType.TEXT, f"connection lost: {msg}"
            value: dict[str, Any] = json.loads(msg.data)
            if "push" not in value:
                return value

    async def call(self, method: str, params: Any, request_id: Any = 1) -> dict[str, Any]:
        # json.dumps writes lone surrogates as \udxxx escapes, as a hostile client would.
        return await self.send(json.dumps({"id": request_id, "method": method,
                                           "params": params}))


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[tuple[Raw, Raw, dict[str, int]]]:
    """A server; alice's raw authenticated connection; an unauthenticated one;
    ids of bob, carol, a group of alice and bob, and their direct chat."""
    async with running_server(settings) as server, aiohttp.ClientSession() as http:
        helper = Client(server.url, reconnect=False)
        try:
            await helper.register("bob", PASSWORD)
            assert helper.user_id is not None
            ids = {"bob": helper.user_id}
        finally:
            await helper.close()
        alice = Raw(await http.ws_connect(server.url))
        me = await alice.call("auth.register", {"username": "alice", "password": PASSWORD})
        assert "result" in me
        carol = await Raw(await http.ws_connect(server.url)).call(
            "auth.register", {"username": "carol", "password": PASSWORD})
        ids["carol"] = carol["result"]["user_id"]
        group = await alice.call("chat.create", {"title": "team", "member_ids": [ids["bob"]]})
        ids["group"] = group["result"]["chat"]["chat_id"]
        yield alice, Raw(await http.ws_connect(server.url)), ids


def assert_invalid(answer: dict[str, Any], field: str, request_id: Any = 1) -> None:
    assert answer["id"] == request_id
    assert answer["error"]["code"] == "INVALID_PARAMS", answer
    assert answer["error"]["data"]["field"] == field, answer


async def test_nul_and_lone_surrogates_are_refused_naming_the_field(world: Any) -> None:
    alice, _, ids = world
    for text in ("a\x00b", "a\ud800b", "\udfff"):
        answer = await alice.call("message.send", {"chat_id": ids["group"], "local_id": "k1",
                                                   "text": text}, request_id=7)
        assert_invalid(answer, "text", request_id=7)
        assert "NUL" in answer["error"]["message"]
    assert_invalid(await alice.call("message.send", {"chat_id": ids["group"],
                                                     "local_id": "k\x00", "text": "hi"}),
                   "local_id")
    assert_invalid(await alice.call("chat.create", {"title": "t\x00"}), "title")
    assert_invalid(await alice.call("user.resolve", {"username": "\ud800"}), "username")
    # Nothing was written: the honest send with the same local_id is the first.
    ok = await alice.call("message.send", {"chat_id": ids["group"], "local_id": "k1",
                                           "text": "hello"})
    assert ok["result"]["message"]["text"] == "hello"


async def test_nul_before_authentication_is_refused_without_a_traceback(
        world: Any, caplog: pytest.LogCaptureFixture) -> None:
    _, anon, _ = world
    answer = await anon.call("auth.login", {"username": "alice\x00", "password": "x" * 9})
    assert_invalid(answer, "username")
    answer = await anon.call("auth.register", {"username": "dave", "password": PASSWORD,
                                               "device_name": "\x00"})
    assert_invalid(answer, "device_name")
    assert not [r for r in caplog.records if r.exc_info or r.levelname == "ERROR"]


@pytest.mark.parametrize("value", [2**63, 2**64, -(2**63) - 1, 10**30, 0, -5])
async def test_ids_outside_64_bits_or_below_one_are_invalid_params(world: Any,
                                                                   value: int) -> None:
    alice, _, ids = world
    calls = [
        ("message.history", {"chat_id": value}, "chat_id"),
        ("message.get", {"chat_id": ids["group"], "msg_ids": [value]}, "msg_ids[0]"),
        ("message.send", {"chat_id": ids["group"], "local_id": "k", "text": "x",
                          "reply_to": value}, "reply_to"),
        ("user.get", {"user_ids": [value]}, "user_ids[0]"),
        ("chat.direct", {"user_id": value}, "user_id"),
        ("chat.add_members", {"chat_id": ids["group"], "user_ids": [value]}, "user_ids[0]"),
        ("device.rename", {"device_id": value, "name": "x"}, "device_id"),
    ]
    for method, params, field in calls:
        assert_invalid(await alice.call(method, params), field)


@pytest.mark.parametrize("value", [2**63, -1])
async def test_pts_and_times_outside_their_range_are_invalid_params(world: Any,
                                                                    value: int) -> None:
    alice, _, ids = world
    calls = [
        ("read.mark", {"chat_id": ids["group"], "pts": value}, "pts"),
        ("sync.get_difference", {"seq": value}, "seq"),
        ("sync.get_chat_difference", {"chat_id": ids["group"], "pts": value}, "pts"),
        ("chat.set_expire", {"chat_id": ids["group"], "expire_at": value}, "expire_at"),
        ("message.history", {"chat_id": ids["group"], "before": value}, "before"),
    ]
    for method, params, field in calls:
        assert_invalid(await alice.call(method, params), field)
    answer = await alice.call("sync.get_difference", {"seq": 0, "chats": {str(2**64): 1}})
    assert answer["error"]["code"] == "INVALID_PARAMS"


async def test_coordinates_out_of_range_are_refused(world: Any) -> None:
    alice, _, ids = world
    for location, field in (({"lat": 91, "lon": 0}, "location.lat"),
                            ({"lat": 0, "lon": -180.5}, "location.lon")):
        answer = await alice.call("message.send", {"chat_id": ids["group"], "local_id": "loc",
                                                   "kind": "location", "location": location})
        assert_invalid(answer, field)
    ok = await alice.call("message.send", {"chat_id": ids["group"], "local_id": "loc",
                                           "kind": "location",
                                           "location": {"lat": -90, "lon": 180}})
    assert ok["result"]["message"]["location"]["lat"] == -90


async def test_mentions_must_name_current_members(world: Any) -> None:
    alice, _, ids = world
    entity = {"type": "mention", "offset": 0, "length": 6, "user_id": ids["carol"]}
    answer = await alice.call("message.send", {"chat_id": ids["group"], "local_id": "m",
                                               "text": "@carol hi", "entities": [entity]})
    assert_invalid(answer, "entities")
    assert answer["error"]["data"]["user_id"] == ids["carol"]
    entity["user_id"] = ids["bob"]
    ok = await alice.call("message.send", {"chat_id": ids["group"], "local_id": "m",
                                           "text": "@bob   hi", "entities": [entity]})
    assert ok["result"]["message"]["entities"][0]["user_id"] == ids["bob"]


@pytest.mark.parametrize("authenticated", [False, True])
async def test_deep_nesting_is_a_bad_frame_and_the_connection_stays(world: Any,
                                                                    authenticated: bool
                                                                    ) -> None:
    alice, anon, _ = world
    conn = alice if authenticated else anon
    depth = 30_000
    frame = f'{{"id": 5, "method": "sync.get_state", "params": {"[" * depth}{"]" * depth}}}'
    answer = await conn.send(frame)
    assert answer["error"]["code"] == "BAD_FRAME"
    assert "nested" in answer["error"]["message"]
    follow = await conn.call("sync.get_state" if authenticated else "auth.login",
                             {} if authenticated else {"username": "alice",
                                                       "password": PASSWORD}, request_id=6)
    assert follow["id"] == 6 and "result" in follow


async def test_a_bad_string_outside_params_keeps_the_frame_id(world: Any) -> None:
    alice, _, _ = world
    answer = await alice.send('{"id": 9, "method": "sync.get_state\\ud800", "params": {}}')
    assert answer["id"] == 9
    assert answer["error"]["code"] == "BAD_FRAME"
    assert "surrogate" in answer["error"]["message"]
