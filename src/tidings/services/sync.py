"""Catch-up: ``get_state``, ``get_difference`` and ``get_chat_difference``.

A chat's log is the union of its ``messages`` rows (``message.new`` at pts =
msg_id) and its ``chat_updates`` rows; every pts has exactly one entry, so a
range of pts is a range of both tables merged. A member sees the log from the
pts they joined at (the whole log when the chat's history is visible in full)
to the pts they left at.
"""

from __future__ import annotations

import heapq
from typing import Any

import msgspec

from tidings import wire
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.services import access
from tidings.services.file_views import FileViews
from tidings.services.timeline import decorate_txn
from tidings.store import chats, messages, updates


class ChatDifference(msgspec.Struct, frozen=True):
    chat_id: int
    pts: int
    updates: list[dict[str, Any]]
    too_long: bool


class Difference(msgspec.Struct, frozen=True):
    seq: int
    user_updates: list[dict[str, Any]]
    more: bool
    chats: list[ChatDifference]


class State(msgspec.Struct, frozen=True):
    seq: int
    chats: dict[str, int]


class SyncService:
    def __init__(self, db: Database, settings: Settings, file_views: FileViews) -> None:
        self._db = db
        self._settings = settings
        self._file_views = file_views

    def _limit(self, limit: int | None) -> int:
        if limit is None:
            return self._settings.sync_default_limit
        # Clamped, not rejected (DESIGN §11): a client asking for too much or too
        # little still makes progress.
        return max(1, min(limit, self._settings.sync_max_limit))

    async def get_state(self, user_id: int) -> State:
        async def state_txn(txn: Txn) -> State:
            seq = await updates.user_seq_txn(txn, user_id)
            pairs = await chats.memberships_of_user_txn(txn, user_id, active_only=True)
            return State(seq, {str(c.chat_id): access.visible_upto(c, m) for m, c in pairs})

        return await self._db.read("sync_state", state_txn)

    async def get_chat_difference(self, user_id: int, chat_id: int, pts: int,
                                  limit: int | None) -> ChatDifference:
        count = self._limit(limit)

        async def chat_diff_txn(txn: Txn) -> ChatDifference:
            chat, member = await access.load_membership_txn(txn, chat_id, user_id,
                                                            active=False)
            return await self._chat_difference_txn(txn, chat, member, pts, count)

        return await self._db.read("sync_chat_difference", chat_diff_txn)

    async def get_difference(self, user_id: int, seq: int, known: dict[int, int],
                             limit: int | None) -> Difference:
        count = self._limit(limit)

        async def diff_txn(txn: Txn) -> Difference:
            user_ups = await updates.user_updates_after_txn(txn, user_id, seq, count + 1)
            more = len(user_ups) > count
            user_ups = user_ups[:count]
            if user_ups:
                new_seq = int(user_ups[-1]["seq"])
            else:
                new_seq = await updates.user_seq_txn(txn, user_id)
            result = []
            for member, chat in await chats.memberships_of_user_txn(txn, user_id,
                                                                    active_only=False):
                client_pts = known.get(chat.chat_id)
                if client_pts is None and not member.active:
                    continue
                if client_pts is None:
                    client_pts = access.visible_spans(chat, member)[0][0] - 1
                if client_pts >= access.visible_upto(chat, member):
                    continue
                result.append(await self._chat_difference_txn(txn, chat, member, client_pts,
                                                              count))
            return Difference(new_seq, user_ups, more, result)

        return await self._db.read("sync_difference", diff_txn)

    async def _chat_difference_txn(self, txn: Txn, chat: chats.ChatRow,
                                   member: chats.MemberRow, pts: int, limit: int
                                   ) -> ChatDifference:
        ranges, too_long = access.ranges_after(access.visible_spans(chat, member), pts, limit)
        # Messages deleted, hidden for this member or cleared leave the difference;
        # every other update stays (a client moves to the returned pts regardless).
        floor = access.message_floor(chat, member)
        hidden_for = member.user_id if member.has_hidden else None
        merged: list[dict[str, Any]] = []
        for after, upto in ranges:
            lower = max(after, floor)
            msgs = [] if upto <= lower else await messages.messages_range_txn(
                txn, chat.chat_id, lower, upto, hidden_for=hidden_for)
            msgs = await decorate_txn(txn, member.user_id, chat.chat_id, msgs,
                                      access.message_spans(chat, member),
                                      self._settings.reply_preview_chars, self._file_views)
            others = await updates.chat_updates_range_txn(txn, chat.chat_id, after, upto)
            merged += heapq.merge((wire.message_update(m) for m in msgs), others,
                                  key=lambda u: int(u["pts"]))
        return ChatDifference(chat.chat_id, access.visible_upto(chat, member), merged,
                              too_long)
