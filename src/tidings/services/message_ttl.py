"""Auto-delete and burn-after-read: messages with a deadline.

Structure is permanent unless a chat opts in (DESIGN §1.1). A chat opts in with
``chat.set_message_ttl``: messages sent afterwards carry ``ttl_expires_at =
date + message_ttl`` (stamped at send by ``services.messages``). A
burn-after-read message (``burn_after_seconds``, direct chats) gets its
deadline when the recipient's read cursor passes it (``start_burn_txn``, called
by ``read.mark`` in the same transaction), announced by a
``message.ttl_started`` chat update so both users' devices show the countdown.

Either way the deadline is a column of the message, so it survives a restart;
the recurring ``message_ttl`` job (``tidings.jobs.message_ttl``) calls
``sweep_txn``, which deletes due messages for everyone through
``services.deletion`` (``message.deleted``, ``by: null``), in transactions of
at most ``message_ttl_batch_size`` (≤ 1,000) messages, one update per chat.

Who may set a chat's TTL: the owner or an admin of a group or channel; either
member of a direct chat (both are equals there, as for clearing history).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import invalid
from tidings.services import access, deletion, permissions, system_messages
from tidings.services.notify import publish_chat_on_commit
from tidings.store import chats, updates
from tidings.store import message_ttl as ttl_store

# One day, one week, 30 days: always accepted, whatever the custom minimum.
TTL_PRESETS = (86400, 604800, 2592000)

MESSAGES_EXPIRED = Counter(
    "tidings_messages_expired_total",
    "Messages deleted because their deadline passed (auto-delete, burn-after-read)")


class MessageTtlService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings

    def check_seconds(self, seconds: int | None) -> None:
        if seconds is None or seconds in TTL_PRESETS:
            return
        s = self._settings
        if not s.min_message_ttl_seconds <= seconds <= s.max_message_ttl_seconds:
            raise invalid(
                f"seconds must be null (off), one of {', '.join(map(str, TTL_PRESETS))}, or "
                f"{s.min_message_ttl_seconds} to {s.max_message_ttl_seconds}",
                field="seconds", min=s.min_message_ttl_seconds, max=s.max_message_ttl_seconds)

    async def set_ttl(self, user_id: int, chat_id: int, seconds: int | None) -> int:
        """Set (or with None, turn off) the chat's auto-delete; returns the pts of
        the ``ttl.changed`` system message, or the chat's pts when nothing changed."""
        self.check_seconds(seconds)

        async def set_txn(txn: Txn) -> int:
            now = self._clock.now()
            chat, me = await access.load_membership_txn(txn, chat_id, user_id, active=True)
            permissions.require(chat, me, "message_ttl")
            # Locked, so that two changes at once are seen one after the other.
            chat = (await chats.get_chats_txn(txn, [chat_id], lock=True))[chat_id]
            access.check_not_expired(chat, now)
            if chat.message_ttl == seconds:
                return chat.pts
            await ttl_store.set_chat_ttl_txn(txn, chat_id, seconds)
            update = await system_messages.write_txn(txn, chat_id, user_id, "ttl.changed", now,
                                                     seconds=seconds)
            publish_chat_on_commit(txn, self._bus, chat_id, [update])
            return int(update["pts"])

        return await self._db.write("set_message_ttl", set_txn)

    async def sweep_txn(self, txn: Txn, now: int) -> tuple[int, bool]:
        """Delete for everyone up to ``message_ttl_batch_size`` messages whose
        deadline passed, one ``message.deleted`` per chat; returns how many, and
        whether more may be due."""
        limit = self._settings.message_ttl_batch_size
        due = await ttl_store.due_messages_txn(txn, now, limit)
        if not due:
            return 0, False
        by_chat: dict[int, list[int]] = {}
        for chat_id, msg_id in due:
            by_chat.setdefault(chat_id, []).append(msg_id)
        # Chats locked in id order, as sends lock them: no deadlock with a send.
        rows = await chats.get_chats_txn(txn, sorted(by_chat), lock=True)
        for chat_id in sorted(by_chat):
            await deletion.delete_for_everyone_txn(txn, self._bus, rows[chat_id],
                                                   by_chat[chat_id], None, now)
        txn.call_after(lambda: MESSAGES_EXPIRED.inc(len(due)))
        return len(due), len(due) >= limit


async def start_burn_txn(txn: Txn, bus: Bus, chat: chats.ChatRow, reader_id: int, after: int,
                         upto: int, now: int) -> list[dict[str, Any]]:
    """The reader's cursor moved from ``after`` to ``upto``: start the countdown
    of the burn-after-read messages it passed that the reader did not send
    (``ttl_expires_at = now + burn_after_seconds``, unless an earlier deadline
    is already set), and write one ``message.ttl_started`` per distinct
    deadline. Returns the chat updates written."""
    if chat.kind != "direct" or upto <= after:
        return []
    by_deadline: dict[int, list[int]] = {}
    for msg_id, burn, current in await ttl_store.burn_candidates_txn(
            txn, chat.chat_id, after, upto, reader_id):
        deadline = now + burn
        if current is None or current > deadline:
            by_deadline.setdefault(deadline, []).append(msg_id)
    if not by_deadline:
        return []
    # The chat row first, then its messages: the order of sends and the sweeper.
    await chats.get_chats_txn(txn, [chat.chat_id], lock=True)
    entries: list[tuple[str, dict[str, Any]]] = []
    for deadline, msg_ids in sorted(by_deadline.items()):
        started = await ttl_store.bring_deadline_forward_txn(txn, chat.chat_id, msg_ids,
                                                             deadline)
        if started:
            entries.append(("message.ttl_started",
                            {"msg_ids": started, "ttl_expires_at": deadline}))
    if not entries:
        return []
    ups = await updates.append_chat_updates_txn(txn, chat.chat_id, now, entries)
    publish_chat_on_commit(txn, bus, chat.chat_id, ups)
    return ups
