"""message.react, message.unreact, message.reactions"""

from __future__ import annotations

from typing import Any

from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas.reactions import ListReactions, React
from tidings.services.container import Services

registry = Registry()


@registry.method("message.react", React)
async def react(sv: Services, caller: Caller, p: React) -> Any:
    return await sv.reactions.react(require_user(caller.user_id), p.chat_id, p.msg_id, p.emoji)


@registry.method("message.unreact", React)
async def unreact(sv: Services, caller: Caller, p: React) -> Any:
    return await sv.reactions.unreact(require_user(caller.user_id), p.chat_id, p.msg_id,
                                      p.emoji)


@registry.method("message.reactions", ListReactions)
async def reactions(sv: Services, caller: Caller, p: ListReactions) -> Any:
    return await sv.reactions.list(require_user(caller.user_id), p.chat_id, p.msg_id, p.emoji,
                                   p.limit, p.cursor)
