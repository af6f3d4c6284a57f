"""chat.members"""

from __future__ import annotations

from typing import Any

from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas.members import ListMembers
from tidings.services.container import Services

registry = Registry()


@registry.method("chat.members", ListMembers)
async def members(sv: Services, caller: Caller, p: ListMembers) -> Any:
    return await sv.members.page(require_user(caller.user_id), p.chat_id, limit=p.limit,
                                 cursor=p.cursor, query=p.query, role=p.role)
