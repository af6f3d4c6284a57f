"""`tidings serve --workers N` over PostgreSQL and a bus: the workers share
the port, a push crosses from one worker to a device on the other, SIGTERM
drains every worker to a clean exit, and the SQLite profile refuses N > 1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from pathlib import Path

import aiohttp

from tidings.client import Client
from tidings.testing import free_port

from .conftest import REDIS_URL

FAST = {"TIDINGS_ARGON2_TIME_COST": "1", "TIDINGS_ARGON2_MEMORY_COST_KIB": "64"}
PASSWORD = "correct horse"
MAX_DEVICES = 40  # connections opened until both workers hold one (2**-39 to fail)


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


def server_side_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the accepted socket whose peer is our client's port."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if (int(local.rsplit(":", 1)[1], 16) == server_port
                    and int(remote.rsplit(":", 1)[1], 16) == client_port):
                return inode
    return None


def worker_of(parent: int, server_port: int, ws: aiohttp.ClientWebSocketResponse) -> int:
    sockname = ws.get_extra_info("sockname")
    assert sockname is not None
    inode = server_side_inode(server_port, int(sockname[1]))
    assert inode is not None
    owners = [pid for pid in children(parent) if inode in socket_inodes(pid)]
    assert len(owners) == 1, owners
    return owners[0]


async def wait_healthy(http: aiohttp.ClientSession, port: int,
                       proc: asyncio.subprocess.Process) -> None:
    for _ in range(300):
        assert proc.returncode is None, "serve --workers exited at start"
        try:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("serve --workers did not become healthy")


async def token_device(http: aiohttp.ClientSession, port: int, token: str
                       ) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(f"ws://127.0.0.1:{port}/ws")
    await ws.send_str(json.dumps({"id": 1, "method": "auth.token", "params": {"token": token}}))
    while True:
        frame = json.loads((await ws.receive(timeout=10)).data)
        if frame.get("id") == 1:
            assert "result" in frame, frame
            return ws


async def next_text(ws: aiohttp.ClientWebSocketResponse, chat_id: int) -> str:
    while True:
        frame = json.loads((await ws.receive(timeout=10)).data)
        if frame.get("push") == "chat_updates" and frame["chat_id"] == chat_id:
            for update in frame["updates"]:
                if update["kind"] == "message.new":
                    return str(update["message"]["text"])


async def test_two_workers_share_the_port_and_stop_cleanly(tmp_path: Path, pg_url: str
                                                           ) -> None:
    port = free_port()
    env = {**os.environ, **FAST, "TIDINGS_BUS": "redis", "TIDINGS_REDIS_URL": REDIS_URL,
           "TIDINGS_BUS_CHANNEL_PREFIX": f"test-{uuid.uuid4().hex[:8]}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidings", "serve", "--workers", "2", "--port", str(port),
        "--data-dir", str(tmp_path), "--database-url", pg_url,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env)
    devices: list[aiohttp.ClientWebSocketResponse] = []
    try:
        async with aiohttp.ClientSession() as http:
            await wait_healthy(http, port, proc)
            url = f"ws://127.0.0.1:{port}/ws"
            async with Client(url) as alice, Client(url) as bob:
                await alice.register("alice", PASSWORD)
                await bob.register("bob", PASSWORD)
                assert bob.user_id is not None and bob.token is not None
                chat_id = (await alice.direct(bob.user_id))["chat_id"]
                by_worker: dict[int, aiohttp.ClientWebSocketResponse] = {}
                while len(by_worker) < 2 and len(devices) < MAX_DEVICES:
                    ws = await token_device(http, port, bob.token)
                    devices.append(ws)
                    by_worker.setdefault(worker_of(proc.pid, port, ws), ws)
                assert len(by_worker) == 2, "every connection landed on one worker"
                # whichever worker alice's send lands on, one of bob's devices is
                # on the other: both must receive it
                await alice.send_text(chat_id, "across workers")
                for ws in by_worker.values():
                    assert await next_text(ws, chat_id) == "across workers"
                proc.send_signal(signal.SIGTERM)
                for ws in devices:
                    while True:
                        msg = await ws.receive(timeout=15)
                        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                            break
                    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1001
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        for ws in devices:
            await ws.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        assert proc.stderr is not None
        errors = (await proc.stderr.read()).decode()
        assert "Traceback" not in errors, errors


async def test_sqlite_profile_refuses_several_workers(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidings", "serve", "--workers", "2", "--port",
        str(free_port()), "--data-dir", str(tmp_path), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, **FAST})
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert "workers > 1 needs PostgreSQL" in err.decode()
