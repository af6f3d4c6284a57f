"""The history load generator: ``python -m tidings.bench.history_load``.

Each reader is its own connection and user (a member of the chat). A pass
reads the newest page of ``message.history``, then ``before=`` the oldest
msg_id seen, one request at a time, until the page that holds the chat's
first message; then it starts again from the top. A run lasts ``duration``
seconds (a reader stops issuing requests at the deadline; its partial pass
counts in pages, not in passes) or ``passes`` passes per reader. A complete
pass must have seen exactly the chat's messages, in descending pages.
"""

from __future__ import annotations

import asyncio
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
from tidings.bench.frames import PUSH_PREFIX, ErrorBody, request
from tidings.bench.rpc import RawSocket


class HistoryConfig(msgspec.Struct, frozen=True):
    url: str
    result_path: str
    chat_id: int
    first_msg_id: int
    messages: int  # in the chat: what a complete pass sees
    page: int
    duration: float | None
    passes: int | None
    tokens: list[str]  # one reader each


class HistoryLoadResult(msgspec.Struct):
    pages: int
    passes: int
    bad_passes: int
    errors: dict[str, int]
    first_request: float | None  # time.monotonic(): one clock for every process on Linux
    last_reply: float | None
    cpu_seconds: float
    latencies_ms: list[float]


class MsgId(msgspec.Struct):
    msg_id: int


class Page(msgspec.Struct):
    messages: list[MsgId]


class PageReply(msgspec.Struct):
    id: int | str | None = None
    result: Page | None = None
    error: ErrorBody | None = None


page_decoder = msgspec.json.Decoder(PageReply)


class Reader:
    def __init__(self, ws: RawSocket, config: HistoryConfig) -> None:
        self.ws = ws
        self.config = config
        self.pages = 0
        self.passes = 0
        self.bad_passes = 0
        self.errors: Counter[str] = Counter()
        self.latencies_ms: list[float] = []
        self.first_request: float | None = None
        self.last_reply: float | None = None
        self._ids = 0

    async def run(self, deadline: float | None) -> None:
        target = self.config.passes
        while target is None or self.passes < target:
            if not await self._one_pass(deadline):
                return

    async def _one_pass(self, deadline: float | None) -> bool:
        """One pass from the newest page; False when the run is over."""
        config = self.config
        before: int | None = None
        seen = 0
        ordered = True
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            params: dict[str, int] = {"chat_id": config.chat_id, "limit": config.page}
            if before is not None:
                params["before"] = before
            page = await self._call(params)
            if page is None:
                return False  # an error ends this reader: it is counted, not retried
            msgs = page.messages
            if msgs:
                ids = [m.msg_id for m in msgs]
                if ids != sorted(ids) or (before is not None and ids[-1] >= before):
                    ordered = False
                seen += len(ids)
            if not msgs or msgs[0].msg_id <= config.first_msg_id:
                self.passes += 1
                if seen != config.messages or not ordered:
                    self.bad_passes += 1
                return True
            before = msgs[0].msg_id

    async def _call(self, params: dict[str, int]) -> Page | None:
        self._ids += 1
        request_id = self._ids
        frame = request(request_id, "message.history", params)
        started = time.monotonic()
        if self.first_request is None:
            self.first_request = started
        try:
            await self.ws.send_bytes(frame)
        except ConnectionError:
            self.errors["LOST"] += 1
            return None
        while True:
            msg = await self.ws.receive()
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                self.errors["LOST"] += 1
                return None
            data: bytes = msg.data
            if data.startswith(PUSH_PREFIX):
                continue
            now = time.monotonic()
            reply = page_decoder.decode(data)
            if reply.id != request_id:
                continue
            self.latencies_ms.append((now - started) * 1000.0)
            self.last_reply = now
            if reply.error is not None or reply.result is None:
                self.errors[reply.error.code if reply.error else "NO_RESULT"] += 1
                return None
            self.pages += 1
            return reply.result


def merge(readers: list[Reader], cpu_seconds: float) -> HistoryLoadResult:
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    for r in readers:
        errors.update(r.errors)
        latencies += r.latencies_ms
    firsts = [t for r in readers if (t := r.first_request) is not None]
    lasts = [t for r in readers if (t := r.last_reply) is not None]
    return HistoryLoadResult(
        pages=sum(r.pages for r in readers), passes=sum(r.passes for r in readers),
        bad_passes=sum(r.bad_passes for r in readers), errors=dict(errors),
        first_request=min(firsts, default=None), last_reply=max(lasts, default=None),
        cpu_seconds=cpu_seconds, latencies_ms=latencies)


async def main() -> None:
    config = msgspec.json.decode((await read_line()).encode(), type=HistoryConfig)
    async with session() as http:
        sockets = await asyncio.gather(*(connect_token(http, config.url, token)
                                         for token in config.tokens))
        readers = [Reader(ws, config) for ws in sockets]
        emit(b"ready")
        if not await wait_go():
            return
        cpu_start = time.process_time()
        deadline = None if config.duration is None else time.monotonic() + config.duration
        await asyncio.gather(*(r.run(deadline) for r in readers))
        cpu = time.process_time() - cpu_start
        for ws in sockets:
            await ws.close()
    save(config.result_path, merge(readers, cpu))
    emit(b"done")


if __name__ == "__main__":
    run_main(main)
