"""What a member sees of a chat's messages: history pages, single messages,
the replies to a message and the reply graph.

Everything here reads through the member's read view (``VisibilityCache``):
the membership spans above the cleared floor, without deleted messages and,
for a member who deleted some for themselves, without those. Messages are
returned as the viewer sees them now: ``reply_preview`` reflects the replied-to
message's current state (recalled, deleted).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import msgspec

from tidings import wire
from tidings.codecs import JSON, PreEncoded
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, invalid
from tidings.services import access
from tidings.services.file_views import FileViews
from tidings.services.history_pages import CachedPage, HistoryPageCache
from tidings.services.message_attributes import normalize_tag
from tidings.services.visibility import ReadView, VisibilityCache
from tidings.store import messages, reactions
from tidings.store.chat_pts import chat_pts_txn


@dataclass(frozen=True)
class ReplyEdge:
    from_user_id: int
    to_user_id: int
    count: int


def preview_of(parent: messages.StoredMessage | None, reply_to: int, chars: int
               ) -> wire.ReplyPreview | None:
    """What a reply shows of its parent; a parent the viewer cannot see shows
    nothing (``None``), a recalled or deleted one says so."""
    if parent is None:
        return None
    m = parent.message
    if parent.deleted_at is not None:
        return wire.ReplyPreview(reply_to, m.sender_id, m.kind, None, "deleted")
    if m.recalled_at is not None:
        return wire.ReplyPreview(reply_to, m.sender_id, m.kind, None, "recalled")
    return wire.ReplyPreview(reply_to, m.sender_id, m.kind, (m.text or "")[:chars] or None)


async def decorate_txn(txn: Txn, viewer: int, chat_id: int, found: list[wire.Message],
                       spans: list[tuple[int, int]], preview_chars: int,
                       file_views: FileViews) -> list[wire.Message]:
    """Messages as this viewer sees them now: each reply's ``reply_preview`` from
    its parent's current state, ``my_reactions``, and each media message's
    ``file`` with this viewer's actions. One query each for the page, and none
    when nothing on it is a reply, carries reactions or shows a file."""
    found = await previews_txn(txn, chat_id, found, spans, preview_chars)
    return await personal_txn(txn, viewer, chat_id, found, file_views)


async def previews_txn(txn: Txn, chat_id: int, found: list[wire.Message],
                       spans: list[tuple[int, int]], preview_chars: int
                       ) -> list[wire.Message]:
    """Each reply's ``reply_preview``: the same for every viewer with these spans."""
    wanted = sorted({r for m in found if (r := m.reply_to) is not None
                     and access.can_see(spans, r)})
    if wanted:
        parents = {p.message.msg_id: p
                   for p in await messages.get_stored_txn(txn, chat_id, wanted)}
        found = [m if m.reply_to is None else msgspec.structs.replace(
            m, reply_preview=preview_of(parents.get(m.reply_to), m.reply_to, preview_chars))
            for m in found]
    return found


async def personal_txn(txn: Txn, viewer: int, chat_id: int, found: list[wire.Message],
                       file_views: FileViews) -> list[wire.Message]:
    """What only this viewer sees on these messages: ``my_reactions`` and each
    file's state with the viewer's actions."""
    reacted = [m.msg_id for m in found if m.reactions]
    if reacted:
        mine = await reactions.mine_txn(txn, viewer, chat_id, reacted)
        found = [msgspec.structs.replace(m, my_reactions=mine[m.msg_id])
                 if m.msg_id in mine else m for m in found]
    return await file_views.attach_txn(txn, viewer, chat_id, found)


class TimelineService:
    def __init__(self, db: Database, settings: Settings, visibility: VisibilityCache,
                 file_views: FileViews, pages: HistoryPageCache | None = None) -> None:
        self._db = db
        self._pages = pages if pages is not None else HistoryPageCache(0)
        self._settings = settings
        self._visibility = visibility
        self._file_views = file_views

    async def history(self, user_id: int, chat_id: int, before: int | None, after: int | None,
                      limit: int | None, tag: str | None = None) -> list[wire.Message]:
        """A page of what the member sees; ``tag`` keeps only messages with that
        tag (normalised as ``message.set_attributes`` stores tags)."""
        page = await self.history_page(user_id, chat_id, before, after, limit, tag)
        # A copy: the cache's own list must not change under other readers.
        return list(page.value if isinstance(page, PreEncoded) else page)

    async def history_page(self, user_id: int, chat_id: int, before: int | None,
                           after: int | None, limit: int | None, tag: str | None = None
                           ) -> list[wire.Message] | PreEncoded:
        """``history``, as the reply's value: a page shared with other viewers
        comes from the node's page cache with its JSON already encoded."""
        s = self._settings
        count = s.history_default_limit if limit is None else limit
        if not 1 <= count <= s.history_max_limit:
            raise invalid(f"limit must be 1 to {s.history_max_limit}", field="limit")
        if tag is not None:
            tag = normalize_tag(tag)
            if not 1 <= len(tag) <= s.max_tag_length:
                raise invalid(f"tag must be 1 to {s.max_tag_length} characters", field="tag")
        cache = self._pages

        async def history_txn(txn: Txn) -> list[wire.Message] | PreEncoded:
            view = await self._visibility.view_txn(txn, chat_id, user_id)
            pts = None
            if cache.enabled and not view.has_hidden:
                # The pts first, then the page: an entry is never older than its pts.
                pts = await chat_pts_txn(txn, chat_id)
            elif cache.enabled:
                cache.bypassed()
            if pts is None:
                page = await self._page_txn(txn, chat_id, view, before, after, count, tag,
                                            user_id)
                return await decorate_txn(txn, user_id, chat_id, page, view.spans,
                                          s.reply_preview_chars, self._file_views)
            key = (chat_id, tuple(view.spans), before, after, count, tag)
            entry = cache.get(key, pts)
            if entry is None:
                page = await self._page_txn(txn, chat_id, view, before, after, count, tag,
                                            user_id)
                page = await previews_txn(txn, chat_id, page, view.spans,
                                          s.reply_preview_chars)
                entry = CachedPage(pts, page, JSON.encode(page))
                cache.put(key, entry)
            if entry.personal:
                return await personal_txn(txn, user_id, chat_id, entry.messages,
                                          self._file_views)
            return PreEncoded(entry.json, entry.messages)

        # No snapshot: membership and the page are each read once, and a message
        # committed between the two is simply on the next page.
        return await self._db.read("message_history", history_txn, snapshot=False)

    async def _page_txn(self, txn: Txn, chat_id: int, view: ReadView, before: int | None,
                        after: int | None, count: int, tag: str | None, user_id: int
                        ) -> list[wire.Message]:
        hidden_for = user_id if view.has_hidden else None
        if after is not None:
            return await self._oldest_txn(txn, chat_id, view.spans, after, before, count,
                                          hidden_for, tag)
        return await self._newest_txn(txn, chat_id, view.spans, before, count, hidden_for,
                                      tag)

    async def _oldest_txn(self, txn: Txn, chat_id: int, spans: list[tuple[int, int]],
                          after: int, before: int | None, count: int, hidden_for: int | None,
                          tag: str | None) -> list[wire.Message]:
        page: list[wire.Message] = []
        for lo, hi in spans:
            upper = hi if before is None else min(hi, before - 1)
            lower = max(after, lo - 1)
            if upper > lower:
                page += await messages.oldest_after_txn(txn, chat_id, lower, upper,
                                                        count - len(page),
                                                        hidden_for=hidden_for, tag=tag)
            if len(page) >= count:
                break
        return page

    async def _newest_txn(self, txn: Txn, chat_id: int, spans: list[tuple[int, int]],
                          before: int | None, count: int, hidden_for: int | None,
                          tag: str | None) -> list[wire.Message]:
        page: list[wire.Message] = []
        for lo, hi in reversed(spans):
            upper = hi + 1 if before is None else min(hi + 1, before)
            if upper > lo:
                page = await messages.newest_before_txn(txn, chat_id, lo - 1, upper,
                                                        count - len(page),
                                                        hidden_for=hidden_for, tag=tag) + page
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
            found = await messages.get_messages_txn(txn, chat_id, wanted)
            return await decorate_txn(txn, user_id, chat_id, found, view.spans,
                                      self._settings.reply_preview_chars, self._file_views)

        return await self._db.read("get_messages", get_txn, snapshot=False)

    async def replies(self, user_id: int, chat_id: int, msg_id: int, limit: int | None,
                      before: int | None) -> list[wire.Message]:
        """Replies to a message the caller can see, newest first, paged by ``before``."""
        s = self._settings
        count = s.history_default_limit if limit is None else limit
        if not 1 <= count <= s.replies_max_limit:
            raise invalid(f"limit must be 1 to {s.replies_max_limit}", field="limit")

        async def replies_txn(txn: Txn) -> list[wire.Message]:
            view = await self._visibility.view_txn(txn, chat_id, user_id)
            if not access.can_see(view.spans, msg_id) or not await messages.get_messages_txn(
                    txn, chat_id, [msg_id]):
                raise TidingsError(ErrorCode.MESSAGE_NOT_FOUND, f"no message {msg_id}")
            found: list[wire.Message] = []
            for lo, hi in reversed(view.spans):
                upper = hi if before is None else min(hi, before - 1)
                if upper >= lo and len(found) < count:
                    found += await messages.replies_txn(txn, chat_id, msg_id, lo, upper,
                                                        count - len(found))
            if view.has_hidden:
                hidden = await messages.hidden_among_txn(txn, user_id, chat_id,
                                                         [m.msg_id for m in found])
                found = [m for m in found if m.msg_id not in hidden]
            return await decorate_txn(txn, user_id, chat_id, found, view.spans,
                                      s.reply_preview_chars, self._file_views)

        return await self._db.read("message_replies", replies_txn, snapshot=False)

    async def reply_graph(self, user_id: int, chat_id: int, since: int | None,
                          until: int | None) -> list[ReplyEdge]:
        """Who answered whom how often, over what the caller can see: seed 000's
        permanent structure layer, grouped by the database over the reply index."""
        lower = 0 if since is None else since
        upper = wire.INT64_MAX if until is None else until
        if upper <= lower:
            raise invalid("until must be after since", field="until")

        async def graph_txn(txn: Txn) -> list[ReplyEdge]:
            view = await self._visibility.view_txn(txn, chat_id, user_id)
            counts: Counter[tuple[int, int]] = Counter()
            for lo, hi in view.spans:
                for a, b, n in await messages.reply_edges_txn(txn, chat_id, lo, hi, lower,
                                                              upper):
                    counts[(a, b)] += n
            return [ReplyEdge(a, b, n) for (a, b), n in
                    sorted(counts.items(), key=lambda e: (-e[1], e[0]))]

        return await self._db.read("reply_graph", graph_txn, snapshot=False)
