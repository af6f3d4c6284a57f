"""A user's devices: list, rename, revoke. Revoking writes a
``device.revoked`` user update, and every node closes that device's
connections when the update reaches it."""

from __future__ import annotations

from collections.abc import Callable

from tidings import wire
from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, invalid
from tidings.services.notify import publish_user_on_commit
from tidings.store import updates, users


class DeviceService:
    def __init__(self, db: Database, bus: Bus, clock: Clock) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock

    async def list_devices(self, user_id: int, current_device: int) -> list[wire.Device]:
        async def list_txn(txn: Txn) -> list[users.DeviceRow]:
            return await users.list_devices_txn(txn, user_id)

        rows = await self._db.read("list_devices", list_txn)
        return [wire.Device(d.device_id, d.name, d.created_at, d.last_seen_at,
                            d.device_id == current_device) for d in rows]

    async def rename(self, user_id: int, device_id: int, name: str) -> None:
        name = name.strip()
        if not 1 <= len(name) <= 64:
            raise invalid("device name must be 1 to 64 characters", field="name")

        async def rename_txn(txn: Txn) -> bool:
            return await users.rename_device_txn(txn, user_id, device_id, name)

        if not await self._db.write("rename_device", rename_txn):
            raise TidingsError(ErrorCode.NOT_FOUND, f"no device {device_id}")

    async def revoke(self, user_id: int, device_id: int) -> list[int]:
        revoked = await self._revoke(user_id, lambda ids: [i for i in ids if i == device_id])
        if not revoked:
            raise TidingsError(ErrorCode.NOT_FOUND, f"no device {device_id}")
        return revoked

    async def revoke_others(self, user_id: int, current_device: int) -> list[int]:
        return await self._revoke(user_id, lambda ids: [i for i in ids if i != current_device])

    async def _revoke(self, user_id: int, choose: Callable[[list[int]], list[int]]
                      ) -> list[int]:
        async def revoke_txn(txn: Txn) -> list[int]:
            return await self.revoke_txn(txn, user_id, choose)

        return await self._db.write("revoke_devices", revoke_txn)

    async def revoke_txn(self, txn: Txn, user_id: int,
                         choose: Callable[[list[int]], list[int]] = lambda ids: ids
                         ) -> list[int]:
        """Revoke the chosen active devices (all by default), each with its
        ``device.revoked`` update; their connections close after commit."""
        now = self._clock.now()
        active = [d.device_id for d in await users.list_devices_txn(txn, user_id)]
        revoked = await users.revoke_devices_txn(txn, user_id, choose(active), now)
        ups = [await updates.append_user_update_txn(txn, user_id, now, "device.revoked",
                                                    {"device_id": d}) for d in revoked]
        publish_user_on_commit(txn, self._bus, user_id, ups, close_devices=revoked)
        return revoked
