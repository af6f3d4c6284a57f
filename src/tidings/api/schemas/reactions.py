"""Parameters of the reaction methods (``message.react``, ``message.unreact``,
``message.reactions``). The emoji itself is checked by the service: a single
emoji grapheme is a Unicode question, not a type."""

from __future__ import annotations

from tidings.api.schemas import Params
from tidings.wire import Id, Int64, Text


class React(Params, frozen=True):
    chat_id: Id
    msg_id: Id
    emoji: Text


class ListReactions(Params, frozen=True):
    chat_id: Id
    msg_id: Id
    emoji: Text | None = None
    limit: Int64 | None = None
    cursor: Text | None = None  # a next_cursor, passed back as it was returned
