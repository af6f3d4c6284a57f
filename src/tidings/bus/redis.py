"""The Redis bus: several nodes fan out committed updates through one pub/sub channel.

Buffering, batching and failure handling are ``BatchingBus``'s. Redis adds:

* Redis serialises all publishes on the channel, so every node sees one order
  of the events as they reached Redis. Each node also receives its own
  publishes through Redis and never delivers locally, so delivery order is
  identical on every node, this one included. (That order is arrival order,
  not commit order: two nodes' events can reach Redis in the other order
  than they committed; devices tolerate that, as a gap fill by pts.)
* Subscribing is confirmed before ``start`` returns, and a lost subscription
  is re-established with backoff; events published meanwhile are not
  delivered here (devices catch up by pts).
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tidings.bus.base import AnyEvent, Deliver, encode_events
from tidings.bus.batching import Backoff, BatchingBus

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT = 2.0
# Bounds the flusher's PUBLISH so a half-open connection cannot stall it forever.
_COMMAND_TIMEOUT = 5.0
_CLIENT_NAME = "tidings-bus"


class RedisBus(BatchingBus):
    def __init__(self, url: str, channel: str = "tidings:events", *, max_batch: int = 500) -> None:
        super().__init__("redis bus", channel, max_batch, log)
        self._url = url
        self._channel = channel
        self._client: Redis | None = None
        self._pubsub: PubSub | None = None

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
        self._tasks.append(asyncio.create_task(self._read_loop(pubsub),
                                               name="redis-bus-reader"))
        self._start_flusher()

    async def check(self) -> None:
        if self._client is None:
            raise RuntimeError("the redis bus is not started")
        await self._client.ping()  # bounded by socket_timeout

    async def _close_transport(self) -> None:
        await self._close_pubsub()
        if self._client is not None:
            await self._client.aclose()

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
        backoff = Backoff()
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

    # -- publisher ----------------------------------------------------------

    async def _publish_batch(self, batch: list[AnyEvent]) -> None:
        assert self._client is not None
        # No retry here: if a connection dies after the server ran the PUBLISH,
        # a retry would deliver the batch twice, and a replayed ``joined`` could
        # land after another node's ``left`` for the same member.
        await self._client.publish(self._channel, encode_events(batch))
