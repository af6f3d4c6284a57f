"""user.get, user.resolve, user.search, user.resolve_qr, user.qr_token,
user.update_profile, user.share_card"""

from __future__ import annotations

from typing import Any

from tidings.api import schemas as s
from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas.people import QrToken, ResolveQr, ShareCard, UpdateProfile, UserSearch
from tidings.services.container import Services

registry = Registry()


@registry.method("user.get", s.UserIds)
async def get(sv: Services, caller: Caller, p: s.UserIds) -> Any:
    return {"users": await sv.users.get(require_user(caller.user_id), p.user_ids)}


@registry.method("user.resolve", s.Username)
async def resolve(sv: Services, caller: Caller, p: s.Username) -> Any:
    return {"user": await sv.users.resolve(require_user(caller.user_id), p.username)}


@registry.method("user.search", UserSearch)
async def search(sv: Services, caller: Caller, p: UserSearch) -> Any:
    return {"users": await sv.users.search(require_user(caller.user_id), p.query, p.limit)}


@registry.method("user.qr_token", QrToken)
async def qr_token(sv: Services, caller: Caller, p: QrToken) -> Any:
    return await sv.profiles.qr_token(require_user(caller.user_id), p.reset)


@registry.method("user.resolve_qr", ResolveQr)
async def resolve_qr(sv: Services, caller: Caller, p: ResolveQr) -> Any:
    return {"user": await sv.users.resolve_qr(require_user(caller.user_id), p.token)}


@registry.method("user.update_profile", UpdateProfile)
async def update_profile(sv: Services, caller: Caller, p: UpdateProfile) -> Any:
    return {"user": await sv.profiles.update(require_user(caller.user_id), p.display_name,
                                             p.bio, p.avatar_file_id)}


@registry.method("user.share_card", ShareCard)
async def share_card(sv: Services, caller: Caller, p: ShareCard) -> Any:
    return {"message": await sv.contacts.share_card(require_user(caller.user_id), p.user_id,
                                                    p.chat_id, p.local_id)}
