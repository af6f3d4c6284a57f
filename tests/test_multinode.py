"""Two nodes sharing one PostgreSQL database and a bus (Redis, and NATS): a
device on one node receives what is sent through the other (DESIGN §9,
production profile)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import nats
import pytest
import redis.asyncio

from tidings.client import Client
from tidings.testing import running_server, test_settings

from .conftest import NATS_URL, REDIS_URL, _unavailable

PASSWORD = "correct horse"


@pytest.fixture(params=["redis", "nats"])
async def bus(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The settings that put a node on a reachable bus server (both, in turn)."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    if request.param == "redis":
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        try:
            await client.ping()
        except (OSError, redis.RedisError) as exc:
            _unavailable("Redis", exc)
        finally:
            await client.aclose()
        return {"bus": "redis", "redis_url": REDIS_URL, "bus_channel_prefix": prefix}
    try:
        nc = await nats.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=0)
        await nc.close()
    except Exception as exc:
        _unavailable("NATS", exc)
    return {"bus": "nats", "nats_url": NATS_URL, "bus_channel_prefix": prefix}


async def test_updates_cross_nodes(tmp_path: Path, pg_url: str, bus: dict[str, Any]) -> None:
    common = {**bus, "secret_key": "k" * 40}
    node_a = test_settings(tmp_path / "a", pg_url, **common)
    node_b = test_settings(tmp_path / "b", pg_url, **common)
    async with running_server(node_a) as a, running_server(node_b) as b:
        alice, bob = Client(a.url), Client(b.url)
        try:
            await alice.register("alice", PASSWORD)
            await bob.register("bob", PASSWORD)
            assert bob.user_id is not None and alice.token is not None
            chat = await alice.direct(bob.user_id)
            await bob.wait_for(lambda c: chat["chat_id"] in c.chats)
            sent = [await alice.send_text(chat["chat_id"], f"m{i}") for i in range(20)]
            await bob.wait_for(lambda c: c.chats[chat["chat_id"]].pts == sent[-1]["msg_id"])
            view = bob.chats[chat["chat_id"]].messages
            assert [view[m["msg_id"]]["text"] for m in sent] == [f"m{i}" for i in range(20)]
            # a token issued by one node is accepted by the other (shared secret)
            alice_on_b = Client(b.url)
            try:
                await alice_on_b.resume(alice.token)
                assert alice_on_b.user_id == alice.user_id
            finally:
                await alice_on_b.close()
        finally:
            await alice.close()
            await bob.close()


async def test_typing_crosses_nodes(tmp_path: Path, pg_url: str, bus: dict[str, Any]) -> None:
    common = {**bus, "secret_key": "k" * 40}
    node_a = test_settings(tmp_path / "a", pg_url, **common)
    node_b = test_settings(tmp_path / "b", pg_url, **common)
    async with running_server(node_a) as a, running_server(node_b) as b, \
            Client(a.url) as alice, Client(b.url) as bob, Client(b.url) as alice_on_b:
        await alice.register("alice", PASSWORD)
        bob_id = (await bob.register("bob", PASSWORD))["user_id"]
        await alice_on_b.login("alice", PASSWORD, "tablet")
        chat_id = (await alice.direct(bob_id))["chat_id"]
        await bob.wait_for(lambda c: chat_id in c.chats)
        await alice_on_b.wait_for(lambda c: chat_id in c.chats)
        assert await alice.send_typing(chat_id)
        await bob.wait_for(lambda c: c.typing_in(chat_id) == {alice.user_id: "typing"})
        assert alice_on_b.typing_in(chat_id) == {}  # never to the typing user's devices
