"""The load-generator process: ``python -m tidings.bench.wsload``.

Talks to its parent over stdin/stdout: it reads one JSON ``LoadConfig`` line,
opens and logs in its connections, prints ``ready``, waits for ``go``, then
pipelines ``message.send`` with ``window`` requests in flight per connection,
writes one JSON ``LoadResult`` to ``result_path`` and prints ``done``. (The
result holds every latency, megabytes: a file, because a pipe write that a
profiler interrupts came through truncated.) It stays lean (template-built requests,
results left undecoded, pushes skipped by prefix) so that on a small machine
the server, not the generator, is what is measured. ``url`` may be
``ws://...`` or ``tcp://host:port``, ``codec`` json or msgpack.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import msgspec

from tidings.bench.childio import emit, read_line, save, signed_in_link, wait_go
from tidings.bench.frames import Wire
from tidings.bench.links import FrameLink
from tidings.bench.plan import local_id


class ConnSpec(msgspec.Struct, frozen=True):
    username: str
    password: str
    sender: int  # plan index, makes local ids unique
    chat_ids: list[int]
    count: int


class LoadConfig(msgspec.Struct, frozen=True):
    url: str
    result_path: str
    window: int
    text: str
    connections: list[ConnSpec]
    codec: str = "json"


class LoadResult(msgspec.Struct):
    acked: int
    errors: dict[str, int]
    first_send: float | None  # time.monotonic(): one clock for every process on Linux
    last_ack: float | None
    cpu_seconds: float
    latencies_ms: list[float]


class Pump:
    """One connection's pipelined sends and its reply reader."""

    def __init__(self, ws: FrameLink, spec: ConnSpec, window: int,
                 text: str, wire: Wire) -> None:
        self.ws = ws
        self.wire = wire
        self.spec = spec
        self.text = text
        self.sent_at = [0.0] * (spec.count + 1)  # by request id, which runs 1..count
        self.latencies_ms: list[float] = []
        self.errors: Counter[str] = Counter()
        self.acked = 0
        self.last_ack: float | None = None
        self._window = asyncio.Semaphore(window)
        self._lost = False

    @property
    def first_send(self) -> float | None:
        return self.sent_at[1] if self.spec.count and self.sent_at[1] else None

    async def run(self) -> None:
        if self.spec.count == 0:
            return
        reader = asyncio.create_task(self._read())
        await self._write()
        await reader

    async def _write(self) -> None:
        chats, spec, ws = self.spec.chat_ids, self.spec, self.ws
        for i in range(1, spec.count + 1):
            await self._window.acquire()
            if self._lost:
                return
            frame = self.wire.send_frame(i, chats[i % len(chats)], local_id(spec.sender, i),
                                         self.text)
            self.sent_at[i] = time.monotonic()
            try:
                await ws.send(frame)
            except ConnectionError:
                return  # the reader sees the close and counts what is missing

    async def _read(self) -> None:
        answered = 0
        try:
            is_push = self.wire.is_push
            while answered < self.spec.count:
                data = await self.ws.receive()
                if data is None:
                    break
                if is_push(data):
                    continue
                self._count_reply(data)
                answered += 1
        finally:
            if answered < self.spec.count:
                self.errors["LOST"] += self.spec.count - answered
                self._give_up()

    def _count_reply(self, data: bytes) -> None:
        now = time.monotonic()
        reply = self.wire.reply(data)
        if isinstance(reply.id, int):
            self.latencies_ms.append((now - self.sent_at[reply.id]) * 1000.0)
        if reply.error is None:
            self.acked += 1
        else:
            self.errors[reply.error.code] += 1
        self.last_ack = now
        self._window.release()

    def _give_up(self) -> None:
        """The socket closed: stop the writer (it may be waiting on the window)."""
        self._lost = True
        for _ in range(self.spec.count):
            self._window.release()


async def login(session: aiohttp.ClientSession, url: str, spec: ConnSpec, wire: Wire
                ) -> FrameLink:
    params = {"username": spec.username, "password": spec.password, "device_name": "bench"}
    return await signed_in_link(session, url, wire, "auth.login", params)


def merge(pumps: list[Pump], cpu_seconds: float) -> LoadResult:
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    for pump in pumps:
        errors.update(pump.errors)
        latencies += pump.latencies_ms
    firsts = [f for pump in pumps if (f := pump.first_send) is not None]
    lasts = [t for pump in pumps if (t := pump.last_ack) is not None]
    return LoadResult(acked=sum(pump.acked for pump in pumps), errors=dict(errors),
                      first_send=min(firsts, default=None), last_ack=max(lasts, default=None),
                      cpu_seconds=cpu_seconds, latencies_ms=latencies)


async def main() -> None:
    config = msgspec.json.decode((await read_line()).encode(), type=LoadConfig)
    wire = Wire(config.codec)
    async with aiohttp.ClientSession() as session:
        sockets = await asyncio.gather(*(login(session, config.url, spec, wire)
                                         for spec in config.connections))
        pumps = [Pump(ws, spec, config.window, config.text, wire)
                 for ws, spec in zip(sockets, config.connections, strict=True)]
        emit(b"ready")
        if not await wait_go():
            return
        cpu_start = time.process_time()
        await asyncio.gather(*(pump.run() for pump in pumps))
        cpu = time.process_time() - cpu_start
        for ws in sockets:
            await ws.close()
    save(config.result_path, merge(pumps, cpu))
    emit(b"done")


def run() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional off Linux
        asyncio.run(main())
    else:
        uvloop.run(main())


if __name__ == "__main__":
    run()
