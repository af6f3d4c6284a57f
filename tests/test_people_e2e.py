"""People end to end over WebSocket: a real server, raw frames. Presence
pushes between two real clients (and the debounce of a flapping connection),
a block refusing a direct message, and a contact request reaching the other
side as a user_updates push."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio

from tidings.app import TidingsServer
from tidings.config import Settings
from tidings.testing import running_server, test_settings

from .conftest import REDIS_URL, _unavailable

PASSWORD = "correct horse"
DEBOUNCE = 0.3


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return test_settings(tmp_path / "data", database_url, presence_debounce_seconds=DEBOUNCE)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[TidingsServer]:
    async with running_server(settings) as srv:
        yield srv


class Raw:
    """One WebSocket connection: requests answered in order, pushes kept."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse
                 ) -> None:
        self.session = session
        self.ws = ws
        self.pushes: list[dict[str, Any]] = []
        self.next_id = 1

    @classmethod
    async def open(cls, url: str) -> Raw:
        session = aiohttp.ClientSession()
        return cls(session, await session.ws_connect(url))

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        req_id = self.next_id
        self.next_id += 1
        await self.ws.send_str(json.dumps({"id": req_id, "method": method, "params": params}))
        while True:
            frame = json.loads((await self.ws.receive(timeout=10)).data)
            if "push" in frame:
                self.pushes.append(frame)
            elif frame.get("id") == req_id:
                return dict(frame)

    async def result(self, method: str, **params: Any) -> Any:
        frame = await self.call(method, **params)
        assert "result" in frame, frame
        return frame["result"]

    async def collect(self, seconds: float) -> list[dict[str, Any]]:
        """Pushes arriving within ``seconds`` (plus those already kept)."""
        try:
            async with asyncio.timeout(seconds):
                while True:
                    msg = await self.ws.receive()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    self.pushes.append(json.loads(msg.data))
        except TimeoutError:
            pass
        found, self.pushes = self.pushes, []
        return found

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()


async def user(server: TidingsServer, name: str) -> tuple[Raw, int, str]:
    conn = await Raw.open(server.url)
    result = await conn.result("auth.register", username=name, password=PASSWORD)
    return conn, int(result["user_id"]), str(result["token"])


def presence(pushes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pushes if p.get("push") == "presence"]


async def test_presence_push_between_two_clients(server: TidingsServer) -> None:
    alice, alice_id, token = await user(server, "alice")
    bob, _, _ = await user(server, "bob")
    try:
        [view] = (await bob.result("presence.subscribe", user_ids=[alice_id]))["users"]
        assert view == {"user_id": alice_id, "status": "online", "last_seen": None}
        await alice.close()
        [push] = presence(await bob.collect(DEBOUNCE + 1))
        assert push["user_id"] == alice_id and push["status"] == "offline"
        assert isinstance(push["last_seen"], int)
        assert (await bob.result("presence.query", user_ids=[alice_id]))["users"] == [
            {k: v for k, v in push.items() if k != "push"}]

        # a flapping connection (in and out within the debounce) pushes nothing
        flap = await Raw.open(server.url)
        await flap.result("auth.token", token=token)
        await flap.close()
        assert presence(await bob.collect(DEBOUNCE + 1)) == []

        # back for good: pushed once; hidden last seen shows a rounded status only
        alice = await Raw.open(server.url)
        await alice.result("auth.token", token=token)
        [push] = presence(await bob.collect(DEBOUNCE + 1))
        assert push == {"push": "presence", "user_id": alice_id, "status": "online",
                        "last_seen": None}
        await alice.result("privacy.update", last_seen="nobody")
        await bob.result("presence.unsubscribe")
        [view] = (await bob.result("presence.subscribe", user_ids=[alice_id]))["users"]
        assert view == {"user_id": alice_id, "status": "recently", "last_seen": None}
        await alice.close()
        assert presence(await bob.collect(DEBOUNCE + 1)) == []  # still "recently"
    finally:
        await alice.close()
        await bob.close()


async def test_block_and_contact_request_over_the_wire(server: TidingsServer) -> None:
    alice, alice_id, _ = await user(server, "alice")
    bob, bob_id, _ = await user(server, "bob")
    try:
        chat = (await bob.result("chat.direct", user_id=alice_id))["chat"]
        await alice.result("block.add", user_id=bob_id)
        refused = await bob.call("message.send", chat_id=chat["chat_id"], local_id="b1",
                                 text="hi")
        assert refused["error"]["code"] == "BLOCKED"
        refused = await bob.call("contact.request", user_id=alice_id, source="search")
        assert refused["error"] == {"code": "BLOCKED", "message": f"user {alice_id} has "
                                    "blocked you", "data": {"user_id": alice_id}}
        await alice.result("block.remove", user_id=bob_id)
        await alice.collect(0.2)
        assert (await bob.result("contact.request", user_id=alice_id, source="search",
                                 message="hi"))["state"] == "pending"
        pushes = await alice.collect(1)
        [update] = [u for p in pushes if p["push"] == "user_updates" for u in p["updates"]]
        assert update["kind"] == "contact.requested" and update["user_id"] == bob_id
        assert update["direction"] == "incoming"
    finally:
        await alice.close()
        await bob.close()


@pytest.fixture
async def redis_url() -> str:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, redis.RedisError) as exc:
        _unavailable("Redis", exc)
    finally:
        await client.aclose()
    return REDIS_URL


async def test_presence_crosses_nodes_over_redis(tmp_path: Path, pg_url: str,
                                                 redis_url: str) -> None:
    """alice's devices on two nodes, bob following her from the second: online
    while any device is connected anywhere, one push when the last one leaves."""
    common = {"bus": "redis", "redis_url": redis_url, "secret_key": "k" * 40,
              "bus_channel_prefix": f"test-{uuid.uuid4().hex[:8]}",
              "presence_debounce_seconds": DEBOUNCE}
    async with running_server(test_settings(tmp_path / "a", pg_url, **common)) as a, \
            running_server(test_settings(tmp_path / "b", pg_url, **common)) as b:
        alice_a, alice_id, token = await user(a, "alice")
        bob, _, _ = await user(b, "bob")
        alice_b = await Raw.open(b.url)
        try:
            # node b learns over the bus that alice is online on node a
            for _ in range(50):
                [view] = (await bob.result("presence.query", user_ids=[alice_id]))["users"]
                if view["status"] == "online":
                    break
                await asyncio.sleep(0.05)
            assert view["status"] == "online"
            await bob.result("presence.subscribe", user_ids=[alice_id])
            await alice_b.result("auth.token", token=token)
            await alice_a.close()  # still online through node b
            assert presence(await bob.collect(DEBOUNCE + 1)) == []
            await alice_b.close()
            [push] = presence(await bob.collect(DEBOUNCE + 2))
            assert push["user_id"] == alice_id and push["status"] == "offline"
        finally:
            await alice_a.close()
            await alice_b.close()
            await bob.close()
