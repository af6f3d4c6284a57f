"""``message.search``: text search and filtered queries over the chats a user
can read.

Scope. A search covers one chat (``chat_id``) or every chat the caller is or
was a member of, and within each chat only what ``message.history`` would
show them: their membership spans above the cleared floor, without messages
deleted for everyone, hidden for them, or recalled (a recalled message has no
content, so it never matches; filtered queries leave it out too).

With ``query`` (what matches: ``tidings.store.search_terms``), matches come
newest first by ``doc_id`` (write order), the cursor carries the last one's.
One chat, or a few on SQLite, are named in the index query, so it never reads
another chat's matches; otherwise the index is asked for the terms alone and
the matches in the caller's chats are kept (``store.restricts_to_chats``
says why). A chat's matches from before the caller's first span end that
chat's part of the walk the first time one shows up. On PostgreSQL, whose GIN
index returns a set to fetch and sort, a large search reads windows of days,
newest first, each sized by the rate of matches found so far.

Without ``query`` it is seed 002's QueryMessages: newest first by (date,
chat_id, msg_id), each chat read through its indexes, chats in order of last
activity, up to ``SPANS_PER_QUERY`` per statement (each chat's newest page
through its own index: ``Engine.rows_for_each``), and once the page is full
only what is newer than its last message, stopping at the first chat that was
last active before it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

import msgspec

from tidings import wire
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import invalid
from tidings.services import access
from tidings.services.file_views import FileViews
from tidings.services.message_attributes import normalize_tag
from tidings.services.timeline import decorate_txn
from tidings.services.visibility import OPEN
from tidings.store import search as store
from tidings.store.search_terms import DAY, Query, QueryError, match_spans, parse_query

KINDS = frozenset({"text", "image", "audio", "video", "file", "location", "system"})


class SearchRequest(msgspec.Struct, frozen=True):
    user_id: int
    query: str | None = None
    chat_id: int | None = None
    sender_id: int | None = None
    kind: str | None = None
    tag: str | None = None
    since: int | None = None
    until: int | None = None
    limit: int | None = None
    cursor: str | None = None


class SearchResult(msgspec.Struct, frozen=True):
    message: wire.Message
    matches: list[list[int]]  # [offset, length] in code points of message.text


class SearchPage(msgspec.Struct, frozen=True):
    results: list[SearchResult]
    next_cursor: str | None


SMALL_SCOPE = 5000  # pts: below it a set-returning index is read without day windows


class _Chat(msgspec.Struct, gc=False):
    """One chat of the search's scope, as the caller may read it (untracked by the
    cyclic garbage collector, like ``store.ScopeRow``)."""

    chat_id: int
    spans: list[tuple[int, int]]  # message spans above the cleared floor, oldest first
    has_hidden: bool
    last_activity: int
    created_at: int
    pts: int

    @property
    def first(self) -> int:
        return self.spans[0][0]


@dataclass(frozen=True)
class _TextCursor:
    doc_id: int
    date: int


@dataclass
class _Walk:
    """A text search in progress: what it found and which chats it still reads."""

    need: int
    by_chat: dict[int, _Chat]
    active: set[int] = field(default_factory=set)
    found: list[store.Hit] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return len(self.found) >= self.need

    def take(self, hits: list[store.Hit]) -> None:
        for hit in hits:
            m = hit.message
            if m.chat_id not in self.active:
                continue
            chat = self.by_chat[m.chat_id]
            if m.msg_id < chat.first:  # older than anything the caller may read
                self.active.discard(m.chat_id)
            elif access.can_see(chat.spans, m.msg_id):
                self.found.append(hit)
                if self.full:
                    return


def message_spans(r: store.ScopeRow) -> list[tuple[int, int]]:
    """``access.message_spans`` of a scope row (the same rules, checked against it
    by the tests), an active member's reaching up to the newest message."""
    upto = OPEN if r.left_pts is None else r.left_pts
    if r.history_visibility == "full":
        spans = [(1, upto)]
    else:
        earlier = wire.decode(r.past_spans) if r.past_spans else []
        spans = [*((int(lo), int(hi)) for lo, hi in earlier), (r.joined_pts, upto)]
    return access.above_floor(spans, max(r.chat_cleared_pts, r.cleared_pts))


def _encode_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, kind: str, parts: int) -> list[int]:
    def bad() -> Exception:
        return invalid("cursor is not one this search returned", field="cursor")

    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad() from None
    if not text.startswith(kind):
        raise bad()
    try:
        values = [int(v) for v in text[1:].split(".")]
    except ValueError:
        raise bad() from None
    if len(values) != parts or not all(0 <= v <= wire.INT64_MAX for v in values):
        raise bad()
    return values


class SearchService:
    def __init__(self, db: Database, settings: Settings, file_views: FileViews) -> None:
        self._db = db
        self._settings = settings
        self._file_views = file_views

    async def search(self, req: SearchRequest) -> SearchPage:
        limit, query, filters = self._check(req)

        async def search_txn(txn: Txn) -> SearchPage:
            scope = await self._scope_txn(txn, req)
            if query is None:
                return await self._filtered_txn(txn, req, scope, filters, limit)
            return await self._text_txn(txn, req, scope, query, filters, limit)

        return await self._db.read("message_search", search_txn)

    # -- validation
    def _check(self, req: SearchRequest) -> tuple[int, Query | None, store.Filters]:
        s = self._settings
        limit = s.search_default_limit if req.limit is None else req.limit
        if not 1 <= limit <= s.search_max_limit:
            raise invalid(f"limit must be 1 to {s.search_max_limit}", field="limit")
        query = None
        if req.query is not None:
            try:
                query = parse_query(req.query, max_length=s.search_max_query_length)
            except QueryError as exc:
                raise invalid(str(exc), field="query") from None
        if req.kind is not None and req.kind not in KINDS:
            raise invalid(f"kind must be one of {sorted(KINDS)}", field="kind")
        tag = None
        if req.tag is not None:
            tag = normalize_tag(req.tag)
            if not tag:
                raise invalid("tag must not be empty", field="tag")
        if req.since is not None and req.until is not None and req.until <= req.since:
            raise invalid("until must be after since", field="until")
        filters = store.Filters(sender_id=req.sender_id, kind=req.kind, tag=tag,
                                 since=req.since, until=req.until)
        return limit, query, filters

    # -- scope
    async def _scope_txn(self, txn: Txn, req: SearchRequest) -> list[_Chat]:
        if req.chat_id is not None:
            chat, member = await access.load_membership_txn(txn, req.chat_id, req.user_id,
                                                            active=False)
            rows = [store.ScopeRow(
                chat.chat_id, "full" if access.sees_full_history(chat, member) else "joined",
                chat.pts, chat.cleared_pts,
                chat.last_activity, chat.created_at, member.joined_pts, member.left_pts,
                member.cleared_pts, member.past_spans, member.has_hidden)]
        else:
            rows = await store.scope_txn(txn, req.user_id)
        return [_Chat(r.chat_id, spans, bool(r.has_hidden), r.last_activity, r.created_at,
                      r.pts) for r in rows if (spans := message_spans(r))]

    # -- with text
    async def _text_txn(self, txn: Txn, req: SearchRequest, scope: list[_Chat], query: Query,
                        filters: store.Filters, limit: int) -> SearchPage:
        cursor = None
        if req.cursor is not None:
            doc_id, date = _decode_cursor(req.cursor, "t", 2)
            cursor = _TextCursor(doc_id, date)
        walk = _Walk(need=limit + 1, by_chat={c.chat_id: c for c in scope},
                     active={c.chat_id for c in scope})
        if scope:
            await self._walk_txn(txn, req, scope, query, filters, cursor, walk)
        page = walk.found[:limit]
        messages = await self._decorate_txn(txn, req.user_id, [h.message for h in page],
                                            walk.by_chat)
        results = [SearchResult(m, match_spans(m.text or "", query)) for m in messages]
        next_cursor = None
        if walk.full:
            last = page[-1]
            next_cursor = _encode_cursor(f"t{last.doc_id}.{last.message.date}")
        return SearchPage(results, next_cursor)

    async def _walk_txn(self, txn: Txn, req: SearchRequest, scope: list[_Chat], query: Query,
                        filters: store.Filters, cursor: _TextCursor | None, walk: _Walk
                        ) -> None:
        """Matches newest first from the cursor down, until the page is full; on
        an index that returns sets, window by window of days, each as long as
        the rate found so far says the rest of the page needs (four times the
        last while nothing is found), so a common term costs a few days of
        matches and a rare one a few queries."""
        below = wire.INT64_MAX if cursor is None else cursor.doc_id
        hidden_for = req.user_id if any(c.has_hidden for c in scope) else None

        async def read(window: store.Window) -> None:
            await self._segment_txn(txn, query, filters, walk, window, below, hidden_for)

        if not store.reads_in_windows(txn) or sum(c.pts for c in scope) <= SMALL_SCOPE:
            await read(None)
            return
        top, floor = self._days(req, scope, cursor)
        days, read_days = 1, 0
        while top >= floor and walk.active and not walk.full:
            first = max(floor, top - days + 1)
            before = len(walk.found)
            await read(store.day_cover(first, top))
            read_days += top - first + 1
            top = first - 1
            found = len(walk.found) - before
            wanted = walk.need - len(walk.found)
            days = (days * 4 if not found else
                    min(-(-wanted * read_days * 5 // (found * 4)), read_days * 8))

    async def _segment_txn(self, txn: Txn, query: Query, filters: store.Filters,
                           walk: _Walk, window: store.Window, below: int,
                           hidden_for: int | None) -> None:
        """Matches with ``doc_id < below`` (in ``window``), newest first, until the
        page is full or they run out."""
        while walk.active:
            chat_ids = sorted(walk.active)
            restrict = store.restricts_to_chats(txn, len(chat_ids))
            text = store.text_query(txn, query.index_terms, chat_ids if restrict else None,
                                    window)
            batch = walk.need - len(walk.found)
            hits = await store.text_hits_txn(
                txn, text, query.checks, below=below, limit=batch,
                chat_ids=None if restrict else chat_ids, filters=filters,
                hidden_for=hidden_for)
            walk.take(hits)
            if walk.full or len(hits) < batch:
                return
            below = hits[-1].doc_id

    def _days(self, req: SearchRequest, scope: list[_Chat], cursor: _TextCursor | None
              ) -> tuple[int, int]:
        """The newest and oldest day a match can have (for windows of days)."""
        top = max(c.last_activity for c in scope)
        if cursor is not None:
            top = min(top, cursor.date)
        if req.until is not None:
            top = min(top, req.until - 1)
        floor = min(c.created_at for c in scope) - DAY  # a day for clocks that differ
        if req.since is not None:
            floor = max(floor, req.since)
        return top // DAY, floor // DAY

    # -- without text
    async def _filtered_txn(self, txn: Txn, req: SearchRequest, scope: list[_Chat],
                            filters: store.Filters, limit: int) -> SearchPage:
        before = None
        if req.cursor is not None:
            before = store.Position(*_decode_cursor(req.cursor, "f", 3))
        need = limit + 1
        found: list[wire.Message] = []
        ordered = sorted(scope, key=lambda c: (c.last_activity, c.chat_id), reverse=True)
        spans = [(c, store.Span(c.chat_id, lo, hi, req.user_id if c.has_hidden else 0))
                 for c in ordered for lo, hi in c.spans]
        step = store.SPANS_PER_QUERY
        for start in range(0, len(spans), step):
            chunk = spans[start:start + step]
            # Once the page is full, only what is newer than its last message counts.
            since = found[-1].date if len(found) >= need else 0
            if chunk[0][0].last_activity < since:
                break  # no chat from here on was active after the page's last message
            found += await store.filtered_txn(txn, [s for _, s in chunk], before=before,
                                               limit=need, filters=filters, since=since)
            found.sort(key=lambda m: (m.date, m.chat_id, m.msg_id), reverse=True)
            del found[need:]
        page = found[:limit]
        by_chat = {c.chat_id: c for c in scope}
        messages = await self._decorate_txn(txn, req.user_id, page, by_chat)
        next_cursor = None
        if len(found) > limit:
            last = page[-1]
            next_cursor = _encode_cursor(f"f{last.date}.{last.chat_id}.{last.msg_id}")
        return SearchPage([SearchResult(m, []) for m in messages], next_cursor)

    async def _decorate_txn(self, txn: Txn, viewer: int, page: list[wire.Message],
                            by_chat: dict[int, _Chat]) -> list[wire.Message]:
        """Replies' previews and the viewer's reactions, as history shows them."""
        decorated: dict[tuple[int, int], wire.Message] = {}
        for chat_id in sorted({m.chat_id for m in page}):
            own = [m for m in page if m.chat_id == chat_id]
            for m in await decorate_txn(txn, viewer, chat_id, own, by_chat[chat_id].spans,
                                        self._settings.reply_preview_chars,
                                        self._file_views):
                decorated[(m.chat_id, m.msg_id)] = m
        return [decorated[(m.chat_id, m.msg_id)] for m in page]
