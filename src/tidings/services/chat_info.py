"""A chat's own information: title, about, avatar, announcement (with its
history, ``chat.announcements``), join approval and history visibility, all
changed by ``chat.update`` as one ``chat.updated`` chat update.

``history_visibility`` decides what someone joining *from now on* sees
(``access.join_terms``): "full" the whole history (if ``view_history`` allows),
"joined" from their join plus their earlier memberships, "none" their current
membership only. Members already in the chat keep what they had, so a change
never takes messages away from a device or hands old ones to it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, invalid
from tidings.services import access, permissions, system_messages
from tidings.services.message_targets import lock_membership_txn
from tidings.services.notify import publish_chat_on_commit
from tidings.store import files, groups, updates

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType
VISIBILITIES = ("full", "joined", "none")
# Fields of chat.update and the action each needs (services.permissions).
NEEDS: dict[str, str] = {
    "title": "change_info", "about": "change_info", "avatar_file_id": "change_info",
    "announcement": "change_info", "join_approval": "set_permissions",
    "history_visibility": "set_permissions",
}


class ChatInfoChange(msgspec.Struct, frozen=True):
    title: str | Unset = UNSET
    about: str | Unset = UNSET
    avatar_file_id: int | Unset | None = UNSET  # null removes the avatar
    announcement: str | Unset = UNSET  # "" removes it (the history stays)
    join_approval: bool | Unset = UNSET
    history_visibility: str | Unset = UNSET

    def given(self) -> dict[str, Any]:
        return {f: v for f in self.__struct_fields__
                if not isinstance(v := getattr(self, f), Unset)}


class AnnouncementInfo(msgspec.Struct, frozen=True):
    pts: int
    text: str
    by: int
    date: int


class ChatInfoService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings

    def _check(self, given: dict[str, Any]) -> dict[str, Any]:
        s = self._settings
        if not given:
            raise invalid("give at least one field to change", field="chat_id")
        out = dict(given)
        if "title" in out:
            out["title"] = out["title"].strip()
            if not 1 <= len(out["title"]) <= s.max_title_length:
                raise invalid(f"title must be 1 to {s.max_title_length} characters",
                              field="title", limit=s.max_title_length)
        if "about" in out and len(out["about"]) > s.max_about_length:
            raise invalid(f"about must be at most {s.max_about_length} characters",
                          field="about", limit=s.max_about_length)
        if "announcement" in out:
            out["announcement"] = out["announcement"].strip()
            if len(out["announcement"]) > s.max_announcement_length:
                raise invalid(f"announcement must be at most {s.max_announcement_length} "
                              "characters", field="announcement",
                              limit=s.max_announcement_length)
        if "history_visibility" in out and out["history_visibility"] not in VISIBILITIES:
            raise invalid("history_visibility must be \"full\", \"joined\" or \"none\"",
                          field="history_visibility")
        return out

    async def update(self, user_id: int, chat_id: int, change: ChatInfoChange) -> int:
        """Apply ``change``; the pts of its last update, or the chat's pts when
        every given value was already in force."""
        given = self._check(change.given())

        async def update_txn(txn: Txn) -> int:
            now = self._clock.now()
            chat, me = await lock_membership_txn(txn, chat_id, user_id, now=now)
            for name in sorted({NEEDS[f] for f in given}):
                permissions.require(chat, me, name)
            current = chat.to_wire()
            changed = {f: v for f, v in given.items() if getattr(current, f) != v}
            if not changed:
                return chat.pts
            avatar = changed.get("avatar_file_id")
            if avatar is not None:
                await self._check_avatar_txn(txn, avatar, user_id)
            stored = {f: int(v) if isinstance(v, bool) else v for f, v in changed.items()}
            await groups.update_chat_txn(txn, chat_id, stored)
            ups = await updates.append_chat_updates_txn(
                txn, chat_id, now, [("chat.updated", {**changed, "by": user_id})])
            if changed.get("announcement"):
                await groups.add_announcement_txn(txn, chat_id, ups[0]["pts"],
                                                  changed["announcement"], user_id, now)
            if "title" in changed:
                ups.append(await system_messages.write_txn(
                    txn, chat_id, user_id, "title.changed", now, title=changed["title"]))
            others = sorted(set(changed) - {"title"})
            if others:
                ups.append(await system_messages.write_txn(
                    txn, chat_id, user_id, "info.changed", now, fields=others,
                    **({"announcement": changed["announcement"]}
                       if changed.get("announcement") else {})))
            publish_chat_on_commit(txn, self._bus, chat_id, ups)
            return int(ups[-1]["pts"])

        return await self._db.write("update_chat", update_txn)

    async def _check_avatar_txn(self, txn: Txn, file_id: int, user_id: int) -> None:
        """An avatar is an image the caller uploaded, still holding its bytes."""
        found = (await files.get_files_txn(txn, [file_id])).get(file_id)
        if found is None or found.uploader_id != user_id:
            raise TidingsError(ErrorCode.NOT_FOUND, f"no file {file_id}",
                               field="avatar_file_id")
        if found.kind != "image":
            raise invalid(f"file {file_id} is a {found.kind} file, not an image",
                          field="avatar_file_id")
        if found.status != "active":
            code = ErrorCode.MEDIA_EXPIRED if found.status == "expired" else ErrorCode.MEDIA_GONE
            raise TidingsError(code, f"file {file_id} is {found.status}",
                               field="avatar_file_id", status=found.status)

    async def announcements(self, user_id: int, chat_id: int) -> list[AnnouncementInfo]:
        """Every announcement the chat had, newest first (members only)."""
        async def list_txn(txn: Txn) -> list[AnnouncementInfo]:
            await access.load_membership_txn(txn, chat_id, user_id, active=True)
            rows = await groups.announcements_txn(txn, chat_id,
                                                  self._settings.group_list_limit)
            return [AnnouncementInfo(a.pts, a.text, a.by, a.date) for a in rows]

        return await self._db.read("chat_announcements", list_txn)

