"""chat.* and read.mark"""

from __future__ import annotations

from typing import Any

from tidings.api import schemas as s
from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas.dialogs import ListDialogs
from tidings.services.container import Services

registry = Registry()


@registry.method("chat.direct", s.DirectChat)
async def direct(sv: Services, caller: Caller, p: s.DirectChat) -> Any:
    return {"chat": await sv.chats.direct(require_user(caller.user_id), p.user_id)}


@registry.method("chat.create", s.CreateChat)
async def create(sv: Services, caller: Caller, p: s.CreateChat) -> Any:
    chat = await sv.chats.create(require_user(caller.user_id), p.kind, p.title, p.member_ids)
    return {"chat": chat}


@registry.method("chat.add_members", s.AddMembers)
async def add_members(sv: Services, caller: Caller, p: s.AddMembers) -> Any:
    return {"pts": await sv.chats.add_members(require_user(caller.user_id), p.chat_id,
                                              p.user_ids)}


@registry.method("chat.remove_member", s.RemoveMember)
async def remove_member(sv: Services, caller: Caller, p: s.RemoveMember) -> Any:
    return {"pts": await sv.chats.remove_member(require_user(caller.user_id), p.chat_id,
                                                p.user_id)}


@registry.method("chat.leave", s.ChatId)
async def leave(sv: Services, caller: Caller, p: s.ChatId) -> Any:
    return {"pts": await sv.chats.leave(require_user(caller.user_id), p.chat_id)}


@registry.method("chat.get", s.ChatId, reads_only=True)
async def get(sv: Services, caller: Caller, p: s.ChatId) -> Any:
    return await sv.chats.get(require_user(caller.user_id), p.chat_id)


@registry.method("chat.list", ListDialogs, reads_only=True)
async def list_dialogs(sv: Services, caller: Caller, p: ListDialogs) -> Any:
    return await sv.dialogs.list_dialogs(require_user(caller.user_id), p.limit, p.cursor,
                                         p.include_hidden)


@registry.method("chat.set_expire", s.SetExpire)
async def set_expire(sv: Services, caller: Caller, p: s.SetExpire) -> Any:
    return {"pts": await sv.chats.set_expire(require_user(caller.user_id), p.chat_id,
                                             p.expire_at)}


@registry.method("read.mark", s.MarkRead)
async def mark_read(sv: Services, caller: Caller, p: s.MarkRead) -> Any:
    return {"read_pts": await sv.reads.mark(require_user(caller.user_id), p.chat_id, p.pts)}
