"""Durability under a crash (DESIGN.md §1.7, §10).

The server runs as a separate OS process (``python -m tidings serve``). Several
connections pipeline ``message.send`` into one group; once 1,500 sends are
acknowledged the process gets SIGKILL in the middle of the burst. After a
restart on the same data dir / database:

- every acknowledged message is there exactly once, with its msg_id and text;
- the chat's log is contiguous: ``get_chat_difference`` from 0 answers exactly
  one update per pts in ``1..pts``;
- no ``(sender, local_id)`` appears twice (unacknowledged sends may or may not
  have committed, but never twice);
- re-sending an acknowledged ``local_id`` returns the original message, and
  re-sending an unacknowledged one returns the committed message if there is one
  (idempotency survives the crash).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tidings.client import Client
from tidings.testing import free_port

from .helpers import full_history

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
SENDERS = 4              # connections in the burst, one user each
IN_FLIGHT = 50           # pipelined message.send per connection
KILL_AFTER_ACKS = 1500   # SIGKILL once at least this many sends were acknowledged
MAX_SENDS = 2_000        # per connection, so the whole log fits in one difference
START_TIMEOUT = 20.0



class ServerProcess:
    """``tidings serve`` in a child process, its output kept in a log file."""

    def __init__(self, data_dir: Path, database_url: str | None, log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = env or {}  # TIDINGS_* settings of this server
        self.database_url = database_url
        self.log_path = log_path
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "<no log>"

    async def start(self) -> None:
        cmd = [sys.executable, "-m", "tidings", "serve", "--port", str(self.port),
               "--data-dir", str(self.data_dir)]
        if self.database_url is not None:
            cmd += ["--database-url", self.database_url]
        # Hermetic: no TIDINGS_* setting of the caller leaks into the server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
        env.update(TIDINGS_ARGON2_TIME_COST="1", TIDINGS_ARGON2_MEMORY_COST_KIB="64",
                   TIDINGS_LOG_LEVEL="warning")
        env.update(self.env)
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=log_fd, stderr=asyncio.subprocess.STDOUT, env=env)
        finally:
            os.close(log_fd)
        await self._wait_healthy()

    async def _wait_healthy(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    pytest.fail(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(self.health_url) as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.05)
        pytest.fail(f"server not healthy within {START_TIMEOUT}s:\n{self.log_tail()}")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        async with asyncio.timeout(10):
            await self.proc.wait()
        assert self.proc.returncode == -signal.SIGKILL

    async def stop(self) -> None:
        """Graceful stop (SIGTERM), SIGKILL if it hangs; always reaps the child."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(10):
                await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


@dataclass
class Sent:
    user_id: int
    local_id: str
    text: str


@dataclass
class Burst:
    """What the senders saw: acknowledged sends (with their msg_id) and the rest."""

    acked: dict[str, tuple[Sent, int]] = field(default_factory=dict)  # local_id -> (sent, id)
    unacked: dict[str, Sent] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    enough: asyncio.Event = field(default_factory=asyncio.Event)

    def ack(self, sent: Sent, msg_id: int) -> None:
        self.acked[sent.local_id] = (sent, msg_id)
        if len(self.acked) >= KILL_AFTER_ACKS:
            self.enough.set()


async def sender(session: aiohttp.ClientSession, url: str, username: str, user_id: int,
                 chat_id: int, burst: Burst) -> None:
    """One connection keeping IN_FLIGHT sends outstanding until the socket dies."""
    ws = await session.ws_connect(url, max_msg_size=64 * 1024 * 1024)
    try:
        await ws.send_json({"id": 0, "method": "auth.login",
                            "params": {"username": username, "password": PASSWORD}})
        pending: dict[int, Sent] = {}
        next_id = 1

        async def send_one() -> None:
            nonlocal next_id
            n = next_id
            next_id += 1
            item = Sent(user_id, f"{username}-{n}", f"burst {username} #{n}")
            pending[n] = item
            await ws.send_json({"id": n, "method": "message.send",
                                "params": {"chat_id": chat_id, "local_id": item.local_id,
                                           "text": item.text}})

        with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError):
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                if "push" in frame:
                    continue
                if frame.get("id") == 0:
                    assert "result" in frame, f"login failed: {frame}"
                    for _ in range(IN_FLIGHT):
                        await send_one()
                    continue
                item = pending.pop(frame["id"])
                if "error" in frame:
                    burst.errors.append(frame["error"])
                    continue
                message = frame["result"]["message"]
                assert message["local_id"] == item.local_id
                assert message["text"] == item.text
                burst.ack(item, message["msg_id"])
                if next_id <= MAX_SENDS:
                    await send_one()
        # Whatever had no answer when the socket died is unacknowledged.
        for item in pending.values():
            burst.unacked[item.local_id] = item
    finally:
        await ws.close()


async def check_log(client: Client, chat_id: int) -> tuple[int, dict[int, dict[str, Any]]]:
    """The chat's log from 0: contiguous, one entry per pts. Returns (pts, messages)."""
    diff = await client.call("sync.get_chat_difference",
                             {"chat_id": chat_id, "pts": 0, "limit": 10_000})
    assert not diff["too_long"], "the burst is bigger than one difference; lower MAX_SENDS"
    pts = diff["pts"]
    seen = [u["pts"] for u in diff["updates"]]
    assert seen == list(range(1, pts + 1)), (
        f"pts not contiguous: {len(seen)} updates for pts {pts}; "
        f"missing {sorted(set(range(1, pts + 1)) - set(seen))[:20]}, "
        f"repeated {[p for p, n in Counter(seen).items() if n > 1][:20]}")
    news = {u["pts"]: u["message"] for u in diff["updates"] if u["kind"] == "message.new"}
    for msg_id, message in news.items():
        assert message["msg_id"] == msg_id
    return pts, news


async def test_acknowledged_messages_survive_sigkill(tmp_path: Path,
                                                     database_url: str | None) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, database_url, tmp_path / "server.log")
    clients: list[Client] = []
    try:
        # -- setup: users and one group, over the SDK
        await server.start()
        names = [f"crash{i}" for i in range(SENDERS)]
        user_ids = []
        for name in names:
            async with Client(server.ws_url, reconnect=False) as c:
                user_ids.append((await c.register(name, PASSWORD))["user_id"])
        async with Client(server.ws_url, reconnect=False) as owner:
            await owner.login(names[0], PASSWORD)
            chat_id = (await owner.create_group("crash", user_ids[1:]))["chat_id"]
            pts_before_burst = (await owner.call("sync.get_state"))["chats"][str(chat_id)]

        # -- the burst, and SIGKILL in the middle of it
        burst = Burst()
        async with aiohttp.ClientSession() as session:
            tasks = [asyncio.create_task(sender(session, server.ws_url, name, uid, chat_id,
                                                burst))
                     for name, uid in zip(names, user_ids, strict=True)]
            waiter = asyncio.create_task(burst.enough.wait())
            done, _ = await asyncio.wait([waiter, *tasks], timeout=60,
                                         return_when=asyncio.FIRST_COMPLETED)
            assert waiter in done, (
                f"only {len(burst.acked)} acks before a sender stopped or the timeout; "
                f"errors {burst.errors[:3]}\n{server.log_tail()}")
            await server.kill()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        assert not burst.errors, f"sends failed during the burst: {burst.errors[:5]}"
        assert len(burst.acked) >= KILL_AFTER_ACKS
        assert burst.unacked, "the kill came after every send was answered: not mid-burst"

        # -- restart on the same data dir / database
        server.port = free_port()
        await server.start()
        for name in names:
            c = Client(server.ws_url, reconnect=False)
            clients.append(c)
            await c.login(name, PASSWORD)
        observer = clients[0]

        pts, news = await check_log(observer, chat_id)
        history = await full_history(observer, chat_id)
        by_id = {m["msg_id"]: m for m in history}
        assert len(by_id) == len(history), "message.history repeated a msg_id"
        assert by_id.keys() == news.keys(), "history and the update log disagree"

        # Every acknowledged message is there, with its msg_id, sender and text.
        for local_id, (sent, msg_id) in burst.acked.items():
            stored = by_id.get(msg_id)
            assert stored is not None, f"acknowledged message {msg_id} ({local_id}) is lost"
            assert (stored["local_id"], stored["sender_id"], stored["text"]) == (
                local_id, sent.user_id, sent.text), f"message {msg_id} changed: {stored}"

        # Once: no (sender, local_id) twice, acknowledged or not.
        keys = Counter((m["sender_id"], m["local_id"]) for m in history if m["local_id"])
        assert not [k for k, n in keys.items() if n > 1], "a local_id was stored twice"
        burst_msgs = [m for m in history if m["msg_id"] > pts_before_burst]
        known = burst.acked.keys() | burst.unacked.keys()
        assert all(m["local_id"] in known for m in burst_msgs), "a message nobody sent"
        committed_unacked = {m["local_id"]: m for m in burst_msgs
                             if m["local_id"] in burst.unacked}

        # Idempotency survives the crash: the same (sender, local_id) returns the
        # original message, for acknowledged and for committed-but-unanswered sends.
        client_of = dict(zip(user_ids, clients, strict=True))
        sem = asyncio.Semaphore(IN_FLIGHT * SENDERS)

        async def resend(sent: Sent) -> dict[str, Any]:
            async with sem:
                result = await client_of[sent.user_id].call(
                    "message.send", {"chat_id": chat_id, "local_id": sent.local_id,
                                     "text": sent.text})
                message: dict[str, Any] = result["message"]
                return message

        acked_items = list(burst.acked.values())
        again = await asyncio.gather(*(resend(sent) for sent, _ in acked_items))
        for (sent, msg_id), message in zip(acked_items, again, strict=True):
            assert message["msg_id"] == msg_id, f"re-send of {sent.local_id} made a new message"
        unacked_items = list(burst.unacked.values())
        again = await asyncio.gather(*(resend(sent) for sent in unacked_items))
        for sent, message in zip(unacked_items, again, strict=True):
            if sent.local_id in committed_unacked:
                assert message["msg_id"] == committed_unacked[sent.local_id]["msg_id"]
            else:
                assert message["msg_id"] > pts

        # Exactly the never-committed ones were added, and the log is still contiguous.
        new_pts, news = await check_log(observer, chat_id)
        assert new_pts == pts + len(burst.unacked) - len(committed_unacked)
        assert len({(m["sender_id"], m["local_id"]) for m in news.values()
                    if m["local_id"]}) == sum(1 for m in news.values() if m["local_id"])
    finally:
        for c in clients:
            await c.close()
        await server.stop()
