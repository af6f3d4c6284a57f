"""Uploads and downloads (issue 8): bytes into the blob store and a ``files``
row; who may fetch a file, and what an expired one shows instead.

An upload is staged (streamed to disk and hashed by the HTTP layer), checked
(its kind against its sniffed content, images decoded for a thumbnail, off the
event loop), then moved into the blob store under its sha256 and recorded in
one transaction. Every check happens before the blob store is touched, so bad
input leaves neither a blob nor a row behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from tidings import wire
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, invalid
from tidings.media import lifecycle, sniff, thumbnails
from tidings.media.blobs import BlobStore
from tidings.services import access
from tidings.services.file_views import FileViews
from tidings.store import avatars, chat_media, chats, files, messages

log = logging.getLogger(__name__)

UPLOADS = Counter("tidings_media_uploads_total", "Files uploaded, by kind", ["kind"])
UPLOAD_BYTES = Counter("tidings_media_upload_bytes_total", "Bytes uploaded, by kind", ["kind"])


def _remove(path: Path) -> None:
    # Synchronous on purpose: it also runs while a cancellation unwinds. One
    # unlink of a staged file is a quick metadata operation.
    with contextlib.suppress(OSError):
        path.unlink()


def thumbnail_key(sha256: str) -> str:
    return f"{sha256}.thumb"


@dataclass(frozen=True)
class Download:
    """A file whose bytes may be sent."""

    file: files.FileRow
    key: str
    size: int
    mime: str
    name: str


@dataclass(frozen=True)
class Placeholder:
    """What an expired or deleted file shows instead of its bytes (seed 000:
    never a 404 or a broken download)."""

    error: TidingsError
    body: dict[str, Any]


class FileService:
    def __init__(self, db: Database, clock: Clock, settings: Settings, blobs: BlobStore,
                 views: FileViews) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._rules = lifecycle.MediaRules.from_settings(settings)
        self.blobs = blobs
        self._views = views
        self._pool: thumbnails.ThumbnailProcessPool | None = None
        self.staging_dir = settings.media_path / "staging"

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown)
        await self.blobs.close()

    def check_request(self, kind: str, name: str, size: int | None) -> None:
        """What can be refused before the body is read."""
        decision = lifecycle.can_upload_media(self._rules, kind, size or 0)
        if not decision.allowed:
            if decision.limit is not None:
                raise TidingsError(ErrorCode.TOO_LARGE, decision.reason or "too large",
                                   limit=decision.limit)
            raise invalid(decision.reason or "not allowed", field="kind")
        if not name.strip() or len(name) > self._settings.max_file_name_length:
            raise invalid(f"name must be 1 to {self._settings.max_file_name_length} "
                          "characters", field="name")
        if not wire.is_safe_text(name) or any(c in name for c in "/\\\r\n"):
            raise invalid("name must be a plain file name", field="name")

    # -- upload
    async def upload(self, user_id: int, kind: str, name: str, declared_mime: str | None,
                     path: Path, size: int, sha256: str, head: bytes) -> wire.FileInfo:
        """Store a staged upload (the file at ``path`` is consumed either way)."""
        try:
            self.check_request(kind, name, size)
            if size == 0:
                raise invalid("the body is empty", field="body")
            try:
                mime = sniff.check_kind(kind, declared_mime, head)
            except sniff.MimeMismatch as exc:
                raise TidingsError(ErrorCode.UNSUPPORTED_MEDIA, str(exc), kind=kind,
                                   sniffed=exc.sniffed) from None
            thumb = await self._thumbnail(path) if kind == "image" else None
        except BaseException:
            _remove(path)  # a refused upload leaves nothing behind
            raise
        await self.blobs.ingest(sha256, path)
        if thumb is not None:
            await self.blobs.put_bytes(thumbnail_key(sha256), thumb.data)
        now = self._clock.now()

        async def record_txn(txn: Txn) -> files.FileRow:
            existed = await files.claim_blob_txn(txn, sha256, size, now)
            if not existed and not await self.blobs.exists(sha256):
                # The blob deleter removed these bytes between our ingest and this
                # lock (they had no live file left): rare, and a retry stores them.
                raise TidingsError(ErrorCode.UNAVAILABLE, "storage was busy; upload again")
            level, whitelisted = (await chat_media.user_media_txn(txn, [user_id])).get(
                user_id, (0, False))
            life = lifecycle.compute_expire_at(self._rules, None, kind, level, now,
                                               uploader_whitelisted=whitelisted)
            row = await files.insert_file_txn(
                txn, uploader_id=user_id, kind=kind, name=name, mime=mime, size=size,
                sha256=sha256, width=None if thumb is None else thumb.source_width,
                height=None if thumb is None else thumb.source_height, now=now,
                expires_at=life.expires_at, preserved_by=life.preserved_by,
                thumbnail=thumb is not None)
            if thumb is not None:
                await files.set_thumbnail_txn(txn, sha256)
            return row

        row = await self._db.write("upload_file", record_txn)
        UPLOADS.labels(kind).inc()
        UPLOAD_BYTES.labels(kind).inc(size)
        return self._views.info(row)

    async def _thumbnail(self, path: Path) -> thumbnails.Thumbnail:
        if self._pool is None:
            self._pool = thumbnails.ThumbnailProcessPool(self._settings.thumbnail_workers)
        s = self._settings
        try:
            return await thumbnails.thumbnail_off_loop(
                path, executor=self._pool, max_side=s.thumbnail_max_side,
                max_pixels=s.thumbnail_max_pixels)
        except thumbnails.ImageRejected as exc:
            raise TidingsError(ErrorCode.UNSUPPORTED_MEDIA, f"not a usable image: {exc.reason}",
                               kind="image", reason=exc.reason) from None

    # -- download
    async def open(self, user_id: int, file_id: int, *, thumbnail: bool = False
                   ) -> Download | Placeholder:
        """The file's bytes (or its thumbnail's) for a user who may see it: its
        uploader, a member who can see a message showing it, or anyone shown it
        as an avatar (the uploader's profile picture, unless they block the
        viewer; the picture of a chat the viewer is in). Anyone else, and a file
        that does not exist, get the same ``NOT_FOUND``."""
        async def open_txn(txn: Txn) -> Download | Placeholder:
            f = await files.get_file_txn(txn, file_id)
            seen = None if f is None else await self._seen_in_txn(txn, user_id, f)
            if f is None or (seen is None and f.uploader_id != user_id
                             and not await self._avatar_of_txn(txn, user_id, f)):
                raise TidingsError(ErrorCode.NOT_FOUND, f"no file {file_id}")
            if f.status != "active":
                return await self._placeholder_txn(txn, user_id, f, seen)
            if thumbnail:
                if not f.thumbnail:
                    raise TidingsError(ErrorCode.NOT_FOUND, f"file {file_id} has no thumbnail")
                return Download(f, thumbnail_key(f.sha256), -1, "image/webp", f.name + ".webp")
            return Download(f, f.sha256, f.size, f.mime, f.name)

        return await self._db.read("open_file", open_txn)

    @staticmethod
    async def _avatar_of_txn(txn: Txn, user_id: int, f: files.FileRow) -> bool:
        if f.kind != "image":
            return False
        return (await avatars.is_profile_avatar_txn(txn, f.uploader_id, f.file_id, user_id)
                or await avatars.is_chat_avatar_txn(txn, f.file_id, user_id))

    async def _seen_in_txn(self, txn: Txn, user_id: int, f: files.FileRow
                           ) -> tuple[int, int, int, int] | None:
        """(chat_id, msg_id, sender_id, date) of the first live message showing
        the file that this user can see, if any."""
        refs = (await files.referencing_messages_txn(txn, [f.file_id])).get(f.file_id, [])
        checked: dict[int, list[tuple[int, int]] | None] = {}
        for chat_id, msg_id in refs:
            if chat_id not in checked:
                chat, member = await chats.get_chat_and_member_txn(txn, chat_id, user_id)
                checked[chat_id] = (None if chat is None or member is None
                                    else access.message_spans(chat, member))
            spans = checked[chat_id]
            if spans is not None and access.can_see(spans, msg_id):
                for stored in await messages.get_stored_txn(txn, chat_id, [msg_id]):
                    return chat_id, msg_id, stored.message.sender_id, stored.message.date
        return None

    async def _placeholder_txn(self, txn: Txn, user_id: int, f: files.FileRow,
                               seen: tuple[int, int, int, int] | None) -> Placeholder:
        actions: list[str] = []
        if seen is not None:
            viewer = await self._views.viewer_txn(txn, user_id, seen[0])
            actions = lifecycle.file_actions(viewer, uploader_id=f.uploader_id,
                                             status=f.status, expires_at=f.expires_at,
                                             preserved_by=f.preserved_by)
        body = {"status": f.status, "file_id": f.file_id, "kind": f.kind, "name": f.name,
                "size": f.size, "sent_at": None if seen is None else seen[3],
                "sender_id": f.uploader_id if seen is None else seen[2],
                "chat_id": None if seen is None else seen[0],
                "msg_id": None if seen is None else seen[1],
                "expires_at": f.expires_at, "actions": actions}
        if f.status == "expired":
            error = TidingsError(ErrorCode.MEDIA_EXPIRED, f"file {f.file_id} has expired; "
                                 "it can still be renewed", file_id=f.file_id)
        else:
            error = TidingsError(ErrorCode.MEDIA_GONE, f"file {f.file_id} is gone",
                                 file_id=f.file_id)
        return Placeholder(error, body)

    def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        return self.blobs.read(key, start, end)

    async def size_of(self, key: str) -> int:
        return await self.blobs.size(key)
