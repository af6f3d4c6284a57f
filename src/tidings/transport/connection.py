"""What every transport's connection does, whatever its framing: one
``Connection`` per socket (``transport.ws`` and ``transport.tcp`` supply how
frames are read, written and how the socket is closed).

States: ``connected`` (only auth.* allowed, handled one at a time so that a
pipelined request after login already runs authenticated) → ``ready``
(requests run concurrently, up to ``max_inflight_requests``; reading pauses
beyond that, which is the backpressure) → ``closing``. A revoked device passes
through ``revoked`` first: no new request runs and no new push is queued, but
the requests in flight finish (up to ``revoke_grace_seconds``) and what they
and the ``device.revoked`` update owe the device is written before close 4001,
so a device that revokes itself still gets its result.

Outgoing frames (results and pushes) go through one queue per connection. The
first frame queued in a loop turn schedules a flush at the end of that turn,
which hands every queued frame to the socket in one write (one syscall for the
pushes of several commits, or a result and a push); while the socket's buffer
is above its high-water mark the connection's writer task waits for it to
drain and frames keep queueing. A device whose queue exceeds ``max_pending_pushes`` frames or
``max_pending_push_bytes`` bytes is disconnected (close code 4008) and catches
up by pts when it reconnects: holding unbounded memory for a slow reader would
endanger every other user. Both bounds are needed: coalesced sends arrive as
few, big frames.

Frames are decoded and encoded with the codec the connection negotiated
(``tidings.codecs``); pushes arrive from the hub already in that codec.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
from collections import deque
from typing import TYPE_CHECKING, ClassVar

from prometheus_client import Counter

from tidings.api.dispatcher import Request, error_frame, guess_request_id
from tidings.codecs import Codec
from tidings.errors import ErrorCode, TidingsError
from tidings.services.auth import Identity
from tidings.services.login_guard import is_loopback
from tidings.transport.ratelimit import TokenBucket

if TYPE_CHECKING:
    from tidings.transport.server import Node

log = logging.getLogger(__name__)

SLOW_DISCONNECTS = Counter("tidings_slow_consumer_disconnects_total",
                           "Connections closed because their push queue overflowed")

# WebSocket close codes; a TCP connection sends them in its final close frame.
CLOSE_GOING_AWAY = 1001
CLOSE_TOO_BIG = 1009
CLOSE_UNAUTHORIZED = 4001
CLOSE_FORBIDDEN = 4003  # the client's network is blocked (TCP; WebSocket answers 403)
CLOSE_TOO_SLOW = 4008


class State(enum.Enum):
    CONNECTED = "connected"
    READY = "ready"
    REVOKED = "revoked"  # finishing the requests in flight, then close 4001
    CLOSING = "closing"


class Connection:
    """A client connection; subclasses provide ``_receive``, ``_write`` and
    ``_close`` for their framing."""

    transport: ClassVar[str]  # the label of the connections gauge

    def __init__(self, node: Node, remote: str | None, codec: Codec) -> None:
        settings = node.settings
        self.node = node
        self.remote = remote
        self.codec = codec
        self.user_id: int | None = None
        self.device_id: int | None = None
        self.state = State.CONNECTED
        self._out: deque[bytes] = deque()
        self._loop = asyncio.get_running_loop()
        self._flush_due = False  # a flush is scheduled for the end of this turn
        # The socket's buffer is above its high-water mark: the writer task waits
        # for it to drain and flushes what queued meanwhile; no flush before.
        self._draining = False
        self._write_failed = False  # the socket refused a write: nothing more is written
        self._drained_size = 0  # bytes written while the socket's buffer is full
        self._out_ready = asyncio.Event()  # wakes the writer task to drain
        # Bytes of the frames queued plus those written while the socket's buffer is
        # full: written frames leave the count once the buffer drained.
        self._out_bytes = 0
        self._flushed = asyncio.Event()  # nothing queued, nothing being written
        self._flushed.set()
        self._inflight = asyncio.Semaphore(settings.max_inflight_requests)
        self._tasks: set[asyncio.Task[None]] = set()
        # A request answered in the read loop (see Dispatcher.runs_inline), and
        # what a drain waiting for it waits on.
        self._inline_busy = False
        self._inline_answered: asyncio.Event | None = None
        exempt = settings.rate_limit_exempt_loopback and is_loopback(remote)
        self._bucket = None if exempt else TokenBucket(
            settings.rate_limit_per_second, settings.rate_limit_burst,
            node.services.clock.monotonic)
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None  # the close the server started

    # -- Caller
    async def authenticate(self, identity: Identity) -> None:
        if self.user_id is not None:
            raise TidingsError(ErrorCode.FORBIDDEN, "this connection is already authenticated")
        hub = self.node.services.hub
        # Attach before loading the chat list, so a join or leave committed in
        # between still reaches this device (the hub tracks both while loading).
        hub.attach(self, identity.user_id, identity.device_id)
        chats: list[int] = []
        try:
            chats = await self.node.services.followed_chats(identity.user_id)
        except BaseException:
            hub.detach(self)
            raise
        finally:
            hub.follow(identity.user_id, chats)
        self.user_id, self.device_id = identity.user_id, identity.device_id
        self.node.services.presence.attach(self, identity.user_id, identity.device_id)
        if self.state is State.CONNECTED:  # not if it timed out or was revoked meanwhile
            self.state = State.READY

    # -- Sink
    def push(self, frame: bytes) -> None:
        if self.state in (State.CLOSING, State.REVOKED):
            return
        settings = self.node.settings
        # One frame larger than the byte bound is let through when nothing else
        # waits: a big batch alone does not make a reader slow.
        if (len(self._out) >= settings.max_pending_pushes or (
                self._out_bytes and self._out_bytes + len(frame)
                > settings.max_pending_push_bytes)):
            SLOW_DISCONNECTS.inc()
            log.info("closing device %s: %d frames, %d bytes pending", self.device_id,
                     len(self._out), self._out_bytes)
            self.close_soon(CLOSE_TOO_SLOW, "too many pending updates; reconnect and catch up")
            return
        self._enqueue(frame)

    def revoke(self) -> None:
        """Called by the hub after it queued the ``device.revoked`` update."""
        if self.state in (State.CLOSING, State.REVOKED):
            return
        self.state = State.REVOKED
        self.node.background(asyncio.create_task(self._close_when_answered()))

    async def _close_when_answered(self) -> None:
        grace = self.node.settings.revoke_grace_seconds
        try:
            async with asyncio.timeout(grace):
                await self.drain()
                await self._flushed.wait()
        except TimeoutError:
            log.info("device %s revoked: closing with requests or frames still pending "
                     "after %.1f s", self.device_id, grace)
        self.close_soon(CLOSE_UNAUTHORIZED, "device revoked")

    # -- lifecycle
    def close_soon(self, code: int, reason: str) -> None:
        if self.state is State.CLOSING:
            return
        self.state = State.CLOSING
        self._out_bytes -= sum(map(len, self._out))  # the frame being written still counts
        self._out.clear()
        self._closer = asyncio.create_task(self._close(code, reason))
        self.node.background(self._closer)

    async def run(self) -> None:
        self._writer = asyncio.create_task(self._write_loop())
        timeout = asyncio.get_running_loop().call_later(
            self.node.settings.auth_timeout_seconds, self._auth_timeout)
        try:
            await self._read_loop()
        finally:
            timeout.cancel()
            self.state = State.CLOSING
            self.node.services.hub.detach(self)
            self.node.services.presence.detach(self)
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._flushed.set()  # nothing will be written any more

    async def drain(self) -> None:
        """Wait for the requests in flight (on shutdown, and once revoked)."""
        if self._inline_busy:  # suspended after all (authentication), in the read loop
            if self._inline_answered is None:
                self._inline_answered = asyncio.Event()
            await self._inline_answered.wait()
        if self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)

    def _auth_timeout(self) -> None:
        if self.user_id is None:
            self.close_soon(CLOSE_UNAUTHORIZED, "authenticate within the auth timeout")

    # -- the framing (subclasses)
    async def _receive(self) -> bytes | None:
        """The next frame's payload; None once the peer closed or the socket failed."""
        raise NotImplementedError

    def _open_socket(self) -> asyncio.WriteTransport:
        """The socket to write to; raises ConnectionError once it is closed or
        closing."""
        raise NotImplementedError

    def _header(self, size: int) -> bytes:
        """The framing's header of a frame of ``size`` bytes."""
        raise NotImplementedError

    def _write_frames(self, frames: list[bytes]) -> bool:
        """Hand these frames, in order, to the socket in one write (so frames
        never interleave); whether its buffer is now above the high-water mark
        (then ``_drain`` before writing more)."""
        socket = self._open_socket()
        parts: list[bytes] = []
        for frame in frames:
            parts.append(self._header(len(frame)))
            parts.append(frame)
        socket.writelines(parts)
        return socket.get_write_buffer_size() > socket.get_write_buffer_limits()[1]

    async def _drain(self) -> None:
        """Return once the socket's buffer is below its low-water mark."""
        raise NotImplementedError

    async def _close(self, code: int, reason: str) -> None:
        """Tell the peer why (a close code) and close the socket."""
        raise NotImplementedError

    async def _read_loop(self) -> None:
        limit = self.node.settings.max_frame_bytes
        dispatcher = self.node.dispatcher
        while (data := await self._receive()) is not None:
            if self.state is State.REVOKED:
                continue  # neither run nor answered: close 4001 follows
            if len(data) > limit:
                self._send(error_frame(None, TidingsError(
                    ErrorCode.TOO_LARGE, f"frame exceeds {limit} bytes", limit=limit),
                    self.codec))
                continue
            if self._bucket is not None:
                wait = self._bucket.take_or_wait() or self.node.address_limits.take_or_wait(
                    self.remote or "")
                if wait:
                    retry_after = max(1, math.ceil(wait))
                    self._send(error_frame(guess_request_id(data, self.codec), TidingsError(
                        ErrorCode.RATE_LIMITED, "too many requests; slow down",
                        retry_after=retry_after), self.codec))
                    continue
            request = dispatcher.decode(data, self.codec)
            if self.state is State.CONNECTED or dispatcher.runs_inline(request):
                # Authentication in order; reads that never suspend need no task.
                self._inline_busy = True
                try:
                    self._send(await dispatcher.answer(self, request, self.codec))
                finally:
                    self._inline_busy = False
                    if (answered := self._inline_answered) is not None:
                        self._inline_answered = None
                        answered.set()
                continue
            await self._inflight.acquire()
            if self.state is not State.READY:  # revoked or closed while waiting
                self._inflight.release()
                continue
            task = asyncio.create_task(self._handle(request))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handle(self, request: Request) -> None:
        try:
            self._send(await self.node.dispatcher.answer(self, request, self.codec))
        finally:
            self._inflight.release()

    def _send(self, frame: bytes) -> None:
        if self.state is not State.CLOSING:
            self._enqueue(frame)

    def _enqueue(self, frame: bytes) -> None:
        self._out.append(frame)
        self._out_bytes += len(frame)
        self._flushed.clear()
        if not (self._flush_due or self._draining or self._write_failed):
            self._flush_due = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Write everything queued (end of the loop turn the first of it queued)."""
        self._flush_due = False
        if self._draining or self._write_failed or not self._out:
            return
        try:
            self._write_queued()
        except (ConnectionError, RuntimeError) as exc:
            self._stop_writing(exc)
            return
        if self._draining:
            self._out_ready.set()
        else:
            self._flushed.set()

    def _write_queued(self) -> None:
        """Hand every queued frame to the socket. Frames that filled its buffer
        still count in ``_out_bytes`` until it drained (``_draining``)."""
        frames = list(self._out)
        self._out.clear()
        size = sum(map(len, frames))
        if self._write_frames(frames):
            self._draining = True
            self._drained_size = size
        else:
            self._out_bytes -= size

    def _stop_writing(self, exc: BaseException) -> None:
        log.debug("writer for device %s stopped: %s", self.device_id, exc)
        self._write_failed = True
        self._draining = False

    async def _write_loop(self) -> None:
        """Wait for a full socket buffer to drain, then write what queued meanwhile."""
        try:
            while True:
                await self._out_ready.wait()
                self._out_ready.clear()
                while self._draining:
                    await self._drain()
                    self._out_bytes -= self._drained_size
                    self._drained_size = 0
                    self._draining = False
                    if self._out:
                        self._write_queued()
                self._flushed.set()  # no await since the last write: nothing queued
        except (ConnectionError, RuntimeError) as exc:
            self._stop_writing(exc)
