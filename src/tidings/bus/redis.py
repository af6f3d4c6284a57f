"""The Redis bus: several nodes fan out committed updates through one pub/sub channel.

Design:

* ``publish`` only appends to an in-memory buffer and wakes a flusher task, so
  the request path never waits on the network. The flusher drains the buffer in
  batches of up to ``max_batch`` events, one ``PUBLISH`` per batch: a Redis round
  trip per message caps out around 4k msgs/s, batching reaches ~50k/s.
* A single flusher publishing sequentially keeps this node's events in order;
  Redis serialises all publishes on the channel, so every node sees one order.
* Each node also receives its own publishes through Redis and never delivers
  locally, so delivery order is identical on every node, this one included.
* Redis pub/sub is fire-and-forget: events published while Redis is down, or
  while a subscriber is reconnecting, are lost. That is acceptable because the
  updates are already committed to the database and devices catch up by pts;
  the bus only makes pushes prompt. So failures are logged and retried with
  capped exponential backoff, never surfaced to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tidings.bus.base import (
    AnyEvent,
    ChatEvent,
    Deliver,
    PresenceEvent,
    decode_events,
    encode_events,
)

log = logging.getLogger(__name__)

_BACKOFF_INITIAL = 0.1
_BACKOFF_CAP = 5.0
_CLOSE_FLUSH_TIMEOUT = 2.0
_CONNECT_TIMEOUT = 2.0
# Bounds the flusher's PUBLISH so a half-open connection cannot stall it forever.
_COMMAND_TIMEOUT = 5.0
# Caps memory if publishes outpace Redis (or start() never comes); beyond this
# new events are dropped, which is no worse than Redis being down.
_MAX_BUFFERED = 100_000
_CLIENT_NAME = "tidings-bus"


class _Backoff:
    def __init__(self) -> None:
        self._delay = _BACKOFF_INITIAL

    def next(self) -> float:
        delay = self._delay
        self._delay = min(delay * 2, _BACKOFF_CAP)
        return delay

    def reset(self) -> None:
        self._delay = _BACKOFF_INITIAL


class RedisBus:
    def __init__(self, url: str, channel: str = "tidings:events", *, max_batch: int = 500) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._url = url
        self._channel = channel
        self._max_batch = max_batch
        self._buffer: deque[AnyEvent] = deque()
        self._overflowed = 0
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._deliver: Deliver | None = None
        self._client: Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self, deliver: Deliver) -> None:
        """Subscribe, then start delivering. Events published by any node after
        this returns reach ``deliver`` (if Redis is reachable); if it is not,
        this still returns and the bus keeps retrying in the background."""
        if self._closed:
            raise RuntimeError("RedisBus is closed")
        if self._client is not None:
            raise RuntimeError("RedisBus already started")
        self._deliver = deliver
        self._client = Redis.from_url(
            self._url,
            # Our own backoff loops are the only retry layer: redis-py's built-in
            # retries would stall the flusher and hide outages from the logs.
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=_CONNECT_TIMEOUT,
            socket_timeout=_COMMAND_TIMEOUT,
            # The subscriber blocks on reads with no timeout; keepalive is what
            # notices a peer that vanished without closing the connection.
            socket_keepalive=True,
            client_name=_CLIENT_NAME,
            # With RESP3, redis-py enables maintenance notifications, which turns
            # off its check for pooled connections the server has closed; a
            # Redis restart would then cost the first batch on each node.
            protocol=2,
        )
        pubsub: PubSub | None = None
        try:
            pubsub = await self._subscribe()
        except Exception as exc:
            log.warning(
                "redis bus: cannot subscribe to %r yet (%s); retrying in the background",
                self._channel,
                exc,
            )
        self._reader = asyncio.create_task(self._read_loop(pubsub), name="redis-bus-reader")
        self._flusher = asyncio.create_task(self._flush_loop(), name="redis-bus-flusher")

    def publish(self, event: AnyEvent) -> None:
        if self._closed:
            log.debug("redis bus: publish after close dropped")
            return
        if len(self._buffer) >= _MAX_BUFFERED:
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
            done, _ = await asyncio.wait({self._flusher}, timeout=_CLOSE_FLUSH_TIMEOUT)
            if not done:
                log.warning(
                    "redis bus: flush on close timed out; dropping %d buffered events",
                    len(self._buffer),
                )
            await _stop(self._flusher)
        if self._reader is not None:
            await _stop(self._reader)
        self._buffer.clear()
        await self._close_pubsub()
        if self._client is not None:
            await self._client.aclose()
        self._deliver = None

    # -- subscriber ---------------------------------------------------------

    async def _subscribe(self) -> PubSub:
        assert self._client is not None
        pubsub = self._client.pubsub()
        self._pubsub = pubsub
        try:
            await pubsub.subscribe(self._channel)
            # SUBSCRIBE is only sent above; until the server confirms it, a
            # PUBLISH (even our own, on the other connection) can overtake it
            # and be missed, so start() must not return before this.
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                while True:
                    msg = await pubsub.get_message(timeout=_CONNECT_TIMEOUT)
                    if msg is not None and msg["type"] == "subscribe":
                        break
        except BaseException:
            await self._close_pubsub()
            raise
        return pubsub

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
            except Exception as exc:
                log.debug("redis bus: error closing pubsub: %s", exc)

    async def _read_loop(self, pubsub: PubSub | None) -> None:
        backoff = _Backoff()
        while True:
            if pubsub is None:
                # Wait even before the first retry so a flapping server does not
                # turn this into a tight reconnect loop.
                await asyncio.sleep(backoff.next())
                try:
                    pubsub = await self._subscribe()
                except Exception as exc:
                    log.warning(
                        "redis bus: subscribe to %r failed (%s); retrying", self._channel, exc
                    )
                    continue
                log.info("redis bus: subscribed to %r again", self._channel)
                backoff.reset()
            try:
                while True:
                    msg = await pubsub.get_message(timeout=None)
                    if msg is not None and msg["type"] == "message":
                        self._dispatch(msg["data"])
            except Exception as exc:
                log.warning(
                    "redis bus: subscription to %r lost (%s); events published until it "
                    "is restored are not delivered here",
                    self._channel,
                    exc,
                )
                await self._close_pubsub()
                pubsub = None

    def _dispatch(self, data: bytes) -> None:
        try:
            events = decode_events(data)
        except Exception:
            # Anything else on the channel (another version, a stray client)
            # must not take the subscriber down.
            log.exception("redis bus: undecodable message on %r dropped", self._channel)
            return
        deliver = self._deliver
        if deliver is None:
            return
        for event in events:
            try:
                deliver(event)
            except Exception:
                # Not %r: the frame can be large.
                log.exception("redis bus: deliver failed for %s", _describe(event))

    # -- publisher ----------------------------------------------------------

    async def _flush_loop(self) -> None:
        backoff = _Backoff()
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
                # Whatever is buffered now would only go out after the backoff,
                # stale; drop it with the batch (devices catch up by pts), which
                # also bounds memory for as long as Redis stays down.
                dropped = len(batch) + len(self._buffer)
                self._buffer.clear()
                delay = backoff.next()
                log.warning(
                    "redis bus: publish to %r failed (%s); dropped %d events, "
                    "next attempt in %.1fs",
                    self._channel,
                    exc,
                    dropped,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
            else:
                backoff.reset()

    async def _publish_batch(self, batch: list[AnyEvent]) -> None:
        assert self._client is not None
        # No retry here: if a connection dies after the server ran the PUBLISH,
        # a retry would deliver the batch twice, and a replayed ``joined`` could
        # land after another node's ``left`` for the same member.
        await self._client.publish(self._channel, encode_events(batch))

    def _report_overflow(self) -> None:
        if self._overflowed:
            log.warning(
                "redis bus: buffer full (%d events); dropped %d events",
                _MAX_BUFFERED,
                self._overflowed,
            )
            self._overflowed = 0


def _describe(event: AnyEvent) -> str:
    if isinstance(event, ChatEvent):
        return f"chat {event.chat_id} event"
    if isinstance(event, PresenceEvent):
        return f"presence {event.kind} event"
    return f"user {event.user_id} event"


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    # asyncio.wait, unlike awaiting the task, neither raises the task's
    # CancelledError nor swallows a cancellation of close() itself.
    await asyncio.wait({task})
    if not task.cancelled() and task.exception() is not None:
        log.error("redis bus: task %s failed", task.get_name(), exc_info=task.exception())
