"""The ``export`` job: one per export (``message.export``), keyed
``export:<job_id>``. Each run is one bounded step of
``services.exports.step_txn`` (count, or write one chunk) and reschedules the
job at once until the file is finished; the finished export's job is then due
again when the file expires, and deletes it. All state is the export's row,
so a step that fails or is interrupted is simply run again."""

from __future__ import annotations

from tidings.db.engine import Txn
from tidings.jobs.runner import JobKind
from tidings.services.container import Services
from tidings.services.exports import JOB_KIND
from tidings.store.jobs import Job

KIND = JOB_KIND


def kind(sv: Services) -> JobKind:
    async def step(txn: Txn, job: Job, now: int) -> int | None:
        job_id = job.payload.get("job_id")
        if not isinstance(job_id, int):
            return None  # not a job this kind wrote: nothing to do
        return await sv.exports.step_txn(
            txn, job_id, now, last_attempt=job.attempts >= sv.settings.jobs_max_attempts)

    return JobKind(KIND, step)
