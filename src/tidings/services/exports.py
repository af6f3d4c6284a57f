"""Exports: a chat's history, as the requester sees it, in a file to download.

``message.export`` records the export (``exports`` row, state ``queued``) and
schedules its ``export`` background job in the same transaction. The job
(``tidings.jobs.export``) calls ``step_txn``; each step is one bounded
transaction that reschedules the job at once until the export is finished:

1. **count** (state ``running``): the messages to write are counted over at
   most ``SCAN_WINDOW_CHUNKS * export_chunk_rows`` pts per step; ``total`` is
   known once the whole range is counted.
2. **write**: up to ``export_chunk_rows`` messages per step, read over at most
   the same pts window (so a narrow ``since``/``until`` never scans a huge
   chat in one step), decorated as ``message.history`` decorates them
   (``reply_preview``, ``my_reactions``), rendered (``export_render``) and
   appended to ``<export_dir>/<job_id>.<format>``. The row records how far the
   scan got (``cursor``), how many messages were written (``progress``) and
   the file's committed length (``bytes``); a step that rolls back leaves
   bytes past that length, which the next step truncates away, and a file
   shorter than it (lost) restarts the export. Memory is one chunk, whatever
   the chat's size.
3. **done**: footer, state ``done``, and the user update
   ``export.ready {job_id, chat_id, state, url, error}`` so every device of the
   requester learns it without polling. The job is then due again at
   ``expires_at`` (``export_retention_seconds`` later), when it deletes the
   file and marks the export ``expired``.

What is exported is the requester's read view at the time each chunk is
written: their membership spans above the cleared floor, without deleted
messages or the ones they deleted for themselves, up to the chat's pts when the
export was requested, filtered by ``since <= date < until``, oldest first.

Who may export: the owner or an admin of a group or channel (a member gets
``FORBIDDEN`` with ``data.permission: "export"``; the groups issue will let a
chat allow it), and either member of a direct chat (both are equals there, as
for clearing history). At most ``export_max_concurrent_per_user`` exports of
one user are queued or running at once (``RATE_LIMITED``, ``data.limit``).

A step that fails is retried by the runner; on its last attempt
(``jobs_max_attempts``) the export is marked ``failed`` instead (the step's
partial work rolled back to a savepoint), its file deleted, and ``export.ready``
says so. With several nodes, ``export_dir`` must be a directory they share.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from tidings import wire
from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, invalid
from tidings.services import access, export_render, permissions
from tidings.services.file_views import FileViews
from tidings.services.notify import publish_user_on_commit
from tidings.services.timeline import decorate_txn
from tidings.store import chats, updates, users
from tidings.store import exports as store
from tidings.store import jobs as job_store
from tidings.store.exports import ExportRow

log = logging.getLogger(__name__)

JOB_KIND = "export"
# A step scans at most this many chunks' worth of pts (counting or writing).
SCAN_WINDOW_CHUNKS = 50

Spans = list[tuple[int, int]]


class ExportStatus(msgspec.Struct, frozen=True):
    """What ``export.status`` answers (and ``GET /exports/{job_id}`` before the
    file is ready)."""

    job_id: int
    chat_id: int
    format: str
    state: str  # queued | running | done | failed | expired
    progress: int  # messages written
    total: int | None  # messages to write, known once counted (null before)
    url: str | None  # "/exports/{job_id}" once done, until it expires
    error: str | None
    since: int | None
    until: int | None
    created_at: int
    finished_at: int | None
    expires_at: int | None


class Download(msgspec.Struct, frozen=True):
    path: Path
    file_name: str
    content_type: str


def export_url(job_id: int) -> str:
    return f"/exports/{job_id}"


def status_of(row: ExportRow) -> ExportStatus:
    counted = row.state != "queued" and row.counted_upto >= row.upto_pts
    return ExportStatus(
        job_id=row.job_id, chat_id=row.chat_id, format=row.format, state=row.state,
        progress=row.progress, total=row.total if counted else None,
        url=export_url(row.job_id) if row.state == "done" else None, error=row.error,
        since=row.since, until=row.until, created_at=row.created_at,
        finished_at=row.finished_at, expires_at=row.expires_at)


def scan_window(spans: Spans, pos: int, budget: int) -> tuple[Spans, int | None]:
    """The half-open ranges ``(after, upto]`` of visible pts above ``pos`` that
    one step scans, at most ``budget`` pts in all, oldest first; and where the
    scan then stands, or None when it reached the end of the spans."""
    ranges: Spans = []
    for lo, hi in spans:
        if hi <= pos:
            continue
        if budget <= 0:
            return ranges, pos
        after = max(pos, lo - 1)
        upto = min(hi, after + budget)
        ranges.append((after, upto))
        budget -= upto - after
        pos = upto
        if upto < hi:  # the budget ran out inside this span
            return ranges, pos
    return ranges, None


class _FileLost(Exception):
    """The export file is shorter than what the row says was committed."""


# fdatasync where there is one (Linux); fsync elsewhere (macOS).
_datasync = getattr(os, "fdatasync", os.fsync)


def _write_at(path: Path, offset: int, render: Callable[[], bytes]) -> int:
    """Render a chunk, cut the file to ``offset`` (what committed steps wrote),
    append the chunk and sync it to disk, and return the new length. Syncing
    every chunk (about 2 ms here) keeps the recorded length true after a power
    loss, and spares the last step one long sync of the whole file (about 1 s
    for 500 MB, with the writer lock held). Runs on a worker thread: rendering is
    the costly part of a step, and the event loop keeps serving meanwhile."""
    data = render()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+b") as f:
        if os.fstat(fd).st_size < offset:
            raise _FileLost(path)
        f.truncate(offset)
        f.seek(offset)
        f.write(data)
        f.flush()
        _datasync(fd)
    return offset + len(data)


def _remove(path: Path) -> None:
    """Delete an export file; one that is not there is fine, and one that cannot
    be deleted is logged (the export's state moves on regardless)."""
    try:
        path.unlink()
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as exc:
        log.warning("could not delete the export file %s: %s", path, exc)


class ExportService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings,
                 file_views: FileViews) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._file_views = file_views
        self.directory = settings.export_dir or settings.data_dir / "exports"

    # -- requests
    async def request(self, user_id: int, chat_id: int, fmt: str, since: int | None,
                      until: int | None) -> int:
        """Record an export and schedule its job; returns its ``job_id``."""
        if fmt not in export_render.FORMATS:
            raise invalid("format must be \"jsonl\" or \"html\"", field="format")
        if since is not None and until is not None and until <= since:
            raise invalid("until must be after since", field="until")
        limit = self._settings.export_max_concurrent_per_user

        async def export_txn(txn: Txn) -> int:
            chat, me = await access.load_membership_txn(txn, chat_id, user_id, active=True)
            permissions.require(chat, me, "export")
            if await store.count_active_txn(txn, user_id) >= limit:
                raise TidingsError(
                    ErrorCode.RATE_LIMITED, f"you have {limit} exports in progress; wait for "
                    "one to finish", limit=limit)
            now = self._clock.now()
            job_id = await store.insert_txn(txn, user_id, chat_id, fmt, since, until, chat.pts,
                                            now)
            await job_store.schedule_txn(txn, JOB_KIND, {"job_id": job_id}, now, now,
                                         dedupe_key=f"{JOB_KIND}:{job_id}")
            return job_id

        return await self._db.write("export_request", export_txn)

    async def _own(self, user_id: int, job_id: int) -> ExportRow:
        async def get_txn(txn: Txn) -> ExportRow | None:
            return await store.get_txn(txn, job_id)

        row = await self._db.read("export_get", get_txn, snapshot=False)
        if row is None or row.user_id != user_id:  # another user's is not theirs to see
            raise TidingsError(ErrorCode.NOT_FOUND, f"no export {job_id}", job_id=job_id)
        return row

    async def status(self, user_id: int, job_id: int) -> ExportStatus:
        return status_of(await self._own(user_id, job_id))

    async def download(self, user_id: int, job_id: int) -> Download | ExportStatus:
        """The file of a finished export of this user, or its status while it is
        queued or running; ``NOT_FOUND`` when it is not theirs, failed or expired."""
        row = await self._own(user_id, job_id)
        if row.state in store.ACTIVE_STATES:
            return status_of(row)
        if row.state != "done" or row.path is None:
            why = f"failed: {row.error}" if row.state == "failed" else "expired"
            raise TidingsError(ErrorCode.NOT_FOUND, f"export {job_id} {why}", job_id=job_id,
                               state=row.state)
        return Download(self.directory / row.path,
                        export_render.file_name(row.chat_id, job_id, row.format),
                        export_render.content_type(row.format))

    # -- the job
    async def step_txn(self, txn: Txn, job_id: int, now: int, *, last_attempt: bool
                       ) -> int | None:
        """One step of the export's job; returns when to run the next one (None:
        nothing left to do)."""
        row = await store.get_txn(txn, job_id)
        if row is None:
            return None
        if row.state == "done":
            if row.expires_at is not None and row.expires_at > now:
                return row.expires_at
            await asyncio.to_thread(_remove, self._path(row))
            await store.update_txn(txn, job_id, state="expired")
            return None
        if row.state not in store.ACTIVE_STATES:
            return None
        await txn.execute("SAVEPOINT export_step")
        try:
            return await self._advance_txn(txn, row, now)
        except Exception as exc:
            if not last_attempt:
                raise
            await txn.execute("ROLLBACK TO SAVEPOINT export_step")
            log.exception("export %d failed on its last attempt", job_id)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else None
            await self._fail_txn(txn, row, now, f"could not write the export: {reason}"
                                 if reason else "the export failed on the server")
            return None

    def _path(self, row: ExportRow) -> Path:
        return self.directory / (row.path or f"{row.job_id}.{row.format}")

    async def _advance_txn(self, txn: Txn, row: ExportRow, now: int) -> int | None:
        chat, member = await chats.get_chat_and_member_txn(txn, row.chat_id, row.user_id)
        if chat is None or member is None:
            await self._fail_txn(txn, row, now, "the chat is no longer there")
            return None
        spans = [(lo, min(hi, row.upto_pts))
                 for lo, hi in access.message_spans(chat, member) if lo <= row.upto_pts]
        hidden_for = row.user_id if member.has_hidden else None
        if row.state == "queued":
            await store.update_txn(txn, row.job_id, state="running", started_at=now, total=0,
                                   path=f"{row.job_id}.{row.format}")
            row = msgspec.structs.replace(row, state="running", total=0,
                                          path=f"{row.job_id}.{row.format}")
        window = self._settings.export_chunk_rows * SCAN_WINDOW_CHUNKS
        if row.counted_upto < row.upto_pts:
            ranges, pos = scan_window(spans, row.counted_upto, window)
            found = 0
            for after, upto in ranges:
                found += await store.count_txn(txn, row.chat_id, after, upto, since=row.since,
                                               until=row.until, hidden_for=hidden_for)
            total = (row.total or 0) + found
            counted = row.upto_pts if pos is None else pos
            await store.update_txn(txn, row.job_id, total=total, counted_upto=counted)
            if pos is not None:
                return now
            # Counted in one step (a small chat): the first chunk follows at once.
            row = msgspec.structs.replace(row, total=total, counted_upto=counted)
        return await self._write_txn(txn, chat, row, spans, hidden_for, now)

    async def _write_txn(self, txn: Txn, chat: chats.ChatRow, row: ExportRow, spans: Spans,
                         hidden_for: int | None, now: int) -> int | None:
        s = self._settings
        limit = s.export_chunk_rows
        ranges, pos = scan_window(spans, row.cursor, limit * SCAN_WINDOW_CHUNKS)
        page: list[wire.Message] = []
        for after, upto in ranges:
            page += await store.page_txn(txn, row.chat_id, after, upto, limit - len(page),
                                         since=row.since, until=row.until,
                                         hidden_for=hidden_for)
            if len(page) >= limit:
                break
        # A full page ends at its last message; a short one scanned its whole window.
        end = row.upto_pts if pos is None else pos
        cursor = page[-1].msg_id if len(page) >= limit else end
        done = cursor >= row.upto_pts
        page = await decorate_txn(txn, row.user_id, row.chat_id, page, spans,
                                  s.reply_preview_chars, self._file_views)
        render = await self._renderer_txn(txn, chat, row, page, done)
        path = self._path(row)
        try:
            size = await asyncio.to_thread(_write_at, path, row.bytes, render)
        except _FileLost:
            log.warning("export %d: its file is shorter than recorded; starting over",
                        row.job_id)
            await store.update_txn(txn, row.job_id, cursor=0, progress=0, bytes=0,
                                   last_date=None)
            return now
        progress = row.progress + len(page)
        last_date = page[-1].date if page else row.last_date
        if not done:
            await store.update_txn(txn, row.job_id, cursor=cursor, progress=progress,
                                   bytes=size, last_date=last_date)
            return now
        expires_at = now + s.export_retention_seconds
        await store.update_txn(txn, row.job_id, cursor=cursor, progress=progress, bytes=size,
                               last_date=last_date, total=progress, state="done",
                               finished_at=now, expires_at=expires_at)
        await self._tell_txn(txn, row, now, "done", None)
        return expires_at

    async def _renderer_txn(self, txn: Txn, chat: chats.ChatRow, row: ExportRow,
                            page: list[wire.Message], done: bool) -> Callable[[], bytes]:
        """What the chunk's bytes are made from (names read here), as a function
        to run off the event loop."""
        if row.format == "jsonl":
            return functools.partial(export_render.jsonl, page)
        wanted = export_render.user_ids_in(page)
        title: str | None = None
        if row.bytes == 0:  # the first chunk: the page starts with its header
            title, named = await self._title_txn(txn, chat)
            wanted |= named | {row.user_id}
        names = {u.user_id: u.username for u in await users.get_users_txn(txn, sorted(wanted))}
        last_day = export_render.utc_day(row.last_date) if row.last_date is not None else None

        def render() -> bytes:
            head = "" if title is None else export_render.html_header(
                title, names.get(row.user_id, ""), row.created_at, row.since, row.until)
            body = export_render.html_chunk(page, names, last_day)
            tail = export_render.html_footer(row.progress + len(page)) if done else ""
            return (head + body + tail).encode()

        return render

    async def _title_txn(self, txn: Txn, chat: chats.ChatRow) -> tuple[str, set[int]]:
        """The page's title, and for a direct chat the two users it names."""
        if chat.kind != "direct":
            return chat.title or f"Chat {chat.chat_id}", set()
        members = await chats.active_members_txn(txn, chat.chat_id, 2)
        ids = [m.user_id for m in members]
        found = {u.user_id: u.username for u in await users.get_users_txn(txn, ids)}
        return " and ".join(found.get(u, f"user {u}") for u in ids) or "Direct chat", set(ids)

    async def _fail_txn(self, txn: Txn, row: ExportRow, now: int, error: str) -> None:
        await asyncio.to_thread(_remove, self._path(row))
        await store.update_txn(txn, row.job_id, state="failed", error=error, finished_at=now)
        await self._tell_txn(txn, row, now, "failed", error)

    async def _tell_txn(self, txn: Txn, row: ExportRow, now: int, state: str,
                        error: str | None) -> None:
        """The requester's devices learn that the export finished (or failed)."""
        payload: dict[str, Any] = {
            "job_id": row.job_id, "chat_id": row.chat_id, "state": state,
            "url": export_url(row.job_id) if state == "done" else None, "error": error}
        update = await updates.append_user_update_txn(txn, row.user_id, now, "export.ready",
                                                      payload)
        publish_user_on_commit(txn, self._bus, row.user_id, [update])
