"""contact.request, contact.accept, contact.reject, contact.remove, contact.list,
contact.pending"""

from __future__ import annotations

from typing import Any

from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas import Empty
from tidings.api.schemas.people import ContactRequest, UserRef
from tidings.services.container import Services

registry = Registry()


@registry.method("contact.request", ContactRequest)
async def request(sv: Services, caller: Caller, p: ContactRequest) -> Any:
    return await sv.contacts.request(require_user(caller.user_id), p.user_id, p.source,
                                     p.message)


@registry.method("contact.accept", UserRef)
async def accept(sv: Services, caller: Caller, p: UserRef) -> Any:
    return await sv.contacts.accept(require_user(caller.user_id), p.user_id)


@registry.method("contact.reject", UserRef)
async def reject(sv: Services, caller: Caller, p: UserRef) -> Any:
    return await sv.contacts.reject(require_user(caller.user_id), p.user_id)


@registry.method("contact.remove", UserRef)
async def remove(sv: Services, caller: Caller, p: UserRef) -> Any:
    return await sv.contacts.remove(require_user(caller.user_id), p.user_id)


@registry.method("contact.list", Empty)
async def list_(sv: Services, caller: Caller, p: Empty) -> Any:
    return await sv.contacts.list(require_user(caller.user_id))


@registry.method("contact.pending", Empty)
async def pending(sv: Services, caller: Caller, p: Empty) -> Any:
    return await sv.contacts.pending(require_user(caller.user_id))
