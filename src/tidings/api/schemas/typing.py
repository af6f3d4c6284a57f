"""Parameters of ``typing.send``."""

from __future__ import annotations

from tidings.api.schemas import Params
from tidings.wire import Id, Text


class SendTyping(Params, frozen=True):
    chat_id: Id
    action: Text = "typing"  # typing, uploading or cancel (checked by the service)
