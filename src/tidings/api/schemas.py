"""Typed request parameters, decoded straight from the frame by msgspec.

Unknown fields are rejected so a misspelt parameter is an error, not a silent
default. Result shapes are in ``tidings.wire`` and the services."""

from __future__ import annotations

import msgspec

from tidings import wire


class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class Empty(Params, frozen=True):
    pass


class Credentials(Params, frozen=True):
    username: str
    password: str
    device_name: str | None = None


class TokenParams(Params, frozen=True):
    token: str


class DeviceId(Params, frozen=True):
    device_id: int


class DeviceRename(Params, frozen=True):
    device_id: int
    name: str


class UserIds(Params, frozen=True):
    user_ids: list[int]


class Username(Params, frozen=True):
    username: str


class DirectChat(Params, frozen=True):
    user_id: int


class CreateChat(Params, frozen=True):
    title: str
    kind: str = "group"
    member_ids: list[int] = []


class ChatId(Params, frozen=True):
    chat_id: int


class AddMembers(Params, frozen=True):
    chat_id: int
    user_ids: list[int]


class RemoveMember(Params, frozen=True):
    chat_id: int
    user_id: int


class SetExpire(Params, frozen=True):
    chat_id: int
    expire_at: int | None


class Send(Params, frozen=True):
    chat_id: int
    local_id: str
    kind: str = "text"
    text: str | None = None
    reply_to: int | None = None
    entities: list[wire.Entity] | None = None
    location: wire.Location | None = None
    file_id: int | None = None


class History(Params, frozen=True):
    chat_id: int
    before: int | None = None
    after: int | None = None
    limit: int | None = None


class GetMessages(Params, frozen=True):
    chat_id: int
    msg_ids: list[int]


class MessageRef(Params, frozen=True):
    chat_id: int
    msg_id: int


class ChatDifference(Params, frozen=True):
    chat_id: int
    pts: int
    limit: int | None = None


class Difference(Params, frozen=True):
    seq: int
    chats: dict[str, int] = {}
    limit: int | None = None


class MarkRead(Params, frozen=True):
    chat_id: int
    pts: int
