"""chat.set_message_ttl (auto-delete)"""

from __future__ import annotations

from typing import Any

from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas.message_ttl import SetMessageTtl
from tidings.services.container import Services

registry = Registry()


@registry.method("chat.set_message_ttl", SetMessageTtl)
async def set_message_ttl(sv: Services, caller: Caller, p: SetMessageTtl) -> Any:
    return {"pts": await sv.message_ttl.set_ttl(require_user(caller.user_id), p.chat_id,
                                                p.seconds)}
