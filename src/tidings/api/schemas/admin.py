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
