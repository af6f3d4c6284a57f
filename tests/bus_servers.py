"""Private bus server processes for tests: ``nats-server`` and ``redis-server``
on free ports of their own, so a test may stop and restart them without
touching the shared servers (Redis at 6379, NATS at 4222)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tidings.testing import free_port

START_TIMEOUT = 10.0


class BusServer:
    """One server process on a fixed port, stoppable and restartable."""

    scheme = ""
    binary = ""

    def __init__(self) -> None:
        found = shutil.which(self.binary)
        if found is None:
            pytest.fail(f"{self.binary} is not installed (.ci/run installs it)")
        self.path = found
        self.port = free_port()
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self._proc: asyncio.subprocess.Process | None = None

    def args(self) -> list[str]:
        raise NotImplementedError

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            self.path, *self.args(), stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)
        async with asyncio.timeout(START_TIMEOUT):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                writer.close()
                return

    async def stop(self) -> None:
        """SIGKILL: the server vanishes as in a crash."""
        if self._proc is not None:
            self._proc.kill()
            await self._proc.wait()
            self._proc = None


class NatsServer(BusServer):
    scheme = "nats"
    binary = "nats-server"

    def __init__(self, tmp: Path | None = None, max_payload: int | None = None) -> None:
        super().__init__()
        self._extra: list[str] = []
        if max_payload is not None:
            assert tmp is not None
            config = tmp / "nats.conf"
            config.write_text(f"max_payload: {max_payload}\n")
            self._extra = ["-c", str(config)]

    def args(self) -> list[str]:
        return ["-a", "127.0.0.1", "-p", str(self.port), *self._extra]


class RedisServer(BusServer):
    scheme = "redis"
    binary = "redis-server"

    def args(self) -> list[str]:
        # Nothing persisted: pub/sub keeps no state, and a restart starts empty.
        return ["--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                "--appendonly", "no"]
