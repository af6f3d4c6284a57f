"""sync.*"""

from __future__ import annotations

from typing import Any

from tidings.api import schemas as s
from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.services.container import Services

registry = Registry()


@registry.method("sync.get_state", s.Empty, reads_only=True)
async def get_state(sv: Services, caller: Caller, p: s.Empty) -> Any:
    return await sv.sync.get_state(require_user(caller.user_id))


@registry.method("sync.get_difference", s.Difference, reads_only=True)
async def get_difference(sv: Services, caller: Caller, p: s.Difference) -> Any:
    return await sv.sync.get_difference(require_user(caller.user_id), p.seq, dict(p.chats),
                                        p.limit)


@registry.method("sync.get_chat_difference", s.ChatDifference, reads_only=True)
async def get_chat_difference(sv: Services, caller: Caller, p: s.ChatDifference) -> Any:
    diff = await sv.sync.get_chat_difference(require_user(caller.user_id), p.chat_id, p.pts,
                                             p.limit)
    return {"pts": diff.pts, "updates": diff.updates, "too_long": diff.too_long}
