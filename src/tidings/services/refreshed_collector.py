"""A Prometheus collector whose figures come from the database.

A scrape runs in the event loop and must not wait on SQL, so a background
task recomputes the figures every ``refresh_seconds`` and ``collect`` returns
the cached values. Several nodes in one process (tests) share one registry:
the first collector registered reports, the others stay idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.registry import Collector

from tidings.db.database import Database

log = logging.getLogger(__name__)


class RefreshedCollector(Collector, ABC):
    name = "metrics"  # for the task's name and the log
    refresh_seconds = 60.0

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self._registry = registry
        self._db: Database | None = None
        self._task: asyncio.Task[None] | None = None
        self._registered = False

    def start(self, db: Database) -> None:
        """Register and refresh in the background (in a running loop); idle when
        another collector already reports these gauges in this process."""
        self._db = db
        try:
            self._registry.register(self)
            self._registered = True
        except ValueError:
            log.debug("%s already registered by another node in this process", self.name)
            return
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._registered:
            self._registry.unregister(self)
            self._registered = False

    async def _loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # a lost database connection must not end the task
                log.exception("%s refresh failed; keeping the last values", self.name)
            await asyncio.sleep(self.refresh_seconds)

    @property
    def db(self) -> Database:
        assert self._db is not None, "start() first"
        return self._db

    @abstractmethod
    async def refresh(self) -> None:
        """Recompute the figures now (the task does this every refresh_seconds)."""
