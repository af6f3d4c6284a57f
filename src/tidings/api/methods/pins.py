"""message.pin, message.unpin"""

from __future__ import annotations

from typing import Any

from tidings.api import schemas as s
from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.services.container import Services

registry = Registry()


@registry.method("message.pin", s.MessageRef)
async def pin(sv: Services, caller: Caller, p: s.MessageRef) -> Any:
    return {"pts": await sv.pins.pin(require_user(caller.user_id), p.chat_id, p.msg_id)}


@registry.method("message.unpin", s.MessageRef)
async def unpin(sv: Services, caller: Caller, p: s.MessageRef) -> Any:
    return {"pts": await sv.pins.unpin(require_user(caller.user_id), p.chat_id, p.msg_id)}
