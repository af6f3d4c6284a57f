"""What operators do inside chats (the ``/admin/chats`` HTTP API): add members,
send a message as a member or as the system, and disband a group.

Each goes through the same transactions as the members' own actions, so
devices learn it from the usual updates: ``member.joined`` and ``chat.joined``
for additions, ``message.new`` for messages, ``member.left`` and ``chat.left``
when a group is disbanded. An operator's action carries ``by: null``.
"""

from __future__ import annotations

import secrets
from typing import Any

from tidings import wire
from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, forbidden, invalid
from tidings.services import access, system_messages
from tidings.services.chats import ChatService
from tidings.services.messages import MessageService, SendRequest
from tidings.services.notify import publish_chat_on_commit, publish_user_on_commit
from tidings.store import accounts, chats, groups, updates


class OperatorChats:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings,
                 chats_service: ChatService, messages: MessageService) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._chats = chats_service
        self._messages = messages

    async def add_members(self, chat_id: int, user_ids: list[int]) -> int:
        """The chat's pts after; members already in are left as they are."""
        async def add_txn(txn: Txn) -> int:
            chat = await self._group_txn(txn, chat_id)
            await self._chats.require_users_txn(txn, user_ids)
            current = await chats.get_members_txn(txn, chat_id, user_ids)
            new = sorted({u for u in user_ids if u not in current or not current[u].active})
            if not new:
                return chat.pts
            banned = await groups.banned_among_txn(txn, chat_id, new)
            if banned:
                raise TidingsError(ErrorCode.BANNED, f"user {banned[0]} is banned from this "
                                   "chat", chat_id=chat_id, user_ids=banned)
            return await self._chats.join_txn(txn, chat, new, None, "member.added", current)

        limit = self._settings.max_user_ids_per_call
        if not 1 <= len(set(user_ids)) <= limit:
            raise invalid(f"user_ids must hold 1 to {limit} ids", field="user_ids",
                          limit=limit)
        return await self._db.write("admin_add_members", add_txn)

    async def send_as(self, chat_id: int, user_id: int, text: str, local_id: str | None
                      ) -> wire.Message:
        """A text message from a member, through ``message.send`` with all its
        checks (membership, expiry, mutes): the operator speaks for the member."""
        return await self._messages.send(SendRequest(
            user_id=user_id, chat_id=chat_id, text=text,
            local_id=local_id or f"admin-{secrets.token_hex(8)}"))

    async def send_notice(self, chat_id: int, text: str) -> wire.Message:
        """A system message (``system.action: "operator.notice"``, ``text``)."""
        text = text.strip()
        limit = self._settings.max_text_length
        if not 1 <= len(text) <= limit:
            raise invalid(f"text must be 1 to {limit} characters", field="text", limit=limit)

        async def notice_txn(txn: Txn) -> wire.Message:
            chat = await self._chat_txn(txn, chat_id)
            await self._not_disbanded_txn(txn, chat.chat_id)
            up = await system_messages.write_txn(txn, chat_id, None, "operator.notice",
                                                 self._clock.now(), text=text)
            publish_chat_on_commit(txn, self._bus, chat_id, [up])
            message = up["message"]
            assert isinstance(message, wire.Message)
            return message

        return await self._db.write("admin_send_notice", notice_txn)

    async def disband(self, chat_id: int) -> tuple[int, list[int]]:
        """Remove every member of a group or channel and mark it disbanded; the
        history stays (operators read it). Returns the pts and the users removed.
        One transaction whatever the size: a chat holds at most
        ``max_group_members``, which bounds it."""
        async def disband_txn(txn: Txn) -> tuple[int, list[int]]:
            chat = await self._group_txn(txn, chat_id)
            # Every active member (the bound only keeps the read finite).
            members = [m.user_id for m in await chats.active_members_txn(
                txn, chat_id, max(self._settings.max_group_members, chat.member_count))]
            now = self._clock.now()
            await accounts.set_disbanded_txn(txn, chat_id, now)
            # The system message first, so every member sees it before leaving.
            ups = [await system_messages.write_txn(txn, chat_id, None, "chat.disbanded", now,
                                                   user_ids=members)]
            entries: list[tuple[str, dict[str, Any]]] = [
                ("member.left", {"user_id": u, "by": None}) for u in members]
            ups += await updates.append_chat_updates_txn(txn, chat_id, now, entries)
            left_pts = int(ups[-1]["pts"])
            for u in members:
                await chats.mark_left_txn(txn, chat_id, u, left_pts)
                uu = await updates.append_user_update_txn(
                    txn, u, now, "chat.left", {"chat_id": chat_id, "pts": left_pts})
                publish_user_on_commit(txn, self._bus, u, [uu], left_chats=[chat_id])
            await chats.add_member_count_txn(txn, chat_id, -len(members))
            publish_chat_on_commit(txn, self._bus, chat_id, ups, left=members)
            return left_pts, members

        return await self._db.write("admin_disband_chat", disband_txn)

    async def _chat_txn(self, txn: Txn, chat_id: int) -> chats.ChatRow:
        chat = (await chats.get_chats_txn(txn, [chat_id], lock=True)).get(chat_id)
        if chat is None:
            raise access.chat_missing(chat_id)
        return chat

    async def _group_txn(self, txn: Txn, chat_id: int) -> chats.ChatRow:
        chat = await self._chat_txn(txn, chat_id)
        if chat.kind == "direct":
            raise forbidden("a direct chat has no members to add or remove", chat_id=chat_id)
        await self._not_disbanded_txn(txn, chat_id)
        return chat

    async def _not_disbanded_txn(self, txn: Txn, chat_id: int) -> None:
        if await accounts.disbanded_at_txn(txn, chat_id) is not None:
            raise TidingsError(ErrorCode.CHAT_DISBANDED, f"chat {chat_id} was disbanded",
                               chat_id=chat_id)
