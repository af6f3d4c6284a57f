"""The durable half of presence: when each user's devices were last seen
(``devices.last_seen_at``, set when a device connects and when it leaves)."""

from __future__ import annotations

from tidings.db.engine import Txn


async def last_seen_txn(txn: Txn, user_ids: list[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    cond, args = txn.engine.any_of("user_id", 1, user_ids)
    rows = await txn.fetch(
        f"SELECT user_id, MAX(last_seen_at) FROM devices WHERE {cond} GROUP BY user_id", *args)
    return {int(r[0]): int(r[1]) for r in rows if r[1] is not None}
