"""privacy.get, privacy.update"""

from __future__ import annotations

from typing import Any

from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas import Empty
from tidings.api.schemas.people import UpdatePrivacy
from tidings.services.container import Services

registry = Registry()


@registry.method("privacy.get", Empty)
async def get(sv: Services, caller: Caller, p: Empty) -> Any:
    return await sv.privacy.get(require_user(caller.user_id))


@registry.method("privacy.update", UpdatePrivacy)
async def update(sv: Services, caller: Caller, p: UpdatePrivacy) -> Any:
    changes = {k: v for k, v in ((f, getattr(p, f)) for f in p.__struct_fields__)
               if v is not None}
    return await sv.privacy.update(require_user(caller.user_id), changes)
