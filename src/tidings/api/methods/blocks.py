"""block.add, block.remove, block.list, block.check"""

from __future__ import annotations

from typing import Any

from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas import Empty
from tidings.api.schemas.people import UserRef
from tidings.services.container import Services

registry = Registry()


@registry.method("block.add", UserRef)
async def add(sv: Services, caller: Caller, p: UserRef) -> Any:
    return await sv.blocks.add(require_user(caller.user_id), p.user_id)


@registry.method("block.remove", UserRef)
async def remove(sv: Services, caller: Caller, p: UserRef) -> Any:
    return await sv.blocks.remove(require_user(caller.user_id), p.user_id)


@registry.method("block.list", Empty)
async def list_(sv: Services, caller: Caller, p: Empty) -> Any:
    return await sv.blocks.list(require_user(caller.user_id))


@registry.method("block.check", UserRef)
async def check(sv: Services, caller: Caller, p: UserRef) -> Any:
    return await sv.blocks.check(require_user(caller.user_id), p.user_id)
