"""How a file looks to a viewer: its current state from ``files`` (the one
source of truth; a message only references ``file_id``), whether it is
expiring soon, and the actions this viewer may take (``media.lifecycle``)."""

from __future__ import annotations

import msgspec

from tidings import wire
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.engine import Txn
from tidings.media import lifecycle
from tidings.services import permissions
from tidings.store import chat_media, chats, files


def file_info(f: files.FileRow, now: int, soon_window: int, *,
              actions: list[str] | None = None) -> wire.FileInfo:
    return wire.FileInfo(
        f.file_id, f.kind, f.name, f.mime, f.size, f.sha256, f.status, f.expires_at,
        f.preserved_by, f.width, f.height, f.thumbnail, f.created_at,
        lifecycle.expiring_soon(f.status, f.expires_at, now, soon_window),
        actions if actions is not None else wire.NO_STRINGS)


class FileViews:
    def __init__(self, clock: Clock, settings: Settings) -> None:
        self._clock = clock
        self._soon = settings.media_expiring_soon_seconds

    def info(self, f: files.FileRow, *, viewer: lifecycle.Viewer | None = None
             ) -> wire.FileInfo:
        actions = None if viewer is None else lifecycle.file_actions(
            viewer, uploader_id=f.uploader_id, status=f.status, expires_at=f.expires_at,
            preserved_by=f.preserved_by)
        return file_info(f, self._clock.now(), self._soon, actions=actions)

    async def for_viewer_txn(self, txn: Txn, f: files.FileRow, viewer: int, chat_id: int
                             ) -> wire.FileInfo:
        return self.info(f, viewer=await self.viewer_txn(txn, viewer, chat_id))

    async def viewer_txn(self, txn: Txn, viewer: int, chat_id: int) -> lifecycle.Viewer:
        """Either member of a direct chat has an admin's rights over its media (as
        services.media grants them), so the actions offered match what succeeds."""
        chat, member = await chats.get_chat_and_member_txn(txn, chat_id, viewer)
        media = await chat_media.get_txn(txn, chat_id)
        admin = (chat is not None and member is not None and member.active
                 and permissions.allows(chat, member, "pool"))
        return lifecycle.Viewer(viewer, admin, media.pool_enabled)

    async def attach_txn(self, txn: Txn, viewer: int | None, chat_id: int,
                         found: list[wire.Message]) -> list[wire.Message]:
        """``found`` with each media message's ``file`` as it is now; actions for
        ``viewer`` (none when None: one frame for every member)."""
        ids = [m.file_id for m in found if m.file_id is not None]
        if not ids:
            return found
        rows = await files.get_files_txn(txn, ids)
        who = None if viewer is None else await self.viewer_txn(txn, viewer, chat_id)
        out = []
        for m in found:
            f = rows.get(m.file_id) if m.file_id is not None else None
            if f is None or m.recalled_at is not None:
                out.append(m)
                continue
            info = self.info(f, viewer=who)
            out.append(msgspec.structs.replace(m, file=info))
        return out
