"""Media expiry (seed 000, DESIGN §5): ``active → expired`` when a file's
deadline passes (its bytes stay for ``media_grace_seconds`` and it can still
be renewed), ``expired → deleted`` after that (the blob goes once no other
file row holding bytes shares it). One step moves at most
``media_expiry_batch_size`` files of each transition in one transaction, with
their ``media.expired`` / ``media.deleted`` updates.

A file whose chat keeps its media (``cleanup`` off) or is whitelisted, or
whose uploader is whitelisted, is not expired but frozen (its deadline
cleared): those settings may have changed after the deadline was computed.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter

from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.engine import Txn
from tidings.media.blobs import BlobStore
from tidings.services.file_views import FileViews
from tidings.services.files import thumbnail_key
from tidings.services.media import MediaService
from tidings.services.media_updates import announce_txn
from tidings.store import chats, files
from tidings.store import jobs as job_store

log = logging.getLogger(__name__)

BLOB_DELETE_JOB = "blob_delete"

EXPIRED = Counter("tidings_media_expired_total", "Files that expired (bytes kept for grace)")
DELETED = Counter("tidings_media_deleted_total", "Expired files whose grace period ended")
BLOBS_DELETED = Counter("tidings_media_blobs_deleted_total",
                        "Blobs removed from the blob store (no file holds them any more)")


class MediaExpiry:
    def __init__(self, bus: Bus, clock: Clock, settings: Settings, blobs: BlobStore,
                 views: FileViews, media: MediaService) -> None:
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._blobs = blobs
        self._views = views
        self._media = media

    async def sweep_txn(self, txn: Txn, now: int) -> bool:
        """One step of both transitions; True when it may have left due files."""
        s = self._settings
        if not s.cleanup_job_enabled:
            return False
        limit = s.media_expiry_batch_size
        cutoff = now - s.media_grace_seconds
        due, gone, more = await self._lock_due_txn(txn, now, cutoff, limit)
        # One statement per kind of change, whatever the batch's size (measured:
        # per-file statements made a 1,000-file step take 2.8 s on PostgreSQL).
        lives = await self._media.lifetimes_txn(txn, due)
        steps: list[tuple[files.FileRow, files.Transition]] = []
        kinds: list[str] = []
        for f in due:
            life = lives[f.file_id]
            if life.expires_at is None:  # frozen since its deadline was set
                steps.append((f, files.Transition(
                    f.status, None, None, life.preserved_by,
                    now if life.preserved_by else None, f.pool_chat_id)))
                kinds.append("media.updated")
            else:
                steps.append((f, files.Transition(
                    "expired", f.expires_at, now, f.preserved_by, f.preserved_at,
                    f.pool_chat_id)))
                kinds.append("media.expired")
        changed = list(zip(await files.apply_many_txn(txn, steps), kinds, strict=True))
        # With no grace period, what expired just now is due for deletion too.
        fresh = [f for f, kind in changed if kind == "media.expired"
                 and f.expired_at is not None and f.expired_at <= cutoff]
        gone = sorted(gone + fresh, key=lambda f: (f.expired_at or 0, f.file_id))[:limit]
        deleted = await files.apply_many_txn(txn, [(f, files.Transition(
            "deleted", f.expires_at, f.expired_at, f.preserved_by, f.preserved_at,
            f.pool_chat_id, now)) for f in gone])
        changed += [(f, "media.deleted") for f in deleted]
        for sha256 in sorted({f.sha256 for f in gone}):
            if not await files.blob_in_use_txn(txn, sha256):
                await job_store.schedule_txn(txn, BLOB_DELETE_JOB, {"sha256": sha256}, now, now,
                                             dedupe_key=f"{BLOB_DELETE_JOB}:{sha256}")
        for pool_chat in sorted({f.pool_chat_id for f in gone if f.pool_chat_id is not None}):
            await self._media.pool_changed_txn(txn, pool_chat, None, now)  # room freed
        if changed:
            await announce_txn(txn, self._bus, self._views, changed, now)
            expired = sum(1 for _, kind in changed if kind == "media.expired")

            def count() -> None:
                EXPIRED.inc(expired)
                DELETED.inc(len(gone))

            txn.call_after(count)
        return more or len(gone) >= limit

    async def _lock_due_txn(self, txn: Txn, now: int, cutoff: int, limit: int
                            ) -> tuple[list[files.FileRow], list[files.FileRow], bool]:
        """(due to expire, due to delete, may have left more), locked in the order
        every other writer takes them: first the chats showing the files (their
        updates are written below), then the files. Renewal, custody and send
        lock a chat and then its file; taking a file first and then its chat
        here would deadlock with them."""
        peek_due = await files.due_to_expire_txn(txn, now, limit, lock=False)
        peek_gone = await files.due_to_delete_txn(txn, cutoff, limit, lock=False)
        ids = [f.file_id for f in peek_due + peek_gone]
        if not ids:
            return [], [], False
        refs = await files.referencing_messages_txn(txn, ids)
        await chats.get_chats_txn(
            txn, sorted({chat_id for shown in refs.values() for chat_id, _ in shown}), lock=True)
        rows = await files.get_files_txn(txn, ids, lock=True)
        # Still due now that they are locked (a renewal may have come first).
        due = [f for p in peek_due if (f := rows.get(p.file_id)) is not None
               and f.status == "active" and f.expires_at is not None and f.expires_at <= now]
        gone = [f for p in peek_gone if (f := rows.get(p.file_id)) is not None
                and f.status == "expired" and f.expired_at is not None
                and f.expired_at <= cutoff]
        return due, gone, len(peek_due) >= limit or len(peek_gone) >= limit

    async def delete_blob_txn(self, txn: Txn, sha256: str) -> None:
        """Remove a blob no file holds any more. Its row is locked first: an upload
        of the same bytes waits for this transaction and then stores them anew."""
        found = await files.lock_blob_txn(txn, sha256)
        if found is None or await files.blob_in_use_txn(txn, sha256):
            return  # already gone, or uploaded again meanwhile
        _, has_thumbnail = found
        await self._blobs.delete(sha256)
        if has_thumbnail:
            await self._blobs.delete(thumbnail_key(sha256))
        await files.delete_blob_row_txn(txn, sha256)
        txn.call_after(BLOBS_DELETED.inc)
