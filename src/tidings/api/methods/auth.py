"""auth.* and device.*"""

from __future__ import annotations

from typing import Any

from tidings.api import schemas as s
from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.services.container import Services

registry = Registry()


@registry.method("auth.register", s.Credentials, public=True)
async def register(sv: Services, caller: Caller, p: s.Credentials) -> Any:
    identity = await sv.auth.register(p.username, p.password, p.device_name)
    await caller.authenticate(identity)
    return identity


@registry.method("auth.login", s.Credentials, public=True)
async def login(sv: Services, caller: Caller, p: s.Credentials) -> Any:
    identity = await sv.auth.login(p.username, p.password, p.device_name,
                                   address=caller.remote)
    await caller.authenticate(identity)
    return identity


@registry.method("auth.token", s.TokenParams, public=True)
async def token(sv: Services, caller: Caller, p: s.TokenParams) -> Any:
    identity = await sv.auth.resume(p.token)
    await caller.authenticate(identity)
    return {"user_id": identity.user_id, "device_id": identity.device_id}


@registry.method("device.list", s.Empty)
async def device_list(sv: Services, caller: Caller, p: s.Empty) -> Any:
    assert caller.device_id is not None
    devices = await sv.devices.list_devices(require_user(caller.user_id), caller.device_id)
    return {"devices": devices}


@registry.method("device.rename", s.DeviceRename)
async def device_rename(sv: Services, caller: Caller, p: s.DeviceRename) -> Any:
    await sv.devices.rename(require_user(caller.user_id), p.device_id, p.name)
    return {}


@registry.method("device.revoke", s.DeviceId)
async def device_revoke(sv: Services, caller: Caller, p: s.DeviceId) -> Any:
    return {"revoked": await sv.devices.revoke(require_user(caller.user_id), p.device_id)}


@registry.method("device.revoke_others", s.Empty)
async def device_revoke_others(sv: Services, caller: Caller, p: s.Empty) -> Any:
    assert caller.device_id is not None
    revoked = await sv.devices.revoke_others(require_user(caller.user_id), caller.device_id)
    return {"revoked": revoked}
