"""The in-process bus: one node, delivery is a function call."""

from __future__ import annotations

from tidings.bus.base import AnyEvent, Deliver


class LocalBus:
    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def publish(self, event: AnyEvent) -> None:
        if self._deliver is not None:
            self._deliver(event)

    async def check(self) -> None:
        """In process: reachable while the process runs."""

    async def close(self) -> None:
        self._deliver = None
