"""What the Redis and NATS bus tests share: recording callbacks and log
watchers a test can wait on, bounded by ``TIMEOUT``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

from tidings.bus.base import AnyEvent, ChatEvent

TIMEOUT = 5.0


class Changed:
    """Lets a test wait, bounded by TIMEOUT, for a condition that callbacks advance."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not predicate():
                self._event.clear()
                await self._event.wait()


class Collector:
    """A deliver callback that records events, optionally failing on some."""

    def __init__(self, fail_on: Callable[[AnyEvent], bool] | None = None) -> None:
        self.events: list[AnyEvent] = []
        self._fail_on = fail_on
        self._changed = Changed()

    def __call__(self, event: AnyEvent) -> None:
        self.events.append(event)
        self._changed.notify()
        if self._fail_on is not None and self._fail_on(event):
            raise RuntimeError("deliver blew up")

    async def wait_for(self, n: int) -> list[AnyEvent]:
        await self._changed.until(lambda: len(self.events) >= n)
        return self.events


class LogWatcher(logging.Handler):
    """Records the bus's log messages and lets a test wait for one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self._changed = Changed()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self._changed.notify()

    def count(self, fragment: str) -> int:
        return sum(fragment in m for m in self.messages)

    async def wait_for(self, fragment: str, n: int = 1) -> None:
        await self._changed.until(lambda: self.count(fragment) >= n)


def chat(i: int) -> ChatEvent:
    return ChatEvent(chat_id=i, frame=b"chat-%d" % i)


@contextlib.contextmanager
def watching(logger_name: str) -> Iterator[LogWatcher]:
    """A ``LogWatcher`` on one bus's logger at INFO, removed afterwards."""
    logger = logging.getLogger(logger_name)
    watcher = LogWatcher()
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(watcher)
    try:
        yield watcher
    finally:
        logger.removeHandler(watcher)
        logger.setLevel(old_level)
