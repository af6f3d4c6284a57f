"""Time, injected. Domain code never reads the system clock directly, so tests
can move time forward (recall windows, expiry) without sleeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int:
        """Unix seconds."""
        ...

    def monotonic(self) -> float: ...


class SystemClock:
    def now(self) -> int:
        return int(time.time())

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: int = 1_800_000_000) -> None:
        self._now = float(start)

    def now(self) -> int:
        return int(self._now)

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
