"""Read cursors. A member's read state is one monotonic ``read_pts`` per chat;
moving it is a ``read.updated`` user update for the member's other devices.

In a direct chat, moving the cursor past burn-after-read messages from the
other member starts their countdown in the same transaction
(``message.ttl_started``, see ``services.message_ttl``)."""

from __future__ import annotations

from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import invalid
from tidings.services import access
from tidings.services.message_ttl import start_burn_txn
from tidings.services.notify import publish_user_on_commit
from tidings.store import chats, updates


class ReadService:
    def __init__(self, db: Database, bus: Bus, clock: Clock) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock

    async def mark(self, user_id: int, chat_id: int, pts: int) -> int:
        if pts < 0:
            raise invalid("pts must not be negative", field="pts")

        async def mark_txn(txn: Txn) -> int:
            chat, member = await access.load_membership_txn(txn, chat_id, user_id, active=True)
            target = min(pts, access.visible_upto(chat, member))
            if target <= member.read_pts:
                return member.read_pts
            now = self._clock.now()
            if await chats.advance_read_txn(txn, chat_id, user_id, target, now):
                update = await updates.append_user_update_txn(
                    txn, user_id, now, "read.updated", {"chat_id": chat_id, "read_pts": target})
                publish_user_on_commit(txn, self._bus, user_id, [update])
                await start_burn_txn(txn, self._bus, chat, user_id, member.read_pts, target,
                                     now)
            return target

        return await self._db.write("mark_read", mark_txn)
