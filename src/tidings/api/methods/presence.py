"""presence.subscribe, presence.unsubscribe, presence.query"""

from __future__ import annotations

from typing import Any, cast

from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas.people import PresenceUnsubscribe, PresenceUsers
from tidings.errors import forbidden
from tidings.services.container import Services
from tidings.services.presence import Watcher

registry = Registry()


def _watcher(caller: Caller) -> Watcher:
    if not callable(getattr(caller, "push", None)):
        raise forbidden("presence.subscribe needs a WebSocket connection")
    return cast(Watcher, caller)


@registry.method("presence.subscribe", PresenceUsers)
async def subscribe(sv: Services, caller: Caller, p: PresenceUsers) -> Any:
    return {"users": await sv.presence.subscribe(_watcher(caller), require_user(caller.user_id),
                                                 p.user_ids)}


@registry.method("presence.unsubscribe", PresenceUnsubscribe)
async def unsubscribe(sv: Services, caller: Caller, p: PresenceUnsubscribe) -> Any:
    sv.presence.unsubscribe(_watcher(caller), p.user_ids)
    return {}


@registry.method("presence.query", PresenceUsers)
async def query(sv: Services, caller: Caller, p: PresenceUsers) -> Any:
    return {"users": await sv.presence.query(require_user(caller.user_id), p.user_ids)}
