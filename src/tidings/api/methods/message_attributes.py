"""message.set_attributes, message.list_tags"""

from __future__ import annotations

from typing import Any

from tidings.api import schemas as s
from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas.message_attributes import SetAttributes
from tidings.services.container import Services

registry = Registry()


@registry.method("message.set_attributes", SetAttributes)
async def set_attributes(sv: Services, caller: Caller, p: SetAttributes) -> Any:
    return await sv.message_attributes.set(require_user(caller.user_id), p.chat_id, p.msg_id,
                                           p.attributes, p.tags)


@registry.method("message.list_tags", s.ChatId)
async def list_tags(sv: Services, caller: Caller, p: s.ChatId) -> Any:
    return {"tags": await sv.message_attributes.list_tags(require_user(caller.user_id),
                                                          p.chat_id)}
