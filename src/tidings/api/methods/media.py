"""chat.set_storage_policy, chat.storage_policy, pool.enable|disable|get|sponsor,
media.renew|request_renewal|renewal_requests|approve_renewal|reject_renewal,
media.preserve|release, quota.get"""

from __future__ import annotations

from typing import Any

from tidings.api import schemas as s
from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas import media as m
from tidings.services.container import Services

registry = Registry()


@registry.method("chat.set_storage_policy", m.SetStoragePolicy)
async def set_storage_policy(sv: Services, caller: Caller, p: m.SetStoragePolicy) -> Any:
    pts = await sv.media.set_storage_policy(require_user(caller.user_id), p.chat_id,
                                            p.media_ttl_seconds, p.cleanup)
    return {"pts": pts}


@registry.method("chat.storage_policy", s.ChatId)
async def storage_policy(sv: Services, caller: Caller, p: s.ChatId) -> Any:
    return await sv.media.storage_policy(require_user(caller.user_id), p.chat_id)


@registry.method("pool.enable", m.PoolEnable)
async def pool_enable(sv: Services, caller: Caller, p: m.PoolEnable) -> Any:
    return await sv.media.set_pool(require_user(caller.user_id), p.chat_id, True,
                                   p.capacity_bytes)


@registry.method("pool.disable", s.ChatId)
async def pool_disable(sv: Services, caller: Caller, p: s.ChatId) -> Any:
    return await sv.media.set_pool(require_user(caller.user_id), p.chat_id, False, None)


@registry.method("pool.get", s.ChatId)
async def pool_get(sv: Services, caller: Caller, p: s.ChatId) -> Any:
    return await sv.media.pool(require_user(caller.user_id), p.chat_id)


@registry.method("pool.sponsor", m.PoolSponsor)
async def pool_sponsor(sv: Services, caller: Caller, p: m.PoolSponsor) -> Any:
    return await sv.media.sponsor(require_user(caller.user_id), p.chat_id, p.bytes)


@registry.method("media.renew", m.Renew)
async def renew(sv: Services, caller: Caller, p: m.Renew) -> Any:
    info = await sv.media.renew(require_user(caller.user_id), p.chat_id, p.msg_id, p.days,
                                p.source)
    return {"file": info}


@registry.method("media.request_renewal", s.MessageRef)
async def request_renewal(sv: Services, caller: Caller, p: s.MessageRef) -> Any:
    return await sv.media.request_renewal(require_user(caller.user_id), p.chat_id, p.msg_id)


@registry.method("media.renewal_requests", m.RenewalRequests)
async def renewal_requests(sv: Services, caller: Caller, p: m.RenewalRequests) -> Any:
    found = await sv.media.renewal_requests(require_user(caller.user_id), p.chat_id, p.state,
                                            p.limit)
    return {"requests": found}


@registry.method("media.approve_renewal", m.DecideRenewal)
async def approve_renewal(sv: Services, caller: Caller, p: m.DecideRenewal) -> Any:
    return await sv.media.decide_renewal(require_user(caller.user_id), p.chat_id,
                                         p.request_id, True, p.days)


@registry.method("media.reject_renewal", m.DecideRenewal)
async def reject_renewal(sv: Services, caller: Caller, p: m.DecideRenewal) -> Any:
    return await sv.media.decide_renewal(require_user(caller.user_id), p.chat_id,
                                         p.request_id, False, None)


@registry.method("media.preserve", s.MessageRef)
async def preserve(sv: Services, caller: Caller, p: s.MessageRef) -> Any:
    return {"file": await sv.media.preserve(require_user(caller.user_id), p.chat_id, p.msg_id)}


@registry.method("media.release", s.MessageRef)
async def release(sv: Services, caller: Caller, p: s.MessageRef) -> Any:
    return {"file": await sv.media.release(require_user(caller.user_id), p.chat_id, p.msg_id)}


@registry.method("quota.get", m.QuotaGet)
async def quota_get(sv: Services, caller: Caller, p: m.QuotaGet) -> Any:
    return await sv.media.quota(require_user(caller.user_id), p.limit)
