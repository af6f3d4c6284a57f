"""Chats and membership: direct chats, groups and channels, joining and leaving,
and chat expiry (the conversation list is ``services.dialogs``)."""

from __future__ import annotations

from typing import Any

import msgspec

from tidings import wire
from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, forbidden, invalid
from tidings.services import access, permissions, privacy, system_messages
from tidings.services.members import members_page_txn
from tidings.services.notify import publish_chat_on_commit, publish_user_on_commit
from tidings.services.pins import visible_pins_txn
from tidings.store import accounts, chats, groups, jobs, updates, users
from tidings.store import reads as read_store

EXPIRY_JOB = "chat_expiry"


def expiry_job_key(chat_id: int) -> str:
    return f"chat_expiry:{chat_id}"


class ChatDetails(msgspec.Struct, frozen=True):
    chat: wire.Chat
    members: list[wire.Member]
    role: str | None
    pinned_msg_ids: list[int] = []  # newest pin first, only messages you can read
    # A direct chat's other member's cursor, for "read" ticks; null when either
    # of you turned read receipts off (privacy.update), or in a group.
    peer_read_pts: int | None = None
    # chat.members' cursor after the members shown; null when they are all.
    members_next_cursor: str | None = None


class ChatService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings

    # -- creating chats
    async def direct(self, user_id: int, other_id: int) -> wire.Chat:
        low, high = sorted((user_id, other_id))
        key = f"{low}:{high}"

        async def direct_txn(txn: Txn) -> wire.Chat:
            existing = await chats.get_direct_chat_txn(txn, key)
            if existing is not None:
                return existing.to_wire()
            await self._require_users_txn(txn, [other_id])
            await privacy.check_reach_txn(txn, user_id, [other_id], "message_me")
            member_ids = [low] if low == high else [low, high]
            return await self._create_txn(txn, "direct", "", None, key, member_ids,
                                          {u: "member" for u in member_ids})

        for _ in range(2):
            try:
                return await self._db.write("create_direct_chat", direct_txn)
            except Exception as exc:
                # Two nodes created the same pair at once: the loser reads the winner's chat.
                if not self._db.engine.is_unique_violation(exc):
                    raise
        raise TidingsError(ErrorCode.UNAVAILABLE, "could not create the direct chat, retry")

    async def create(self, user_id: int, kind: str, title: str, member_ids: list[int]
                     ) -> wire.Chat:
        title, others, roles = self._new_group(user_id, kind, title, member_ids)

        async def create_txn(txn: Txn) -> wire.Chat:
            await self._require_users_txn(txn, others)
            await privacy.check_reach_txn(txn, user_id, others, "add_me")
            return await self._create_txn(txn, kind, title, user_id, None, [user_id, *others],
                                          roles)

        return await self._db.write("create_chat", create_txn)

    async def create_by_operator(self, owner_id: int, kind: str, title: str,
                                 member_ids: list[int]) -> wire.Chat:
        """As ``create`` for ``owner_id``, but an operator's: the members' ``add_me``
        privacy does not apply (bans by an operator still do)."""
        title, others, roles = self._new_group(owner_id, kind, title, member_ids)

        async def create_txn(txn: Txn) -> wire.Chat:
            await self._require_users_txn(txn, [owner_id, *others])
            return await self._create_txn(txn, kind, title, owner_id, None,
                                          [owner_id, *others], roles)

        return await self._db.write("admin_create_chat", create_txn)

    def _new_group(self, owner_id: int, kind: str, title: str, member_ids: list[int]
                   ) -> tuple[str, list[int], dict[int, str]]:
        """A new group's checked title, its other members and everyone's role."""
        if kind not in ("group", "channel"):
            raise invalid("kind must be 'group' or 'channel'", field="kind")
        title = title.strip()
        if not 1 <= len(title) <= self._settings.max_title_length:
            raise invalid(f"title must be 1 to {self._settings.max_title_length} characters",
                          field="title")
        others = sorted(set(member_ids) - {owner_id})
        self._check_batch(others, 0)
        return title, others, {owner_id: "owner", **{u: "member" for u in others}}

    async def _create_txn(self, txn: Txn, kind: str, title: str, creator_id: int | None,
                          direct_key: str | None, member_ids: list[int], roles: dict[int, str]
                          ) -> wire.Chat:
        now = self._clock.now()
        chat_id = await chats.insert_chat_txn(txn, kind, title, creator_id, direct_key, now,
                                              "full" if kind == "direct" else "joined")
        chat = await chats.get_chat_txn(txn, chat_id)
        assert chat is not None
        entries: list[tuple[str, dict[str, Any]]] = [
            ("chat.created", {"chat": wire.to_builtins(msgspec.structs.replace(
                chat.to_wire(), pts=1, member_count=len(member_ids))), "by": creator_id})]
        entries += [("member.joined", {"user_id": u, "role": roles[u], "by": creator_id})
                    for u in member_ids]
        ups = await updates.append_chat_updates_txn(txn, chat_id, now, entries)
        for u in member_ids:
            _, history_from = access.join_terms(chat, None, roles[u], 1)
            await chats.upsert_member_txn(txn, chat_id, u, roles[u], 1, now,
                                          history_from=history_from)
        await chats.add_member_count_txn(txn, chat_id, len(member_ids))
        if kind != "direct":  # a direct chat's timeline starts with its first message
            ups.append(await system_messages.write_txn(
                txn, chat_id, creator_id, "chat.created", now, title=title,
                user_ids=[u for u in member_ids if u != creator_id]))
        final = await chats.get_chat_txn(txn, chat_id)
        assert final is not None
        publish_chat_on_commit(txn, self._bus, chat_id, ups, joined=member_ids)
        await self._notify_joined_txn(txn, final, member_ids, 1, now, visible_from=1)
        return final.to_wire()

    # -- membership
    async def add_members(self, user_id: int, chat_id: int, user_ids: list[int]) -> int:
        self._check_batch(user_ids, 1)

        async def add_txn(txn: Txn) -> int:
            chat, me = await self._load_active_txn(txn, chat_id, user_id)
            access.check_not_expired(chat, self._clock.now())
            if chat.kind == "direct":
                raise forbidden("members cannot be added to a direct chat")
            permissions.require(chat, me, "add_members")
            await self._require_users_txn(txn, user_ids)
            current = await chats.get_members_txn(txn, chat_id, user_ids)
            new = sorted({u for u in user_ids if u not in current or not current[u].active})
            if not new:
                return chat.pts
            await privacy.check_reach_txn(txn, user_id, new, "add_me")
            banned = await groups.banned_among_txn(txn, chat_id, new)
            if banned:
                raise TidingsError(ErrorCode.BANNED, f"user {banned[0]} is banned from this "
                                   "chat; unban them first", chat_id=chat_id, user_ids=banned)
            return await self.join_txn(txn, chat, new, user_id, "member.added", current)

        return await self._db.write("add_members", add_txn)

    async def join_txn(self, txn: Txn, chat: chats.ChatRow, new: list[int], by: int | None,
                       action: system_messages.Action,
                       current: dict[int, chats.MemberRow] | None = None) -> int:
        """Make ``new`` (none of them an active member) members of ``chat``: their
        ``member.joined`` updates, the system message and a ``chat.joined`` user
        update each. Returns the chat's pts after. Callers checked who may."""
        chat_id = chat.chat_id
        if await accounts.disbanded_at_txn(txn, chat_id) is not None:
            raise TidingsError(ErrorCode.CHAT_DISBANDED, f"chat {chat_id} was disbanded",
                               chat_id=chat_id)
        if current is None:
            current = await chats.get_members_txn(txn, chat_id, new)
        if chat.member_count + len(new) > self._settings.max_group_members:
            raise forbidden(f"a chat holds at most {self._settings.max_group_members} "
                            "members", limit=self._settings.max_group_members)
        now = self._clock.now()
        ups = await updates.append_chat_updates_txn(
            txn, chat_id, now,
            [("member.joined", {"user_id": u, "role": "member", "by": by}) for u in new])
        views: dict[int, dict[str, int]] = {}
        for u, update in zip(new, ups, strict=True):
            before = current.get(u)
            past, history_from = access.join_terms(chat, before, "member", update["pts"])
            await chats.upsert_member_txn(txn, chat_id, u, "member", update["pts"], now, past,
                                          history_from=history_from)
            views[u] = {"visible_from": history_from}
            if before is not None and past is None and history_from != 1:
                views[u]["forget_before"] = history_from  # "none": earlier spans are gone
        await chats.add_member_count_txn(txn, chat_id, len(new))
        joins = list(ups)
        ups.append(await system_messages.write_txn(txn, chat_id, by, action, now,
                                                   user_ids=new))
        publish_chat_on_commit(txn, self._bus, chat_id, ups, joined=new)
        final = await chats.get_chat_txn(txn, chat_id)
        assert final is not None
        for u, update in zip(new, joins, strict=True):
            await self._notify_joined_txn(txn, final, [u], update["pts"], now, **views[u])
        return final.pts

    async def remove_member(self, user_id: int, chat_id: int, target_id: int) -> int:
        if target_id == user_id:
            return await self.leave(user_id, chat_id)

        async def remove_txn(txn: Txn) -> int:
            chat, me = await self._load_active_txn(txn, chat_id, user_id)
            access.check_not_expired(chat, self._clock.now())  # leaving stays allowed
            permissions.require(chat, me, "remove_members")
            target = await chats.get_member_txn(txn, chat_id, target_id)
            if target is None or not target.active:
                raise TidingsError(ErrorCode.NOT_FOUND, f"user {target_id} is not a member")
            permissions.require_outranks(me, target.role)
            return await self.leave_txn(txn, chat, target_id, user_id)

        return await self._db.write("remove_member", remove_txn)

    async def leave(self, user_id: int, chat_id: int) -> int:
        async def leaving_txn(txn: Txn) -> int:
            chat, me = await self._load_active_txn(txn, chat_id, user_id)
            if chat.kind == "direct":
                raise forbidden("a direct chat cannot be left")
            entries: list[tuple[str, dict[str, Any]]] = []
            heir = None
            if me.role == "owner":
                heir = await self._heir_txn(txn, chat_id, user_id)
                if heir is not None:
                    entries.append(("member.role", {"user_id": heir, "role": "owner",
                                                    "by": user_id}))
            pts = await self.leave_txn(txn, chat, user_id, user_id, before=entries)
            if heir is not None:
                await chats.set_role_txn(txn, chat_id, heir, "owner")
                await self.notify_role_txn(txn, chat_id, heir, "owner", user_id)
            return pts

        return await self._db.write("leave_chat", leaving_txn)

    async def notify_role_txn(self, txn: Txn, chat_id: int, user_id: int, role: str,
                              by: int) -> None:
        """The ``chat.role`` user update: your role in a chat changed."""
        uu = await updates.append_user_update_txn(
            txn, user_id, self._clock.now(), "chat.role",
            {"chat_id": chat_id, "role": role, "by": by})
        publish_user_on_commit(txn, self._bus, user_id, [uu])

    async def _heir_txn(self, txn: Txn, chat_id: int, owner_id: int) -> int | None:
        """Ownership passes to the longest-standing admin, else member."""
        candidates = [m for m in await chats.active_members_txn(txn, chat_id, 10_000)
                      if m.user_id != owner_id]
        if not candidates:
            return None
        candidates.sort(key=lambda m: (m.role != "admin", m.joined_pts, m.user_id))
        return candidates[0].user_id

    async def leave_txn(self, txn: Txn, chat: chats.ChatRow, target_id: int, by: int, *,
                        before: list[tuple[str, dict[str, Any]]] | None = None,
                        action: system_messages.Action | None = None) -> int:
        """``target_id`` leaves, or ``by`` removes them (``action`` names the system
        message when it is neither a leave nor a removal: a ban)."""
        now = self._clock.now()
        ups = await updates.append_chat_updates_txn(txn, chat.chat_id, now, before) if (
            before) else []
        # The system message comes before member.left, so the one who leaves (or is
        # removed) sees it too: their window ends at the member.left.
        if action is None:
            action = "member.left" if by == target_id else "member.removed"
        ups.append(await system_messages.write_txn(txn, chat.chat_id, by, action, now,
                                                   user_ids=[target_id]))
        ups += await updates.append_chat_updates_txn(
            txn, chat.chat_id, now, [("member.left", {"user_id": target_id, "by": by})])
        left_pts = ups[-1]["pts"]
        await chats.mark_left_txn(txn, chat.chat_id, target_id, left_pts)
        await chats.add_member_count_txn(txn, chat.chat_id, -1)
        publish_chat_on_commit(txn, self._bus, chat.chat_id, ups, left=[target_id])
        uu = await updates.append_user_update_txn(
            txn, target_id, now, "chat.left", {"chat_id": chat.chat_id, "pts": left_pts})
        publish_user_on_commit(txn, self._bus, target_id, [uu], left_chats=[chat.chat_id],
                               membership_pts=int(left_pts))
        return int(left_pts)

    async def _notify_joined_txn(self, txn: Txn, chat: chats.ChatRow, user_ids: list[int],
                                 joined_pts: int, now: int, **view: int) -> None:
        """``chat.joined``: ``visible_from`` is the first pts the member may see
        (1 with the full history), ``forget_before`` (a re-join where
        history_visibility is "none") tells devices to drop what they hold below;
        ``read_pts`` is where the join put the member's read cursor (just below
        the join), which a later ``read.mark`` up to there does not announce."""
        payload = {"chat": wire.to_builtins(chat.to_wire()), "joined_pts": joined_pts,
                   "visible_from": view.get("visible_from", joined_pts),
                   "read_pts": joined_pts - 1, **view}
        # In user id order, as a direct chat's creation writes its two users'
        # updates: a group and a direct chat created at once for
        # the same people would otherwise deadlock on PostgreSQL.
        for u in sorted(user_ids):
            uu = await updates.append_user_update_txn(txn, u, now, "chat.joined", payload)
            publish_user_on_commit(txn, self._bus, u, [uu], joined_chats=[chat.chat_id],
                                   membership_pts=joined_pts)

    # -- settings
    async def set_expire(self, user_id: int, chat_id: int, expire_at: int | None) -> int:
        if expire_at is not None and expire_at < 0:
            raise invalid("expire_at must be a Unix time, or null/0 for never", field="expire_at")
        value = expire_at or None

        async def expire_txn(txn: Txn) -> int:
            chat, me = await self._load_active_txn(txn, chat_id, user_id)
            if chat.kind == "direct":
                raise forbidden("a direct chat's expiry is set by an operator")
            permissions.require(chat, me, "set_expire")
            return await self.set_expire_txn(txn, chat, value, user_id)

        return await self._db.write("set_chat_expire", expire_txn)

    async def set_expire_txn(self, txn: Txn, chat: chats.ChatRow, expire_at: int | None,
                             by: int | None) -> int:
        now = self._clock.now()
        await chats.set_expire_txn(txn, chat.chat_id, expire_at)
        # One pending job per chat, at the moment it expires: it tells clients.
        key = expiry_job_key(chat.chat_id)
        await jobs.cancel_txn(txn, key)
        if expire_at is not None:
            await jobs.schedule_txn(txn, EXPIRY_JOB, {"chat_id": chat.chat_id,
                                                      "expire_at": expire_at},
                                    expire_at, now, dedupe_key=key)
        ups = await updates.append_chat_updates_txn(
            txn, chat.chat_id, now, [("chat.expire_set", {"expire_at": expire_at, "by": by})])
        ups.append(await system_messages.write_txn(txn, chat.chat_id, by, "expiry.set", now,
                                                   expire_at=expire_at))
        publish_chat_on_commit(txn, self._bus, chat.chat_id, ups)
        return int(ups[-1]["pts"])

    async def expired_txn(self, txn: Txn, chat_id: int, expire_at: int, now: int) -> bool:
        """The expiry job: write ``chat.expired`` and its system message, so
        composers close without polling. False (nothing written) when the chat's
        expiry has changed since the job was scheduled, or is not due yet."""
        chat = (await chats.get_chats_txn(txn, [chat_id], lock=True)).get(chat_id)
        if chat is None or chat.expire_at != expire_at or now < expire_at:
            return False
        ups = await updates.append_chat_updates_txn(
            txn, chat_id, now, [("chat.expired", {"expire_at": expire_at})])
        ups.append(await system_messages.write_txn(txn, chat_id, None, "chat.expired", now,
                                                   expire_at=expire_at))
        publish_chat_on_commit(txn, self._bus, chat_id, ups)
        return True

    # -- reading
    async def get(self, user_id: int, chat_id: int) -> ChatDetails:
        async def get_txn(txn: Txn) -> ChatDetails:
            chat, me = await access.load_membership_txn(txn, chat_id, user_id, active=False)
            # The first chat.members page only; other members' cursors are private
            # (read.receipts/read.readers show them).
            members, more = await members_page_txn(
                txn, chat_id, user_id, self._settings.chat_get_members_limit,
                self._clock.now()) if me.active else ([], None)
            pinned = await visible_pins_txn(txn, chat, me)
            peer = await read_store.peer_read_pts_txn(txn, chat, user_id) if (
                chat.kind == "direct") else None
            return ChatDetails(chat.to_wire(), members, me.role if me.active else None, pinned,
                               peer, more)

        return await self._db.read("get_chat", get_txn)

    # -- helpers
    async def _load_active_txn(self, txn: Txn, chat_id: int, user_id: int
                               ) -> tuple[chats.ChatRow, chats.MemberRow]:
        return await access.load_membership_txn(txn, chat_id, user_id, active=True)

    async def require_users_txn(self, txn: Txn, user_ids: list[int]) -> None:
        """``USER_NOT_FOUND`` unless every user exists; ``USER_BANNED`` for one
        an operator banned (who may not join chats)."""
        await self._require_users_txn(txn, user_ids)

    async def _require_users_txn(self, txn: Txn, user_ids: list[int]) -> None:
        found = {u.user_id for u in await users.get_users_txn(txn, user_ids)}
        missing = sorted(set(user_ids) - found)
        if missing:
            raise TidingsError(ErrorCode.USER_NOT_FOUND, f"no user {missing[0]}",
                               user_ids=missing)
        banned = await accounts.banned_among_txn(txn, user_ids)
        if banned:
            raise TidingsError(ErrorCode.USER_BANNED, f"user {banned[0]} was banned by an "
                               "operator", user_ids=banned)

    def _check_batch(self, user_ids: list[int], minimum: int) -> None:
        limit = self._settings.max_user_ids_per_call
        if len(user_ids) > limit:
            raise invalid(f"at most {limit} user ids per call", limit=limit)
        if len(set(user_ids)) < minimum:
            raise invalid(f"at least {minimum} user id is needed", field="user_ids")
