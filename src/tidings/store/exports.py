"""Exports (``message.export``): their rows, and the bounded reads an export
job pages through a chat with.

Every read here covers one half-open pts range ``(after, upto]`` of one chat
and returns at most ``limit`` rows, so the caller bounds both the rows it holds
and the rows the database scans in one step, whatever the chat's size.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tidings import wire
from tidings.db.engine import Txn
from tidings.store import messages

# Unfinished exports: what the per-user limit counts.
ACTIVE_STATES = ("queued", "running")


class ExportRow(msgspec.Struct, frozen=True):
    job_id: int
    user_id: int
    chat_id: int
    format: str
    since: int | None
    until: int | None
    upto_pts: int
    state: str
    counted_upto: int
    total: int | None
    cursor: int
    progress: int
    bytes: int
    last_date: int | None
    path: str | None
    error: str | None
    created_at: int
    started_at: int | None
    finished_at: int | None
    expires_at: int | None


_COLS = (
    "job_id, user_id, chat_id, format, since, until, upto_pts, state, counted_upto, total,"
    " cursor, progress, bytes, last_date, path, error, created_at, started_at, finished_at,"
    " expires_at"
)
_ERROR_CHARS = 500


async def insert_txn(txn: Txn, user_id: int, chat_id: int, fmt: str, since: int | None,
                     until: int | None, upto_pts: int, now: int) -> int:
    job_id = await txn.fetchval(
        "INSERT INTO exports (user_id, chat_id, format, since, until, upto_pts, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING job_id",
        user_id, chat_id, fmt, since, until, upto_pts, now)
    return int(job_id)


async def get_txn(txn: Txn, job_id: int) -> ExportRow | None:
    row = await txn.fetchrow(f"SELECT {_COLS} FROM exports WHERE job_id = $1", job_id)
    return None if row is None else ExportRow(*row)


async def count_active_txn(txn: Txn, user_id: int) -> int:
    """The user's exports that are queued or running. Locks the user's row first
    (PostgreSQL), so two requests at once are counted one after the other."""
    await txn.fetchval(f"SELECT user_id FROM users WHERE user_id = $1{txn.engine.for_update}",
                       user_id)
    cond, args = txn.engine.any_of("state", 2, list(ACTIVE_STATES))
    value = await txn.fetchval(
        f"SELECT COUNT(*) FROM exports WHERE user_id = $1 AND {cond}", user_id, *args)
    return int(value or 0)


async def update_txn(txn: Txn, job_id: int, **fields: Any) -> None:
    """Set these columns of one export (names from ``ExportRow``)."""
    unknown = set(fields) - set(ExportRow.__struct_fields__)
    if unknown or not fields:
        raise ValueError(f"cannot update exports columns {sorted(unknown) or '(none)'}")
    if isinstance(fields.get("error"), str):
        fields["error"] = fields["error"][:_ERROR_CHARS]
    names = sorted(fields)
    sets = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(names))
    await txn.execute(f"UPDATE exports SET {sets} WHERE job_id = $1", job_id,
                      *(fields[n] for n in names))


# -- reading the chat, one bounded range at a time

def _filters(first: int, since: int | None, until: int | None, hidden_for: int | None
             ) -> tuple[str, list[Any]]:
    """SQL conditions (and their arguments, numbered from ``first``) for the date
    window ``since <= date < until`` and, with ``hidden_for``, for leaving out
    what that user deleted for themselves."""
    sql: list[str] = []
    args: list[Any] = []
    if since is not None:
        args.append(since)
        sql.append(f" AND date >= ${first + len(args) - 1}")
    if until is not None:
        args.append(until)
        sql.append(f" AND date < ${first + len(args) - 1}")
    if hidden_for is not None:
        args.append(hidden_for)
        sql.append(" AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id ="
                   f" ${first + len(args) - 1} AND h.chat_id = messages.chat_id"
                   " AND h.msg_id = messages.msg_id)")
    return "".join(sql), args


async def page_txn(txn: Txn, chat_id: int, after: int, upto: int, limit: int, *,
                   since: int | None, until: int | None, hidden_for: int | None
                   ) -> list[wire.Message]:
    """Up to ``limit`` live messages with ``after < msg_id <= upto`` in the date
    window, ascending (the rows ``message.history`` pages through, plus the date
    filter)."""
    extra, args = _filters(5, since, until, hidden_for)
    rows = await txn.fetch(
        f"SELECT {messages._COLS} FROM messages WHERE chat_id = $1 AND msg_id > $2"
        f" AND msg_id <= $3 AND deleted_at IS NULL{extra} ORDER BY msg_id LIMIT $4",
        chat_id, after, upto, limit, *args)
    return [messages.message_from_row(r) for r in rows]


async def count_txn(txn: Txn, chat_id: int, after: int, upto: int, *, since: int | None,
                    until: int | None, hidden_for: int | None) -> int:
    """How many messages ``page_txn`` would return over ``(after, upto]`` without
    a limit."""
    extra, args = _filters(4, since, until, hidden_for)
    value = await txn.fetchval(
        "SELECT COUNT(*) FROM messages WHERE chat_id = $1 AND msg_id > $2 AND msg_id <= $3"
        f" AND deleted_at IS NULL{extra}",
        chat_id, after, upto, *args)
    return int(value or 0)


async def date_of_txn(txn: Txn, chat_id: int, msg_id: int) -> int | None:
    """The date of a message (deleted or not): where the previous chunk ended."""
    value = await txn.fetchval(
        "SELECT date FROM messages WHERE chat_id = $1 AND msg_id = $2", chat_id, msg_id)
    return None if value is None else int(value)
