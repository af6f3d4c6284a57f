"""Group commit: many requests, one transaction.

Requests queue up while the previous transaction runs; the committer takes
everything waiting (up to ``max_batch``) into the next one. Each request is
answered only after its transaction committed, so an acknowledgement always
means durable, and throughput grows with load instead of collapsing on
per-transaction overhead.

One request must never fail the others. When a batch's transaction fails
because of something a request carried (``is_request_fault``: the database
refused one of its values, or a unique key raced another node), the batch is
split in halves and each half retried, down to the culprit, which alone gets
the error; the rest commit. A request-independent failure (the database is
down) fails the whole batch with ``UNAVAILABLE`` without retrying, so an
outage does not multiply into thousands of doomed transactions.

An optional ``delay`` (the ``push_delay_ms`` setting for sends) holds a batch
until its oldest request has waited that long, unless ``max_batch`` requests
are already waiting: more requests share one transaction and, for sends, one
push frame per chat, for at most ``delay`` more latency. It holds only when
the previous batch had company (two requests or more): a lone client sending
one request at a time has no one to wait for and is never held. Requests
that queued behind a running transaction already waited and go at once.

With ``answer_slice`` (sends on PostgreSQL) a committed batch is answered
that many requests per event-loop turn. Answering wakes every caller, and
their Python (the reply, the next request) would otherwise all run before
the next transaction could send its next statement, leaving the database
idle; between slices the next batch's statements go out, so the callers'
work overlaps the database's. Where statements run on the loop's own thread
(SQLite) nothing can overlap, and slices only add loop turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from prometheus_client import Histogram

from tidings.errors import ErrorCode, StorageRejected, TidingsError

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Res = TypeVar("Res")

BATCH_SIZE = Histogram(
    "tidings_group_commit_batch_size", "Requests per group-commit transaction",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
)

# One result per request, in order: a value or the error for that request alone.
BatchFn = Callable[[list[Req]], Awaitable[list[Res | TidingsError]]]

BATCH_SPLITS = Histogram(
    "tidings_group_commit_splits", "Transactions a failed batch took to isolate its culprit",
    buckets=(2, 4, 8, 16, 32),
)


def _storage_rejected(exc: BaseException) -> bool:
    return isinstance(exc, StorageRejected)


class GroupCommitter(Generic[Req, Res]):
    def __init__(self, run_batch: BatchFn[Req, Res], max_batch: int, *,
                 answer_slice: int = 0,
                 is_request_fault: Callable[[BaseException], bool] = _storage_rejected,
                 delay: float = 0.0) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._answer_slice = answer_slice  # requests answered per loop turn (0: all)
        self._is_request_fault = is_request_fault
        self._delay = delay  # seconds a lone batch waits for company
        self._queue: deque[tuple[Req, asyncio.Future[Res]]] = deque()
        self._first_queued = 0.0  # loop time the oldest waiting request arrived
        self._last_batch = 0  # requests in the previous batch
        self._cut = asyncio.Event()  # ends a hold early: a full batch, or stopping
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="group-commit")

    async def submit(self, request: Req) -> Res:
        if self._task is None or self._stopping:
            raise TidingsError(ErrorCode.UNAVAILABLE, "the server is shutting down")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Res] = loop.create_future()
        if not self._queue and self._delay:
            self._first_queued = loop.time()
        self._queue.append((request, future))
        if len(self._queue) >= self._max_batch:
            self._cut.set()
        self._idle.clear()
        self._wake.set()
        # A caller cancelled while waiting cancels only its future: the request stays
        # queued and commits (a client that disconnects does not un-send), and the
        # committer skips answering it.
        return await future

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        self._stopping = True
        if self._task is None:
            return
        self._wake.set()
        self._cut.set()
        await self._idle.wait()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._delay:
                await self._hold()
            while self._queue:
                count = min(len(self._queue), self._max_batch)
                batch = [self._queue.popleft() for _ in range(count)]
                self._last_batch = count
                await self._commit(batch)
            self._idle.set()

    async def _hold(self) -> None:
        """Wait until the oldest request waited ``delay`` or a batch is full."""
        if not self._queue or self._last_batch < 2:  # taken already; or no company lately
            return
        wait = self._first_queued + self._delay - asyncio.get_running_loop().time()
        if wait <= 0 or len(self._queue) >= self._max_batch or self._stopping:
            return
        self._cut.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._cut.wait()

    async def _commit(self, batch: list[tuple[Req, asyncio.Future[Res]]]) -> None:
        BATCH_SIZE.observe(len(batch))
        try:
            results = await self._run_batch([req for req, _ in batch])
        except Exception as exc:
            if self._is_request_fault(exc):
                BATCH_SPLITS.observe(await self._isolate(batch, exc))
                return
            log.exception("group commit of %d requests failed", len(batch))
            self._fail(batch, _unavailable())
            return
        self._answer(batch, results)

    async def _isolate(self, batch: list[tuple[Req, asyncio.Future[Res]]],
                       exc: Exception) -> int:
        """Bisect a batch that failed on a request's fault; answer every request.
        Returns the number of transactions it took."""
        if len(batch) == 1:
            self._fail(batch, exc if isinstance(exc, TidingsError) else _unavailable())
            return 0
        tries = 0
        middle = len(batch) // 2
        for half in (batch[:middle], batch[middle:]):
            tries += 1
            try:
                results = await self._run_batch([req for req, _ in half])
            except Exception as again:
                if self._is_request_fault(again):
                    tries += await self._isolate(half, again)
                else:
                    log.exception("group commit of %d requests failed", len(half))
                    self._fail(half, _unavailable())
                continue
            self._answer(half, results)
        return tries

    @staticmethod
    def _fail(batch: list[tuple[Req, asyncio.Future[Res]]], error: BaseException) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(error)

    def _answer(self, batch: list[tuple[Req, asyncio.Future[Res]]],
                results: list[Res | TidingsError], start: int = 0) -> None:
        """Answer ``batch`` from ``start``: all of it, or one slice now and the
        next on the loop's next turn."""
        if len(results) != len(batch):
            raise ValueError(f"{len(results)} results for {len(batch)} requests")
        end = len(batch)
        if self._answer_slice:
            end = min(end, start + self._answer_slice)
        for i in range(start, end):
            future = batch[i][1]
            if future.done():
                continue
            result = results[i]
            if isinstance(result, TidingsError):
                future.set_exception(result)
            else:
                future.set_result(result)
        if end < len(batch):
            asyncio.get_running_loop().call_soon(self._answer, batch, results, end)


def _unavailable() -> TidingsError:
    return TidingsError(ErrorCode.UNAVAILABLE, "storage failed; retry with the same local_id")
