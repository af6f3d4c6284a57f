"""Parameters of ``chat.set_message_ttl`` (auto-delete)."""

from __future__ import annotations

from tidings.api.schemas import Params
from tidings.wire import Id, Int64


class SetMessageTtl(Params, frozen=True):
    chat_id: Id
    # null = off; a preset (86400, 604800, 2592000) or a custom value within the
    # settings' range, checked by the service
    seconds: Int64 | None
