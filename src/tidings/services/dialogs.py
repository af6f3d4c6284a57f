"""The conversation list (``chat.list``), each user's dialog settings (pin,
hide, mute) and the unread mentions of a chat (``message.mentions``).

Dialog settings live on the membership row and concern one user, so each
change is a user update written in the same transaction (``dialog.pinned``,
``dialog.unpinned``, ``dialog.hidden``, ``dialog.muted``) that the user's other
devices follow. A call that changes nothing writes nothing and answers the
current state.

- Pinned dialogs list first, in the order they were pinned: ``members.pinned``
  is a per-user increasing number (0 = not pinned), at most
  ``max_pinned_dialogs`` at a time.
- A hidden dialog stores the chat's pts at the hide in ``members.hidden``; it
  is back (and listed again) as soon as the chat has a message after that pts,
  whoever sent it. Nothing is written when it comes back: ``chats.last_msg_id
  > members.hidden`` is the rule, on the server and on every device.
- ``muted_until`` is a Unix time; 0 is not muted and ``MUTE_FOREVER`` is
  muted with no end.

Paging (``chat.list`` and ``message.mentions``) is by an opaque cursor naming
the last row returned; see ``list_dialogs`` for what a walk over the pages guarantees.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

from tidings import wire
from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import forbidden, invalid
from tidings.services import access
from tidings.services.file_views import FileViews
from tidings.services.notify import publish_user_on_commit
from tidings.store import chats, dialogs, updates
from tidings.store import reads as read_store
from tidings.store.chats import ChatRow, MemberRow
from tidings.store.dialogs import PagePosition, StatsKey
from tidings.store.messages import StoredMessage

# `dialog.mute` without `until`: 9999-12-31T23:59:59Z, the largest time every
# client's date type can show (and well inside JavaScript's exact integers).
MUTE_FOREVER = 253_402_300_799


class DialogPage(msgspec.Struct, frozen=True):
    chats: list[wire.Dialog]
    next_cursor: str | None


class MentionPage(msgspec.Struct, frozen=True):
    msg_ids: list[int]  # newest first
    next_cursor: str | None


class DialogService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings,
                 file_views: FileViews) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._file_views = file_views

    # -- the list ------------------------------------------------------------------
    async def list_dialogs(self, user_id: int, limit: int | None = None,
                           cursor: str | None = None, include_hidden: bool = False
                           ) -> DialogPage:
        """One page of the conversation list: pinned dialogs in pin order, then the
        others by the chat's last activity, newest first (ties: higher chat_id first).

        The cursor is a position in that order, not a snapshot. Within one walk
        (the first page without cursor, then each ``next_cursor``) no dialog comes
        twice, and every dialog whose place did not change during the walk comes
        exactly once. A dialog that moves during the walk (a new message, a chat
        joined) moves to the top, ahead of the cursor: it is not repeated, and if
        the walk had not reached it yet, the later pages skip it; the device learns
        of it from the update that moved it, which it receives anyway."""
        s = self._settings
        count = s.dialogs_default_limit if limit is None else limit
        if not 1 <= count <= s.dialogs_max_limit:
            raise invalid(f"limit must be 1 to {s.dialogs_max_limit}", field="limit")
        after = None if cursor is None else _decode_position(cursor)

        async def list_txn(txn: Txn) -> DialogPage:
            rows = await dialogs.dialog_page_txn(txn, user_id, after, count + 1,
                                                 include_hidden=include_hidden)
            page = rows[:count]
            found = await self._decorate_txn(txn, user_id, page)
            next_cursor = _encode_position(page[-1]) if len(rows) > count else None
            return DialogPage(found, next_cursor)

        # No snapshot: every later query is bounded by the pts the page read, so a
        # message committed meanwhile is simply not counted yet.
        return await self._db.read("list_dialogs", list_txn, snapshot=False)

    async def _decorate_txn(self, txn: Txn, user_id: int,
                            page: list[tuple[MemberRow, ChatRow]]) -> list[wire.Dialog]:
        spans = {chat.chat_id: access.message_spans(chat, member) for member, chat in page}
        keys = [_stats_key(member, chat.chat_id, spans[chat.chat_id][-1])
                for member, chat in page if spans[chat.chat_id]]
        stats = await dialogs.page_stats_txn(txn, user_id, keys)
        previews: dict[int, int] = {}
        for member, chat in page:
            chat_id = chat.chat_id
            found = stats.get(chat_id, (0, 0, None))[2]
            for lo, hi in reversed(spans[chat_id][:-1]):  # earlier memberships, rarely
                if found is not None:
                    break
                found = await dialogs.newest_row_txn(txn, user_id, chat_id, lo - 1, hi,
                                                     hidden=bool(member.has_hidden))
            if found is not None:
                previews[chat_id] = found
        stored = await dialogs.stored_messages_txn(txn, sorted(previews.items()))
        for chat_id, s in list(stored.items()):
            if s.message.file_id is not None:  # the preview shows its file's state
                shown = await self._file_views.attach_txn(txn, user_id, chat_id, [s.message])
                stored[chat_id] = msgspec.structs.replace(s, message=shown[0])
        peers = await read_store.direct_peers_txn(
            txn, user_id, [chat.chat_id for _, chat in page if chat.kind == "direct"])
        return [_dialog(member, chat, stats.get(chat.chat_id, (0, 0, None)),
                        stored.get(chat.chat_id), peers.get(chat.chat_id, (None, None)))
                for member, chat in page]

    # -- settings ------------------------------------------------------------------
    async def pin(self, user_id: int, chat_id: int) -> int:
        """Pin a dialog at the end of the pinned ones; returns its pin order."""
        async def pin_txn(txn: Txn) -> int:
            me = await self._member_txn(txn, chat_id, user_id)
            if me.pinned > 0:
                return me.pinned
            await dialogs.lock_user_txn(txn, user_id)
            pinned, top = await dialogs.pin_state_txn(txn, user_id)
            limit = self._settings.max_pinned_dialogs
            if pinned >= limit:
                raise forbidden(f"at most {limit} dialogs can be pinned; unpin one first",
                                limit=limit)
            await dialogs.set_pinned_txn(txn, chat_id, user_id, top + 1)
            await self._notify_txn(txn, user_id, "dialog.pinned",
                                   {"chat_id": chat_id, "pinned_order": top + 1})
            return top + 1

        return await self._db.write("pin_dialog", pin_txn)

    async def unpin(self, user_id: int, chat_id: int) -> int:
        async def unpin_txn(txn: Txn) -> int:
            me = await self._member_txn(txn, chat_id, user_id)
            if me.pinned > 0:
                await dialogs.set_pinned_txn(txn, chat_id, user_id, 0)
                await self._notify_txn(txn, user_id, "dialog.unpinned", {"chat_id": chat_id})
            return 0

        return await self._db.write("unpin_dialog", unpin_txn)

    async def hide(self, user_id: int, chat_id: int) -> int:
        """Hide a dialog until the chat's next message; returns the pts it was
        hidden at (the earlier one when it is still hidden)."""
        async def hide_txn(txn: Txn) -> int:
            me = await self._member_txn(txn, chat_id, user_id)
            chat = await chats.get_chat_txn(txn, chat_id)
            assert chat is not None  # the membership references it
            if is_hidden(me, chat):
                return me.hidden
            await dialogs.set_hidden_txn(txn, chat_id, user_id, chat.pts)
            await self._notify_txn(txn, user_id, "dialog.hidden",
                                   {"chat_id": chat_id, "hidden_pts": chat.pts})
            return chat.pts

        return await self._db.write("hide_dialog", hide_txn)

    async def mute(self, user_id: int, chat_id: int, until: int | None) -> int:
        """Mute until a Unix time (``None``: forever, ``0``: unmute); returns the
        stored ``muted_until``. Times beyond ``MUTE_FOREVER`` are forever."""
        value = MUTE_FOREVER if until is None else min(until, MUTE_FOREVER)
        if value < 0:
            raise invalid("until must be a Unix time, 0 to unmute, or omitted for forever",
                          field="until")

        async def mute_txn(txn: Txn) -> int:
            me = await self._member_txn(txn, chat_id, user_id)
            if me.muted_until != value:
                await dialogs.set_muted_txn(txn, chat_id, user_id, value)
                await self._notify_txn(txn, user_id, "dialog.muted",
                                       {"chat_id": chat_id, "muted_until": value})
            return value

        return await self._db.write("mute_dialog", mute_txn)

    async def _member_txn(self, txn: Txn, chat_id: int, user_id: int) -> MemberRow:
        """The caller's current membership, locked until commit."""
        member = await dialogs.lock_member_txn(txn, chat_id, user_id)
        if member is None and await chats.get_chat_txn(txn, chat_id) is None:
            raise access.chat_missing(chat_id)
        return access.require_active(member, chat_id)

    async def _notify_txn(self, txn: Txn, user_id: int, kind: str, payload: dict[str, Any]
                          ) -> None:
        update = await updates.append_user_update_txn(txn, user_id, self._clock.now(), kind,
                                                      payload)
        publish_user_on_commit(txn, self._bus, user_id, [update])

    # -- mentions ------------------------------------------------------------------
    async def mentions(self, user_id: int, chat_id: int, limit: int | None = None,
                       cursor: str | None = None) -> MentionPage:
        """The caller's unread mentions in a chat, newest first: the messages
        mentioning them (by name or ``@all``) after their read cursor that they
        can still see (not deleted, not hidden by them, above a cleared floor)."""
        s = self._settings
        count = s.mentions_max_limit if limit is None else limit
        if not 1 <= count <= s.mentions_max_limit:
            raise invalid(f"limit must be 1 to {s.mentions_max_limit}", field="limit")
        before = None if cursor is None else _decode_mention_cursor(cursor)

        async def mentions_txn(txn: Txn) -> MentionPage:
            chat, me = await access.load_membership_txn(txn, chat_id, user_id, active=False)
            spans = access.message_spans(chat, me)
            if not spans:
                return MentionPage([], None)
            key = _stats_key(me, chat_id, spans[-1])
            ids = await dialogs.unread_mentions_txn(txn, user_id, chat_id, key.read, key.upto,
                                                    before, count + 1,
                                                    hidden=key.has_hidden)
            more = len(ids) > count
            ids = ids[:count]
            return MentionPage(ids, f"m.{ids[-1]}" if more else None)

        return await self._db.read("list_mentions", mentions_txn, snapshot=False)


def is_hidden(member: MemberRow, chat: ChatRow) -> bool:
    """Hidden at pts ``member.hidden`` and no message since."""
    return member.hidden > 0 and chat.last_msg_id <= member.hidden


def _stats_key(member: MemberRow, chat_id: int, span: tuple[int, int]) -> StatsKey:
    """The member's current span (above the cleared floor): unread counts after
    the read cursor within it, the preview is its newest row."""
    lo, hi = span
    return StatsKey(chat_id, lo - 1, max(member.read_pts, lo - 1), hi, bool(member.has_hidden))


def _dialog(member: MemberRow, chat: ChatRow, stats: tuple[int, int, int | None],
            preview: StoredMessage | None, peer: tuple[int | None, int | None]
            ) -> wire.Dialog:
    unread, mentions, _ = stats
    message = None if preview is None else preview.message
    state: Literal["ok", "recalled", "deleted"] | None = None
    if preview is not None:
        state = ("deleted" if preview.deleted_at is not None
                 else "recalled" if preview.message.recalled_at is not None else "ok")
    return wire.Dialog(
        chat=chat.to_wire(), last_message=message, unread_count=unread,
        read_pts=member.read_pts, role=member.role, pinned=member.pinned > 0,
        hidden=is_hidden(member, chat), muted_until=member.muted_until,
        unread_mentions=mentions, last_message_state=state, pinned_order=member.pinned,
        peer_id=peer[0], peer_read_pts=peer[1])


# -- cursors: opaque to clients, checked strictly here --------------------------------
_PINNED_CURSOR = re.compile(r"p\.(\d{1,19})")
_RECENT_CURSOR = re.compile(r"a\.(\d{1,19})\.(\d{1,19})")
_MENTION_CURSOR = re.compile(r"m\.(\d{1,19})")


def _encode_position(row: tuple[MemberRow, ChatRow]) -> str:
    member, chat = row
    if member.pinned > 0:
        return f"p.{member.pinned}"
    return f"a.{chat.last_activity}.{chat.chat_id}"


def _decode_position(cursor: str) -> PagePosition:
    if (m := _PINNED_CURSOR.fullmatch(cursor)) and (order := _int64(m[1])) > 0:
        return PagePosition(pinned=order)
    if m := _RECENT_CURSOR.fullmatch(cursor):
        return PagePosition(activity=_int64(m[1]), chat_id=_int64(m[2]))
    raise _bad_cursor()


def _decode_mention_cursor(cursor: str) -> int:
    if m := _MENTION_CURSOR.fullmatch(cursor):
        return _int64(m[1])
    raise _bad_cursor()


def _int64(digits: str) -> int:
    value = int(digits)
    if value > wire.INT64_MAX:
        raise _bad_cursor()
    return value


def _bad_cursor() -> Exception:
    return invalid("cursor is not one this method returned", field="cursor")
