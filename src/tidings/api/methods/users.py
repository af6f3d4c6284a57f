"""user.*"""

from __future__ import annotations

from typing import Any

from tidings.api import schemas as s
from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry
from tidings.services.container import Services

registry = Registry()


@registry.method("user.get", s.UserIds)
async def get(sv: Services, caller: Caller, p: s.UserIds) -> Any:
    return {"users": await sv.users.get(p.user_ids)}


@registry.method("user.resolve", s.Username)
async def resolve(sv: Services, caller: Caller, p: s.Username) -> Any:
    return {"user": await sv.users.resolve(p.username)}
