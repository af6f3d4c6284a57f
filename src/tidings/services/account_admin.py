"""What operators do to accounts (the ``/admin/users`` HTTP API): create one,
disable and enable it, ban and unban it server-wide, list and revoke its
devices.

- Disabling revokes every device of the user in the same transaction (each a
  ``device.revoked`` user update, so every node closes those connections with
  4001) and refuses sign-in with ``USER_DISABLED`` until enabled again.
- Banning does the same with ``USER_BANNED``, and in addition the user cannot
  be found (``user.resolve``, ``user.resolve_qr``, ``user.search``), added to
  a chat or messaged in a new direct chat (``USER_BANNED``). Their memberships
  and messages stay: history is permanent (DESIGN §1.1).
"""

from __future__ import annotations

from tidings import wire
from tidings.clock import Clock
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError
from tidings.services.auth import AuthService
from tidings.services.devices import DeviceService
from tidings.services.user_terms import terms_of
from tidings.store import accounts, profiles, users
from tidings.store.accounts import AccountState, Flag


def user_missing(user_id: int) -> TidingsError:
    return TidingsError(ErrorCode.USER_NOT_FOUND, f"no user {user_id}", user_id=user_id)


class AccountAdmin:
    def __init__(self, db: Database, clock: Clock, auth: AuthService,
                 devices: DeviceService) -> None:
        self._db = db
        self._clock = clock
        self._auth = auth
        self._devices = devices

    async def create(self, username: str, password: str, display_name: str) -> AccountState:
        return await self.get(await self._auth.create_account(username, password,
                                                              display_name.strip()))

    async def get(self, user_id: int) -> AccountState:
        async def get_txn(txn: Txn) -> AccountState:
            return await self._state_txn(txn, user_id)

        return await self._db.read("admin_get_user", get_txn)

    async def set_disabled(self, user_id: int, on: bool) -> tuple[AccountState, list[int]]:
        """The account after, and the devices revoked now."""
        return await self._set_flag("disabled_at", user_id, on)

    async def set_banned(self, user_id: int, on: bool) -> tuple[AccountState, list[int]]:
        return await self._set_flag("banned_at", user_id, on)

    async def _set_flag(self, flag: Flag, user_id: int, on: bool
                        ) -> tuple[AccountState, list[int]]:
        async def flag_txn(txn: Txn) -> tuple[AccountState, list[int]]:
            before = await self._state_txn(txn, user_id)
            if (getattr(before, flag) is not None) == on:
                return before, []  # already so: nothing written
            await accounts.set_flag_txn(txn, user_id, flag, self._clock.now() if on else None)
            if flag == "banned_at":  # out of user.search while banned
                await profiles.set_terms_txn(
                    txn, user_id, [] if on else terms_of(before.username, before.display_name))
            revoked = await self._devices.revoke_txn(txn, user_id) if on else []
            return await self._state_txn(txn, user_id), revoked

        return await self._db.write(f"admin_set_{flag}", flag_txn)

    async def devices(self, user_id: int) -> list[wire.Device]:
        async def list_txn(txn: Txn) -> list[users.DeviceRow]:
            await self._state_txn(txn, user_id)
            return await users.list_devices_txn(txn, user_id)

        rows = await self._db.read("admin_list_devices", list_txn)
        return [wire.Device(d.device_id, d.name, d.created_at, d.last_seen_at) for d in rows]

    async def revoke_device(self, user_id: int, device_id: int) -> None:
        async def revoke_txn(txn: Txn) -> list[int]:
            await self._state_txn(txn, user_id)
            return await self._devices.revoke_txn(
                txn, user_id, lambda ids: [i for i in ids if i == device_id])

        if not await self._db.write("admin_revoke_device", revoke_txn):
            raise TidingsError(ErrorCode.NOT_FOUND, f"user {user_id} has no device {device_id}")

    async def _state_txn(self, txn: Txn, user_id: int) -> AccountState:
        state = await accounts.state_txn(txn, user_id)
        if state is None:
            raise user_missing(user_id)
        return state
