"""The media jobs (issue 8):

- ``media_expiry``: the recurring sweeper (``services.media_expiry``). It
  reschedules itself at once while due files remain, else one
  ``jobs_interval_seconds`` later. Its single row makes one node at a time
  sweep when several share PostgreSQL (claims are ``FOR UPDATE SKIP LOCKED``).
- ``media_reevaluate``: after a chat's retention changes, gives its files
  their new lifetime a batch at a time (payload ``chat_id`` and a cursor).
- ``blob_delete``: removes a blob no file holds any more (one job per sha256).
"""

from __future__ import annotations

import math

from tidings.db.engine import Txn
from tidings.jobs.runner import JobKind
from tidings.services.container import Services
from tidings.services.media import REEVALUATE_JOB, reevaluate_key
from tidings.services.media_expiry import BLOB_DELETE_JOB
from tidings.store import jobs as job_store
from tidings.store.jobs import Job

EXPIRY_JOB = "media_expiry"


def kinds(sv: Services) -> list[JobKind]:
    every = max(1, math.ceil(sv.settings.jobs_interval_seconds))

    async def sweep(txn: Txn, job: Job, now: int) -> int:
        more = await sv.media_expiry.sweep_txn(txn, now)
        return now if more else now + every

    async def reevaluate(txn: Txn, job: Job, now: int) -> None:
        chat_id = int(job.payload["chat_id"])
        after = await sv.media.reevaluate_txn(txn, chat_id, int(job.payload["after"]), now)
        if after is not None:  # more to do: the same job, further on
            await job_store.schedule_txn(txn, REEVALUATE_JOB,
                                         {"chat_id": chat_id, "after": after}, now, now,
                                         dedupe_key=reevaluate_key(chat_id))

    async def delete_blob(txn: Txn, job: Job, now: int) -> None:
        await sv.media_expiry.delete_blob_txn(txn, str(job.payload["sha256"]))

    return [JobKind(EXPIRY_JOB, sweep, recurring=True), JobKind(REEVALUATE_JOB, reevaluate),
            JobKind(BLOB_DELETE_JOB, delete_blob)]
