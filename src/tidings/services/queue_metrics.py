"""Queue gauges for ``/metrics``: the webhook outbox and the background job
queue (issue 11 item 4).

Counting rows is not free, and a scrape runs in the event loop, so a task
recomputes the figures every ``REFRESH_SECONDS`` (10 s: queues move faster
than stored media, and two small indexed counts cost little) and ``collect``
returns the cached values. The failure and delivery counters live with the
code that counts them (``tidings.jobs.webhooks``, ``tidings.jobs.runner``).

- ``tidings_webhook_queue_depth``: events waiting to be delivered (0 without
  ``webhook_url``);
- ``tidings_webhook_events_failed``: given-up events still kept;
- ``tidings_webhook_oldest_event_age_seconds``: age of the oldest waiting event
  (0 when none), the gauge to alert on when the receiver is down;
- ``tidings_jobs_queued{kind}``: background jobs due now and not yet done, by
  kind (every registered kind, zero included).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from tidings.clock import Clock
from tidings.db.engine import Txn
from tidings.services.refreshed_collector import RefreshedCollector
from tidings.store import jobs as job_store
from tidings.store import webhooks as outbox

REFRESH_SECONDS = 10.0

_GAUGES = (("tidings_webhook_queue_depth", "Webhook events waiting to be delivered"),
           ("tidings_webhook_events_failed", "Webhook events given up and still kept"),
           ("tidings_webhook_oldest_event_age_seconds",
            "Age of the oldest webhook event waiting to be delivered (0: none)"))


class QueueMetrics(RefreshedCollector):
    name = "queue-metrics"
    refresh_seconds = REFRESH_SECONDS

    def __init__(self, clock: Clock, job_kinds: list[str],
                 registry: CollectorRegistry = REGISTRY) -> None:
        super().__init__(registry)
        self._clock = clock
        self._kinds = job_kinds
        self._figures: tuple[int, int, int] | None = None  # depth, failed, oldest age
        self._jobs: dict[str, int] = {}

    async def refresh(self) -> None:
        now = self._clock.now()

        async def read_txn(txn: Txn) -> tuple[outbox.OutboxStats, dict[str, int]]:
            return await outbox.stats_txn(txn), await job_store.due_by_kind_txn(txn, now)

        stats, jobs = await self.db.read("queue_metrics", read_txn)
        oldest = 0 if stats.oldest_pending_at is None else max(0, now - stats.oldest_pending_at)
        self._figures = (stats.pending, stats.failed, oldest)
        self._jobs = {**dict.fromkeys(self._kinds, 0), **jobs}

    def collect(self) -> Iterator[Metric]:
        if self._figures is None:
            return
        for (name, text), value in zip(_GAUGES, self._figures, strict=True):
            yield GaugeMetricFamily(name, text, value=value)
        queued = GaugeMetricFamily("tidings_jobs_queued", "Background jobs due and not yet "
                                   "done, by kind", labels=["kind"])
        for kind, n in sorted(self._jobs.items()):
            queued.add_metric([kind], n)
        yield queued

    def describe(self) -> Iterator[Metric]:
        for name, _ in _GAUGES:
            yield GaugeMetricFamily(name, "")
        yield GaugeMetricFamily("tidings_jobs_queued", "", labels=["kind"])
