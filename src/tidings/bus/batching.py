"""What the Redis and NATS buses share: publish into a buffer, flush it in
batches from one task, decode and deliver what arrives.

* ``publish`` only appends to an in-memory buffer and wakes the flusher, so
  the request path never waits on the network. The flusher drains the buffer
  in batches of up to ``max_batch`` events, one server message per batch: a
  round trip per event caps out around 4k/s, batching reaches ~50k/s.
* A single flusher publishing sequentially keeps this node's events in order.
* The bus server is fire-and-forget: events published while it is down are
  lost. That is acceptable because the updates are already committed to the
  database and devices catch up by pts; the bus only makes pushes prompt. So
  failures are logged and retried with capped exponential backoff, never
  surfaced to the caller; what was buffered during a failure is dropped with
  the batch (it would only go out stale), which also bounds memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections import deque

from prometheus_client import Histogram

from tidings.bus.base import AnyEvent, ChatEvent, Deliver, PresenceEvent, decode_batch

BACKOFF_INITIAL = 0.1
BACKOFF_CAP = 5.0
CLOSE_FLUSH_TIMEOUT = 2.0
# Caps memory if publishes outpace the server (or start() never comes); beyond
# this new events are dropped, which is no worse than the server being down.
MAX_BUFFERED = 100_000

BUS_LAG = Histogram(
    "tidings_bus_lag_seconds", "From a batch's publish on any node to its delivery here",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))


class Backoff:
    def __init__(self) -> None:
        self._delay = BACKOFF_INITIAL

    def next(self) -> float:
        delay = self._delay
        self._delay = min(delay * 2, BACKOFF_CAP)
        return delay

    def reset(self) -> None:
        self._delay = BACKOFF_INITIAL


class BatchingBus(ABC):
    """Subclasses connect in ``start`` (then call ``_start_flusher``), send one
    encoded batch in ``_publish_batch``, hand what arrives to ``_dispatch``
    and release their connections in ``_close_transport``."""

    def __init__(self, name: str, where: str, max_batch: int, log: logging.Logger) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._name = name  # "redis bus": the first words of every log line
        self._where = where  # the channel or subject, for log lines
        self._max_batch = max_batch
        self._log = log
        self._buffer: deque[AnyEvent] = deque()
        self._overflowed = 0
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._deliver: Deliver | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    @abstractmethod
    async def _publish_batch(self, batch: list[AnyEvent]) -> None: ...

    @abstractmethod
    async def _close_transport(self) -> None: ...

    def _start_flusher(self) -> None:
        self._flusher = asyncio.create_task(self._flush_loop(), name=f"{self._name} flusher")

    def publish(self, event: AnyEvent) -> None:
        if self._closed:
            self._log.debug("%s: publish after close dropped", self._name)
            return
        if len(self._buffer) >= MAX_BUFFERED:
            # Counted here and logged by the flusher: logging per event would
            # flood the log exactly when the system is already overloaded.
            self._overflowed += 1
            return
        self._buffer.append(event)
        self._wake.set()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        self._wake.set()
        if self._flusher is not None:
            done, _ = await asyncio.wait({self._flusher}, timeout=CLOSE_FLUSH_TIMEOUT)
            if not done:
                self._log.warning("%s: flush on close timed out; dropping %d buffered events",
                                  self._name, len(self._buffer))
            await self._stop(self._flusher)
        for task in self._tasks:
            await self._stop(task)
        self._buffer.clear()
        await self._close_transport()
        self._deliver = None

    # -- receiving ------------------------------------------------------------

    def _dispatch(self, data: bytes) -> None:
        try:
            batch = decode_batch(data)
        except Exception:
            # Anything else on the channel (another version, a stray client)
            # must not take the subscriber down.
            self._log.exception("%s: undecodable message on %r dropped", self._name,
                                self._where)
            return
        # Across nodes this includes their clock difference (NTP keeps it to ms).
        BUS_LAG.observe(max(0.0, time.time() - batch.sent_at))
        deliver = self._deliver
        if deliver is None:
            return
        for event in batch.events:
            try:
                deliver(event)
            except Exception:
                # Not %r: the frame can be large.
                self._log.exception("%s: deliver failed for %s", self._name, _describe(event))

    # -- publishing -------------------------------------------------------------

    async def _flush_loop(self) -> None:
        backoff = Backoff()
        while True:
            self._report_overflow()
            if not self._buffer:
                if self._closing.is_set():
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            n = min(len(self._buffer), self._max_batch)
            batch = [self._buffer.popleft() for _ in range(n)]
            try:
                await self._publish_batch(batch)
            except Exception as exc:
                dropped = len(batch) + len(self._buffer)
                self._buffer.clear()
                delay = backoff.next()
                self._log.warning(
                    "%s: publish to %r failed (%s); dropped %d events, next attempt in %.1fs",
                    self._name, self._where, exc, dropped, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
            else:
                backoff.reset()

    def _report_overflow(self) -> None:
        if self._overflowed:
            self._log.warning("%s: buffer full (%d events); dropped %d events", self._name,
                              MAX_BUFFERED, self._overflowed)
            self._overflowed = 0

    async def _stop(self, task: asyncio.Task[None]) -> None:
        task.cancel()
        # asyncio.wait, unlike awaiting the task, neither raises the task's
        # CancelledError nor swallows a cancellation of close() itself.
        await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            self._log.error("%s: task %s failed", self._name, task.get_name(),
                            exc_info=task.exception())


def _describe(event: AnyEvent) -> str:
    if isinstance(event, ChatEvent):
        return f"chat {event.chat_id} event"
    if isinstance(event, PresenceEvent):
        return f"presence {event.kind} event"
    return f"user {event.user_id} event"
