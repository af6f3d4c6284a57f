"""Parameters of ``chat.members``."""

from __future__ import annotations

from tidings.api.schemas import Params
from tidings.wire import Id, Int64, Text


class ListMembers(Params, frozen=True):
    chat_id: Id
    limit: Int64 | None = None
    cursor: Text | None = None  # a next_cursor, passed back as it was returned
    query: Text | None = None  # a prefix of the username or of a word of the display name
    role: Text | None = None
