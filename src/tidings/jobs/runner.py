"""The durable job runner: scheduled work kept in the ``background_jobs`` table.

A job is a row (``kind``, JSON ``payload``, ``run_at``). Every
``jobs_interval_seconds`` the runner claims a bounded batch of due jobs
(``jobs_batch_size``) and runs each in ONE transaction that deletes the job's
row and does its work, so the work happens at most once, even across a crash:
either both commit or neither does. A handler that raises leaves no effect;
the job keeps its row, with ``attempts`` and ``last_error``, and is tried again
after a backoff (``jobs_retry_seconds``, doubling up to
``jobs_retry_max_seconds``) until ``jobs_max_attempts``, after which it stays
with ``failed_at`` set for an operator. Handlers must be idempotent: a job may
be tried again after a failed attempt.

Several nodes may run runners over one PostgreSQL database: a claim is a lease
(``jobs_lease_seconds``) taken with ``FOR UPDATE SKIP LOCKED``, so each due job
goes to one node; a node that dies holding a lease loses the job to another
once the lease runs out.

Time comes from the injected clock; ``run_due()`` runs one round, and is what
tests call (after moving a ``FakeClock``) instead of waiting for the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import TidingsError
from tidings.store import jobs as job_store
from tidings.store.jobs import Job

log = logging.getLogger(__name__)

JOBS_RUN = Counter("tidings_jobs_run_total", "Background jobs run to completion, by kind",
                   ["kind"])
JOBS_FAILED = Counter("tidings_jobs_failed_total",
                      "Background job runs that failed and were rolled back, by kind", ["kind"])

# (txn, job, now) -> None when done, or the time to run the job again (same kind,
# payload and dedupe key), written in the same transaction.
Handler = Callable[[Txn, Job, int], Awaitable[int | None]]


@dataclass(frozen=True)
class JobKind:
    """A kind of job and its handler. A ``recurring`` kind always has one pending
    job (dedupe key = its name): the runner schedules it when it first runs, its
    handler says when to run next, and it is never given up on."""

    name: str
    handler: Handler
    recurring: bool = False


class JobRunner:
    def __init__(self, db: Database, clock: Clock, settings: Settings,
                 kinds: Iterable[JobKind] = ()) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._kinds: dict[str, JobKind] = {}
        for kind in kinds:
            self.register(kind)
        self._ensured = False
        self._more = False  # the last round left due work behind
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def register(self, kind: JobKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"job kind {kind.name!r} is registered twice")
        self._kinds[kind.name] = kind
        self._ensured = False

    @property
    def kinds(self) -> list[str]:
        return sorted(self._kinds)

    async def schedule(self, kind: str, payload: dict[str, Any], run_at: int, *,
                       dedupe_key: str | None = None) -> int | None:
        """Schedule a job in a transaction of its own; None when ``dedupe_key`` is
        already pending. Services schedule inside their own transactions with
        ``store.jobs.schedule_txn``."""
        now = self._clock.now()
        return await self._db.write("schedule_job", lambda txn: job_store.schedule_txn(
            txn, kind, payload, run_at, now, dedupe_key=dedupe_key))

    # -- one round
    async def run_due(self) -> int:
        """Claim one batch of due jobs and run them; returns how many completed."""
        await self._ensure_recurring()
        if not self._kinds:
            return 0
        s = self._settings
        now = self._clock.now()
        kinds = self.kinds
        claimed = await self._db.write("claim_jobs", lambda txn: job_store.claim_due_txn(
            txn, kinds, now, now + s.jobs_lease_seconds, s.jobs_batch_size))
        more = len(claimed) >= s.jobs_batch_size
        done = 0
        for i, job in enumerate(claimed):
            if self._stopping.is_set():
                await self._release(claimed[i:])
                break
            outcome = await self._run_one(job)
            if outcome is not None:
                done += 1
                more = more or (outcome[1] is not None and outcome[1] <= self._clock.now())
        self._more = more
        return done

    async def _ensure_recurring(self) -> None:
        if self._ensured:
            return
        now = self._clock.now()
        recurring = [k.name for k in self._kinds.values() if k.recurring]

        async def ensure_txn(txn: Txn) -> None:
            for name in recurring:
                await job_store.schedule_txn(txn, name, {}, now, now, dedupe_key=name)

        if recurring:
            await self._db.write("schedule_recurring_jobs", ensure_txn)
        self._ensured = True

    async def _run_one(self, job: Job) -> tuple[bool, int | None] | None:
        """Run one claimed job: (True, run-again-at) when it completed, None when it
        failed or was no longer ours."""
        kind = self._kinds[job.kind]
        now = self._clock.now()

        async def run_txn(txn: Txn) -> tuple[bool, int | None] | None:
            if not await job_store.take_txn(txn, job):
                return None  # taken over by another node after our lease ran out
            again = await kind.handler(txn, job, now)
            if again is not None:
                await job_store.schedule_txn(txn, job.kind, job.payload, again, now,
                                             dedupe_key=job.dedupe_key)
            return True, again

        try:
            outcome = await self._db.write(f"job_{job.kind}", run_txn)
        except Exception as exc:
            JOBS_FAILED.labels(job.kind).inc()
            await self._record_failure(kind, job, exc)
            return None
        if outcome is not None:
            JOBS_RUN.labels(job.kind).inc()
        return outcome

    async def _record_failure(self, kind: JobKind, job: Job, exc: Exception) -> None:
        s = self._settings
        now = self._clock.now()
        give_up = not kind.recurring and job.attempts >= s.jobs_max_attempts
        delay = min(s.jobs_retry_seconds * 2 ** min(job.attempts - 1, 32),
                    s.jobs_retry_max_seconds)
        error = f"{type(exc).__name__}: {exc}"
        log.warning("job %d (%s) failed on attempt %d%s: %s", job.job_id, job.kind,
                    job.attempts, "; giving up" if give_up else f"; retry in {delay} s",
                    error, exc_info=not isinstance(exc, TidingsError))
        try:
            await self._db.write("job_failed", lambda txn: job_store.fail_txn(
                txn, job, error, now + delay, now if give_up else None))
        except Exception:
            # The lease runs out and the job is claimed again; nothing is lost.
            log.exception("could not record the failure of job %d", job.job_id)

    async def _release(self, jobs: list[Job]) -> None:
        with contextlib.suppress(Exception):  # else their lease runs out
            await self._db.write("release_jobs", lambda txn: job_store.release_txn(txn, jobs))

    # -- the loop
    def start(self) -> None:
        """Poll every ``jobs_interval_seconds`` until ``stop``; a round that left
        due work behind is followed by the next at once."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._loop(), name="job-runner")

    async def stop(self) -> None:
        """Finish the job running now, hand back the rest of the batch, stop."""
        if self._task is None:
            return
        self._stopping.set()
        task, self._task = self._task, None
        await task

    async def _loop(self) -> None:
        interval = self._settings.jobs_interval_seconds
        while not self._stopping.is_set():
            try:
                await self.run_due()
            except Exception:
                log.exception("background jobs: a round failed; next try in %s s", interval)
                self._more = False
            if self._more:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)
