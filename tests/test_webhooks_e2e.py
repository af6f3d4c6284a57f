"""Webhooks from a real server: presence and message events as a business
backend receives them, and events that survive a SIGKILL of the server
(written with the messages, delivered after the restart), on both engines."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tidings.client import Client
from tidings.testing import free_port, running_server, test_settings

from .test_crash import ServerProcess
from .webhook_receiver import SECRET, Receiver, receiver

PASSWORD = "correct horse battery"


async def until(rec: Receiver, done: Callable[[list[dict[str, Any]]], bool],
                within: float = 60.0) -> None:
    """Wait for the accepted events to satisfy ``done``."""
    async with asyncio.timeout(within):
        while not done(rec.accepted()):
            rec.arrived.clear()
            await rec.arrived.wait()


def hook_env(url: str) -> dict[str, str]:
    return {"TIDINGS_WEBHOOK_URL": url, "TIDINGS_WEBHOOK_SECRET": SECRET,
            "TIDINGS_WEBHOOK_TIMEOUT_SECONDS": "1", "TIDINGS_WEBHOOK_RETRY_SECONDS": "1",
            "TIDINGS_WEBHOOK_RETRY_MAX_SECONDS": "1",
            "TIDINGS_WEBHOOK_INTERVAL_SECONDS": "0.2"}


async def test_presence_and_messages_reach_the_backend(tmp_path: Path,
                                                       database_url: str | None) -> None:
    async with receiver() as rec:
        settings = test_settings(tmp_path / "data", database_url, webhook_url=rec.url,
                                 webhook_secret=SECRET, webhook_interval_seconds=0.2)
        async with running_server(settings) as server:
            alice = Client(server.url, reconnect=False)
            try:
                a = await alice.register("alice", PASSWORD)
                async with Client(server.url, reconnect=False) as bob:
                    b = await bob.register("bob", PASSWORD)
                chat_id = (await alice.direct(b["user_id"]))["chat_id"]
                offline_msg = await alice.send_text(chat_id, "are you there?")
                async with Client(server.url, reconnect=False) as bob:
                    await bob.login("bob", PASSWORD)
                    online_msg = await alice.send_text(chat_id, "hi bob")
                    await until(rec, lambda evs: any(
                        e["kind"] == "message.sent"
                        and e["message"]["msg_id"] == online_msg["msg_id"] for e in evs))
                await until(rec, lambda evs: sum(
                    e["kind"] == "user.offline" and e["user_id"] == b["user_id"]
                    for e in evs) == 2)
                await alice.close()  # her going offline reaches the backend too
                await until(rec, lambda evs: any(
                    e["kind"] == "user.offline" and e["user_id"] == a["user_id"]
                    for e in evs))
            finally:
                await alice.close()
    events = rec.accepted()
    assert all(p.signed for p in rec.posts)
    assert [e["kind"] for e in events if e.get("user_id") == b["user_id"]] == [
        "user.online", "user.offline", "user.online", "user.offline"]
    assert [e["kind"] for e in events if e.get("user_id") == a["user_id"]] == [
        "user.online", "user.offline"]
    in_chat = [e for e in events if e.get("chat_id") == chat_id]
    assert [(e["kind"], e.get("message", {}).get("msg_id", e.get("msg_id")))
            for e in in_chat] == [("message.sent", offline_msg["msg_id"]),
                                  ("message.undelivered", offline_msg["msg_id"]),
                                  ("message.sent", online_msg["msg_id"])]
    assert in_chat[1]["user_ids"] == [b["user_id"]]
    assert in_chat[0]["message"]["text"] == "are you there?"
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))


async def test_events_survive_sigkill_and_are_delivered_after_restart(
        tmp_path: Path, database_url: str | None) -> None:
    async with receiver() as rec:
        rec.refuse_all = True  # the backend is down while the server runs and dies
        server = ServerProcess(tmp_path / "data", database_url, tmp_path / "server.log",
                               hook_env(rec.url))
        try:
            await server.start()
            async with Client(server.ws_url, reconnect=False) as bob:
                bob_id = (await bob.register("bob", PASSWORD))["user_id"]
            async with Client(server.ws_url, reconnect=False) as alice:
                await alice.register("alice", PASSWORD)
                direct = (await alice.direct(bob_id))["chat_id"]
                group = (await alice.create_group("g", [bob_id]))["chat_id"]
                sent = await asyncio.gather(*(alice.send_text((direct, group)[i % 2], f"m{i}")
                                              for i in range(40)))
                async with asyncio.timeout(30):  # the deliverer is trying
                    await rec.arrived.wait()
                await server.kill()
            rec.refuse_all = False
            server.port = free_port()
            await server.start()
            wanted = {(m["chat_id"], m["msg_id"]) for m in sent}
            await until(rec, lambda evs: wanted <= {
                (e["chat_id"], e["message"]["msg_id"]) for e in evs
                if e["kind"] == "message.sent"})
        finally:
            await server.stop()
    events = rec.accepted()
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "an accepted batch was sent again"
    for chat_id in (direct, group):
        msg_ids = [e["message"]["msg_id"] for e in events
                   if e["kind"] == "message.sent" and e["chat_id"] == chat_id]
        assert msg_ids == sorted(m["msg_id"] for m in sent if m["chat_id"] == chat_id)
