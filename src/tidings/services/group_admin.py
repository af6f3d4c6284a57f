"""Running a group: what members may do (``chat.set_permissions``), roles
(``chat.set_role``, ``chat.transfer_owner``) and moderation (``chat.mute_member``,
``chat.mute_all``, ``chat.ban``, ``chat.unban``, ``chat.bans``).

Each change is a chat update in the chat's log (so every member's devices,
online or not, end in the same state) and, where it concerns one person, a
user update to them as well. Who may do what is ``services.permissions``.
A call that changes nothing writes nothing and answers the chat's pts.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, forbidden, invalid
from tidings.services import access, permissions, system_messages
from tidings.services.chats import ChatService
from tidings.services.message_targets import lock_membership_txn
from tidings.services.notify import publish_chat_on_commit, publish_user_on_commit
from tidings.store import chats, groups, updates, users

SETTABLE_ROLES = ("admin", "member", "restricted", "readonly")


class BanInfo(msgspec.Struct, frozen=True):
    user_id: int
    by: int
    date: int


class GroupAdminService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings,
                 chat_service: ChatService) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._chats = chat_service

    # -- permissions
    async def set_permissions(self, user_id: int, chat_id: int, given: dict[str, bool]) -> int:
        """Change what plain members may do; names left out keep their value."""
        if not given:
            raise invalid("give at least one permission", field="permissions")
        permissions.check_names(given)

        async def set_txn(txn: Txn) -> int:
            chat, me = await self._lock_txn(txn, chat_id, user_id)
            permissions.require(chat, me, "set_permissions")
            overrides = permissions.merged_overrides(chat, given)
            if overrides == chat.permission_overrides():
                return chat.pts
            await groups.set_permissions_txn(txn, chat_id, overrides)
            now = self._clock.now()
            after = {**permissions.DEFAULTS, **overrides}
            ups = await updates.append_chat_updates_txn(
                txn, chat_id, now, [("chat.permissions", {"permissions": after, "by": user_id})])
            publish_chat_on_commit(txn, self._bus, chat_id, ups)
            return int(ups[-1]["pts"])

        return await self._db.write("set_chat_permissions", set_txn)

    # -- roles
    async def set_role(self, user_id: int, chat_id: int, target_id: int, role: str) -> int:
        if role not in SETTABLE_ROLES:
            raise invalid(f"role must be one of {list(SETTABLE_ROLES)} (the owner changes with "
                          "chat.transfer_owner)", field="role")
        if target_id == user_id:
            raise forbidden("you cannot change your own role", permission="set_roles")

        async def role_txn(txn: Txn) -> int:
            chat, me = await self._lock_txn(txn, chat_id, user_id)
            permissions.require(chat, me, "set_roles")
            target = await self._target_txn(txn, chat_id, target_id)
            if target.role == role:
                return chat.pts
            if "admin" in (role, target.role):
                permissions.require(chat, me, "add_admins")
            permissions.require_outranks(me, target.role)
            return await self._write_roles_txn(txn, chat_id, [(target_id, role)], user_id)

        return await self._db.write("set_member_role", role_txn)

    async def transfer_owner(self, user_id: int, chat_id: int, target_id: int) -> int:
        """The owner hands the chat to another member and becomes an admin."""
        if target_id == user_id:
            raise invalid("you already own this chat", field="user_id")

        async def transfer_txn(txn: Txn) -> int:
            chat, me = await self._lock_txn(txn, chat_id, user_id)
            permissions.require(chat, me, "transfer_owner")
            await self._target_txn(txn, chat_id, target_id)
            return await self._write_roles_txn(
                txn, chat_id, [(target_id, "owner"), (user_id, "admin")], user_id,
                system=True)

        return await self._db.write("transfer_owner", transfer_txn)

    async def _write_roles_txn(self, txn: Txn, chat_id: int, changes: list[tuple[int, str]],
                               by: int, *, system: bool = False) -> int:
        now = self._clock.now()
        ups = await updates.append_chat_updates_txn(
            txn, chat_id, now,
            [("member.role", {"user_id": u, "role": r, "by": by}) for u, r in changes])
        if system:  # a new owner shows in the timeline
            ups.append(await system_messages.write_txn(
                txn, chat_id, by, "role.changed", now, user_ids=[changes[0][0]],
                role=changes[0][1]))
        for u, r in changes:
            await chats.set_role_txn(txn, chat_id, u, r)
        publish_chat_on_commit(txn, self._bus, chat_id, ups)
        for u, r in changes:
            await self._chats.notify_role_txn(txn, chat_id, u, r, by)
        return int(ups[-1]["pts"])

    # -- moderation
    async def mute_member(self, user_id: int, chat_id: int, target_id: int, until: int) -> int:
        """Mute until a Unix time (0 lifts the mute)."""
        now = self._clock.now()
        if until != 0 and until <= now:
            raise invalid("until must be a future Unix time, or 0 to lift the mute",
                          field="until")

        async def mute_txn(txn: Txn) -> int:
            chat, me = await self._lock_txn(txn, chat_id, user_id)
            permissions.require(chat, me, "mute_members")
            target = await self._target_txn(txn, chat_id, target_id)
            permissions.require_outranks(me, target.role)
            current = target.send_muted_until if target.send_muted_until > now else 0
            if current == until:
                return chat.pts
            await groups.set_send_muted_txn(txn, chat_id, target_id, until)
            payload = {"user_id": target_id, "until": until, "by": user_id}
            ups = await updates.append_chat_updates_txn(txn, chat_id, now,
                                                        [("member.muted", payload)])
            publish_chat_on_commit(txn, self._bus, chat_id, ups)
            uu = await updates.append_user_update_txn(
                txn, target_id, now, "chat.muted",
                {"chat_id": chat_id, "until": until, "by": user_id})
            publish_user_on_commit(txn, self._bus, target_id, [uu])
            return int(ups[-1]["pts"])

        return await self._db.write("mute_member", mute_txn)

    async def mute_all(self, user_id: int, chat_id: int, on: bool) -> int:
        async def mute_txn(txn: Txn) -> int:
            chat, me = await self._lock_txn(txn, chat_id, user_id)
            permissions.require(chat, me, "mute_members")
            if bool(chat.mute_all) == on:
                return chat.pts
            now = self._clock.now()
            await groups.update_chat_txn(txn, chat_id, {"mute_all": int(on)})
            ups = await updates.append_chat_updates_txn(
                txn, chat_id, now, [("chat.updated", {"mute_all": on, "by": user_id})])
            ups.append(await system_messages.write_txn(txn, chat_id, user_id,
                                                       "mute_all.changed", now, on=on))
            publish_chat_on_commit(txn, self._bus, chat_id, ups)
            return int(ups[-1]["pts"])

        return await self._db.write("mute_all", mute_txn)

    async def ban(self, user_id: int, chat_id: int, target_id: int) -> int:
        """Remove ``target_id`` if a member (as ``chat.remove_member`` does) and
        keep them out: no re-adding, no joining by invite, until ``chat.unban``.
        A user who is not a member can be banned too."""
        if target_id == user_id:
            raise forbidden("you cannot ban yourself", permission="ban_users")

        async def ban_txn(txn: Txn) -> int:
            chat, me = await self._lock_txn(txn, chat_id, user_id)
            permissions.require(chat, me, "ban_users")
            target = await chats.get_member_txn(txn, chat_id, target_id)
            active = target is not None and target.active
            if target is not None and active:
                permissions.require_outranks(me, target.role)
            elif not await self._user_exists_txn(txn, target_id):
                raise TidingsError(ErrorCode.USER_NOT_FOUND, f"no user {target_id}",
                                   user_ids=[target_id])
            now = self._clock.now()
            if not await groups.add_ban_txn(txn, chat_id, target_id, user_id, now):
                return chat.pts
            if await groups.remove_request_txn(txn, chat_id, target_id):
                for admin in await groups.admin_ids_txn(txn, chat_id):
                    uu = await updates.append_user_update_txn(
                        txn, admin, now, "join.request_closed",
                        {"chat_id": chat_id, "user_id": target_id, "outcome": "banned",
                         "by": user_id})
                    publish_user_on_commit(txn, self._bus, admin, [uu])
            banned = ("member.banned", {"user_id": target_id, "by": user_id})
            if active:  # removed as by chat.remove_member, in the same push
                pts = await self._chats.leave_txn(txn, chat, target_id, user_id,
                                                  before=[banned], action="member.banned")
            else:
                ups = await updates.append_chat_updates_txn(txn, chat_id, now, [banned])
                publish_chat_on_commit(txn, self._bus, chat_id, ups)
                pts = int(ups[-1]["pts"])
            await self._tell_txn(txn, target_id, "chat.banned", chat_id, user_id, now)
            return pts

        return await self._db.write("ban_user", ban_txn)

    async def unban(self, user_id: int, chat_id: int, target_id: int) -> int:
        async def unban_txn(txn: Txn) -> int:
            chat, me = await self._lock_txn(txn, chat_id, user_id)
            permissions.require(chat, me, "ban_users")
            if not await groups.remove_ban_txn(txn, chat_id, target_id):
                return chat.pts
            now = self._clock.now()
            ups = await updates.append_chat_updates_txn(
                txn, chat_id, now,
                [("member.unbanned", {"user_id": target_id, "by": user_id})])
            publish_chat_on_commit(txn, self._bus, chat_id, ups)
            await self._tell_txn(txn, target_id, "chat.unbanned", chat_id, user_id, now)
            return int(ups[-1]["pts"])

        return await self._db.write("unban_user", unban_txn)

    async def bans(self, user_id: int, chat_id: int) -> list[BanInfo]:
        async def bans_txn(txn: Txn) -> list[BanInfo]:
            chat, me = await self._load_txn(txn, chat_id, user_id)
            permissions.require(chat, me, "ban_users")
            rows = await groups.bans_txn(txn, chat_id, self._settings.group_list_limit)
            return [BanInfo(b.user_id, b.banned_by, b.date) for b in rows]

        return await self._db.read("chat_bans", bans_txn)

    # -- helpers
    async def _lock_txn(self, txn: Txn, chat_id: int, user_id: int
                        ) -> tuple[chats.ChatRow, chats.MemberRow]:
        return await lock_membership_txn(txn, chat_id, user_id, now=self._clock.now())

    async def _load_txn(self, txn: Txn, chat_id: int, user_id: int
                        ) -> tuple[chats.ChatRow, chats.MemberRow]:
        return await access.load_membership_txn(txn, chat_id, user_id, active=True)

    async def _target_txn(self, txn: Txn, chat_id: int, target_id: int) -> chats.MemberRow:
        target = await chats.get_member_txn(txn, chat_id, target_id)
        if target is None or not target.active:
            raise TidingsError(ErrorCode.NOT_FOUND, f"user {target_id} is not a member",
                               field="user_id")
        return target

    async def _user_exists_txn(self, txn: Txn, user_id: int) -> bool:
        return bool(await users.get_users_txn(txn, [user_id]))

    async def _tell_txn(self, txn: Txn, user_id: int, kind: str, chat_id: int, by: int,
                        now: int) -> None:
        payload: dict[str, Any] = {"chat_id": chat_id, "by": by}
        uu = await updates.append_user_update_txn(txn, user_id, now, kind, payload)
        publish_user_on_commit(txn, self._bus, user_id, [uu])
