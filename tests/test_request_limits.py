"""Request limits per device (all its connections) and per client address
(auth.register, auth.login), and failed logins slowing down from one address."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tidings.api.methods import all_methods
from tidings.app import TidingsServer
from tidings.client import Client, TidingsClientError
from tidings.clock import FakeClock
from tidings.errors import ErrorCode, TidingsError
from tidings.services.rate_limits import BUCKET_CLASSES, KeyedBuckets, RequestLimits
from tidings.testing import running_server, test_settings

PASSWORD = "correct horse"
WRONG = "wrong password"


# -- the bucket tables


def test_a_bucket_answers_how_long_to_wait() -> None:
    clock = FakeClock()
    table = KeyedBuckets(rate=0.5, burst=2, monotonic=clock.monotonic)
    assert table.take_or_wait(7) == 0 and table.take_or_wait(7) == 0
    assert table.take_or_wait(7) == pytest.approx(2.0)  # one token per 2 s
    clock.advance(1.5)
    assert table.take_or_wait(7) == pytest.approx(0.5)
    clock.advance(0.5)
    assert table.take_or_wait(7) == 0


def test_bucket_tables_are_bounded_idle_first_then_least_recently_used() -> None:
    clock = FakeClock()
    table = KeyedBuckets(rate=1, burst=5, monotonic=clock.monotonic, max_keys=3)
    for device in (1, 2, 3):
        table.take(device)
    clock.advance(10)  # 1 and 2 refill (5 s) ...
    table.take(3)  # ... while 3 is used again
    table.take(4)
    assert len(table) == 2  # the refilled ones went, the busy one stayed
    for device in (5, 6):
        table.take(device)
    assert len(table) == 3  # none idle: the least recently used (3) went
    assert [table.take(3) for _ in range(6)].count(True) == 5  # 3 starts afresh


def test_every_limited_method_is_named_once() -> None:
    methods = [m for cls in BUCKET_CLASSES for m in cls.methods]
    assert len(methods) == len(set(methods))
    registered = {m.name for m in all_methods()}
    # contact.request and user.search belong to other changes; the rest exist now
    assert set(methods) - registered <= {"contact.request", "user.search"}


def test_limits_are_per_device_and_loopback_is_exempt_when_configured(
        tmp_path: Path) -> None:
    clock = FakeClock()
    settings = test_settings(tmp_path, None, rate_limit_search_burst=2,
                             rate_limit_search_per_second=0.25)
    limits = RequestLimits(settings, clock.monotonic)
    for _ in range(2):
        limits.check("message.search", 1, "10.0.0.1")
    with pytest.raises(TidingsError) as err:
        limits.check("user.search", 1, "10.0.0.2")  # one bucket for both searches
    assert err.value.code is ErrorCode.RATE_LIMITED
    assert err.value.data == {"retry_after": 4, "limit": "search"}
    limits.check("message.search", 2, "10.0.0.1")  # another device has its own
    limits.check("message.history", 1, "10.0.0.1")  # not a limited method
    for _ in range(10):
        limits.check("message.search", 1, "127.0.0.1")  # loopback, exempt by default


# -- over the WebSocket


@pytest.fixture
async def limited_server(tmp_path: Path, database_url: str | None
                         ) -> AsyncIterator[TidingsServer]:
    """Loopback not exempt; a fake clock, so nothing refills while the test runs."""
    settings = test_settings(
        tmp_path / "data", database_url, rate_limit_exempt_loopback=False,
        rate_limit_send_burst=3, rate_limit_send_per_second=0.5,
        rate_limit_register_burst=4, rate_limit_register_per_second=0.1,
        rate_limit_login_burst=30, login_failures_per_address=5,
        login_lockout_seconds=1.0)
    async with running_server(settings, FakeClock()) as server:
        yield server


async def refused(call: Any) -> TidingsClientError:
    with pytest.raises(TidingsClientError) as err:
        await call
    return err.value


async def test_a_devices_connections_share_its_send_bucket(
        limited_server: TidingsServer) -> None:
    url = limited_server.url
    async with Client(url) as phone, Client(url) as phone_again, Client(url) as laptop, \
            Client(url) as bob:
        await phone.register("alice", PASSWORD, "phone")
        bob_id = (await bob.register("bob", PASSWORD))["user_id"]
        assert phone.token is not None
        await phone_again.resume(phone.token)  # a second socket of the same device
        chat_id = (await phone.direct(bob_id))["chat_id"]
        await phone.send_text(chat_id, "1")
        await phone_again.send_text(chat_id, "2")
        await phone.send_text(chat_id, "3")
        err = await refused(phone_again.send_text(chat_id, "4"))
        assert err.code == "RATE_LIMITED"
        assert err.data == {"retry_after": 2, "limit": "send"}
        forward = phone.call("message.forward", {"from_chat_id": chat_id, "msg_ids": [1],
                                                 "to_chat_id": chat_id})
        assert (await refused(forward)).code == "RATE_LIMITED"  # the same bucket
        # reconnecting does not refill it
        await phone_again.disconnect()
        await phone_again.resume(phone.token)
        assert (await refused(phone_again.send_text(chat_id, "5"))).code == "RATE_LIMITED"
        # another device of the same user, and other users, have their own buckets
        await laptop.login("alice", PASSWORD, "laptop")
        await laptop.send_text(chat_id, "from the laptop")
        await bob.send_text(chat_id, "from bob")
        history = await bob.history(chat_id)
        assert [m["text"] for m in history if m["kind"] != "system"] == [
            "1", "2", "3", "from the laptop", "from bob"]
        # time refills it: one token per 2 s
        clock = limited_server.services.clock
        assert isinstance(clock, FakeClock)
        clock.advance(2)
        await phone.send_text(chat_id, "later")


async def raw(ws: aiohttp.ClientWebSocketResponse, frame_id: int, method: str,
              params: dict[str, Any]) -> dict[str, Any]:
    await ws.send_str(json.dumps({"id": frame_id, "method": method, "params": params}))
    while True:
        reply = json.loads((await ws.receive(timeout=30)).data)
        if reply.get("id") == frame_id:
            return dict(reply)


async def login(url: str, username: str, password: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        return await raw(ws, 1, "auth.login", {"username": username, "password": password})


async def test_registrations_are_limited_per_address(limited_server: TidingsServer) -> None:
    async with aiohttp.ClientSession() as http:
        replies = []
        for i in range(5):
            async with http.ws_connect(limited_server.url) as ws:
                replies.append(await raw(ws, 1, "auth.register", {
                    "username": f"user{i}", "password": PASSWORD}))
    assert ["result" in r for r in replies] == [True] * 4 + [False]
    assert replies[-1]["error"] == {
        "code": "RATE_LIMITED", "message": "too many auth.register requests from your "
        "address; try again in 10 s", "data": {"retry_after": 10, "limit": "register"}}


async def test_guessing_passwords_from_one_address_slows_down(
        limited_server: TidingsServer) -> None:
    """Wrong passwords for ever new usernames (so no username is locked out):
    after 5 failures from one address, each further failure doubles the wait,
    and while it runs even a right password from that address waits."""
    clock = limited_server.services.clock
    assert isinstance(clock, FakeClock)
    url = limited_server.url
    for name in ("victim", *(f"user{i}" for i in range(3))):
        await limited_server.services.auth.register(name, PASSWORD, None)
    codes = [(await login(url, f"user{i}", WRONG))["error"]["code"] for i in range(5)]
    assert codes == ["INVALID_CREDENTIALS"] * 5
    waits = []
    for i in range(4):
        locked = (await login(url, f"guess{i}", WRONG))["error"]
        assert locked["code"] == "RATE_LIMITED"
        waits.append(locked["data"]["retry_after"])
        assert (await login(url, "victim", PASSWORD))["error"]["code"] == "RATE_LIMITED"
        clock.advance(locked["data"]["retry_after"])
        assert (await login(url, f"guess{i}", WRONG))["error"]["code"] == (
            "INVALID_CREDENTIALS")  # one guess per lockout
    assert waits == [1, 2, 4, 8]
    clock.advance(16)
    assert "result" in await login(url, "victim", PASSWORD)


async def test_the_per_connection_limit_says_when_to_retry(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "data", None, rate_limit_exempt_loopback=False,
                             rate_limit_per_second=0.5, rate_limit_burst=2)
    async with running_server(settings, FakeClock()) as srv, aiohttp.ClientSession() as http, \
            http.ws_connect(srv.url) as ws:
        replies = [await raw(ws, i, "sync.get_state", {}) for i in range(3)]
        assert [r["error"]["code"] for r in replies] == [
            "UNAUTHORIZED", "UNAUTHORIZED", "RATE_LIMITED"]
        assert replies[2]["error"]["data"] == {"retry_after": 2}


def test_settings_refuse_inconsistent_limits(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="typing_throttle_seconds"):
        test_settings(tmp_path, None, typing_throttle_seconds=6, typing_expire_seconds=6)
    with pytest.raises(ValueError, match="chat_get_members_limit"):
        test_settings(tmp_path, None, chat_get_members_limit=300)
    with pytest.raises(ValueError):
        test_settings(tmp_path, None, rate_limit_send_per_second=0)
