"""The NATS bus: several nodes fan out committed updates through one core NATS
subject (no JetStream: nothing is stored, as with Redis pub/sub).

Buffering, batching and failure handling are ``BatchingBus``'s. NATS adds:

* Each node receives its own publishes through NATS (echo is on) and never
  delivers locally. NATS keeps each publisher's messages in order, so every
  node sees this node's events in the order they were published; events of
  two nodes may interleave differently on different nodes. Devices tolerate
  that as they tolerate arrival order on Redis (which is not commit order
  either): a chat update out of order is a gap filled by pts.
* nats-py reconnects by itself (forever, a second apart) and
  re-subscribes; while it is disconnected this bus drops what it would
  publish, as the Redis bus does, rather than letting the client's pending
  buffer fill with events that would arrive stale. If the first connection
  fails, ``start`` still returns and a background task keeps trying.
* A batch larger than the server's ``max_payload`` (1 MB by default) is
  split in halves until each part fits; one event larger than that alone is
  dropped with a warning (frames are bounded well below it by
  ``max_frame_bytes``).
* The subscription is confirmed (a PING/PONG after SUB) before ``start``
  returns, so nothing published after it is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.aio.client import Client
from nats.aio.msg import Msg

from tidings.bus.base import AnyEvent, Deliver, encode_events
from tidings.bus.batching import Backoff, BatchingBus

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT = 2
_RECONNECT_WAIT = 1  # seconds (nats-py takes an int)
_CLIENT_NAME = "tidings-bus"


class NatsBus(BatchingBus):
    def __init__(self, url: str, subject: str = "tidings.events", *,
                 max_batch: int = 500) -> None:
        super().__init__("nats bus", subject, max_batch, log)
        self._url = url
        self._subject = subject
        self._nc: Client | None = None
        self._started = False

    async def start(self, deliver: Deliver) -> None:
        """Connect and subscribe, then start delivering. If NATS cannot be
        reached, this still returns and the bus keeps trying in the background."""
        if self._closed:
            raise RuntimeError("NatsBus is closed")
        if self._started:
            raise RuntimeError("NatsBus already started")
        self._started = True
        self._deliver = deliver
        try:
            self._nc = await self._connect()
        except Exception as exc:
            log.warning("nats bus: cannot connect to %s yet (%s); retrying in the background",
                        self._url, exc)
            self._tasks.append(asyncio.create_task(self._connect_loop(),
                                                   name="nats-bus-connect"))
        self._start_flusher()

    async def check(self) -> None:
        nc = self._nc
        if nc is None or not nc.is_connected:
            raise ConnectionError(f"not connected to NATS at {self._url}")
        await nc.flush(timeout=_CONNECT_TIMEOUT)  # a round trip to the server

    async def _close_transport(self) -> None:
        nc, self._nc = self._nc, None
        if nc is None:
            return
        with contextlib.suppress(Exception):  # what the flusher handed over goes out
            if nc.is_connected:
                await nc.flush(timeout=1)
        try:
            await nc.close()
        except Exception as exc:
            log.debug("nats bus: error closing: %s", exc)

    # -- connection -----------------------------------------------------------

    async def _connect(self) -> Client:
        nc = Client()
        try:
            # With unlimited reconnects nats-py also retries a first connection
            # forever: bound it, and let _connect_loop try again.
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                await nc.connect(
                    servers=[self._url], name=_CLIENT_NAME, connect_timeout=_CONNECT_TIMEOUT,
                    allow_reconnect=True, max_reconnect_attempts=-1,
                    reconnect_time_wait=_RECONNECT_WAIT,
                    error_cb=self._on_error, disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected)
                await nc.subscribe(self._subject, cb=self._on_message)
                await nc.flush(timeout=_CONNECT_TIMEOUT)
        except BaseException:
            with contextlib.suppress(Exception):
                await nc.close()
            raise
        return nc

    async def _connect_loop(self) -> None:
        backoff = Backoff()
        while self._nc is None:
            await asyncio.sleep(backoff.next())
            try:
                self._nc = await self._connect()
            except Exception as exc:
                log.warning("nats bus: connect to %s failed (%s); retrying", self._url, exc)
                continue
            log.info("nats bus: connected to %s, subscribed to %r", self._url, self._subject)

    async def _on_message(self, msg: Msg) -> None:
        self._dispatch(msg.data)

    async def _on_error(self, exc: Exception) -> None:
        log.warning("nats bus: %s", exc)

    async def _on_disconnected(self) -> None:
        log.warning("nats bus: disconnected from %s; events published until it reconnects "
                    "are not delivered", self._url)

    async def _on_reconnected(self) -> None:
        log.info("nats bus: reconnected to %s, subscribed to %r again", self._url,
                 self._subject)

    # -- publishing -------------------------------------------------------------

    async def _publish_batch(self, batch: list[AnyEvent]) -> None:
        nc = self._nc
        if nc is None or not nc.is_connected:
            raise ConnectionError(f"not connected to NATS at {self._url}")
        await self._publish_within(nc, batch)

    async def _publish_within(self, nc: Client, batch: list[AnyEvent]) -> None:
        data = encode_events(batch)
        if len(data) <= nc.max_payload:
            await nc.publish(self._subject, data)
            return
        if len(batch) == 1:
            log.warning("nats bus: an event of %d bytes exceeds the server's max_payload "
                        "(%d); dropped", len(data), nc.max_payload)
            return
        middle = len(batch) // 2
        await self._publish_within(nc, batch[:middle])
        await self._publish_within(nc, batch[middle:])
