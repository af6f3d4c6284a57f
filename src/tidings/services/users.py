"""Looking up people: by id and by username."""

from __future__ import annotations

from tidings import wire
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, invalid
from tidings.store import users


class UserService:
    def __init__(self, db: Database, max_ids: int) -> None:
        self._db = db
        self._max_ids = max_ids

    async def get(self, user_ids: list[int]) -> list[wire.User]:
        if not 1 <= len(user_ids) <= self._max_ids:
            raise invalid(f"user_ids must hold 1 to {self._max_ids} ids", field="user_ids")

        async def get_txn(txn: Txn) -> list[users.UserRow]:
            return await users.get_users_txn(txn, sorted(set(user_ids)))

        rows = await self._db.read("get_users", get_txn)
        return [wire.User(u.user_id, u.username, u.display_name) for u in rows]

    async def resolve(self, username: str) -> wire.User:
        name = username.strip().lower()

        async def resolve_txn(txn: Txn) -> users.UserRow | None:
            return await users.get_user_by_name_txn(txn, name)

        row = await self._db.read("resolve_user", resolve_txn)
        if row is None:
            raise TidingsError(ErrorCode.USER_NOT_FOUND, f"no user named {name!r}")
        return wire.User(row.user_id, row.username, row.display_name)
