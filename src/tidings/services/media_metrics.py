"""Media and job-queue gauges for ``/metrics`` (issue 8 item 12), read from the
database.

A scrape runs in the event loop and must not wait on SQL, so a background
task recomputes the figures every ``REFRESH_SECONDS`` (60 s, a module
constant rather than a setting: scrapes come every 15-60 s and these figures
move slowly) and the collector only returns the cached values. Every kind and
status is reported, zero included, so a series never vanishes; a job kind
stays reported (at zero) once it has been seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.media.lifecycle import KINDS, STATUSES
from tidings.store import media_stats

log = logging.getLogger(__name__)

REFRESH_SECONDS = 60.0


class MediaMetrics(Collector):
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self._registry = registry
        self._media: dict[tuple[str, str], tuple[int, int]] | None = None  # -> (files, bytes)
        self._jobs: dict[str, tuple[int, int]] = {}  # kind -> (pending, failed)
        self._db: Database | None = None
        self._task: asyncio.Task[None] | None = None
        self._registered = False

    def start(self, db: Database) -> None:
        """Register with the registry and start refreshing (in a running loop).
        When another collector already reports these gauges there (several
        nodes in one process), this one stays idle."""
        self._db = db
        try:
            self._registry.register(self)
            self._registered = True
        except ValueError:  # several nodes in one process (tests): the first reports
            log.debug("media gauges already registered by another node in this process")
            return
        self._task = asyncio.get_running_loop().create_task(self._loop(),
                                                            name="media-metrics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._registered:
            self._registry.unregister(self)
            self._registered = False
        self._db = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # a lost database connection must not end the task
                log.exception("media metrics refresh failed; keeping the last values")
            await asyncio.sleep(REFRESH_SECONDS)

    async def refresh(self) -> None:
        """Recompute the figures now (the task does this every REFRESH_SECONDS)."""
        assert self._db is not None, "start() first"

        async def read_txn(txn: Txn) -> tuple[list[tuple[str, str, int, int]],
                                               list[tuple[str, int, int]]]:
            return (await media_stats.by_kind_status_txn(txn),
                    await media_stats.jobs_by_kind_txn(txn))

        media, jobs = await self._db.read("media_metrics", read_txn)
        counts = {(k, s): (0, 0) for k in KINDS for s in STATUSES}
        counts.update({(k, s): (n, b) for k, s, n, b in media})
        self._media = counts
        self._jobs = {**dict.fromkeys(self._jobs, (0, 0)),
                      **{k: (pending, failed) for k, pending, failed in jobs}}

    def collect(self) -> Iterator[Metric]:
        if self._media is None:  # not refreshed yet: nothing rather than zeros
            return
        size = GaugeMetricFamily("tidings_media_bytes", "Size of the files by kind and "
                                 "status (deleted files no longer hold theirs)",
                                 labels=["kind", "status"])
        count = GaugeMetricFamily("tidings_media_files", "Files by kind and status",
                                  labels=["kind", "status"])
        for (kind, status), (n, b) in sorted(self._media.items()):
            size.add_metric([kind, status], b)
            count.add_metric([kind, status], n)
        pending = GaugeMetricFamily("tidings_jobs_pending", "Background jobs waiting or "
                                    "running, by kind", labels=["kind"])
        failed = GaugeMetricFamily("tidings_jobs_given_up", "Background jobs given up after "
                                   "their last attempt, by kind", labels=["kind"])
        for kind, (p, f) in sorted(self._jobs.items()):
            pending.add_metric([kind], p)
            failed.add_metric([kind], f)
        yield from (size, count, pending, failed)

    def describe(self) -> Iterator[Metric]:
        """Names only, so registering does not call ``collect`` (nothing cached yet)."""
        yield GaugeMetricFamily("tidings_media_bytes", "", labels=["kind", "status"])
        yield GaugeMetricFamily("tidings_media_files", "", labels=["kind", "status"])
        yield GaugeMetricFamily("tidings_jobs_pending", "", labels=["kind"])
        yield GaugeMetricFamily("tidings_jobs_given_up", "", labels=["kind"])
