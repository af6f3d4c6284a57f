"""Typed request parameters, decoded straight from the frame by msgspec.

Unknown fields are rejected so a misspelt parameter is an error, not a silent
default. Every field uses the constrained types of ``tidings.wire`` (``Id``,
``Pts``, ``Text``, ...): a value the store could not hold (an id beyond 64
bits, a NUL in a string) is refused here as ``INVALID_PARAMS`` naming the
field, so nothing a client sends reaches a transaction unchecked. Limits that
are settings (page sizes, list lengths) are checked by the service, which
knows the settings. Result shapes are in ``tidings.wire`` and the services.

The base ``Params`` and the core namespaces (auth, devices, users, chats,
messages, sync, reads) are here; each newer namespace has a module of its own
in this package (``schemas.reactions``, ``schemas.search``, ...)."""

from __future__ import annotations

import msgspec

from tidings import wire
from tidings.wire import Id, Int64, Pts, Text


class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class Empty(Params, frozen=True):
    pass


class Credentials(Params, frozen=True):
    username: Text
    password: Text
    device_name: Text | None = None


class TokenParams(Params, frozen=True):
    token: Text


class DeviceId(Params, frozen=True):
    device_id: Id


class DeviceRename(Params, frozen=True):
    device_id: Id
    name: Text


class UserIds(Params, frozen=True):
    user_ids: list[Id]


class Username(Params, frozen=True):
    username: Text


class DirectChat(Params, frozen=True):
    user_id: Id


class CreateChat(Params, frozen=True):
    title: Text
    kind: Text = "group"
    member_ids: list[Id] = []


class ChatId(Params, frozen=True):
    chat_id: Id


class AddMembers(Params, frozen=True):
    chat_id: Id
    user_ids: list[Id]


class RemoveMember(Params, frozen=True):
    chat_id: Id
    user_id: Id


class SetExpire(Params, frozen=True):
    chat_id: Id
    expire_at: Pts | None = None  # omitted, null and 0 all mean never


class Send(Params, frozen=True):
    chat_id: Id
    local_id: Text
    kind: Text = "text"
    text: Text | None = None
    reply_to: Id | None = None
    entities: list[wire.Entity] | None = None
    location: wire.Location | None = None
    file_id: Id | None = None
    burn_after_seconds: Int64 | None = None


class History(Params, frozen=True):
    chat_id: Id
    before: Pts | None = None
    after: Pts | None = None
    limit: Int64 | None = None
    tag: Text | None = None


class GetMessages(Params, frozen=True):
    chat_id: Id
    msg_ids: list[Id]


class MessageRef(Params, frozen=True):
    chat_id: Id
    msg_id: Id


class ChatDifference(Params, frozen=True):
    chat_id: Id
    pts: Pts
    limit: Int64 | None = None


class Difference(Params, frozen=True):
    seq: Pts
    chats: dict[Id, Pts] = {}  # JSON object keys are chat ids as strings: {"12": 40}
    limit: Int64 | None = None


class MarkRead(Params, frozen=True):
    chat_id: Id
    pts: Pts


class DeleteMessages(Params, frozen=True):
    chat_id: Id
    msg_ids: list[Id]
    for_everyone: bool = False


class ClearHistory(Params, frozen=True):
    chat_id: Id
    for_everyone: bool = False


class Replies(Params, frozen=True):
    chat_id: Id
    msg_id: Id
    limit: Int64 | None = None
    before: Pts | None = None


class ReplyGraph(Params, frozen=True):
    chat_id: Id
    since: Pts | None = None
    until: Pts | None = None


class Forward(Params, frozen=True):
    from_chat_id: Id
    msg_ids: list[Id]
    to_chat_id: Id
    local_id: Text | None = None
