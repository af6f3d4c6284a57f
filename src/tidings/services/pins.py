"""Pinned messages: ``message.pin`` and ``message.unpin``.

Owners and admins pin in groups and channels, either member in a direct chat.
A pin writes the ``pinned_messages`` row, the chat update ``message.pinned``
and a system message ("X pinned a message") in one transaction; an unpin
writes ``message.unpinned`` only. Pinning a pinned message, or unpinning one
that is not pinned, changes nothing and writes no update. A message deleted
for everyone loses its pin with no update of its own: clients drop the pin
when they apply ``message.deleted``.
"""

from __future__ import annotations

from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import forbidden
from tidings.services import access, permissions, system_messages
from tidings.services.message_targets import (
    load_target_txn,
    lock_membership_txn,
    message_missing,
    visible_message_txn,
)
from tidings.services.notify import publish_chat_on_commit
from tidings.store import chats, pins, updates


def check_may_pin(chat: chats.ChatRow, member: chats.MemberRow) -> None:
    permissions.require(chat, member, "pin_messages")


class PinService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings

    async def pin(self, user_id: int, chat_id: int, msg_id: int) -> int | None:
        """Returns the last pts written (the system message), None if already pinned."""
        async def pin_txn(txn: Txn) -> int | None:
            now = self._clock.now()
            target = await load_target_txn(txn, chat_id, user_id, msg_id, now,
                                           action="be pinned")
            check_may_pin(target.chat, target.member)
            if await pins.is_pinned_txn(txn, chat_id, msg_id):
                return None
            limit = self._settings.max_pinned_messages
            if await pins.count_txn(txn, chat_id) >= limit:
                raise forbidden(f"a chat holds at most {limit} pinned messages; unpin one "
                                "first", limit=limit)
            await pins.pin_txn(txn, chat_id, msg_id, user_id, now)
            ups = await updates.append_chat_updates_txn(
                txn, chat_id, now, [("message.pinned", {"msg_id": msg_id, "by": user_id})])
            ups.append(await system_messages.write_txn(txn, chat_id, user_id, "message.pinned",
                                                       now, msg_id=msg_id))
            publish_chat_on_commit(txn, self._bus, chat_id, ups)
            return int(ups[-1]["pts"])

        return await self._db.write("pin_message", pin_txn)

    async def unpin(self, user_id: int, chat_id: int, msg_id: int) -> int | None:
        """Returns the pts of ``message.unpinned``, None if it was not pinned."""
        async def unpin_txn(txn: Txn) -> int | None:
            now = self._clock.now()
            chat, member = await lock_membership_txn(txn, chat_id, user_id, now=now)
            check_may_pin(chat, member)
            if not await pins.is_pinned_txn(txn, chat_id, msg_id):
                if await visible_message_txn(txn, chat, member, msg_id) is None:
                    raise message_missing(msg_id)
                return None
            await pins.unpin_txn(txn, chat_id, msg_id)
            ups = await updates.append_chat_updates_txn(
                txn, chat_id, now, [("message.unpinned", {"msg_id": msg_id, "by": user_id})])
            publish_chat_on_commit(txn, self._bus, chat_id, ups)
            return int(ups[-1]["pts"])

        return await self._db.write("unpin_message", unpin_txn)


async def visible_pins_txn(txn: Txn, chat: chats.ChatRow, member: chats.MemberRow
                           ) -> list[int]:
    """The chat's pinned msg_ids within this member's view (spans above the
    cleared floor), newest pin first (for ``chat.get``). A message the member
    deleted for themselves stays pinned: pins are the chat's, and a device that
    caught up after the pin could not tell otherwise."""
    spans = access.message_spans(chat, member)
    return [m for m in await pins.pinned_ids_txn(txn, chat.chat_id) if access.can_see(spans, m)]
