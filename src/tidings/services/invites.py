"""Invite links and join approval: ``chat.create_invite`` makes an unguessable
token (what a link or QR code carries), ``chat.invite_info`` shows the join
screen, ``chat.join`` joins by it. In a chat with ``join_approval`` on,
joining makes a request instead, which an owner or admin approves or rejects
(``chat.join_requests``, ``chat.approve``, ``chat.reject``); the requester
hears each step as a user update, and so do the owner and admins (a request
received, a request closed), so their devices keep the list current.

Invites are an admin's tool and not part of any log: ``chat.invites`` lists
them when asked. Each use (a join, or a request) counts towards ``max_uses``.
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, forbidden, invalid
from tidings.services import access, permissions
from tidings.services.chats import ChatService
from tidings.services.message_targets import lock_membership_txn
from tidings.services.notify import publish_user_on_commit
from tidings.store import chats, groups, updates

TOKEN_BYTES = 16  # 128 bits: 22 URL-safe characters


class InviteInfo(msgspec.Struct, frozen=True):
    """What the join screen shows: enough to decide, nothing a member only sees."""

    chat_id: int
    kind: str
    title: str
    about: str
    avatar_file_id: int | None
    member_count: int
    join_approval: bool


class JoinResult(msgspec.Struct, frozen=True):
    status: str  # "joined", "requested" or "member" (already one)
    chat_id: int
    pts: int | None = None  # the chat's pts after joining


class RequestInfo(msgspec.Struct, frozen=True):
    user_id: int
    date: int
    message: str


def invite_invalid(reason: str, message: str) -> TidingsError:
    return TidingsError(ErrorCode.INVITE_INVALID, message, reason=reason)


def check_usable(invite: groups.Invite | None, now: int) -> groups.Invite:
    if invite is None:
        raise invite_invalid("unknown", "no such invite")
    if invite.revoked_at is not None:
        raise invite_invalid("revoked", "this invite was revoked")
    if invite.expires_at is not None and now >= invite.expires_at:
        raise invite_invalid("expired", "this invite expired")
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        raise invite_invalid("used_up", "this invite has been used up")
    return invite


def invite_to_wire(i: groups.Invite) -> dict[str, Any]:
    return {"invite": i.invite, "chat_id": i.chat_id, "creator_id": i.creator_id,
            "created_at": i.created_at, "expires_at": i.expires_at, "max_uses": i.max_uses,
            "uses": i.uses}


class InviteService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings,
                 chat_service: ChatService) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._chats = chat_service

    # -- invites
    async def create(self, user_id: int, chat_id: int, expires_at: int | None,
                     max_uses: int | None) -> groups.Invite:
        now = self._clock.now()
        if expires_at is not None and expires_at <= now:
            raise invalid("expires_at must be a future Unix time", field="expires_at")
        if max_uses is not None and max_uses < 1:
            raise invalid("max_uses must be at least 1", field="max_uses")

        async def create_txn(txn: Txn) -> groups.Invite:
            chat, me = await lock_membership_txn(txn, chat_id, user_id, now=now)
            permissions.require(chat, me, "invite_users")
            limit = self._settings.max_invites_per_chat
            if await groups.count_live_invites_txn(txn, chat_id) >= limit:
                raise forbidden(f"a chat has at most {limit} invites; revoke one first",
                                limit=limit)
            token = secrets.token_urlsafe(TOKEN_BYTES)
            return await groups.insert_invite_txn(txn, token, chat_id, user_id, now,
                                                  expires_at, max_uses)

        return await self._db.write("create_invite", create_txn)

    async def invites(self, user_id: int, chat_id: int) -> list[groups.Invite]:
        """The chat's invites not revoked (expired and used-up ones too, so an
        admin sees why a link stopped working): all of them for admins, your own
        for a member who may invite."""
        async def list_txn(txn: Txn) -> list[groups.Invite]:
            chat, me = await access.load_membership_txn(txn, chat_id, user_id, active=True)
            permissions.require(chat, me, "invite_users")
            found = await groups.invites_txn(txn, chat_id, self._settings.group_list_limit)
            if permissions.is_admin(me):
                return found
            return [i for i in found if i.creator_id == user_id]

        return await self._db.read("chat_invites", list_txn)

    async def revoke(self, user_id: int, token: str) -> bool:
        """True if it was revoked now; False if it was already."""
        async def revoke_txn(txn: Txn) -> bool:
            invite = await groups.get_invite_txn(txn, token, lock=True)
            if invite is None:
                raise invite_invalid("unknown", "no such invite")
            chat, me = await access.load_membership_txn(txn, invite.chat_id, user_id,
                                                        active=True)
            if invite.creator_id != user_id:
                permissions.require(chat, me, "approve_members")
            return await groups.revoke_invite_txn(txn, token, self._clock.now())

        return await self._db.write("revoke_invite", revoke_txn)

    async def info(self, token: str) -> InviteInfo:
        async def info_txn(txn: Txn) -> InviteInfo:
            invite = check_usable(await groups.get_invite_txn(txn, token), self._clock.now())
            chat = await chats.get_chat_txn(txn, invite.chat_id)
            assert chat is not None
            return InviteInfo(chat.chat_id, chat.kind, chat.title, chat.about,
                              chat.avatar_file_id, chat.member_count, bool(chat.join_approval))

        return await self._db.read("invite_info", info_txn)

    # -- joining
    async def join(self, user_id: int, token: str, message: str) -> JoinResult:
        limit = self._settings.max_join_message_length
        if len(message) > limit:
            raise invalid(f"message must be at most {limit} characters", field="message",
                          limit=limit)

        async def join_txn(txn: Txn) -> JoinResult:
            now = self._clock.now()
            invite = check_usable(await groups.get_invite_txn(txn, token, lock=True), now)
            chat_id = invite.chat_id
            chat = (await chats.get_chats_txn(txn, [chat_id], lock=True))[chat_id]
            access.check_not_expired(chat, now)
            me = await chats.get_member_txn(txn, chat_id, user_id)
            if me is not None and me.active:
                return JoinResult("member", chat_id, chat.pts)
            if await groups.banned_among_txn(txn, chat_id, [user_id]):
                raise TidingsError(ErrorCode.BANNED, "you are banned from this chat",
                                   chat_id=chat_id)
            if chat.join_approval:
                if not await groups.add_request_txn(txn, chat_id, user_id, now, message):
                    raise TidingsError(ErrorCode.REQUEST_PENDING, "your request to join is "
                                       "waiting for approval", chat_id=chat_id)
                await groups.use_invite_txn(txn, token)
                await self._tell_txn(txn, user_id, "join.requested",
                                     {"chat_id": chat_id, "message": message}, now)
                await self._tell_admins_txn(txn, chat_id, "join.request_received", {
                    "chat_id": chat_id, "user_id": user_id, "message": message}, now)
                return JoinResult("requested", chat_id)
            await groups.use_invite_txn(txn, token)
            pts = await self._chats.join_txn(txn, chat, [user_id], user_id, "member.joined")
            return JoinResult("joined", chat_id, pts)

        return await self._db.write("join_chat", join_txn)

    async def requests(self, user_id: int, chat_id: int) -> list[RequestInfo]:
        async def list_txn(txn: Txn) -> list[RequestInfo]:
            chat, me = await access.load_membership_txn(txn, chat_id, user_id, active=True)
            permissions.require(chat, me, "approve_members")
            rows = await groups.requests_txn(txn, chat_id, self._settings.group_list_limit)
            return [RequestInfo(r.user_id, r.date, r.message) for r in rows]

        return await self._db.read("join_requests", list_txn)

    async def decide(self, user_id: int, chat_id: int, target_id: int, approve: bool) -> int:
        """Approve (the requester joins) or reject a pending request; returns the
        chat's pts after."""
        async def decide_txn(txn: Txn) -> int:
            now = self._clock.now()
            chat, me = await lock_membership_txn(txn, chat_id, user_id, now=now)
            permissions.require(chat, me, "approve_members")
            if not await groups.remove_request_txn(txn, chat_id, target_id):
                raise TidingsError(ErrorCode.NOT_FOUND, f"user {target_id} has no pending "
                                   "request to join this chat", field="user_id")
            pts = chat.pts
            if approve:
                target = await chats.get_member_txn(txn, chat_id, target_id)
                if target is None or not target.active:
                    pts = await self._chats.join_txn(txn, chat, [target_id], user_id,
                                                     "member.added")
            kind = "join.approved" if approve else "join.rejected"
            await self._tell_txn(txn, target_id, kind, {"chat_id": chat_id, "by": user_id},
                                 now)
            await self._tell_admins_txn(txn, chat_id, "join.request_closed", {
                "chat_id": chat_id, "user_id": target_id,
                "outcome": "approved" if approve else "rejected", "by": user_id}, now)
            return pts

        return await self._db.write("decide_join_request", decide_txn)

    async def _tell_admins_txn(self, txn: Txn, chat_id: int, kind: str,
                               payload: dict[str, Any], now: int) -> None:
        """The owner's and admins' devices keep their list of requests current."""
        for admin in await groups.admin_ids_txn(txn, chat_id):
            await self._tell_txn(txn, admin, kind, payload, now)

    async def _tell_txn(self, txn: Txn, user_id: int, kind: str, payload: dict[str, Any],
                        now: int) -> None:
        uu = await updates.append_user_update_txn(txn, user_id, now, kind, payload)
        publish_user_on_commit(txn, self._bus, user_id, [uu])
