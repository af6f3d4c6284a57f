"""Read cursors and read receipts. A member's read state is one monotonic
``read_pts`` per chat; moving it is a ``read.updated`` user update for the
member's other devices, and in a small chat a live ``read`` push to the others.

In a direct chat, moving the cursor past burn-after-read messages from the
other member starts their countdown in the same transaction
(``message.ttl_started``, see ``services.message_ttl``).

Counts and readers come from ``ReadIndex``; a member who turned read receipts
off (``privacy.update``) is neither counted nor listed and gets
``hidden: true`` with no counts or readers for their own messages."""

from __future__ import annotations

from typing import Any

from tidings import wire
from tidings.bus.base import Bus, ChatEvent
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, invalid
from tidings.services import access
from tidings.services.message_ttl import start_burn_txn
from tidings.services.notify import publish_user_on_commit
from tidings.services.read_index import ReadIndex
from tidings.store import chats, updates
from tidings.store import reads as read_store

MAX_RECEIPT_IDS = 100
MAX_READERS = 50


def _missing(msg_id: int) -> TidingsError:
    return TidingsError(ErrorCode.MESSAGE_NOT_FOUND, f"no message {msg_id}", msg_id=msg_id)


class ReadService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings,
                 index: ReadIndex) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self.index = index

    async def mark(self, user_id: int, chat_id: int, pts: int) -> int:
        if pts < 0:
            raise invalid("pts must not be negative", field="pts")

        async def mark_txn(txn: Txn) -> int:
            chat, member = await access.load_membership_txn(txn, chat_id, user_id, active=True)
            target = min(pts, access.visible_upto(chat, member))
            if target <= member.read_pts:
                return member.read_pts
            now = self._clock.now()
            if await chats.advance_read_txn(txn, chat_id, user_id, target, now):
                update = await updates.append_user_update_txn(
                    txn, user_id, now, "read.updated", {"chat_id": chat_id, "read_pts": target})
                publish_user_on_commit(txn, self._bus, user_id, [update])
                await start_burn_txn(txn, self._bus, chat, user_id, member.read_pts, target,
                                     now)
                txn.call_after(lambda: self.index.apply_read(chat_id, user_id, target, now))
                if chat.member_count <= self._settings.reads_small_chat_threshold:
                    txn.call_after(lambda: self._push_read(chat_id, user_id, target))
            return target

        return await self._db.write("mark_read", mark_txn)

    def _push_read(self, chat_id: int, user_id: int, read_pts: int) -> None:
        """Ephemeral (not in any log): a device offline now asks read.receipts."""
        frame = wire.encode({"push": "read", "chat_id": chat_id, "user_id": user_id,
                             "read_pts": read_pts})
        self._bus.publish(ChatEvent(chat_id=chat_id, frame=frame))

    async def receipts(self, user_id: int, chat_id: int, msg_ids: list[int]
                       ) -> dict[str, Any]:
        if len(msg_ids) > MAX_RECEIPT_IDS:
            raise invalid(f"at most {MAX_RECEIPT_IDS} msg_ids", field="msg_ids",
                          limit=MAX_RECEIPT_IDS)
        ids = sorted(set(msg_ids))
        senders, sharing, _ = await self._check(user_id, chat_id, ids)
        reads = await self.index.chat(chat_id)
        counts: dict[int, int] = {}
        hidden = False
        for msg_id, n in zip(ids, reads.counts(ids), strict=True):
            sender = senders[msg_id]
            if sender == user_id and not sharing:
                hidden = True
                continue
            counts[msg_id] = n - 1 if reads.has_read(sender, msg_id) else n
        result: dict[str, Any] = {"counts": counts}
        if hidden:
            result["hidden"] = True
        return result

    async def readers(self, user_id: int, chat_id: int, msg_id: int, limit: int | None,
                      cursor: str | None) -> dict[str, Any]:
        limit = MAX_READERS if limit is None else limit
        if not 1 <= limit <= MAX_READERS:
            raise invalid(f"limit must be 1 to {MAX_READERS}", field="limit")
        before = _parse_cursor(cursor)
        senders, sharing, member_count = await self._check(user_id, chat_id, [msg_id])
        if member_count > self._settings.reads_large_chat_threshold:
            raise TidingsError(
                ErrorCode.READERS_HIDDEN,
                f"chats of more than {self._settings.reads_large_chat_threshold} members "
                "show read counts only", limit=self._settings.reads_large_chat_threshold)
        sender = senders[msg_id]
        if sender == user_id and not sharing:
            return {"readers": [], "next_cursor": None, "hidden": True}
        reads = await self.index.chat(chat_id)
        # The sender is left out, at most one row: two extra tell whether more follow.
        found = [r for r in reads.readers(msg_id, limit + 2, before) if r.user_id != sender]
        page = found[:limit]
        more = len(found) > limit
        next_cursor = f"{page[-1].read_at}:{page[-1].user_id}" if more and page else None
        return {"readers": page, "next_cursor": next_cursor}

    async def _check(self, user_id: int, chat_id: int, msg_ids: list[int]
                     ) -> tuple[dict[int, int], bool, int]:
        """Senders of the messages, whether the caller shares read receipts, and
        the chat's member count; MESSAGE_NOT_FOUND for one outside the caller's view."""
        async def check_txn(txn: Txn) -> tuple[dict[int, int], bool, int]:
            chat, member = await access.load_membership_txn(txn, chat_id, user_id, active=True)
            spans = access.message_spans(chat, member)
            senders = await read_store.senders_txn(txn, chat_id, msg_ids)
            for msg_id in msg_ids:
                if msg_id not in senders or not access.can_see(spans, msg_id):
                    raise _missing(msg_id)
            sharing = await read_store.read_receipts_txn(txn, user_id)
            return senders, sharing, chat.member_count

        return await self._db.read("read_receipts", check_txn)


def _parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    if cursor is None:
        return None
    try:
        at, user = cursor.split(":")
        return int(at), int(user)
    except ValueError:
        raise invalid("cursor is not one this server returned", field="cursor") from None
