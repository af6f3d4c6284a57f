"""The server as an operator runs it: `tidings migrate`, `tidings serve`, and
SIGTERM draining to a clean exit."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp

from tidings.config import Settings
from tidings.testing import free_port

FAST = {"TIDINGS_ARGON2_TIME_COST": "1", "TIDINGS_ARGON2_MEMORY_COST_KIB": "64"}



def db_args(settings: Settings) -> list[str]:
    return ["--database-url", settings.database_url] if settings.database_url else []


async def run_cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidings", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={**os.environ, **FAST})
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_migrate_command(settings: Settings, tmp_path: Path) -> None:
    code, out = await run_cli("migrate", "--data-dir", str(tmp_path), *db_args(settings))
    assert code == 0 and "applied: 0001_init" in out
    code, out = await run_cli("migrate", "--data-dir", str(tmp_path), *db_args(settings))
    assert code == 0 and "up to date" in out


async def test_sigterm_drains_and_exits_cleanly(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidings", "serve", "--port", str(port), "--data-dir",
        str(tmp_path), *db_args(settings), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, **FAST})
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
            async with http.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
                await ws.send_str(json.dumps({"id": 1, "method": "auth.register", "params": {
                    "username": "alice", "password": "correct horse"}}))
                reply = json.loads((await ws.receive(timeout=10)).data)
                assert reply["result"]["user_id"] == 1
                proc.send_signal(signal.SIGTERM)
                closing = await ws.receive(timeout=10)
                assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1001
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        assert proc.stderr is not None
        errors = (await proc.stderr.read()).decode()
        assert "Traceback" not in errors, errors
