"""Load-generator processes, seen from the bench (parent) side.

Every generator is ``python -m <module>`` and talks to its parent over
stdin/stdout with one line per step: the parent writes one JSON config line;
the child connects, prints ``ready`` (optionally followed by a JSON payload,
e.g. how many connections it holds), waits for ``go``, runs, writes its
result as JSON to a file (results hold every latency: megabytes, and a pipe
write that a profiler interrupts came through truncated) and prints ``done``.
The child side of the protocol is ``tidings.bench.childio``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec

READY_TIMEOUT = 300.0  # a generator opening 5,000 connections takes a while
RESULT_TIMEOUT = 1800.0  # a stuck run fails instead of hanging the bench

R = TypeVar("R")


class Loader:
    def __init__(self, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    @classmethod
    async def spawn(cls, config: Any, log_path: Path, module: str = "tidings.bench.wsload"
                    ) -> Loader:
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", module,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log)
        loader = cls(proc, log_path)
        await loader._write(msgspec.json.encode(config) + b"\n")
        return loader

    async def _write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    async def ready(self) -> bytes:
        """Wait for ``ready``; returns what followed it on the line (may be empty)."""
        assert self.proc.stdout is not None
        line = (await asyncio.wait_for(self.proc.stdout.readline(), READY_TIMEOUT)).strip()
        word, _, payload = line.partition(b" ")
        if word != b"ready":
            raise RuntimeError(f"load generator failed to start:\n{self._log_tail()}")
        return payload

    async def go(self) -> None:
        await self._write(b"go\n")

    async def done(self) -> None:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), RESULT_TIMEOUT)
        await self.proc.wait()
        if self.proc.returncode != 0 or line.strip() != b"done":
            raise RuntimeError(f"load generator failed (exit {self.proc.returncode}):\n"
                               f"{self._log_tail()}")

    async def result(self, path: Path, kind: type[R]) -> R:
        await self.done()
        return read_result(path, kind)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-20:])
        except OSError:
            return ""


@contextlib.asynccontextmanager
async def loaders(configs: Sequence[Any], log_dir: Path, module: str = "tidings.bench.wsload",
                  name: str = "loader") -> AsyncIterator[list[Loader]]:
    """Spawn one generator per config (logs ``<name><k>.log`` in ``log_dir``);
    whatever happens, none outlives the block."""
    started: list[Loader] = []
    try:
        for k, config in enumerate(configs):
            started.append(await Loader.spawn(config, log_dir / f"{name}{k}.log", module))
        yield started
    finally:
        for loader in started:
            await loader.stop()


async def run_all(started: list[Loader], paths: Sequence[Path], kind: type[R]) -> list[R]:
    """``go`` to every generator, then every result."""
    for loader in started:
        await loader.go()
    return list(await asyncio.gather(*(loader.result(path, kind)
                                       for loader, path in zip(started, paths, strict=True))))


def read_result(path: Path, kind: type[R]) -> R:
    return msgspec.json.decode(path.read_bytes(), type=kind)
