"""Parameters of the people methods: block list, privacy, contacts, profiles,
user search, QR tokens and presence."""

from __future__ import annotations

from typing import Literal

from tidings.api.schemas import Params
from tidings.wire import Id, Int64, Text

Audience = Literal["everyone", "contacts", "nobody"]
Source = Literal["search", "qr", "group", "card"]


class UserRef(Params, frozen=True):
    user_id: Id


class UpdatePrivacy(Params, frozen=True):
    find_me: Audience | None = None
    message_me: Audience | None = None  # everyone | contacts (checked by the service)
    add_me: Audience | None = None  # everyone | contacts (checked by the service)
    last_seen: Audience | None = None
    read_receipts: bool | None = None


class ContactRequest(Params, frozen=True):
    user_id: Id
    source: Source
    message: Text | None = None


class ShareCard(Params, frozen=True):
    user_id: Id
    chat_id: Id
    local_id: Text | None = None


class UpdateProfile(Params, frozen=True):
    display_name: Text | None = None
    bio: Text | None = None
    avatar_file_id: Int64 | None = None  # 0 removes the avatar


class UserSearch(Params, frozen=True):
    query: Text
    limit: Int64 | None = None


class QrToken(Params, frozen=True):
    reset: bool = False


class ResolveQr(Params, frozen=True):
    token: Text


class PresenceUsers(Params, frozen=True):
    user_ids: list[Id]


class PresenceUnsubscribe(Params, frozen=True):
    user_ids: list[Id] | None = None  # none: every user this connection follows
