"""The block list: ``block.add``, ``block.remove``, ``block.list``, ``block.check``.

A user I block cannot send me messages in our direct chat (``BLOCKED``, the
message is not stored), add me to groups or send me contact requests; a
pending request of theirs to me is dropped when I block them. Blocking and
unblocking are ``block.added`` / ``block.removed`` user updates for my own
devices only: the blocked user is not told. Blocking someone already blocked,
or unblocking someone not blocked, changes nothing and writes no update."""

from __future__ import annotations

from typing import Any

from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import invalid
from tidings.services.contacts import drop_request_txn
from tidings.services.notify import publish_user_on_commit
from tidings.services.privacy import require_user_txn
from tidings.store import blocks, updates


class BlockService:
    def __init__(self, db: Database, bus: Bus, clock: Clock) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock

    async def add(self, user_id: int, other_id: int) -> dict[str, Any]:
        if other_id == user_id:
            raise invalid("you cannot block yourself", field="user_id")

        async def add_txn(txn: Txn) -> None:
            await require_user_txn(txn, other_id)
            now = self._clock.now()
            if not await blocks.add_txn(txn, user_id, other_id, now):
                return
            update = await updates.append_user_update_txn(
                txn, user_id, now, "block.added", {"user_id": other_id})
            publish_user_on_commit(txn, self._bus, user_id, [update])
            await drop_request_txn(txn, self._bus, other_id, user_id, now)

        await self._db.write("block_add", add_txn)
        return {"blocked": True}

    async def remove(self, user_id: int, other_id: int) -> dict[str, Any]:
        async def remove_txn(txn: Txn) -> None:
            if not await blocks.remove_txn(txn, user_id, other_id):
                return
            update = await updates.append_user_update_txn(
                txn, user_id, self._clock.now(), "block.removed", {"user_id": other_id})
            publish_user_on_commit(txn, self._bus, user_id, [update])

        await self._db.write("block_remove", remove_txn)
        return {"blocked": False}

    async def list(self, user_id: int) -> dict[str, Any]:
        async def list_txn(txn: Txn) -> list[tuple[int, int]]:
            return await blocks.list_txn(txn, user_id)

        rows = await self._db.read("block_list", list_txn)
        return {"blocked": [{"user_id": u, "since": since} for u, since in rows]}

    async def check(self, user_id: int, other_id: int) -> dict[str, Any]:
        async def check_txn(txn: Txn) -> bool:
            return await blocks.blocks_txn(txn, user_id, other_id)

        return {"blocked": await self._db.read("block_check", check_txn)}
