"""Sending and recalling messages.

Sends go through group commit: one transaction validates a whole batch, gives
each chat one pts range, writes one row per message (the row is also the
``message.new`` log entry) and answers every sender after commit. One bad
request fails alone; the rest of its batch commits.
"""

from __future__ import annotations

from collections import Counter as Tally

import msgspec
from prometheus_client import Counter

from tidings import wire
from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, StorageRejected, TidingsError, forbidden, invalid
from tidings.services import access, permissions, privacy
from tidings.services.deletion import tell_former_members_txn
from tidings.services.file_views import FileViews
from tidings.services.group_commit import GroupCommitter
from tidings.services.media import MediaService
from tidings.services.message_targets import lock_membership_txn
from tidings.services.notify import publish_chat_on_commit, publish_user_on_commit
from tidings.services.timeline import preview_of
from tidings.services.webhook_events import WebhookEvents
from tidings.store import chats, contacts, files, messages, search, search_terms, updates

MESSAGES_SENT = Counter("tidings_messages_sent_total", "Messages committed")


# Sends answered per event-loop turn where the database is a server
# (services.group_commit). Measured, PostgreSQL, 1 chat, 100,000 messages:
# 51k msg/s answering whole batches; slices of 16-32 64k, 64 59-63k, 128
# 57-61k, 256 50k (with twice write_batch_max sends in flight; 52k -> 56-59k
# with 2,000). Batches of W1's size (a few dozen) are answered as before.
ANSWER_SLICE = 32


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
    burn_after_seconds: int | None = None
    forward_from: wire.ForwardFrom | None = None  # set by message.forward
    card: wire.Card | None = None  # set by user.share_card (kind "card")
    # The text's part of its search index entry, computed by ``send`` before
    # the request queues where the database is a server, so the chat's
    # transaction (one at a time per chat) does not spend its time on it.
    index_text: str | None = None


class _BatchCheck:
    """What validation decided for each request of a batch."""

    def __init__(self, size: int) -> None:
        self.results: list[wire.Message | TidingsError | None] = [None] * size
        self.first_of: dict[tuple[int, int, str], int] = {}  # key -> first request with it
        self.accepted: list[int] = []  # requests that will get a new message
        self.previews: dict[int, wire.ReplyPreview] = {}  # request -> its reply's preview
        # (chat, sender), media, @all: sends permissions.check_send allowed
        self.allowed: set[tuple[tuple[int, int], bool, bool]] = set()
        self.files: dict[int, files.FileRow] = {}  # file_id -> its row, for media sends

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


def _same_request(found: messages.StoredMessage, req: SendRequest
                  ) -> wire.Message | TidingsError:
    """A retry returns the original (as it is now: a recalled or deleted one has no
    text left to compare); a different message under a used local_id is a client
    bug worth surfacing rather than silently answering with the old one."""
    stored = found.message
    erased = stored.recalled_at is not None or found.deleted_at is not None
    same = stored.kind == req.kind and stored.reply_to == req.reply_to and (
        erased or stored.text == req.text)
    if same:
        return stored
    return TidingsError(ErrorCode.LOCAL_ID_CONFLICT,
                        f"local_id {req.local_id!r} was used for another message",
                        msg_id=stored.msg_id)


def _mentioned(req: SendRequest) -> set[int]:
    """Users a send mentions by name. A forward notifies nobody: its entities
    belong to the original chat."""
    if req.forward_from is not None or not req.entities:
        return set()
    return {e.user_id for e in req.entities if e.type == "mention" and e.user_id}


def _mentions_all(req: SendRequest) -> bool:
    return bool(req.entities) and req.forward_from is None and any(
        e.type == "mention_all" for e in req.entities or ())


def _check_mentions(req: SendRequest,
                    members: dict[tuple[int, int], chats.MemberRow]) -> None:
    """Only current members can be mentioned: a mention notifies its user (@all
    is the ``mention_all`` permission, ``permissions.check_send``)."""
    for user_id in sorted(_mentioned(req)):
        mentioned = members.get((req.chat_id, user_id))
        if mentioned is None or not mentioned.active:
            raise invalid(f"entities: user {user_id} is not a member of this chat",
                          field="entities", user_id=user_id)


class MessageService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings,
                 media: MediaService, file_views: FileViews,
                 webhooks: WebhookEvents | None = None) -> None:
        self._db = db
        self._webhooks = webhooks  # None without webhook_url: no work at all
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._media = media
        self._file_views = file_views
        # One committer per lane, each chat always in the same lane: lanes never
        # lock the same chat rows, so on PostgreSQL one lane's Python work overlaps
        # another's database work (SQLite's single writer has one lane).
        self._lanes: list[GroupCommitter[SendRequest, wire.Message]] = [
            GroupCommitter(self._send_batch, settings.write_batch_max,
                           answer_slice=ANSWER_SLICE if db.engine.statements_suspend else 0,
                           is_request_fault=self._is_request_fault,
                           delay=settings.push_delay_ms / 1000)
            for _ in range(db.engine.write_concurrency)]
        # Work moved out of a chat's transaction overlaps the database's only
        # where statements wait on a server; on SQLite it would add the copy.
        self._terms_early = db.engine.statements_suspend

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
        if (req.kind == "card") != (req.card is not None):
            raise invalid("a card message is sent with user.share_card", field="kind")
        if req.kind not in wire.SENDABLE_KINDS and req.kind != "card":
            raise invalid(f"kind must be one of {sorted(wire.SENDABLE_KINDS)}", field="kind")
        if req.text is not None and len(req.text) > s.max_text_length:
            raise TidingsError(ErrorCode.TOO_LARGE,
                               f"text is longer than {s.max_text_length} characters",
                               field="text", limit=s.max_text_length)
        if req.kind == "text" and not (req.text and req.text.strip()):
            raise invalid("a text message needs non-empty text", field="text")
        if req.kind == "location" and req.location is None:
            raise invalid("a location message needs location", field="location")
        if req.burn_after_seconds is not None and not (
                1 <= req.burn_after_seconds <= s.max_burn_after_seconds):
            raise invalid(f"burn_after_seconds must be 1 to {s.max_burn_after_seconds}",
                          field="burn_after_seconds")
        if (req.kind in wire.MEDIA_KINDS) != (req.file_id is not None):
            raise invalid("image, video, audio and file messages need file_id (from POST "
                          "/files), and other kinds take none", field="file_id")
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
        if self._terms_early and req.text is not None and req.index_text is None:
            req = msgspec.structs.replace(req, index_text=search_terms.text_entry(req.text))
        return await self._lanes[req.chat_id % len(self._lanes)].submit(req)

    async def _send_batch(self, batch: list[SendRequest]
                          ) -> list[wire.Message | TidingsError]:
        return await self._db.write("send_messages",
                                    lambda txn: self._send_batch_txn(txn, batch))

    async def _send_batch_txn(self, txn: Txn, batch: list[SendRequest]
                              ) -> list[wire.Message | TidingsError]:
        now = self._clock.now()
        chat_rows = await chats.get_chats_txn(txn, sorted({r.chat_id for r in batch}),
                                              lock=True)
        check = await self._check_batch_txn(txn, batch, chat_rows, now)
        to_write: dict[int, list[int]] = {}
        for i in check.accepted:
            if check.results[i] is None:
                to_write.setdefault(batch[i].chat_id, []).append(i)
        if to_write:
            await self._write_batch_txn(txn, batch, to_write, check, chat_rows, now)
        return check.resolve(batch)

    async def _check_batch_txn(self, txn: Txn, batch: list[SendRequest],
                               chat_rows: dict[int, chats.ChatRow], now: int) -> _BatchCheck:
        """Decide each request's fate before any pts is reserved, so a refused
        request leaves no hole in the log."""
        # Senders and the users they mention, in one lookup.
        members = await chats.members_of_chats_txn(txn, sorted(
            {(r.chat_id, r.user_id) for r in batch}
            | {(r.chat_id, u) for r in batch if r.entities for u in _mentioned(r)}))
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
                    mentions_all = _mentions_all(req)
                    # One decision per sender, chat and kind of send in a batch (it
                    # decodes the chat's permissions).
                    allowed = (key[:2], req.kind in wire.MEDIA_KINDS, mentions_all)
                    if allowed not in check.allowed:
                        permissions.check_send(chat, member, req.kind, mentions_all, now)
                        check.allowed.add(allowed)
                    if req.entities:
                        _check_mentions(req, members)
                    if req.burn_after_seconds is not None and chat.kind != "direct":
                        raise invalid("burn_after_seconds is for direct chats",
                                      field="burn_after_seconds")
                    check.first_of[key] = i
                    check.accepted.append(i)
            except TidingsError as exc:
                check.results[i] = exc
        await self._check_direct_peers_txn(txn, batch, check, chat_rows)
        await self._check_replies_txn(txn, batch, check, chat_rows, members)
        if any(batch[i].file_id is not None for i in check.accepted):
            await self._check_files_txn(txn, batch, check)
        return check

    async def _check_direct_peers_txn(self, txn: Txn, batch: list[SendRequest],
                                      check: _BatchCheck, chat_rows: dict[int, chats.ChatRow]
                                      ) -> None:
        """A direct chat's other member may refuse the sender: blocked, or
        messages from contacts only (one query for the batch)."""
        direct = [(i, batch[i].user_id, peer) for i in check.accepted
                  if (peer := access.direct_peer(chat_rows[batch[i].chat_id], batch[i].user_id))
                  is not None]
        if not direct:
            return
        refusals = await privacy.direct_send_refusals_txn(
            txn, sorted({(sender, peer) for _, sender, peer in direct}))
        for i, sender, peer in direct:
            refusal = refusals.get((sender, peer))
            if refusal is not None and check.results[i] is None:
                check.results[i] = refusal

    async def _check_files_txn(self, txn: Txn, batch: list[SendRequest],
                               check: _BatchCheck) -> None:
        """A media message shows a file the sender uploaded (unused or already
        sent), or, for a forward, the original's file (the forward service checked
        the sender sees it). The file must still hold its bytes."""
        wanted = [r.file_id for i in check.accepted if (r := batch[i]).file_id is not None]
        found = await files.get_files_txn(txn, [f for f in wanted if f is not None])
        for i in check.accepted:
            req = batch[i]
            if req.file_id is None or check.results[i] is not None:
                continue
            f = found.get(req.file_id)
            if f is None or (f.uploader_id != req.user_id and req.forward_from is None):
                check.results[i] = TidingsError(ErrorCode.NOT_FOUND, f"no file {req.file_id}",
                                                field="file_id")
            elif f.kind != req.kind:
                check.results[i] = invalid(f"file {req.file_id} is a {f.kind} file, not "
                                           f"{req.kind}", field="kind")
            elif f.status != "active":
                code = ErrorCode.MEDIA_EXPIRED if f.status == "expired" else ErrorCode.MEDIA_GONE
                check.results[i] = TidingsError(code, f"file {req.file_id} is {f.status}",
                                                field="file_id", status=f.status)
            else:
                check.files[req.file_id] = f

    async def _write_batch_txn(self, txn: Txn, batch: list[SendRequest],
                               to_write: dict[int, list[int]], check: _BatchCheck,
                               chat_rows: dict[int, chats.ChatRow], now: int) -> None:
        firsts = await updates.allocate_message_pts_txn(
            txn, {chat_id: len(indexes) for chat_id, indexes in to_write.items()}, now)
        written: list[wire.Message] = []
        text_entries: list[str | None] = []
        for chat_id, indexes in sorted(to_write.items()):
            ttl = chat_rows[chat_id].message_ttl
            fresh = [self._new_message(batch[i], firsts[chat_id] + k, now, ttl,
                                       check.previews.get(i))
                     for k, i in enumerate(indexes)]
            if check.files:
                fresh = await self._with_files_txn(txn, chat_id, fresh, check, now)
            for i, m in zip(indexes, fresh, strict=True):
                check.results[i] = m
            written += fresh
            text_entries += [batch[i].index_text for i in indexes]
            publish_chat_on_commit(txn, self._bus, chat_id,
                                   [wire.message_update(m) for m in fresh])
            replied = Tally(m.reply_to for m in fresh if m.reply_to is not None)
            if replied:
                await messages.add_reply_counts_txn(txn, chat_id, dict(replied))
        await messages.insert_messages_txn(txn, written)
        if self._webhooks is not None:
            await self._webhooks.messages_sent_txn(txn, written, chat_rows)
        cards = [(m.chat_id, m.msg_id, m.card.user_id, m.sender_id) for m in written
                 if m.card is not None]
        if cards:
            await contacts.insert_cards_txn(txn, cards)
        await search.index_messages_txn(txn, written, text_entries)
        await self._write_mentions_txn(txn, batch, to_write, check, now)
        txn.call_after(lambda: MESSAGES_SENT.inc(len(written)))

    async def _with_files_txn(self, txn: Txn, chat_id: int, fresh: list[wire.Message],
                              check: _BatchCheck, now: int) -> list[wire.Message]:
        """A file sent for the first time makes this chat its home: its lifetime
        is now this chat's. Each media message carries its file's state."""
        out = []
        for m in fresh:
            f = None if m.file_id is None else check.files.get(m.file_id)
            if f is None:
                out.append(m)
                continue
            if f.chat_id is None:
                f = await self._media.bind_home_txn(txn, f, chat_id, now)
                check.files[f.file_id] = f
            out.append(msgspec.structs.replace(m, file=self._file_views.info(f)))
        return out

    async def _write_mentions_txn(self, txn: Txn, batch: list[SendRequest],
                                  to_write: dict[int, list[int]], check: _BatchCheck, now: int
                                  ) -> None:
        """A mentioned member gets a ``mention`` user update and a row that
        ``chat.list`` counts until their read cursor passes it."""
        rows: list[tuple[int, int, int]] = []
        for chat_id, indexes in sorted(to_write.items()):
            for i in indexes:
                req = batch[i]
                if not req.entities:  # the common case: nothing to notify
                    continue
                targets = _mentioned(req)
                if _mentions_all(req):
                    targets |= set(await chats.active_member_ids_txn(txn, chat_id))
                message = check.results[i]
                assert isinstance(message, wire.Message)
                rows += [(u, chat_id, message.msg_id) for u in sorted(targets - {req.user_id})]
        if not rows:
            return
        await messages.insert_mentions_txn(txn, rows)
        for user_id, chat_id, msg_id in rows:
            update = await updates.append_user_update_txn(
                txn, user_id, now, "mention", {"chat_id": chat_id, "msg_id": msg_id})
            publish_user_on_commit(txn, self._bus, user_id, [update])

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
            found = {p.message.msg_id: p for p in
                     await messages.get_stored_txn(txn, chat_id, wanted)
                     if p.deleted_at is None}
            for i in indexes:
                req = batch[i]
                assert req.reply_to is not None
                spans = access.visible_spans(chat_rows[chat_id], members[(chat_id, req.user_id)])
                parent = found.get(req.reply_to)
                if parent is None or not access.can_see(spans, req.reply_to):
                    check.results[i] = TidingsError(
                        ErrorCode.MESSAGE_NOT_FOUND,
                        f"reply_to: no message {req.reply_to} in this chat", field="reply_to")
                    continue
                preview = preview_of(parent, req.reply_to, self._settings.reply_preview_chars)
                if preview is not None:
                    check.previews[i] = preview

    def _new_message(self, req: SendRequest, msg_id: int, now: int, ttl: int | None,
                     preview: wire.ReplyPreview | None) -> wire.Message:
        # Positional (the send hot path; keywords cost twice as much), in the
        # field order of wire.Message. Auto-delete stamps its deadline now;
        # burn-after-read stamps it when the message is read.
        return wire.Message(
            req.chat_id, msg_id, req.user_id, now, req.kind, req.text, req.reply_to,
            req.local_id, req.entities or None, req.location, req.file_id, None, None, None,
            req.forward_from, preview, 0, wire.NO_REACTIONS, wire.NO_STRINGS, None, wire.NO_STRINGS,
            now + ttl if ttl else None, req.burn_after_seconds, None, req.card,
        )

    # -- recall
    async def recall(self, user_id: int, chat_id: int, msg_id: int) -> int:
        async def recall_txn(txn: Txn) -> int:
            now = self._clock.now()
            # The chat row first, as every writer to a chat's messages takes it.
            chat, member = await lock_membership_txn(txn, chat_id, user_id, now=now)
            found = await messages.get_messages_txn(txn, chat_id, [msg_id])
            if not found or not access.can_see(access.visible_spans(chat, member), msg_id):
                raise TidingsError(ErrorCode.MESSAGE_NOT_FOUND, f"no message {msg_id}")
            message = found[0]
            self._check_recall(chat, message, member, now)
            if self._settings.recall_audit:
                await messages.insert_recall_audit_txn(txn, message, user_id, now)
            await messages.mark_recalled_txn(txn, chat_id, msg_id, user_id, now)
            recalled = {"msg_id": msg_id, "recalled_by": user_id, "recalled_at": now}
            ups = await updates.append_chat_updates_txn(
                txn, chat_id, now, [("message.recalled", recalled)])
            publish_chat_on_commit(txn, self._bus, chat_id, ups)
            await tell_former_members_txn(txn, self._bus, chat, [msg_id], now,
                                          "message.recalled",
                                          lambda _: {"chat_id": chat_id, **recalled})
            return int(ups[-1]["pts"])

        return await self._db.write("recall_message", recall_txn)

    def _check_recall(self, chat: chats.ChatRow, message: wire.Message,
                      member: chats.MemberRow, now: int) -> None:
        """A sender's own message uses ``recall_window_seconds``, owners and admins
        included: the reason there is no edit (a payment address changed after
        the fact) holds for everyone. Owners and admins recall other people's
        messages within ``admin_recall_window_seconds`` (moderation)."""
        if message.recalled_at is not None:
            raise TidingsError(ErrorCode.ALREADY_RECALLED, "this message was already recalled")
        if message.kind == "system":
            raise forbidden("system messages cannot be recalled")
        s = self._settings
        if message.sender_id == member.user_id:
            window = s.recall_window_seconds
        elif permissions.allows(chat, member, "moderate_messages"):
            window = s.admin_recall_window_seconds
        else:
            raise forbidden("only the sender, the owner or an admin may recall a message")
        if now - message.date > window:
            raise TidingsError(ErrorCode.RECALL_WINDOW_PASSED,
                               f"messages can be recalled within {window} seconds",
                               window_seconds=window)
