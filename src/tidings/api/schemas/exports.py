"""Parameters of ``message.export`` and ``export.status``."""

from __future__ import annotations

from tidings.api.schemas import Params
from tidings.wire import Id, Pts, Text


class Export(Params, frozen=True):
    chat_id: Id
    format: Text  # "jsonl" or "html", checked by the service
    since: Pts | None = None  # Unix seconds: messages with since <= date < until
    until: Pts | None = None


class ExportStatus(Params, frozen=True):
    job_id: Id
