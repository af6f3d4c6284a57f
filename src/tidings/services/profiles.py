"""Profiles and QR tokens: ``user.update_profile`` and ``user.qr_token``.

A profile change is a ``user.updated`` user update (``{user: User}``) for
the user's own devices, their contacts and the other member of each of their
direct chats (not users they block): the people who show this profile
without asking. Members of shared groups see it the next time they call
``user.get``, so a change in a 10,000-member group writes no 10,000 updates.
A call that changes nothing writes nothing.

A QR token is an unguessable string a QR code carries; ``user.resolve_qr``
turns it back into the user (under their ``find_me``). It stays until the
user asks for a new one (``reset``), which makes the old one unknown."""

from __future__ import annotations

import secrets

import msgspec

from tidings import wire
from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, invalid
from tidings.services.notify import publish_user_on_commit
from tidings.services.user_terms import terms_of
from tidings.store import files, profiles, updates


class ProfileService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings

    def _check(self, display_name: str | None, bio: str | None) -> None:
        s = self._settings
        if display_name is not None and len(display_name.strip()) > s.max_display_name_length:
            raise invalid(f"display_name must be at most {s.max_display_name_length} "
                          "characters", field="display_name", limit=s.max_display_name_length)
        if bio is not None and len(bio.strip()) > s.max_bio_length:
            raise invalid(f"bio must be at most {s.max_bio_length} characters", field="bio",
                          limit=s.max_bio_length)

    async def update(self, user_id: int, display_name: str | None, bio: str | None,
                     avatar_file_id: int | None) -> wire.User:
        """``avatar_file_id`` 0 removes the avatar; None leaves every field as is."""
        self._check(display_name, bio)
        if avatar_file_id is not None and avatar_file_id < 0:
            raise invalid("avatar_file_id must be a file id, or 0 to remove the avatar",
                          field="avatar_file_id")

        async def update_txn(txn: Txn) -> wire.User:
            before = (await profiles.get_txn(txn, [user_id]))[user_id]
            after = before
            if display_name is not None:
                after = msgspec.structs.replace(after, display_name=display_name.strip())
            if bio is not None:
                after = msgspec.structs.replace(after, bio=bio.strip())
            if avatar_file_id is not None:
                avatar = None if avatar_file_id == 0 else avatar_file_id
                if avatar is not None and avatar != before.avatar_file_id:
                    await self._check_avatar_txn(txn, user_id, avatar)
                after = msgspec.structs.replace(after, avatar_file_id=avatar)
            if after == before:
                return before
            await profiles.set_profile_txn(txn, after)
            if after.display_name != before.display_name:
                await profiles.set_terms_txn(txn, user_id,
                                             terms_of(after.username, after.display_name))
            now = self._clock.now()
            payload = {"user": wire.to_builtins(after)}
            for u in [user_id, *await profiles.audience_txn(txn, user_id)]:
                update = await updates.append_user_update_txn(txn, u, now, "user.updated",
                                                              payload)
                publish_user_on_commit(txn, self._bus, u, [update])
            return after

        return await self._db.write("update_profile", update_txn)

    async def _check_avatar_txn(self, txn: Txn, user_id: int, file_id: int) -> None:
        f = (await files.get_files_txn(txn, [file_id])).get(file_id)
        if f is None or f.uploader_id != user_id:
            raise TidingsError(ErrorCode.NOT_FOUND, f"no file {file_id}",
                               field="avatar_file_id")
        if f.kind != "image" or f.status != "active":
            raise invalid("an avatar is an image file you uploaded, still active",
                          field="avatar_file_id")

    async def qr_token(self, user_id: int, reset: bool) -> dict[str, str]:
        async def token_txn(txn: Txn) -> str:
            token = None if reset else await profiles.qr_token_txn(txn, user_id)
            if token is None:
                token = secrets.token_urlsafe(18)
                await profiles.set_qr_token_txn(txn, user_id, token)
            return token

        return {"token": await self._db.write("qr_token", token_txn)}
