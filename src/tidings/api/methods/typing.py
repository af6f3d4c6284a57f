"""typing.send"""

from __future__ import annotations

from typing import Any

from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas.typing import SendTyping
from tidings.services.container import Services

registry = Registry()


@registry.method("typing.send", SendTyping)
async def send(sv: Services, caller: Caller, p: SendTyping) -> Any:
    return {"relayed": await sv.typing.send(require_user(caller.user_id), p.chat_id, p.action)}
