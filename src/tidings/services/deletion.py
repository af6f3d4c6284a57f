"""Deleting and clearing messages: for everyone, the one path shared by
``message.delete``, auto-delete (chat ``message_ttl``) and burn-after-read;
for one member, hiding messages and clearing their view of a chat.

A deleted message becomes a tombstone (its pts keeps its place; its content,
reactions, pins, tags and mentions are gone), leaves history, difference and
search for everyone, and the chat log gets one ``message.deleted`` update.
People who left the chat but still hold the message learn of it through a
user update, as they do of a recall.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tidings import wire
from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, forbidden, invalid
from tidings.services import access, permissions, system_messages
from tidings.services.message_targets import lock_membership_txn
from tidings.services.notify import publish_chat_on_commit, publish_user_on_commit
from tidings.store import chats, messages, updates


async def delete_for_everyone_txn(txn: Txn, bus: Bus, chat: chats.ChatRow, msg_ids: list[int],
                                  by: int | None, now: int) -> list[dict[str, Any]]:
    """Delete the live messages among ``msg_ids``; returns the chat updates written
    (none when every one was already gone)."""
    # The chat row first, as every writer to a chat's messages takes it (a send
    # locks it before raising a parent's reply_count): one order, no deadlock.
    await chats.get_chats_txn(txn, [chat.chat_id], lock=True)
    found = await messages.mark_deleted_txn(txn, chat.chat_id, sorted(set(msg_ids)), now)
    if not found:
        return []
    parents = Counter(parent for _, parent in found if parent is not None)
    await messages.add_reply_counts_txn(txn, chat.chat_id, {p: -n for p, n in parents.items()})
    deleted = [msg_id for msg_id, _ in found]
    ups = await updates.append_chat_updates_txn(
        txn, chat.chat_id, now, [("message.deleted", {"msg_ids": deleted, "by": by})])
    publish_chat_on_commit(txn, bus, chat.chat_id, ups)
    await tell_former_members_txn(
        txn, bus, chat, deleted, now, "message.deleted",
        lambda seen: {"chat_id": chat.chat_id, "msg_ids": seen, "by": by})
    return ups


async def tell_former_members_txn(txn: Txn, bus: Bus, chat: chats.ChatRow,
                                  msg_ids: list[int] | None, now: int, kind: str, payload: Any
                                  ) -> None:
    """People who left still hold the messages they could see, but the chat's
    update lies beyond their window: they get it as a user update naming the
    messages they could see (``msg_ids=None``: every former member, for a change
    to everything they saw), so every device of theirs ends as one that replays
    history would. ``payload(seen_msg_ids)`` builds the update's payload."""
    for former in await chats.former_members_txn(txn, chat.chat_id):
        spans = access.visible_spans(chat, former)
        seen = [] if msg_ids is None else [m for m in msg_ids if access.can_see(spans, m)]
        if seen or msg_ids is None:
            update = await updates.append_user_update_txn(txn, former.user_id, now, kind,
                                                          payload(seen))
            publish_user_on_commit(txn, bus, former.user_id, [update])


class DeletionService:
    """``message.delete`` (for everyone or for me) and ``message.clear_history``
    (seed 002's DeleteMessage, DeleteMessageForUser and ClearSession)."""

    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings

    def _check_ids(self, msg_ids: list[int]) -> list[int]:
        limit = self._settings.max_ids_per_call
        if not 1 <= len(msg_ids) <= limit:
            raise invalid(f"msg_ids must hold 1 to {limit} ids", field="msg_ids", limit=limit)
        return sorted(set(msg_ids))

    async def delete(self, user_id: int, chat_id: int, msg_ids: list[int], for_everyone: bool
                     ) -> dict[str, int]:
        wanted = self._check_ids(msg_ids)
        if for_everyone:
            return {"pts": await self._db.write(
                "delete_messages", lambda txn: self._delete_txn(txn, user_id, chat_id, wanted))}
        return {"seq": await self._db.write(
            "hide_messages", lambda txn: self._hide_txn(txn, user_id, chat_id, wanted))}

    async def _visible_txn(self, txn: Txn, chat: chats.ChatRow, member: chats.MemberRow,
                           msg_ids: list[int]) -> list[wire.Message]:
        """The messages, all of which the member must be able to see."""
        spans = access.message_spans(chat, member)
        found = [m for m in await messages.get_messages_txn(txn, chat.chat_id, msg_ids)
                 if access.can_see(spans, m.msg_id)]
        missing = sorted(set(msg_ids) - {m.msg_id for m in found})
        if missing:
            raise TidingsError(ErrorCode.MESSAGE_NOT_FOUND,
                               f"no message {missing[0]} in chat {chat.chat_id}",
                               msg_ids=missing)
        return found

    async def _delete_txn(self, txn: Txn, user_id: int, chat_id: int, msg_ids: list[int]
                          ) -> int:
        now = self._clock.now()
        chat, member = await lock_membership_txn(txn, chat_id, user_id, now=now)
        window = self._settings.recall_window_seconds
        for m in await self._visible_txn(txn, chat, member, msg_ids):
            if m.kind == "system":
                raise forbidden("system messages cannot be deleted for everyone",
                                msg_id=m.msg_id)
            if permissions.allows(chat, member, "moderate_messages"):
                continue  # moderation: owners and admins delete any message, any time
            if m.sender_id != user_id:
                raise forbidden("only the sender, the owner or an admin may delete a message "
                                "for everyone", msg_id=m.msg_id)
            if now - m.date > window:
                raise TidingsError(ErrorCode.RECALL_WINDOW_PASSED,
                                   f"your messages can be deleted for everyone within "
                                   f"{window} seconds; delete it for yourself instead",
                                   window_seconds=window, msg_id=m.msg_id)
        ups = await delete_for_everyone_txn(txn, self._bus, chat, msg_ids, user_id, now)
        return int(ups[-1]["pts"])

    async def _hide_txn(self, txn: Txn, user_id: int, chat_id: int, msg_ids: list[int]) -> int:
        now = self._clock.now()
        chat, member = await access.load_membership_txn(txn, chat_id, user_id, active=False)
        await self._visible_txn(txn, chat, member, msg_ids)
        await messages.hide_messages_txn(txn, user_id, chat_id, msg_ids)
        update = await updates.append_user_update_txn(
            txn, user_id, now, "message.hidden", {"chat_id": chat_id, "msg_ids": msg_ids})
        publish_user_on_commit(txn, self._bus, user_id, [update], views_changed=[chat_id])
        return int(update["seq"])

    async def clear_history(self, user_id: int, chat_id: int, for_everyone: bool
                            ) -> dict[str, int]:
        if for_everyone:
            return {"pts": await self._db.write(
                "clear_history_for_everyone",
                lambda txn: self._clear_for_everyone_txn(txn, user_id, chat_id))}
        return {"seq": await self._db.write(
            "clear_history", lambda txn: self._clear_for_me_txn(txn, user_id, chat_id))}

    async def _clear_for_me_txn(self, txn: Txn, user_id: int, chat_id: int) -> int:
        now = self._clock.now()
        chat, member = await access.load_membership_txn(txn, chat_id, user_id, active=False)
        upto = access.visible_upto(chat, member)
        await chats.set_member_cleared_txn(txn, chat_id, user_id, upto)
        update = await updates.append_user_update_txn(
            txn, user_id, now, "history.cleared", {"chat_id": chat_id, "upto_pts": upto})
        publish_user_on_commit(txn, self._bus, user_id, [update], views_changed=[chat_id])
        return int(update["seq"])

    async def _clear_for_everyone_txn(self, txn: Txn, user_id: int, chat_id: int) -> int:
        now = self._clock.now()
        chat, member = await lock_membership_txn(txn, chat_id, user_id, now=now)
        permissions.require(chat, member, "clear_history")
        upto = chat.pts
        await chats.set_chat_cleared_txn(txn, chat_id, upto)
        ups = await updates.append_chat_updates_txn(
            txn, chat_id, now, [("history.cleared", {"upto_pts": upto, "by": user_id})])
        # The timeline says who cleared it, for everyone who joins later too.
        ups.append(await system_messages.write_txn(txn, chat_id, user_id, "history.cleared",
                                                   now, upto_pts=upto))
        publish_chat_on_commit(txn, self._bus, chat_id, ups, views_changed=True)
        await tell_former_members_txn(
            txn, self._bus, chat, None, now, "history.cleared",
            lambda _: {"chat_id": chat_id, "upto_pts": upto, "by": user_id})
        return int(ups[-1]["pts"])
