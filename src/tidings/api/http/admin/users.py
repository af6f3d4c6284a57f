"""``/admin/users``: create accounts, disable/enable and ban/unban them, set
their entitlement, list and revoke their devices."""

from __future__ import annotations

from functools import partial

import msgspec

from tidings.api.http.admin.guard import TAG, admin_guard
from tidings.api.http.operations import Call, Operation, json_operation
from tidings.api.schemas.admin_users import (
    AccountResult,
    AdminUser,
    CreateUserBody,
    DeviceList,
    EntitlementBody,
    EntitlementResult,
    RevokeResult,
    create_user_body,
)
from tidings.services.account_admin import AccountAdmin
from tidings.services.container import Services
from tidings.services.media_admin import MediaAdmin
from tidings.store.accounts import AccountState


def _user(state: AccountState) -> AdminUser:
    return AdminUser(**msgspec.structs.asdict(state))


def operations(sv: Services) -> list[Operation]:
    accounts = AccountAdmin(sv.db, sv.clock, sv.auth, sv.devices)
    media = MediaAdmin(sv.db, sv.clock, sv.settings)
    op = partial(json_operation, tag=TAG, guard=admin_guard(sv), auth="admin")

    async def create(call: Call) -> AdminUser:
        p: CreateUserBody = call.body
        return _user(await accounts.create(p.username, p.password, p.display_name))

    async def get(call: Call) -> AdminUser:
        return _user(await accounts.get(call.ids["user_id"]))

    def flag(name: str, on: bool) -> Operation:
        setter = accounts.set_banned if name in ("ban", "unban") else accounts.set_disabled

        async def run(call: Call) -> AccountResult:
            state, revoked = await setter(call.ids["user_id"], on)
            return AccountResult(_user(state), revoked)

        what = {"disable": "Disable a user: every device is signed out (its connections "
                           "close with 4001) and sign-in answers USER_DISABLED",
                "enable": "Enable a disabled user again",
                "ban": "Ban a user server-wide: devices signed out, sign-in answers "
                       "USER_BANNED; the user cannot be found, added to chats or messaged "
                       "in a new direct chat",
                "unban": "Lift a server-wide ban"}[name]
        return op("POST", f"/admin/users/{{user_id}}/{name}", what, run, result=AccountResult)

    async def entitle(call: Call) -> EntitlementResult:
        p: EntitlementBody = call.body
        user_id = call.ids["user_id"]
        chats = await media.set_entitlement(user_id, p.level)
        return EntitlementResult(_user(await accounts.get(user_id)), chats)

    async def devices(call: Call) -> DeviceList:
        return DeviceList(await accounts.devices(call.ids["user_id"]))

    async def revoke(call: Call) -> RevokeResult:
        device_id = call.ids["device_id"]
        await accounts.revoke_device(call.ids["user_id"], device_id)
        return RevokeResult([device_id])

    return [
        op("POST", "/admin/users", "Create a user (no device: the user signs in later)",
           create, body=create_user_body(sv.settings), result=AdminUser, status=201, errors=(409,),
           creates=("user_id", "/user_id"),
           feeds={"POST /admin/chats": {"owner_id": "/user_id"}}),
        op("GET", "/admin/users/{user_id}", "A user's account state", get, result=AdminUser),
        *(flag(name, name in ("disable", "ban")) for name in ("disable", "enable", "ban",
                                                             "unban")),
        op("PUT", "/admin/users/{user_id}/entitlement",
           "Set a user's entitlement level (media lifetimes are re-evaluated)", entitle,
           body=EntitlementBody, result=EntitlementResult),
        op("GET", "/admin/users/{user_id}/devices", "A user's active devices", devices,
           result=DeviceList),
        op("DELETE", "/admin/users/{user_id}/devices/{device_id}",
           "Revoke one device (device.revoked; its connections close with 4001)", revoke,
           result=RevokeResult),
    ]
