"""The ``message_ttl`` job: the recurring sweeper of auto-delete and
burn-after-read. Each run deletes at most ``message_ttl_batch_size`` due
messages (``services.message_ttl.sweep_txn``) and reschedules itself: at once
when it may have left due messages behind, else one ``jobs_interval_seconds``
later. The deadlines are columns of the messages, so nothing is lost across a
restart, and the job's single row makes one node at a time sweep."""

from __future__ import annotations

import math

from tidings.db.engine import Txn
from tidings.jobs.runner import JobKind
from tidings.services.container import Services
from tidings.store.jobs import Job

KIND = "message_ttl"


def kind(sv: Services) -> JobKind:
    every = max(1, math.ceil(sv.settings.jobs_interval_seconds))

    async def sweep(txn: Txn, job: Job, now: int) -> int:
        _, more = await sv.message_ttl.sweep_txn(txn, now)
        return now if more else now + every

    return JobKind(KIND, sweep, recurring=True)
