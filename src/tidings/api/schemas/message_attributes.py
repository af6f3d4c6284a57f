"""Parameters of ``message.set_attributes``. An omitted ``attributes`` or
``tags`` keeps what the message has; ``null`` clears it. Strings nested inside
``attributes`` (typed ``Any`` here) are checked by the service with the same
rule as ``Text``."""

from __future__ import annotations

from typing import Any

import msgspec

from tidings.api.schemas import Params
from tidings.wire import Id, Text


class SetAttributes(Params, frozen=True):
    chat_id: Id
    msg_id: Id
    attributes: dict[Text, Any] | msgspec.UnsetType | None = msgspec.UNSET
    tags: list[Text] | msgspec.UnsetType | None = msgspec.UNSET
