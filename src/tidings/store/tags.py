"""A message's user attributes and tags (``message.set_attributes``).

``messages.attributes`` and ``messages.tags`` are the facts shown on the
message; ``message_tags (chat_id, tag, msg_id)`` indexes the tags for counting
and filtering, and is rewritten with them in the same transaction.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tidings import wire
from tidings.db.engine import Txn


class TagCount(msgspec.Struct, frozen=True):
    tag: str
    count: int


async def set_txn(txn: Txn, chat_id: int, msg_id: int, attributes: dict[str, Any] | None,
                  old_tags: list[str], tags: list[str]) -> None:
    """Store the new attributes and tags and bring ``message_tags`` in line."""
    await txn.execute(
        "UPDATE messages SET attributes = $3, tags = $4 WHERE chat_id = $1 AND msg_id = $2",
        chat_id, msg_id,
        wire.encode(attributes).decode() if attributes else None,
        wire.encode(tags).decode() if tags else None,
    )
    gone = sorted(set(old_tags) - set(tags))
    if gone:
        cond, args = txn.engine.any_of("tag", 3, gone)
        await txn.execute(
            f"DELETE FROM message_tags WHERE chat_id = $1 AND msg_id = $2 AND {cond}",
            chat_id, msg_id, *args)
    new = sorted(set(tags) - set(old_tags))
    if new:
        await txn.executemany(
            "INSERT INTO message_tags (chat_id, tag, msg_id) VALUES ($1, $2, $3)",
            [(chat_id, tag, msg_id) for tag in new])


async def counts_txn(txn: Txn, chat_id: int, spans: list[tuple[int, int]], limit: int
                     ) -> list[TagCount]:
    """Tags of the messages with msg_id inside ``spans`` (inclusive ranges), most
    used first, then by tag; at most ``limit`` tags."""
    if not spans:
        return []
    ranges = []
    args: list[Any] = [chat_id]
    for lo, hi in spans:
        args += (lo, hi)
        ranges.append(f"msg_id BETWEEN ${len(args) - 1} AND ${len(args)}")
    args.append(limit)
    rows = await txn.fetch(
        f"SELECT tag, COUNT(*) AS n FROM message_tags WHERE chat_id = $1"
        f" AND ({' OR '.join(ranges)}) GROUP BY tag ORDER BY n DESC, tag LIMIT ${len(args)}",
        *args,
    )
    return [TagCount(r[0], int(r[1])) for r in rows]


async def tagged_ids_txn(txn: Txn, chat_id: int, tag: str) -> list[int]:
    """Every msg_id of the chat that carries ``tag``, ascending (tests, tools)."""
    rows = await txn.fetch(
        "SELECT msg_id FROM message_tags WHERE chat_id = $1 AND tag = $2 ORDER BY msg_id",
        chat_id, tag)
    return [int(r[0]) for r in rows]
