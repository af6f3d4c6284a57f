"""The operators' HTTP API (``/admin/*``): request and response shapes. The
same structs validate requests and generate ``/openapi.json``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from tidings import wire
from tidings.wire import Id, Pts

ChatKind = Literal["direct", "group", "channel"]
Limit = Annotated[int, msgspec.Meta(ge=1, le=200)]
Query = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class SetExpireBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /admin/chats/expire``: a chat by ``chat_id``, or a direct chat by
    its two users (created if missing). ``expire_at`` omitted, null or 0: never."""

    chat_id: Id | None = None
    user_id: Id | None = None
    peer_user_id: Id | None = None
    expire_at: Pts | None = None


class ListChatsQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``GET /admin/chats`` query string; keyset pagination by ``chat_id``."""

    expired: bool | None = None
    kind: ChatKind | None = None
    query: Query | None = None  # a substring of the title, case-insensitive
    limit: Limit = 50
    cursor: Id | None = None  # the previous page's ``next_cursor``


class AdminChat(msgspec.Struct, frozen=True):
    chat: wire.Chat
    expired: bool


class SetExpireResult(msgspec.Struct, frozen=True):
    chat: wire.Chat
    expired: bool
    pts: int


class ChatPage(msgspec.Struct, frozen=True):
    chats: list[AdminChat]
    next_cursor: int | None


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str
    message: str
    data: dict[str, Any] | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    error: ErrorDetail


class CreateChatBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /admin/chats``: a group or channel owned by ``owner_id``."""

    kind: Literal["group", "channel"]
    title: Annotated[wire.Text, msgspec.Meta(min_length=1)]
    owner_id: Id
    member_ids: list[Id] = []  # at most max_user_ids_per_call


class AddMembersBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    user_ids: Annotated[list[Id], msgspec.Meta(min_length=1)]  # ≤ max_user_ids_per_call


class SendBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /admin/chats/{chat_id}/messages``: as the member ``user_id``, or
    without it a system message (``operator.notice``)."""

    text: Annotated[wire.Text, msgspec.Meta(min_length=1)]
    user_id: Id | None = None
    local_id: Annotated[wire.Text, msgspec.Meta(min_length=1, max_length=64)] | None = None


class MessagesQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    before: Id | None = None  # the page just older than this msg_id; omitted: newest
    limit: Limit = 50


class RecallAuditQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chat_id: Id | None = None
    limit: Limit = 50
    cursor: Annotated[str, msgspec.Meta(pattern="^[0-9]{1,19}:[0-9]{1,19}$")] | None = None


class ChatResult(msgspec.Struct, frozen=True):
    chat: wire.Chat


class PtsResult(msgspec.Struct, frozen=True):
    pts: int


class MessageResult(msgspec.Struct, frozen=True):
    message: wire.Message


class MessagePage(msgspec.Struct, frozen=True):
    messages: list[wire.Message]  # ascending by msg_id
    next_before: int | None  # ``before`` of the older page; null at the first message


class DisbandResult(msgspec.Struct, frozen=True):
    pts: int
    removed_user_ids: list[int]


class RecallAuditEntry(msgspec.Struct, frozen=True):
    chat_id: int
    msg_id: int
    sender_id: int
    sent_at: int
    recalled_by: int
    recalled_at: int
    kind: str
    text: str | None
    file_id: int | None


class RecallAuditPage(msgspec.Struct, frozen=True):
    entries: list[RecallAuditEntry]
    next_cursor: str | None
