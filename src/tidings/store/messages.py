"""Messages. A row here is also the chat's ``message.new`` log entry at pts
``msg_id``, so a send writes one row, whatever the size of the group."""

from __future__ import annotations

from typing import Any

import msgspec

from tidings import wire
from tidings.db.engine import Row, Txn

_COLS = (
    "chat_id, msg_id, sender_id, date, kind, text, entities, reply_to, file_id, local_id,"
    " recalled_at, recalled_by, attributes"
)

_entities_decoder = msgspec.json.Decoder(list[wire.Entity])


class Attributes(msgspec.Struct, frozen=True, omit_defaults=True):
    """What a message carries beyond text, stored as one JSON column."""

    location: wire.Location | None = None
    system: dict[str, Any] | None = None


_attr_decoder = msgspec.json.Decoder(Attributes)


def encode_entities(entities: list[wire.Entity] | None) -> str | None:
    return None if not entities else wire.encode(entities).decode()


def encode_attributes(attrs: Attributes) -> str | None:
    if attrs.location is None and attrs.system is None:
        return None
    return wire.encode(attrs).decode()


def message_from_row(r: Row) -> wire.Message:
    attrs = _attr_decoder.decode(r[12]) if r[12] else Attributes()
    return wire.Message(
        chat_id=int(r[0]), msg_id=int(r[1]), sender_id=int(r[2]), date=int(r[3]), kind=r[4],
        text=r[5], entities=_entities_decoder.decode(r[6]) if r[6] else None,
        reply_to=r[7], file_id=r[8], local_id=r[9], recalled_at=r[10], recalled_by=r[11],
        location=attrs.location, system=attrs.system,
    )


def message_row_values(m: wire.Message) -> tuple[Any, ...]:
    return (
        m.chat_id, m.msg_id, m.sender_id, m.date, m.kind, m.text, encode_entities(m.entities),
        m.reply_to, m.file_id, m.local_id, m.recalled_at, m.recalled_by,
        encode_attributes(Attributes(location=m.location, system=m.system)),
    )


_INSERT = (
    f"INSERT INTO messages ({_COLS})"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
)


_COLUMNS = [c.strip() for c in _COLS.split(",")]


async def insert_messages_txn(txn: Txn, messages: list[wire.Message]) -> None:
    if len(messages) == 1:
        await txn.execute(_INSERT, *message_row_values(messages[0]))
    else:
        await txn.insert_rows("messages", _COLUMNS, [message_row_values(m) for m in messages])


async def get_messages_txn(txn: Txn, chat_id: int, msg_ids: list[int]) -> list[wire.Message]:
    if not msg_ids:
        return []
    cond, args = txn.engine.any_of("msg_id", 2, msg_ids)
    rows = await txn.fetch(
        f"SELECT {_COLS} FROM messages WHERE chat_id = $1 AND {cond} ORDER BY msg_id",
        chat_id, *args,
    )
    return [message_from_row(r) for r in rows]


async def messages_range_txn(txn: Txn, chat_id: int, after: int, upto: int
                             ) -> list[wire.Message]:
    """Messages with ``after < msg_id <= upto``, ascending."""
    rows = await txn.fetch(
        f"SELECT {_COLS} FROM messages WHERE chat_id = $1 AND msg_id > $2 AND msg_id <= $3"
        " ORDER BY msg_id",
        chat_id, after, upto,
    )
    return [message_from_row(r) for r in rows]


async def newest_before_txn(txn: Txn, chat_id: int, after: int, before: int, limit: int
                            ) -> list[wire.Message]:
    """The newest ``limit`` messages with ``after < msg_id < before``, ascending."""
    rows = await txn.fetch(
        f"SELECT {_COLS} FROM messages WHERE chat_id = $1 AND msg_id > $2 AND msg_id < $3"
        " ORDER BY msg_id DESC LIMIT $4",
        chat_id, after, before, limit,
    )
    rows.reverse()
    return [message_from_row(r) for r in rows]


async def oldest_after_txn(txn: Txn, chat_id: int, after: int, upto: int, limit: int
                           ) -> list[wire.Message]:
    rows = await txn.fetch(
        f"SELECT {_COLS} FROM messages WHERE chat_id = $1 AND msg_id > $2 AND msg_id <= $3"
        " ORDER BY msg_id LIMIT $4",
        chat_id, after, upto, limit,
    )
    return [message_from_row(r) for r in rows]


async def find_by_local_ids_txn(txn: Txn, keys: list[tuple[int, int, str]]
                                ) -> dict[tuple[int, int, str], wire.Message]:
    """Messages already stored under these (chat_id, sender_id, local_id) keys."""
    if not keys:
        return {}
    table, args = txn.engine.keys_table(
        "k", [("chat_id", "bigint"), ("sender_id", "bigint"), ("local_id", "text")], 1, keys)
    cols = ", ".join(f"m.{c.strip()}" for c in _COLS.split(","))
    rows = await txn.fetch(
        f"SELECT {cols} FROM {table} JOIN messages m ON m.chat_id = k.chat_id"
        " AND m.sender_id = k.sender_id AND m.local_id = k.local_id",
        *args,
    )
    found = {}
    for r in rows:
        m = message_from_row(r)
        assert m.local_id is not None
        found[(m.chat_id, m.sender_id, m.local_id)] = m
    return found


async def existing_ids_txn(txn: Txn, chat_id: int, msg_ids: list[int]) -> set[int]:
    if not msg_ids:
        return set()
    cond, args = txn.engine.any_of("msg_id", 2, msg_ids)
    rows = await txn.fetch(
        f"SELECT msg_id FROM messages WHERE chat_id = $1 AND {cond}", chat_id, *args
    )
    return {int(r[0]) for r in rows}


async def count_unread_txn(txn: Txn, chat_id: int, after: int, upto: int, user_id: int) -> int:
    value = await txn.fetchval(
        "SELECT COUNT(*) FROM messages WHERE chat_id = $1 AND msg_id > $2 AND msg_id <= $3"
        " AND sender_id <> $4 AND kind <> 'system'",
        chat_id, after, upto, user_id,
    )
    return int(value or 0)


async def mark_recalled_txn(txn: Txn, chat_id: int, msg_id: int, by: int, now: int) -> None:
    await txn.execute(
        "UPDATE messages SET recalled_at = $3, recalled_by = $4, text = NULL, entities = NULL,"
        " attributes = NULL WHERE chat_id = $1 AND msg_id = $2",
        chat_id, msg_id, now, by,
    )
