"""What the three-node test drives: ``tidings serve`` processes on one
PostgreSQL schema and a private bus server, and SDK clients that also keep
every push frame they received (to count deliveries on the wire, below the
SDK's dedup by pts)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tidings.client import Client
from tidings.client.errors import ConnectionLost, RequestTimeout
from tidings.client.events import Update
from tidings.testing import FAST_HASHING, free_port

START_TIMEOUT = 30.0


class NodeProcess:
    """One ``tidings serve`` child; its output goes to a log file."""

    def __init__(self, name: str, data_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.data_dir = data_dir
        self.env = env
        self.port = free_port()
        self.log_path = data_dir / "server.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "<no log>"

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Hermetic: no TIDINGS_* setting of the caller leaks into the server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
        env.update({f"TIDINGS_{k.upper()}": str(v) for k, v in FAST_HASHING.items()})
        env.update(TIDINGS_LOG_LEVEL="warning", **self.env)
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tidings", "serve", "--host", "127.0.0.1",
                "--port", str(self.port), "--data-dir", str(self.data_dir),
                stdout=log_fd, stderr=asyncio.subprocess.STDOUT, env=env)
        finally:
            os.close(log_fd)
        await self._wait_healthy()

    async def _wait_healthy(self) -> None:
        assert self.proc is not None
        url = f"http://127.0.0.1:{self.port}/readyz"
        async with aiohttp.ClientSession() as session, asyncio.timeout(START_TIMEOUT):
            while True:
                if self.proc.returncode is not None:
                    pytest.fail(f"node {self.name} exited with {self.proc.returncode}:\n"
                                f"{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(url) as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        # Poll the exit status rather than await wait(): a full make test once
        # saw the status reaped (returncode -9) while wait() stayed asleep,
        # its waiter woken only once asyncio closed the transport.
        async with asyncio.timeout(10):
            while self.proc.returncode is None:  # noqa: ASYNC110
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(10):
                await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


class _RecordingQueue(asyncio.Queue[dict[str, Any]]):
    def __init__(self, owner: Device) -> None:
        super().__init__()
        self._owner = owner

    def put_nowait(self, item: dict[str, Any]) -> None:
        self._owner.on_raw_push(item)
        super().put_nowait(item)


class Device(Client):
    """An SDK client that also records, per chat, the pts of every chat update
    pushed to it (``pushed``; ``frames`` counts the frames), what it applied
    (``applied``), and the presence pushes."""

    def __init__(self, url: str, **kw: Any) -> None:
        super().__init__(url, backoff_initial=0.05, backoff_max=0.5, **kw)
        self._pushes = _RecordingQueue(self)
        self.pushed: dict[int, Counter[int]] = {}
        self.frames: Counter[int] = Counter()  # chat_updates frames per chat
        self.applied: dict[int, list[int]] = {}
        self.presence: list[dict[str, Any]] = []
        self.on_update(self._on_applied)

    def on_raw_push(self, push: dict[str, Any]) -> None:
        if push.get("push") == "chat_updates":
            self.frames[int(push["chat_id"])] += 1
            counts = self.pushed.setdefault(int(push["chat_id"]), Counter())
            counts.update(int(u["pts"]) for u in push["updates"])
        elif push.get("push") == "presence":
            self.presence.append(push)
        self._hub.changed()

    def _on_applied(self, update: Update) -> None:
        if update.scope == "chat" and update.chat_id is not None and update.pts is not None:
            self.applied.setdefault(update.chat_id, []).append(update.pts)

    def pts(self, chat_id: int) -> int:
        view = self.chats.get(chat_id)
        return view.pts if view is not None else 0

    async def send_until_acked(self, chat_id: int, local_id: str, text: str
                               ) -> dict[str, Any]:
        """Send; on a lost connection wait for the reconnect and send the same
        ``local_id`` again (idempotent: at most one message)."""
        while True:
            try:
                return await self.send(chat_id, local_id=local_id, text=text)
            except (ConnectionLost, RequestTimeout):
                await self.wait_for(lambda c: c.connected, timeout=30)
