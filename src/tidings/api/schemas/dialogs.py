"""Parameters of ``chat.list``, ``dialog.*`` and ``message.mentions``."""

from __future__ import annotations

from tidings.api.schemas import Params
from tidings.wire import Id, Int64, Pts, Text


class ListDialogs(Params, frozen=True):
    limit: Int64 | None = None
    cursor: Text | None = None  # next_cursor of the previous page
    include_hidden: bool = False


class DialogRef(Params, frozen=True):
    chat_id: Id


class MuteDialog(Params, frozen=True):
    chat_id: Id
    until: Pts | None = None  # Unix time; 0 = unmute; omitted or null = forever


class ListMentions(Params, frozen=True):
    chat_id: Id
    limit: Int64 | None = None
    cursor: Text | None = None
