"""The ``background_jobs`` queue (see ``tidings.jobs`` for how it is run).

A job is claimed in one short transaction (its lease, ``locked_until``, is set
and ``attempts`` counted), then run in a transaction of its own that first
deletes the row (``take_txn``) and then does the work, so the work commits
together with the job's completion, or not at all. The claim is the pair
(``job_id``, ``attempts``): a node whose lease ran out and was taken over
finds its claim gone and does nothing.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tidings import wire
from tidings.db.engine import Txn

_ERROR_CHARS = 2000  # last_error keeps the start of the message


class Job(msgspec.Struct, frozen=True):
    job_id: int
    kind: str
    dedupe_key: str | None
    payload: dict[str, Any]
    run_at: int
    attempts: int  # including the current claim


class JobRow(msgspec.Struct, frozen=True):
    """A row as stored, for operators and tests."""

    job_id: int
    kind: str
    dedupe_key: str | None
    payload: dict[str, Any]
    run_at: int
    attempts: int
    last_error: str | None
    locked_until: int
    failed_at: int | None
    created_at: int


_COLS = ("job_id, kind, dedupe_key, payload, run_at, attempts, last_error, locked_until,"
         " failed_at, created_at")


def _row(r: Any) -> JobRow:
    return JobRow(int(r[0]), r[1], r[2], wire.decode(r[3]), int(r[4]), int(r[5]), r[6],
                  int(r[7]), r[8], int(r[9]))


async def schedule_txn(txn: Txn, kind: str, payload: dict[str, Any], run_at: int, now: int,
                       *, dedupe_key: str | None = None) -> int | None:
    """Add a job; returns its id, or None when a job with ``dedupe_key`` is
    already pending (then nothing changes)."""
    job_id = await txn.fetchval(
        "INSERT INTO background_jobs (kind, dedupe_key, payload, run_at, created_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedupe_key) DO NOTHING RETURNING job_id",
        kind, dedupe_key, wire.encode(payload).decode(), run_at, now,
    )
    return None if job_id is None else int(job_id)


async def cancel_txn(txn: Txn, dedupe_key: str) -> bool:
    """Drop the pending job with this key; True if there was one."""
    row = await txn.fetchrow(
        "DELETE FROM background_jobs WHERE dedupe_key = $1 RETURNING job_id", dedupe_key)
    return row is not None


async def claim_due_txn(txn: Txn, kinds: list[str], now: int, lease_until: int, limit: int
                        ) -> list[Job]:
    """Claim up to ``limit`` due jobs of these kinds, oldest ``run_at`` first: their
    lease runs until ``lease_until`` and their attempt is counted. On PostgreSQL,
    rows another node is claiming at this moment are skipped, not waited for;
    SQLite's single writer needs no lock."""
    lock = txn.engine.for_update
    skip = f"{lock} SKIP LOCKED" if lock else ""
    cond, args = txn.engine.any_of("kind", 4, kinds)
    rows = await txn.fetch(
        "UPDATE background_jobs SET locked_until = $2, attempts = attempts + 1"
        " WHERE job_id IN (SELECT job_id FROM background_jobs"
        f" WHERE run_at <= $1 AND locked_until <= $1 AND failed_at IS NULL AND {cond}"
        f" ORDER BY run_at, job_id LIMIT $3{skip})"
        " RETURNING job_id, kind, dedupe_key, payload, run_at, attempts",
        now, lease_until, limit, *args,
    )
    jobs = [Job(int(r[0]), r[1], r[2], wire.decode(r[3]), int(r[4]), int(r[5])) for r in rows]
    jobs.sort(key=lambda j: (j.run_at, j.job_id))
    return jobs


async def take_txn(txn: Txn, job: Job) -> bool:
    """Complete the claimed job: delete its row, first thing in the transaction
    that runs it (on PostgreSQL the row stays locked until that commits). False
    when the claim is no longer ours: another node took the job over, or it ran."""
    row = await txn.fetchrow(
        "DELETE FROM background_jobs WHERE job_id = $1 AND attempts = $2 RETURNING job_id",
        job.job_id, job.attempts)
    return row is not None


async def fail_txn(txn: Txn, job: Job, error: str, retry_at: int, failed_at: int | None
                   ) -> None:
    """Record a failed run: ``last_error``, and either the next try at ``retry_at``
    or, with ``failed_at``, no further try."""
    await txn.execute(
        "UPDATE background_jobs SET last_error = $3, run_at = $4, locked_until = 0,"
        " failed_at = $5 WHERE job_id = $1 AND attempts = $2",
        job.job_id, job.attempts, error[:_ERROR_CHARS], retry_at, failed_at)


async def release_txn(txn: Txn, jobs: list[Job]) -> None:
    """Hand back claimed jobs that were not run (the node is stopping): due again
    at once, and the claim does not count as an attempt."""
    for job in jobs:
        await txn.execute(
            "UPDATE background_jobs SET locked_until = 0, attempts = attempts - 1"
            " WHERE job_id = $1 AND attempts = $2", job.job_id, job.attempts)


async def get_txn(txn: Txn, job_id: int) -> JobRow | None:
    row = await txn.fetchrow(f"SELECT {_COLS} FROM background_jobs WHERE job_id = $1", job_id)
    return None if row is None else _row(row)


async def list_txn(txn: Txn, kind: str | None = None) -> list[JobRow]:
    """Every job (of one kind), by ``run_at``: for operators and tests."""
    where = "" if kind is None else " WHERE kind = $1"
    rows = await txn.fetch(
        f"SELECT {_COLS} FROM background_jobs{where} ORDER BY run_at, job_id",
        *(() if kind is None else (kind,)))
    return [_row(r) for r in rows]


async def due_by_kind_txn(txn: Txn, now: int) -> dict[str, int]:
    """Jobs due and not given up, by kind: the queue's backlog."""
    rows = await txn.fetch(
        "SELECT kind, COUNT(*) FROM background_jobs WHERE run_at <= $1 AND failed_at IS NULL"
        " GROUP BY kind", now)
    return {r[0]: int(r[1]) for r in rows}
