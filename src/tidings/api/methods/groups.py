"""Group administration: chat.set_permissions, chat.set_role,
chat.transfer_owner, chat.mute_member, chat.mute_all, chat.ban, chat.unban,
chat.bans, chat.update, chat.announcements, and invites and join requests."""

from __future__ import annotations

from typing import Any

from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas import ChatId
from tidings.api.schemas import groups as g
from tidings.services.chat_info import ChatInfoChange
from tidings.services.container import Services
from tidings.services.invites import invite_to_wire

registry = Registry()


@registry.method("chat.set_permissions", g.SetPermissions)
async def set_permissions(sv: Services, caller: Caller, p: g.SetPermissions) -> Any:
    return {"pts": await sv.group_admin.set_permissions(require_user(caller.user_id),
                                                        p.chat_id, p.permissions)}


@registry.method("chat.set_role", g.SetRole)
async def set_role(sv: Services, caller: Caller, p: g.SetRole) -> Any:
    return {"pts": await sv.group_admin.set_role(require_user(caller.user_id), p.chat_id,
                                                 p.user_id, p.role)}


@registry.method("chat.transfer_owner", g.ChatUser)
async def transfer_owner(sv: Services, caller: Caller, p: g.ChatUser) -> Any:
    return {"pts": await sv.group_admin.transfer_owner(require_user(caller.user_id),
                                                       p.chat_id, p.user_id)}


@registry.method("chat.mute_member", g.MuteMember)
async def mute_member(sv: Services, caller: Caller, p: g.MuteMember) -> Any:
    return {"pts": await sv.group_admin.mute_member(require_user(caller.user_id), p.chat_id,
                                                    p.user_id, p.until)}


@registry.method("chat.mute_all", g.MuteAll)
async def mute_all(sv: Services, caller: Caller, p: g.MuteAll) -> Any:
    return {"pts": await sv.group_admin.mute_all(require_user(caller.user_id), p.chat_id,
                                                 p.on)}


@registry.method("chat.ban", g.ChatUser)
async def ban(sv: Services, caller: Caller, p: g.ChatUser) -> Any:
    return {"pts": await sv.group_admin.ban(require_user(caller.user_id), p.chat_id,
                                            p.user_id)}


@registry.method("chat.unban", g.ChatUser)
async def unban(sv: Services, caller: Caller, p: g.ChatUser) -> Any:
    return {"pts": await sv.group_admin.unban(require_user(caller.user_id), p.chat_id,
                                              p.user_id)}


@registry.method("chat.bans", ChatId)
async def bans(sv: Services, caller: Caller, p: ChatId) -> Any:
    return {"bans": await sv.group_admin.bans(require_user(caller.user_id), p.chat_id)}


@registry.method("chat.update", g.UpdateChat)
async def update(sv: Services, caller: Caller, p: g.UpdateChat) -> Any:
    change = ChatInfoChange(title=p.title, about=p.about, avatar_file_id=p.avatar_file_id,
                            announcement=p.announcement, join_approval=p.join_approval,
                            history_visibility=p.history_visibility)
    return {"pts": await sv.chat_info.update(require_user(caller.user_id), p.chat_id, change)}


@registry.method("chat.announcements", ChatId)
async def announcements(sv: Services, caller: Caller, p: ChatId) -> Any:
    return {"announcements": await sv.chat_info.announcements(require_user(caller.user_id),
                                                              p.chat_id)}


@registry.method("chat.create_invite", g.CreateInvite)
async def create_invite(sv: Services, caller: Caller, p: g.CreateInvite) -> Any:
    return invite_to_wire(await sv.invites.create(require_user(caller.user_id), p.chat_id,
                                                  p.expires_at, p.max_uses))


@registry.method("chat.invites", ChatId)
async def invites(sv: Services, caller: Caller, p: ChatId) -> Any:
    found = await sv.invites.invites(require_user(caller.user_id), p.chat_id)
    return {"invites": [invite_to_wire(i) for i in found]}


@registry.method("chat.revoke_invite", g.InviteToken)
async def revoke_invite(sv: Services, caller: Caller, p: g.InviteToken) -> Any:
    return {"revoked": await sv.invites.revoke(require_user(caller.user_id), p.invite)}


@registry.method("chat.invite_info", g.InviteToken)
async def invite_info(sv: Services, caller: Caller, p: g.InviteToken) -> Any:
    require_user(caller.user_id)
    return await sv.invites.info(p.invite)


@registry.method("chat.join", g.JoinChat)
async def join(sv: Services, caller: Caller, p: g.JoinChat) -> Any:
    return await sv.invites.join(require_user(caller.user_id), p.invite, p.message)


@registry.method("chat.join_requests", ChatId)
async def join_requests(sv: Services, caller: Caller, p: ChatId) -> Any:
    return {"requests": await sv.invites.requests(require_user(caller.user_id), p.chat_id)}


@registry.method("chat.approve", g.ChatUser)
async def approve(sv: Services, caller: Caller, p: g.ChatUser) -> Any:
    return {"pts": await sv.invites.decide(require_user(caller.user_id), p.chat_id,
                                           p.user_id, True)}


@registry.method("chat.reject", g.ChatUser)
async def reject(sv: Services, caller: Caller, p: g.ChatUser) -> Any:
    return {"pts": await sv.invites.decide(require_user(caller.user_id), p.chat_id,
                                           p.user_id, False)}
