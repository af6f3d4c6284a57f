"""The message search index and the queries of ``message.search``.

``message_search (doc_id, chat_id, msg_id, terms)`` holds one row per message
with text, written by ``index_messages_txn`` in the transaction that writes
the message; ``doc_id`` grows in write order, so newest first is ``doc_id``
descending (what the terms are: ``tidings.store.search_terms``; how each
engine stores them: ``{{search_index}}`` in ``tidings.db.engine``). Rows are
never updated or removed: every query joins ``messages`` and leaves out
deleted and recalled messages, so a stale row costs a lookup, never a wrong
result.

Queries without text (seed 002's QueryMessages) read ``messages`` through its
indexes: ``messages_by_date`` (chat, date, msg_id), ``messages_by_local_id`` (chat,
sender, local_id: a sender's messages),
``messages_by_kind`` (kinds other than text) and ``message_tags``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tidings import wire
from tidings.db.engine import Txn
from tidings.store import messages, search_terms

_MSG_COLS = ", ".join(f"m.{c}" for c in messages._COLUMNS)


class Filters(msgspec.Struct, frozen=True):
    """Conditions on the message besides its text; ``since <= date < until``."""

    sender_id: int | None = None
    kind: str | None = None
    tag: str | None = None
    since: int | None = None
    until: int | None = None


class Hit(msgspec.Struct, frozen=True):
    doc_id: int
    message: wire.Message


class _Args:
    """Placeholders in the order their values are added."""

    def __init__(self, *values: Any) -> None:
        self.values: list[Any] = list(values)

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


# -- the caller's chats --------------------------------------------------------

class ScopeRow(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """What a search needs of one of the caller's memberships and its chat (a
    user in thousands of chats makes thousands: untracked by the cyclic garbage
    collector, which otherwise pauses longer and more often)."""

    chat_id: int
    history_visibility: str
    pts: int
    chat_cleared_pts: int
    last_activity: int
    created_at: int
    joined_pts: int
    left_pts: int | None
    cleared_pts: int
    past_spans: str | None
    has_hidden: int


# history_visibility here is the member's: "full" where they see the history
# from before joining (members.history_from = 1), else "joined".
_SCOPE = ("SELECT c.chat_id, CASE WHEN m.history_from = 1 THEN 'full' ELSE 'joined' END,"
          " c.pts, c.cleared_pts, c.last_activity,"
          " c.created_at, m.joined_pts, m.left_pts, m.cleared_pts, m.past_spans, m.has_hidden"
          " FROM members m JOIN chats c ON c.chat_id = m.chat_id WHERE m.user_id = $1")


async def scope_txn(txn: Txn, user_id: int) -> list[ScopeRow]:
    """Every chat the user is or was a member of (a lean read: a user may be in
    thousands)."""
    return [ScopeRow(*r) for r in await txn.fetch(_SCOPE, user_id)]


# -- writing -------------------------------------------------------------------

def searchable(m: wire.Message) -> bool:
    return bool(m.text) and m.kind != "system" and m.recalled_at is None


async def index_messages_txn(txn: Txn, written: list[wire.Message],
                             text_entries: list[str | None] | None = None) -> None:
    """Index the text of freshly written messages (in the transaction that writes
    them); messages without text, and system messages, are skipped.
    ``text_entries``, in the order of ``written``, are their texts' parts of
    the entry where already computed (``search_terms.text_entry``)."""
    ordered = txn.engine.search_index_ordered
    rows = []
    for i, m in enumerate(written):
        if searchable(m):
            assert m.text is not None
            part = text_entries[i] if text_entries is not None else None
            entry = search_terms.entry_of(
                search_terms.text_entry(m.text) if part is None else part, m.chat_id,
                None if ordered else m.date)
            if entry:
                rows.append((m.chat_id, m.msg_id, entry))
    if not rows:
        return
    keys, args = txn.engine.keys_table(
        "k", [("chat_id", "bigint"), ("msg_id", "bigint"), ("terms", "text")], 1, rows)
    await txn.execute(
        "INSERT INTO message_search (chat_id, msg_id, terms) SELECT k.chat_id, k.msg_id,"
        f" {txn.engine.search_terms('k.terms')} FROM {keys}", *args)


# -- text queries --------------------------------------------------------------

Window = list[str] | None  # day terms, at least one of which a match holds (None: any)


def reads_in_windows(txn: Txn) -> bool:
    """Whether a large search should read the index window by window of days:
    FTS5 returns matches newest first and stops at the page; GIN returns every
    match as a set to fetch and sort, so a search narrows it to the newest days
    that can fill the page."""
    return not txn.engine.search_index_ordered


def day_cover(first: int, last: int) -> list[str]:
    """Day terms that together hold exactly the days ``first``..``last``: whole
    aligned blocks of 256, 64, 16, 4 or 1 days (at most three of a size at each
    end of the range), newest first."""
    levels = search_terms.DAY_LEVELS
    terms = []
    day = last
    while day >= first:
        size = next(n for n in reversed(levels) if (day + 1) % n == 0 and day - n + 1 >= first)
        terms.append(search_terms.day_term(size, day // size))
        day -= size
    return terms


RESTRICT_CHATS = 32


def restricts_to_chats(txn: Txn, chats: int) -> bool:
    """Whether a search over ``chats`` chats names them in the index query, or asks
    for the terms alone and keeps the matches in those chats. One chat is always
    named (its chat term is one more term to intersect). FTS5 walks the union of
    a few chats' lists cheaply (measured with 1,000,000 messages: 20 chats 7-13
    ms, 200 chats 43-86 ms); GIN evaluates every item of every named chat
    against every chat term (50 chats: 36 ms, against 0.7 ms for the terms
    alone), so on it the terms alone go with windows of days instead."""
    if chats == 1:
        return True
    return txn.engine.search_index_ordered and chats <= RESTRICT_CHATS


def text_query(txn: Txn, terms: list[str], chat_ids: list[int] | None, window: Window
               ) -> str:
    """The engine's query for messages holding every one of ``terms``, in one of
    ``chat_ids`` (None: any chat), dated inside ``window``."""
    every = list(terms)
    any_of: list[list[str]] = []
    if chat_ids is not None and len(chat_ids) == 1:
        every.append(search_terms.chat_term(chat_ids[0]))
    elif chat_ids is not None:
        any_of.append([search_terms.chat_term(c) for c in chat_ids])
    if window is not None:
        any_of.append(window)
    return txn.engine.search_query(every, *any_of)


def _filter_sql(a: _Args, f: Filters) -> str:
    sql = ""
    if f.sender_id is not None:
        sql += f" AND m.sender_id = {a(f.sender_id)}"
    if f.kind is not None:
        sql += f" AND m.kind = {a(f.kind)}"
        if f.kind != "text":  # lets the planner use the partial messages_by_kind
            sql += " AND m.kind <> 'text'"
    if f.since is not None:
        sql += f" AND m.date >= {a(f.since)}"
    if f.until is not None:
        sql += f" AND m.date < {a(f.until)}"
    return sql


def _hidden_sql(a: _Args, hidden_for: int | str | None) -> str:
    """Leaves out the messages ``hidden_for`` deleted for themselves (a user id,
    or the placeholder holding one)."""
    if hidden_for is None:
        return ""
    user = hidden_for if isinstance(hidden_for, str) else a(hidden_for)
    return (" AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id ="
            f" {user} AND h.chat_id = m.chat_id AND h.msg_id = m.msg_id)")


async def text_hits_txn(txn: Txn, query: str, checks: list[str], *, below: int, limit: int,
                        chat_ids: list[int] | None, filters: Filters,
                        hidden_for: int | None) -> list[Hit]:
    """Live, not recalled messages matching ``query`` (from ``text_query``) with
    ``doc_id < below``, in ``chat_ids`` when given (for a query not restricted
    to chats), whose text holds every one of ``checks`` (CJK substrings the
    terms do not prove); newest first."""
    # A set-returning index (GIN) is sorted after the lookup: ``+ 0`` keeps the
    # planner from walking doc_id through every row instead of using the index.
    doc = "s.doc_id" if txn.engine.search_index_ordered else "s.doc_id + 0"
    a = _Args(query, below)
    sql = (f"SELECT s.doc_id, {_MSG_COLS} FROM message_search s"
           " JOIN messages m ON m.chat_id = s.chat_id AND m.msg_id = s.msg_id"
           f" WHERE {txn.engine.search_match('s.terms', 1)} AND {doc} < $2"
           " AND m.deleted_at IS NULL AND m.recalled_at IS NULL")
    if chat_ids is not None:  # a subquery: hashed or indexed once, not a list per row
        keys, args = txn.engine.keys_table("k", [("chat_id", "bigint")], len(a.values) + 1,
                                           [(c,) for c in chat_ids])
        a.values += args
        sql += f" AND s.chat_id IN (SELECT k.chat_id FROM {keys})"
    for check in checks:  # CJK only: no LIKE wildcards, no case
        sql += f" AND m.text LIKE {a('%' + check + '%')}"
    sql += _filter_sql(a, filters)
    if filters.tag is not None:
        sql += (" AND EXISTS (SELECT 1 FROM message_tags t WHERE t.chat_id = m.chat_id"
                f" AND t.tag = {a(filters.tag)} AND t.msg_id = m.msg_id)")
    sql += _hidden_sql(a, hidden_for)
    sql += f" ORDER BY {doc} DESC LIMIT {a(limit)}"
    rows = await txn.fetch(sql, *a.values)
    return [Hit(int(r[0]), messages.message_from_row(tuple(r)[1:])) for r in rows]


# -- queries without text ------------------------------------------------------

class Position(msgspec.Struct, frozen=True, array_like=True):
    """A place in the order of queries without text: (date, chat_id, msg_id),
    newest first."""

    date: int
    chat_id: int
    msg_id: int


class Span(msgspec.Struct, frozen=True):
    """Messages ``lo <= msg_id <= hi`` of a chat; ``hidden_for``: the user whose
    hidden messages are left out (0: nobody)."""

    chat_id: int
    lo: int
    hi: int
    hidden_for: int = 0


# One statement reads up to SPANS_PER_QUERY spans, padded to the next of these
# sizes (a few SQL texts, each prepared once).
_SIZES = (1, 4, 16, 64)
SPANS_PER_QUERY = _SIZES[-1]
_NO_SPAN = Span(0, 1, 0)


async def filtered_txn(txn: Txn, spans: list[Span], *, before: Position | None, limit: int,
                       filters: Filters, since: int = 0) -> list[wire.Message]:
    """Live, not recalled messages inside ``spans`` (at most ``SPANS_PER_QUERY``)
    that pass ``filters``, newest first by (date, chat_id, msg_id), after
    ``before`` and dated ``since`` or later: each span's newest ``limit`` through
    the indexes, then merged."""
    size = next(n for n in _SIZES if n >= len(spans))
    padded = spans + [_NO_SPAN] * (size - len(spans))
    # One date range, the tightest of the bounds (the planner cannot tell which
    # of several bound parameters is tightest).
    lowest = max(since, filters.since or 0)
    highest = min(wire.INT64_MAX if before is None else before.date,
                  wire.INT64_MAX if filters.until is None else filters.until - 1)
    a = _Args(limit, lowest, highest, wire.INT64_MAX if before is None else before.date)
    # Which index reads a span. A sender's or a kind's (other than text) or a
    # tag's messages are found through their own index (a covering read of
    # msg_ids), then fetched and sorted; ``+`` keeps the planner from walking the
    # whole chat by date instead (SQLite, without statistics, otherwise prefers
    # the primary key). Anything else walks messages_by_date newest first.
    drive = None
    if filters.sender_id is not None:
        drive = f"x.sender_id = {a(filters.sender_id)}"
    elif filters.kind is not None and filters.kind != "text":  # its index holds date
        drive = f"x.kind = {a(filters.kind)} AND x.kind <> 'text' AND x.date >= $2 AND x.date <= $3"
    date = "m.date" if drive is None and filters.tag is None else "+m.date"
    sql = _filter_sql(a, msgspec.structs.replace(filters, since=None, until=None))
    if drive is not None:
        sql += (" AND m.msg_id IN (SELECT x.msg_id FROM messages x"
                f" WHERE x.chat_id = k.chat_id AND {drive})")
    elif filters.tag is not None:
        sql += (" AND m.msg_id IN (SELECT t.msg_id FROM message_tags t"
                f" WHERE t.chat_id = k.chat_id AND t.tag = {a(filters.tag)})")
    sql += _hidden_sql(a, "k.hidden_for")

    def select(source: str) -> str:
        # ``+``: the span bounds filter, they do not choose the index.
        return (f"SELECT {_MSG_COLS} FROM {source}messages m WHERE m.chat_id = k.chat_id"
                " AND +m.msg_id >= k.lo AND +m.msg_id <= k.hi"
                f" AND {date} >= $2 AND {date} <= $3 AND ({date} < $4 OR m.msg_id < k.below)"
                f" AND m.deleted_at IS NULL AND m.recalled_at IS NULL{sql}"
                f" ORDER BY {date} DESC, m.msg_id DESC LIMIT $1")

    rows = []
    for span in padded:
        if before is None or span.chat_id < before.chat_id:
            below = wire.INT64_MAX  # at the cursor's date, lower chat ids come later
        else:
            below = before.msg_id if span.chat_id == before.chat_id else 0
        rows.append((span.chat_id, span.lo, span.hi, below, span.hidden_for))
    each, args = txn.engine.rows_for_each(
        "k", [("chat_id", "bigint"), ("lo", "bigint"), ("hi", "bigint"), ("below", "bigint"),
              ("hidden_for", "bigint")], len(a.values) + 1, rows, select)
    a.values += args
    # columns 4, 1, 2: date, chat_id, msg_id
    sql = f"SELECT * FROM ({each}) AS u ORDER BY 4 DESC, 1 DESC, 2 DESC LIMIT $1"
    return [messages.message_from_row(r) for r in await txn.fetch(sql, *a.values)]
