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

import msgspec

from tidings import wire
from tidings.bus.base import Bus, ChatEvent
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, invalid
from tidings.services import access
from tidings.services.group_commit import GroupCommitter
from tidings.services.message_ttl import start_burn_txn
from tidings.services.notify import publish_user_on_commit
from tidings.services.read_index import ReadIndex
from tidings.store import chats, updates
from tidings.store import reads as read_store

MAX_RECEIPT_IDS = 100
MAX_READERS = 50


def _missing(msg_id: int) -> TidingsError:
    return TidingsError(ErrorCode.MESSAGE_NOT_FOUND, f"no message {msg_id}", msg_id=msg_id)


class MarkRequest(msgspec.Struct, frozen=True):
    user_id: int
    chat_id: int
    pts: int


class ReadService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings,
                 index: ReadIndex) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self.index = index
        # Marks are group-committed like sends (a cursor move is small and
        # frequent: one transaction each would cap it at the commit rate). Lanes
        # split by user, so two lanes never write the same member or user row.
        self._lanes: list[GroupCommitter[MarkRequest, int]] = [
            GroupCommitter(self._mark_batch, settings.write_batch_max)
            for _ in range(db.engine.write_concurrency)]

    def start(self) -> None:
        for lane in self._lanes:
            lane.start()

    async def stop(self) -> None:
        for lane in self._lanes:
            await lane.stop()

    async def mark(self, user_id: int, chat_id: int, pts: int) -> int:
        """Move the caller's cursor forward to ``pts`` (clamped to what they may
        see); returns the cursor after the call."""
        if pts < 0:
            raise invalid("pts must not be negative", field="pts")
        request = MarkRequest(user_id, chat_id, pts)
        return await self._lanes[user_id % len(self._lanes)].submit(request)

    async def _mark_batch(self, batch: list[MarkRequest]) -> list[int | TidingsError]:
        return await self._db.write("mark_read", lambda txn: self._mark_batch_txn(txn, batch))

    async def _mark_batch_txn(self, txn: Txn, batch: list[MarkRequest]
                              ) -> list[int | TidingsError]:
        now = self._clock.now()
        pairs = sorted({(r.chat_id, r.user_id) for r in batch})
        chat_rows = await chats.get_chats_txn(txn, sorted({c for c, _ in pairs}))
        members = await chats.members_of_chats_txn(txn, pairs)
        # Requests in order, as if one after another: each answer is the cursor
        # after it, and a pair's cursor ends at the highest target of the batch.
        cursor: dict[tuple[int, int], int] = {}
        start: dict[tuple[int, int], int] = {}
        results: list[int | TidingsError] = []
        for r in batch:
            key = (r.chat_id, r.user_id)
            try:
                chat = chat_rows.get(r.chat_id)
                if chat is None:
                    raise access.chat_missing(r.chat_id)
                member = access.require_active(members.get(key), r.chat_id)
            except TidingsError as exc:
                results.append(exc)
                continue
            start.setdefault(key, member.read_pts)
            target = min(r.pts, access.visible_upto(chat, member))
            cursor[key] = max(cursor.get(key, member.read_pts), target)
            results.append(cursor[key])
        moves = {key: upto for key, upto in cursor.items() if upto > start[key]}
        if not moves:
            return results
        # A burn countdown locks its direct chat's row: lock those first, in chat
        # id order, as sends and leaves lock a chat before its member rows.
        direct = sorted({c for c, _ in moves if chat_rows[c].kind == "direct"})
        if direct:
            await chats.get_chats_txn(txn, direct, lock=True)
        moved = await chats.advance_reads_many_txn(
            txn, [(c, u, upto) for (c, u), upto in moves.items()], now)
        written = await updates.append_user_updates_many_txn(
            txn, [(u, "read.updated", {"chat_id": c, "read_pts": moves[(c, u)]})
                  for c, u in sorted(moved, key=lambda k: (k[1], k[0]))], now)
        for user_id, user_updates in written.items():
            publish_user_on_commit(txn, self._bus, user_id, user_updates)
        for chat_id, user_id in sorted(moved):
            if chat_rows[chat_id].kind == "direct":
                await start_burn_txn(txn, self._bus, chat_rows[chat_id], user_id,
                                     start[(chat_id, user_id)], moves[(chat_id, user_id)], now)
        small = self._settings.reads_small_chat_threshold
        applied = [(c, u, moves[(c, u)], chat_rows[c].member_count <= small)
                   for c, u in sorted(moved)]
        txn.call_after(lambda: self._after_marks(applied, now))
        return results

    def _after_marks(self, applied: list[tuple[int, int, int, bool]], now: int) -> None:
        for chat_id, user_id, read_pts, push in applied:
            self.index.apply_read(chat_id, user_id, read_pts, now)
            if push:
                self._push_read(chat_id, user_id, read_pts)

    def _push_read(self, chat_id: int, user_id: int, read_pts: int) -> None:
        """Ephemeral (not in any log): a device offline now asks read.receipts."""
        frame = wire.encode({"push": "read", "chat_id": chat_id, "user_id": user_id,
                             "read_pts": read_pts})
        self._bus.publish(ChatEvent(chat_id=chat_id, frame=frame, skip_user=user_id))

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
