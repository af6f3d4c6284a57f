"""Telling the application what changed: callbacks, update streams, ``wait_for``.

Only *applied* updates are announced (duplicates and updates at or below the
local pts/seq are not), after the state already reflects them, so a listener can
read ``client.chats`` and see the update's effect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

log = logging.getLogger("tidings.client")

# Synthetic chat "update" announced when a chat came back ``too_long`` and its view
# was dropped and reloaded from history: listeners must re-read the whole view.
CHAT_RELOADED = "chat.reloaded"


@dataclass(frozen=True)
class Update:
    """One applied update.  ``data`` is the update exactly as on the wire
    (``pts``/``seq``, ``kind``, ``date`` and the payload)."""

    scope: Literal["chat", "user"]
    kind: str
    data: dict[str, Any]
    chat_id: int | None = None

    @property
    def pts(self) -> int | None:
        value = self.data.get("pts")
        return value if isinstance(value, int) else None

    @property
    def seq(self) -> int | None:
        value = self.data.get("seq")
        return value if isinstance(value, int) else None


UpdateCallback = Callable[[Update], object]


class UpdateStream:
    """``async for update in client.updates()``: every update applied after the
    stream was created.  Ends when the client closes; ``aclose()`` it (or use
    ``async with``) when done, since an unread stream buffers without bound."""

    def __init__(self, hub: UpdateHub) -> None:
        self._hub = hub
        # None is the end-of-stream marker.
        self._queue: asyncio.Queue[Update | None] = asyncio.Queue()
        self._ended = False

    def _put(self, item: Update | None) -> None:
        self._queue.put_nowait(item)

    def __aiter__(self) -> UpdateStream:
        return self

    async def __anext__(self) -> Update:
        if self._ended:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            self._ended = True
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        self._hub._unsubscribe(self)
        self._ended = True

    async def __aenter__(self) -> UpdateStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class UpdateHub:
    """Fan-out of applied updates plus a "something changed" signal for ``wait_for``."""

    def __init__(self) -> None:
        self._callbacks: list[UpdateCallback] = []
        self._streams: list[UpdateStream] = []
        # Replaced on every change: waiters hold the old one, which gets set.
        self._changed = asyncio.Event()
        self._closed = False

    def add_callback(self, callback: UpdateCallback) -> Callable[[], None]:
        self._callbacks.append(callback)

        def remove() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return remove

    def stream(self) -> UpdateStream:
        stream = UpdateStream(self)
        if self._closed:
            stream._put(None)
        else:
            self._streams.append(stream)
        return stream

    def _unsubscribe(self, stream: UpdateStream) -> None:
        if stream in self._streams:
            self._streams.remove(stream)

    def emit(self, update: Update) -> None:
        for callback in list(self._callbacks):
            try:
                callback(update)
            except Exception:  # a buggy listener must not break synchronisation
                log.exception("tidings client: update callback failed")
        for stream in self._streams:
            stream._put(update)
        self.changed()

    def changed(self) -> None:
        """Wake every ``wait_for`` so it re-evaluates its predicate."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` is true; re-checked after every change (the
        caller bounds the wait with ``asyncio.timeout``).

        A predicate raising ``LookupError`` counts as "not yet", so
        ``lambda: 7 in c.chats[12].messages`` may run before chat 12 exists."""
        while not _holds(predicate):
            await self._changed.wait()

    def close(self) -> None:
        self._closed = True
        for stream in self._streams:
            stream._put(None)
        self._streams.clear()
        self.changed()


def _holds(predicate: Callable[[], bool]) -> bool:
    try:
        return bool(predicate())
    except LookupError:
        return False
