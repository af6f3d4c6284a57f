"""Parameters of ``message.search``. The query's content (length, searchable
terms), the kind, the tag and the limit are checked by the service, which
knows the settings and the tokenizer."""

from __future__ import annotations

from tidings.api.schemas import Params
from tidings.wire import Id, Int64, Pts, Text


class Search(Params, frozen=True):
    query: Text | None = None
    chat_id: Id | None = None
    sender_id: Id | None = None
    kind: Text | None = None
    tag: Text | None = None
    since: Pts | None = None  # Unix seconds: date >= since
    until: Pts | None = None  # Unix seconds: date < until
    limit: Int64 | None = None
    cursor: Text | None = None  # a next_cursor, passed back as it was returned
