"""Webhooks from two nodes sharing PostgreSQL and a Redis bus: presence events
describe the cluster (a user online on another node is neither reported
offline nor undelivered to), and each event reaches the backend once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

from tidings.client import Client
from tidings.testing import running_server, test_settings

from .conftest import REDIS_URL
from .test_webhooks_e2e import until
from .webhook_receiver import SECRET, receiver

PASSWORD = "correct horse"


async def settled(check: Callable[[], bool]) -> None:
    """Wait until the nodes' presence views agree with ``check`` (presence has no
    change event to wait on: its bus events are handled inside the node)."""
    async with asyncio.timeout(10):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_presence_and_undelivered_follow_the_cluster(tmp_path: Path, pg_url: str
                                                           ) -> None:
    async with receiver() as rec:
        common = {"bus": "redis", "redis_url": REDIS_URL, "secret_key": "k" * 40,
                  "bus_channel_prefix": f"hooks-{uuid.uuid4().hex[:8]}",
                  "webhook_url": rec.url, "webhook_secret": SECRET,
                  "webhook_interval_seconds": 0.2}
        node_a = test_settings(tmp_path / "a", pg_url, **common)
        node_b = test_settings(tmp_path / "b", pg_url, **common)
        async with running_server(node_a) as a, running_server(node_b) as b:
            presence_a, presence_b = a.services.presence, b.services.presence
            alice, bob_b, bob_a = Client(a.url), Client(b.url), Client(a.url)
            try:
                await alice.register("alice", PASSWORD)
                bob_id = (await bob_b.register("bob", PASSWORD))["user_id"]
                await settled(lambda: presence_a.is_online(bob_id))
                chat_id = (await alice.direct(bob_id))["chat_id"]
                online = await alice.send_text(chat_id, "bob is on node b")
                await bob_a.login("bob", PASSWORD)  # a second device, on node a
                await settled(lambda: presence_b.online_nodes(bob_id) == 2)
                await bob_b.close()  # still online on node a
                await settled(lambda: presence_a.online_nodes(bob_id) == 1)
                await bob_a.close()
                await settled(lambda: not presence_a.is_online(bob_id))
                offline = await alice.send_text(chat_id, "bob left")
                await until(rec, lambda evs: any(e.get("msg_id") == offline["msg_id"]
                                                 for e in evs))
                await until(rec, lambda evs: any(e["kind"] == "user.offline"
                                                 and e["user_id"] == bob_id for e in evs))
            finally:
                for c in (alice, bob_a, bob_b):
                    await c.close()
    events = rec.accepted()
    assert len({e["id"] for e in events}) == len(events)
    assert [e["kind"] for e in events if e.get("user_id") == bob_id] == [
        "user.online", "user.offline"]
    in_chat = [(e["kind"], e.get("msg_id") or e["message"]["msg_id"]) for e in events
               if e.get("chat_id") == chat_id]
    assert in_chat == [("message.sent", online["msg_id"]), ("message.sent", offline["msg_id"]),
                       ("message.undelivered", offline["msg_id"])]
