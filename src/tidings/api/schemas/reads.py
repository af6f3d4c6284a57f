"""Parameters of the read receipt and privacy methods (``read.receipts``,
``read.readers``; ``privacy.update`` is in ``people``)."""

from __future__ import annotations

from tidings.api.schemas import Params
from tidings.wire import Id, Int64, Text


class Receipts(Params, frozen=True):
    chat_id: Id
    msg_ids: list[Id]


class Readers(Params, frozen=True):
    chat_id: Id
    msg_id: Id
    limit: Int64 | None = None
    cursor: Text | None = None  # a next_cursor, passed back as it was returned
