"""Parameters of the group methods: permissions, roles, moderation, chat info,
invites and join requests. In ``chat.update`` an omitted field keeps its
value; ``avatar_file_id: null`` removes the avatar."""

from __future__ import annotations

import msgspec

from tidings.api.schemas import Params
from tidings.wire import Id, Int64, Pts, Text


class SetPermissions(Params, frozen=True):
    chat_id: Id
    permissions: dict[Text, bool]


class SetRole(Params, frozen=True):
    chat_id: Id
    user_id: Id
    role: Text


class ChatUser(Params, frozen=True):
    """chat.transfer_owner, chat.ban, chat.unban, chat.approve, chat.reject"""

    chat_id: Id
    user_id: Id


class MuteMember(Params, frozen=True):
    chat_id: Id
    user_id: Id
    until: Pts  # Unix time; 0 lifts the mute


class MuteAll(Params, frozen=True):
    chat_id: Id
    on: bool


class UpdateChat(Params, frozen=True):
    chat_id: Id
    title: Text | msgspec.UnsetType = msgspec.UNSET
    about: Text | msgspec.UnsetType = msgspec.UNSET
    avatar_file_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    announcement: Text | msgspec.UnsetType = msgspec.UNSET
    join_approval: bool | msgspec.UnsetType = msgspec.UNSET
    history_visibility: Text | msgspec.UnsetType = msgspec.UNSET


class CreateInvite(Params, frozen=True):
    chat_id: Id
    expires_at: Pts | None = None  # Unix time; null = never
    max_uses: Int64 | None = None  # null = unlimited


class InviteToken(Params, frozen=True):
    invite: Text


class JoinChat(Params, frozen=True):
    invite: Text
    message: Text = ""  # shown with a join request
