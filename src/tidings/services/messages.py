"""Sending, reading and recalling messages.

Sends go through group commit: one transaction validates a whole batch, gives
each chat one pts range, writes one row per message (the row is also the
``message.new`` log entry) and answers every sender after commit. One bad
request fails alone; the rest of its batch commits.
"""

from __future__ import annotations

from typing import Any

import msgspec
from prometheus_client import Counter

from tidings import wire
from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, StorageRejected, TidingsError, forbidden, invalid
from tidings.services import access
from tidings.services.group_commit import GroupCommitter
from tidings.services.notify import publish_chat_on_commit, publish_user_on_commit
from tidings.services.visibility import VisibilityCache
from tidings.store import chats, messages, updates

MESSAGES_SENT = Counter("tidings_messages_sent_total", "Messages committed")


class SendRequest(msgspec.Struct, frozen=True):
    user_id: int
    chat_id: int
    local_id: str
    kind: str = "text"
    text: str | None = None
    reply_to: int | None = None
    entities: list[wire.Entity] | None = None
    location: wire.Location | None = None
    file_id: int | None = None


class _BatchCheck:
    """What validation decided for each request of a batch."""

    def __init__(self, size: int) -> None:
        self.results: list[wire.Message | TidingsError | None] = [None] * size
        self.first_of: dict[tuple[int, int, str], int] = {}  # key -> first request with it
        self.accepted: list[int] = []  # requests that will get a new message

    def resolve(self, batch: list[SendRequest]) -> list[wire.Message | TidingsError]:
        """Every request's outcome; a repeat within the batch shares its first's."""
        final: list[wire.Message | TidingsError] = []
        for i, req in enumerate(batch):
            result = self.results[i]
            if result is None:
                result = self.results[self.first_of[(req.chat_id, req.user_id, req.local_id)]]
            assert result is not None
            final.append(result)
        return final


def _same_request(stored: wire.Message, req: SendRequest) -> wire.Message | TidingsError:
    """A retry returns the original; a different message under a used local_id is a
    client bug worth surfacing rather than silently answering with the old one."""
    same = stored.kind == req.kind and stored.reply_to == req.reply_to and (
        stored.recalled_at is not None or stored.text == req.text)
    if same:
        return stored
    return TidingsError(ErrorCode.LOCAL_ID_CONFLICT,
                        f"local_id {req.local_id!r} was used for another message",
                        msg_id=stored.msg_id)


def _mentioned(req: SendRequest) -> set[int]:
    return {e.user_id for e in req.entities or () if e.type == "mention" and e.user_id}


def _check_mentions(req: SendRequest, members: dict[tuple[int, int], chats.MemberRow]
                    ) -> None:
    """Only current members can be mentioned: a mention notifies its user."""
    for user_id in sorted(_mentioned(req)):
        member = members.get((req.chat_id, user_id))
        if member is None or not member.active:
            raise invalid(f"entities: user {user_id} is not a member of this chat",
                          field="entities", user_id=user_id)


def message_update(m: wire.Message) -> dict[str, Any]:
    # The struct itself, not its dict: msgspec encodes it straight to JSON.
    return {"pts": m.msg_id, "kind": "message.new", "date": m.date, "message": m}


class MessageService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings,
                 visibility: VisibilityCache) -> None:
        self._db = db
        self._visibility = visibility
        self._bus = bus
        self._clock = clock
        self._settings = settings
        # One committer per lane, each chat always in the same lane: lanes never
        # lock the same chat rows, so on PostgreSQL one lane's Python work overlaps
        # another's database work (SQLite's single writer has one lane).
        self._lanes: list[GroupCommitter[SendRequest, wire.Message]] = [
            GroupCommitter(self._send_batch, settings.write_batch_max,
                           is_request_fault=self._is_request_fault)
            for _ in range(db.engine.write_concurrency)]

    def _is_request_fault(self, exc: BaseException) -> bool:
        # A unique violation on (chat, sender, local_id) means another node stored
        # the same send meanwhile: only that request retries (and gets the original).
        return isinstance(exc, StorageRejected) or self._db.engine.is_unique_violation(exc)

    def start(self) -> None:
        for lane in self._lanes:
            lane.start()

    async def stop(self) -> None:
        for lane in self._lanes:
            await lane.stop()

    # -- send
    def check_send(self, req: SendRequest) -> None:
        s = self._settings
        if not 1 <= len(req.local_id) <= s.max_local_id_length:
            raise invalid(f"local_id must be 1 to {s.max_local_id_length} characters",
                          field="local_id")
        if req.kind not in wire.SENDABLE_KINDS:
            raise invalid(f"kind must be one of {sorted(wire.SENDABLE_KINDS)}", field="kind")
        if req.text is not None and len(req.text) > s.max_text_length:
            raise TidingsError(ErrorCode.TOO_LARGE,
                               f"text is longer than {s.max_text_length} characters",
                               field="text", limit=s.max_text_length)
        if req.kind == "text" and not (req.text and req.text.strip()):
            raise invalid("a text message needs non-empty text", field="text")
        if req.kind == "location" and req.location is None:
            raise invalid("a location message needs location", field="location")
        if req.kind in wire.MEDIA_KINDS or req.file_id is not None:
            raise invalid("media messages need an uploaded file; uploads are not available "
                          "in this version", field="file_id")
        self._check_entities(req)

    def _check_entities(self, req: SendRequest) -> None:
        if not req.entities:
            return
        if len(req.entities) > self._settings.max_entities:
            raise invalid(f"at most {self._settings.max_entities} entities",
                          field="entities")
        size = len(req.text or "")
        for e in req.entities:
            if e.offset < 0 or e.length <= 0 or e.offset + e.length > size:
                raise invalid("an entity lies outside the text", field="entities")
            if e.type == "mention" and e.user_id is None:
                raise invalid("a mention entity needs user_id", field="entities")

    async def send(self, req: SendRequest) -> wire.Message:
        self.check_send(req)
        message = await self._lanes[req.chat_id % len(self._lanes)].submit(req)
        return message

    async def _send_batch(self, batch: list[SendRequest]
                          ) -> list[wire.Message | TidingsError]:
        return await self._db.write("send_messages",
                                    lambda txn: self._send_batch_txn(txn, batch))

    async def _send_batch_txn(self, txn: Txn, batch: list[SendRequest]
                              ) -> list[wire.Message | TidingsError]:
        now = self._clock.now()
        check = await self._check_batch_txn(txn, batch, now)
        to_write: dict[int, list[int]] = {}
        for i in check.accepted:
            if check.results[i] is None:
                to_write.setdefault(batch[i].chat_id, []).append(i)
        if to_write:
            await self._write_batch_txn(txn, batch, to_write, check.results, now)
        return check.resolve(batch)

    async def _check_batch_txn(self, txn: Txn, batch: list[SendRequest], now: int
                               ) -> _BatchCheck:
        """Decide each request's fate before any pts is reserved, so a refused
        request leaves no hole in the log."""
        chat_rows = await chats.get_chats_txn(txn, sorted({r.chat_id for r in batch}),
                                              lock=True)
        # Senders and the users they mention, in one lookup.
        members = await chats.members_of_chats_txn(txn, sorted(
            {(r.chat_id, r.user_id) for r in batch}
            | {(r.chat_id, u) for r in batch for u in _mentioned(r)}))
        stored = await messages.find_by_local_ids_txn(
            txn, sorted({(r.chat_id, r.user_id, r.local_id) for r in batch}))
        check = _BatchCheck(len(batch))
        for i, req in enumerate(batch):
            key = (req.chat_id, req.user_id, req.local_id)
            try:
                chat = chat_rows.get(req.chat_id)
                if chat is None:
                    raise access.chat_missing(req.chat_id)
                member = access.require_active(members.get(key[:2]), req.chat_id)
                if key in stored:
                    check.results[i] = _same_request(stored[key], req)
                elif key not in check.first_of:
                    access.check_not_expired(chat, now)
                    access.check_can_post(chat, member)
                    _check_mentions(req, members)
                    check.first_of[key] = i
                    check.accepted.append(i)
            except TidingsError as exc:
                check.results[i] = exc
        await self._check_replies_txn(txn, batch, check, chat_rows, members)
        return check

    async def _write_batch_txn(self, txn: Txn, batch: list[SendRequest],
                               to_write: dict[int, list[int]],
                               results: list[wire.Message | TidingsError | None], now: int
                               ) -> None:
        firsts = await updates.allocate_message_pts_txn(
            txn, {chat_id: len(indexes) for chat_id, indexes in to_write.items()}, now)
        written: list[wire.Message] = []
        for chat_id, indexes in sorted(to_write.items()):
            fresh = [self._new_message(batch[i], firsts[chat_id] + k, now)
                     for k, i in enumerate(indexes)]
            for i, m in zip(indexes, fresh, strict=True):
                results[i] = m
            written += fresh
            publish_chat_on_commit(txn, self._bus, chat_id, [message_update(m) for m in fresh])
        await messages.insert_messages_txn(txn, written)
        txn.call_after(lambda: MESSAGES_SENT.inc(len(written)))

    async def _check_replies_txn(
        self, txn: Txn, batch: list[SendRequest], check: _BatchCheck,
        chat_rows: dict[int, chats.ChatRow], members: dict[tuple[int, int], chats.MemberRow],
    ) -> None:
        by_chat: dict[int, list[int]] = {}
        for i in check.accepted:
            if batch[i].reply_to is not None:
                by_chat.setdefault(batch[i].chat_id, []).append(i)
        for chat_id, indexes in by_chat.items():
            wanted = sorted({r for i in indexes if (r := batch[i].reply_to) is not None})
            found = await messages.existing_ids_txn(txn, chat_id, wanted)
            for i in indexes:
                req = batch[i]
                spans = access.visible_spans(chat_rows[chat_id], members[(chat_id, req.user_id)])
                if req.reply_to not in found or not access.can_see(spans, req.reply_to or 0):
                    check.results[i] = TidingsError(
                        ErrorCode.MESSAGE_NOT_FOUND,
                        f"reply_to: no message {req.reply_to} in this chat", field="reply_to")

    def _new_message(self, req: SendRequest, msg_id: int, now: int) -> wire.Message:
        return wire.Message(
            chat_id=req.chat_id, msg_id=msg_id, sender_id=req.user_id, date=now, kind=req.kind,
            text=req.text, reply_to=req.reply_to, local_id=req.local_id,
            entities=req.entities or None, location=req.location, file_id=req.file_id,
        )

    # -- read
    async def history(self, user_id: int, chat_id: int, before: int | None, after: int | None,
                      limit: int | None) -> list[wire.Message]:
        s = self._settings
        count = s.history_default_limit if limit is None else limit
        if not 1 <= count <= s.history_max_limit:
            raise invalid(f"limit must be 1 to {s.history_max_limit}", field="limit")

        async def history_txn(txn: Txn) -> list[wire.Message]:
            view = await self._visibility.view_txn(txn, chat_id, user_id)
            hidden_for = user_id if view.has_hidden else None
            if after is not None:
                return await self._oldest_txn(txn, chat_id, view.spans, after, before, count,
                                              hidden_for)
            return await self._newest_txn(txn, chat_id, view.spans, before, count, hidden_for)

        # No snapshot: membership and the page are each read once, and a message
        # committed between the two is simply on the next page.
        return await self._db.read("message_history", history_txn, snapshot=False)

    async def _oldest_txn(self, txn: Txn, chat_id: int, spans: list[tuple[int, int]],
                          after: int, before: int | None, count: int, hidden_for: int | None
                          ) -> list[wire.Message]:
        page: list[wire.Message] = []
        for lo, hi in spans:
            upper = hi if before is None else min(hi, before - 1)
            lower = max(after, lo - 1)
            if upper > lower:
                page += await messages.oldest_after_txn(txn, chat_id, lower, upper,
                                                        count - len(page),
                                                        hidden_for=hidden_for)
            if len(page) >= count:
                break
        return page

    async def _newest_txn(self, txn: Txn, chat_id: int, spans: list[tuple[int, int]],
                          before: int | None, count: int, hidden_for: int | None
                          ) -> list[wire.Message]:
        page: list[wire.Message] = []
        for lo, hi in reversed(spans):
            upper = hi + 1 if before is None else min(hi + 1, before)
            if upper > lo:
                page = await messages.newest_before_txn(txn, chat_id, lo - 1, upper,
                                                        count - len(page),
                                                        hidden_for=hidden_for) + page
            if len(page) >= count:
                break
        return page

    async def get(self, user_id: int, chat_id: int, msg_ids: list[int]) -> list[wire.Message]:
        if not 1 <= len(msg_ids) <= self._settings.get_max_ids:
            raise invalid(f"msg_ids must hold 1 to {self._settings.get_max_ids} ids",
                          field="msg_ids")

        async def get_txn(txn: Txn) -> list[wire.Message]:
            view = await self._visibility.view_txn(txn, chat_id, user_id)
            wanted = sorted({m for m in msg_ids if access.can_see(view.spans, m)})
            if view.has_hidden:
                hidden = await messages.hidden_among_txn(txn, user_id, chat_id, wanted)
                wanted = [m for m in wanted if m not in hidden]
            return await messages.get_messages_txn(txn, chat_id, wanted)

        return await self._db.read("get_messages", get_txn, snapshot=False)

    # -- recall
    async def recall(self, user_id: int, chat_id: int, msg_id: int) -> int:
        async def recall_txn(txn: Txn) -> int:
            now = self._clock.now()
            chat, member = await access.load_membership_txn(txn, chat_id, user_id, active=True)
            found = await messages.get_messages_txn(txn, chat_id, [msg_id])
            if not found or not access.can_see(access.visible_spans(chat, member), msg_id):
                raise TidingsError(ErrorCode.MESSAGE_NOT_FOUND, f"no message {msg_id}")
            message = found[0]
            self._check_recall(message, member, now)
            await messages.mark_recalled_txn(txn, chat_id, msg_id, user_id, now)
            recalled = {"msg_id": msg_id, "recalled_by": user_id, "recalled_at": now}
            ups = await updates.append_chat_updates_txn(
                txn, chat_id, now, [("message.recalled", recalled)])
            publish_chat_on_commit(txn, self._bus, chat_id, ups)
            await self._tell_former_members_txn(txn, chat, msg_id, recalled, now)
            return int(ups[-1]["pts"])

        return await self._db.write("recall_message", recall_txn)

    async def _tell_former_members_txn(self, txn: Txn, chat: chats.ChatRow, msg_id: int,
                                       recalled: dict[str, Any], now: int) -> None:
        """People who left still hold the message on their devices, but the chat's
        recall update lies beyond their window: they learn of it as a user update,
        so every device of theirs ends as one that replays history would."""
        payload = {"chat_id": chat.chat_id, **recalled}
        for former in await chats.former_members_txn(txn, chat.chat_id):
            if access.can_see(access.visible_spans(chat, former), msg_id):
                update = await updates.append_user_update_txn(
                    txn, former.user_id, now, "message.recalled", payload)
                publish_user_on_commit(txn, self._bus, former.user_id, [update])

    def _check_recall(self, message: wire.Message, member: chats.MemberRow, now: int) -> None:
        if message.recalled_at is not None:
            raise TidingsError(ErrorCode.ALREADY_RECALLED, "this message was already recalled")
        if message.kind == "system":
            raise forbidden("system messages cannot be recalled")
        s = self._settings
        if member.role in access.ADMIN_ROLES:
            window = max(s.admin_recall_window_seconds, s.recall_window_seconds)
        elif message.sender_id == member.user_id:
            window = s.recall_window_seconds
        else:
            raise forbidden("only the sender, the owner or an admin may recall a message")
        if now - message.date > window:
            raise TidingsError(ErrorCode.RECALL_WINDOW_PASSED,
                               f"messages can be recalled within {window} seconds",
                               window_seconds=window)
