"""The idle-connection generator: ``python -m tidings.bench.idle_load``.

Opens ``count`` WebSockets (``concurrency`` handshakes at a time), each
authenticated with ``auth.token`` (connection i uses token i mod len(tokens):
one token may serve many connections), prints ``ready {"held": ..}``, and then
just keeps them open and answers the server's pings until ``go``, when it
closes them all. A connection that closes before that is counted as dropped.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import aiohttp
import msgspec

from tidings.bench.childio import (
    connect_token,
    emit,
    read_line,
    run_main,
    save,
    session,
    wait_go,
)
from tidings.bench.frames import PUSH_PREFIX
from tidings.bench.rpc import RawSocket

CONNECT_TIMEOUT = 60.0
CLOSE_CONCURRENCY = 256


class IdleConfig(msgspec.Struct, frozen=True):
    url: str
    result_path: str
    count: int
    concurrency: int
    tokens: list[str]


class IdleLoadResult(msgspec.Struct):
    held: int
    failed: dict[str, int]
    dropped: int  # closed by the other side (or the network) while held
    pushes: int  # frames received while idle (none expected)
    connect_seconds: float
    cpu_seconds: float


class Holder:
    def __init__(self) -> None:
        self.sockets: list[RawSocket] = []
        self.failed: Counter[str] = Counter()
        self.dropped = 0
        self.pushes = 0
        self.closing = False
        self._watchers: list[asyncio.Task[None]] = []

    async def open_all(self, http: aiohttp.ClientSession, config: IdleConfig) -> None:
        limit = asyncio.Semaphore(config.concurrency)

        async def one(i: int) -> None:
            async with limit:
                try:
                    async with asyncio.timeout(CONNECT_TIMEOUT):
                        ws = await connect_token(http, config.url,
                                                 config.tokens[i % len(config.tokens)])
                except Exception as exc:  # counted by kind: the figure says what failed
                    self.failed[_reason(exc)] += 1
                    return
            self.sockets.append(ws)
            self._watchers.append(asyncio.create_task(self._watch(ws)))

        await asyncio.gather(*(one(i) for i in range(config.count)))

    async def _watch(self, ws: RawSocket) -> None:
        """Read (so pings are answered) until the connection ends."""
        while True:
            msg = await ws.receive()
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                data: bytes = msg.data
                if data.startswith(PUSH_PREFIX):
                    self.pushes += 1
                continue
            if not self.closing:
                self.dropped += 1
            return

    async def close_all(self) -> None:
        self.closing = True
        for task in self._watchers:
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        limit = asyncio.Semaphore(CLOSE_CONCURRENCY)

        async def close(ws: RawSocket) -> None:
            async with limit:
                await ws.close()

        await asyncio.gather(*(close(ws) for ws in self.sockets), return_exceptions=True)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"handshake {exc.status}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{type(exc).__name__} errno {exc.errno}"
    return type(exc).__name__


async def main() -> None:
    config = msgspec.json.decode((await read_line()).encode(), type=IdleConfig)
    holder = Holder()
    cpu_start = time.process_time()
    async with session() as http:
        started = time.monotonic()
        await holder.open_all(http, config)
        connect_seconds = time.monotonic() - started
        emit(b"ready " + json.dumps({"held": len(holder.sockets), "failed": dict(holder.failed),
                                     "seconds": connect_seconds}).encode())
        if not await wait_go():
            return
        dropped = holder.dropped  # counted before we start closing
        await holder.close_all()
    save(config.result_path, IdleLoadResult(
        held=len(holder.sockets), failed=dict(holder.failed), dropped=dropped,
        pushes=holder.pushes, connect_seconds=connect_seconds,
        cpu_seconds=time.process_time() - cpu_start))
    emit(b"done")


if __name__ == "__main__":
    run_main(main)
