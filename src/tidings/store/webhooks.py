"""The webhook outbox (``webhook_outbox``, 0014_webhooks.sql): events waiting
for the business backend, written in the transaction of the fact they report
and deleted once delivered.

A claim takes, oldest first, due rows no other node holds, and keeps only
those with no earlier pending row of their ``stream`` left out of the claim:
every stream (a chat, or a user's presence) is delivered in order, even with
several nodes claiming at once (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; the
single writer on SQLite). Rows behind one that waits for a retry are passed
over, so one stream's retries never hold back the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from tidings.db.engine import Txn

_ERROR_CHARS = 500
_COLUMNS = ("stream", "kind", "payload", "created_at")


class OutboxEvent(msgspec.Struct, frozen=True):
    event_id: int
    stream: int
    kind: str
    payload: str  # the event's JSON object without its id
    created_at: int
    attempts: int  # including this claim


class OutboxStats(msgspec.Struct, frozen=True):
    pending: int
    failed: int
    oldest_pending_at: int | None


def user_stream(user_id: int) -> int:
    """A user's presence events share one stream, apart from every chat's."""
    return -user_id


async def insert_txn(txn: Txn, rows: Sequence[tuple[int, str, str, int]]) -> None:
    """Append events (stream, kind, payload JSON, created_at), in order: one bulk
    insert (COPY on PostgreSQL) whatever their number."""
    if rows:
        await txn.insert_rows("webhook_outbox", _COLUMNS, rows)


async def claim_txn(txn: Txn, now: int, lease_until: int, limit: int) -> list[OutboxEvent]:
    """Claim up to ``limit`` events to send now, in event order."""
    lock = txn.engine.for_update
    # A row behind an earlier one of its stream that waits for a retry or is held
    # by a node is no candidate: other streams' rows fill the claim instead.
    rows = await txn.fetch(
        "SELECT event_id, stream, kind, payload, created_at, attempts FROM webhook_outbox o"
        " WHERE failed_at IS NULL AND next_attempt_at <= $1 AND locked_until <= $1"
        " AND NOT EXISTS (SELECT 1 FROM webhook_outbox e WHERE e.stream = o.stream"
        " AND e.event_id < o.event_id AND e.failed_at IS NULL"
        # Spelled as the partial index webhook_outbox_held is, so it is used.
        " AND (e.next_attempt_at > 0 OR e.locked_until > 0)"
        " AND (e.next_attempt_at > $1 OR e.locked_until > $1))"
        f" ORDER BY event_id LIMIT $2{f' {lock} SKIP LOCKED' if lock else ''}",
        now, limit)
    if not rows:
        return []
    claimed = [OutboxEvent(int(r[0]), int(r[1]), r[2], r[3], int(r[4]), int(r[5]) + 1)
               for r in rows]
    ids = [e.event_id for e in claimed]
    streams_in, stream_args = txn.engine.any_of("stream", 1, sorted({e.stream for e in claimed}))
    ids_in, id_args = txn.engine.any_of("event_id", 2, ids)
    # The first pending row of each stream that this claim leaves out, among the
    # rows before its last: held by another node that is claiming right now
    # (PostgreSQL), or waiting for a retry.
    blockers = await txn.fetch(
        f"SELECT stream, MIN(event_id) FROM webhook_outbox WHERE failed_at IS NULL AND"
        f" {streams_in} AND NOT ({ids_in}) AND event_id < $3 GROUP BY stream",
        *stream_args, *id_args, ids[-1])
    first_left_out = {int(r[0]): int(r[1]) for r in blockers}
    kept = [e for e in claimed
            if e.event_id < first_left_out.get(e.stream, e.event_id + 1)]
    if kept:
        kept_in, kept_args = txn.engine.any_of("event_id", 2, [e.event_id for e in kept])
        await txn.execute(
            f"UPDATE webhook_outbox SET locked_until = $1, attempts = attempts + 1"
            f" WHERE {kept_in}", lease_until, *kept_args)
    return kept


async def delete_txn(txn: Txn, event_ids: Sequence[int]) -> None:
    """Delivered: gone."""
    cond, args = txn.engine.any_of("event_id", 1, list(event_ids))
    await txn.execute(f"DELETE FROM webhook_outbox WHERE {cond}", *args)


async def fail_txn(txn: Txn, events: Sequence[OutboxEvent], error: str, now: int,
                   retry_at: int, max_attempts: int) -> int:
    """A try failed: free the events, next try at ``retry_at``; those that used
    up ``max_attempts`` are given up (``failed_at``). Returns how many."""
    spent = [e.event_id for e in events if e.attempts >= max_attempts]
    again = [e.event_id for e in events if e.attempts < max_attempts]
    for ids, failed_at in ((again, None), (spent, now)):
        if ids:
            cond, args = txn.engine.any_of("event_id", 4, ids)
            await txn.execute(
                "UPDATE webhook_outbox SET locked_until = 0, next_attempt_at = $1,"
                f" last_error = $2, failed_at = $3 WHERE {cond}",
                retry_at, error[:_ERROR_CHARS], failed_at, *args)
    return len(spent)


async def prune_failed_txn(txn: Txn, before: int) -> None:
    await txn.execute(
        "DELETE FROM webhook_outbox WHERE failed_at IS NOT NULL AND failed_at < $1", before)


async def stats_txn(txn: Txn) -> OutboxStats:
    row = await txn.fetchrow(
        "SELECT COUNT(*) FILTER (WHERE failed_at IS NULL),"
        " COUNT(*) FILTER (WHERE failed_at IS NOT NULL),"
        " MIN(created_at) FILTER (WHERE failed_at IS NULL) FROM webhook_outbox")
    assert row is not None
    oldest = row[2]
    return OutboxStats(int(row[0]), int(row[1]), None if oldest is None else int(oldest))


async def list_txn(txn: Txn) -> list[tuple[int, int, str, int, str | None, int | None]]:
    """Every row: (event_id, stream, kind, attempts, last_error, failed_at), for
    operators and tests."""
    rows = await txn.fetch(
        "SELECT event_id, stream, kind, attempts, last_error, failed_at FROM webhook_outbox"
        " ORDER BY event_id")
    return [(int(r[0]), int(r[1]), r[2], int(r[3]), r[4],
             None if r[5] is None else int(r[5])) for r in rows]


async def failed_txn(txn: Txn, limit: int) -> list[tuple[int, str, int, str | None, int]]:
    """The newest given-up events: (event_id, kind, attempts, last_error, failed_at)."""
    rows = await txn.fetch(
        "SELECT event_id, kind, attempts, last_error, failed_at FROM webhook_outbox"
        " WHERE failed_at IS NOT NULL ORDER BY event_id DESC LIMIT $1", limit)
    return [(int(r[0]), r[1], int(r[2]), r[3], int(r[4])) for r in rows]


async def retry_failed_txn(txn: Txn) -> int:
    """Give every given-up event a fresh set of tries, due now; returns how many."""
    rows = await txn.fetch(
        "UPDATE webhook_outbox SET failed_at = NULL, attempts = 0, next_attempt_at = 0,"
        " locked_until = 0 WHERE failed_at IS NOT NULL RETURNING event_id")
    return len(rows)
