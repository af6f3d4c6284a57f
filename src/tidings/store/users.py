"""Users and their devices."""

from __future__ import annotations

import msgspec

from tidings.db.engine import Txn


class UserRow(msgspec.Struct, frozen=True):
    user_id: int
    username: str
    password_hash: str
    display_name: str
    created_at: int
    seq: int


class DeviceRow(msgspec.Struct, frozen=True):
    device_id: int
    user_id: int
    name: str
    created_at: int
    last_seen_at: int
    revoked_at: int | None


_USER_COLS = "user_id, username, password_hash, display_name, created_at, seq"
_DEVICE_COLS = "device_id, user_id, name, created_at, last_seen_at, revoked_at"


async def insert_user_txn(txn: Txn, username: str, password_hash: str, now: int) -> int:
    user_id = await txn.fetchval(
        "INSERT INTO users (username, password_hash, created_at) VALUES ($1, $2, $3)"
        " RETURNING user_id",
        username, password_hash, now,
    )
    return int(user_id)


async def get_user_by_name_txn(txn: Txn, username: str) -> UserRow | None:
    row = await txn.fetchrow(f"SELECT {_USER_COLS} FROM users WHERE username = $1", username)
    return None if row is None else UserRow(*row)


async def get_users_txn(txn: Txn, user_ids: list[int]) -> list[UserRow]:
    if not user_ids:
        return []
    cond, args = txn.engine.any_of("user_id", 1, user_ids)
    rows = await txn.fetch(f"SELECT {_USER_COLS} FROM users WHERE {cond}", *args)
    return [UserRow(*r) for r in rows]


async def insert_device_txn(txn: Txn, user_id: int, name: str, now: int) -> int:
    device_id = await txn.fetchval(
        "INSERT INTO devices (user_id, name, created_at, last_seen_at) VALUES ($1, $2, $3, $3)"
        " RETURNING device_id",
        user_id, name, now,
    )
    return int(device_id)


async def get_device_txn(txn: Txn, device_id: int) -> DeviceRow | None:
    row = await txn.fetchrow(f"SELECT {_DEVICE_COLS} FROM devices WHERE device_id = $1",
                             device_id)
    return None if row is None else DeviceRow(*row)


async def list_devices_txn(txn: Txn, user_id: int) -> list[DeviceRow]:
    rows = await txn.fetch(
        f"SELECT {_DEVICE_COLS} FROM devices WHERE user_id = $1 AND revoked_at IS NULL"
        " ORDER BY device_id",
        user_id,
    )
    return [DeviceRow(*r) for r in rows]


async def rename_device_txn(txn: Txn, user_id: int, device_id: int, name: str) -> bool:
    row = await txn.fetchrow(
        "UPDATE devices SET name = $3 WHERE device_id = $1 AND user_id = $2"
        " AND revoked_at IS NULL RETURNING device_id",
        device_id, user_id, name,
    )
    return row is not None


async def revoke_devices_txn(txn: Txn, user_id: int, device_ids: list[int], now: int
                             ) -> list[int]:
    if not device_ids:
        return []
    cond, args = txn.engine.any_of("device_id", 3, device_ids)
    rows = await txn.fetch(
        f"UPDATE devices SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL"
        f" AND {cond} RETURNING device_id",
        user_id, now, *args,
    )
    return sorted(int(r[0]) for r in rows)


async def touch_device_txn(txn: Txn, device_id: int, now: int) -> None:
    await txn.execute("UPDATE devices SET last_seen_at = $2 WHERE device_id = $1", device_id, now)
