"""``/admin/users/*``: request and response shapes of the operators' account
API. The same structs validate requests and generate ``/openapi.json``."""

from __future__ import annotations

from typing import Annotated

import msgspec

from tidings import wire
from tidings.config import Settings
from tidings.wire import Pts, Text


class CreateUserBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /admin/users``: the rules of ``auth.register`` apply to both
    (``create_user_body`` states them in the schema too)."""

    username: Text
    password: Text
    display_name: Annotated[Text, msgspec.Meta(max_length=128)] = ""


def create_user_body(settings: Settings) -> type[CreateUserBody]:
    """``CreateUserBody`` with the configured username and password rules in
    its schema, so the document says exactly what the server accepts (an
    operator's API takes the name as given: no surrounding spaces)."""
    lo, hi = settings.username_min_length, settings.username_max_length
    username = Annotated[str, msgspec.Meta(pattern=f"^[A-Za-z0-9_.]{{{lo},{hi}}}$")]
    password = Annotated[Text, msgspec.Meta(min_length=settings.password_min_length,
                                            max_length=settings.password_max_length)]
    return type("CreateUserBody", (CreateUserBody,), {
        "__annotations__": {"username": username, "password": password}})


class EntitlementBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``PUT /admin/users/{user_id}/entitlement``: 0 free, 1 plus, 2 pro (the
    levels of the ``entitlement_ttl_factors`` setting)."""

    level: Pts


class AdminUser(msgspec.Struct, frozen=True):
    user_id: int
    username: str
    display_name: str
    created_at: int
    disabled_at: int | None  # set: cannot sign in (USER_DISABLED)
    banned_at: int | None  # set: cannot sign in (USER_BANNED), be found or be added
    entitlement_level: int
    media_whitelisted: bool


class AccountResult(msgspec.Struct, frozen=True):
    """After disable/enable/ban/unban: the account and the devices revoked now
    (their connections are closed)."""

    user: AdminUser
    revoked_device_ids: list[int]


class EntitlementResult(msgspec.Struct, frozen=True):
    user: AdminUser
    reevaluated_chat_ids: list[int]  # chats whose media lifetimes are recomputed


class DeviceList(msgspec.Struct, frozen=True):
    devices: list[wire.Device]


class RevokeResult(msgspec.Struct, frozen=True):
    revoked_device_ids: list[int]
