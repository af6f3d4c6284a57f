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

from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from tidings.db.engine import Txn
from tidings.media.lifecycle import KINDS, STATUSES
from tidings.services.refreshed_collector import RefreshedCollector
from tidings.store import media_stats

REFRESH_SECONDS = 60.0


class MediaMetrics(RefreshedCollector):
    name = "media-metrics"
    refresh_seconds = REFRESH_SECONDS

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        super().__init__(registry)
        self._media: dict[tuple[str, str], tuple[int, int]] | None = None  # -> (files, bytes)
        self._jobs: dict[str, tuple[int, int]] = {}  # kind -> (pending, failed)

    async def refresh(self) -> None:
        """Recompute the figures now (the task does this every REFRESH_SECONDS)."""

        async def read_txn(txn: Txn) -> tuple[list[tuple[str, str, int, int]],
                                               list[tuple[str, int, int]]]:
            return (await media_stats.by_kind_status_txn(txn),
                    await media_stats.jobs_by_kind_txn(txn))

        media, jobs = await self.db.read("media_metrics", read_txn)
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
