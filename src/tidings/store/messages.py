"""Messages. A row here is also the chat's ``message.new`` log entry at pts
``msg_id``, so a send writes one row, whatever the size of the group.

A message deleted for everyone stays as a tombstone (``deleted_at`` set, its
content gone) so its pts keeps its place; every read here leaves tombstones
out unless it asks for them (``with_deleted``)."""

from __future__ import annotations

from typing import Any

import msgspec

from tidings import wire
from tidings.db.engine import Row, Txn

_COLS = (
    "chat_id, msg_id, sender_id, date, kind, text, entities, reply_to, file_id, local_id,"
    " recalled_at, recalled_by, meta, forward_from, reply_count, reaction_counts,"
    " attributes, tags, ttl_expires_at, burn_after_seconds, deleted_at"
)
_COLUMNS = [c.strip() for c in _COLS.split(",")]
_INSERT_COLUMNS = _COLUMNS[:-1]  # a new message is never deleted

_entities_decoder = msgspec.json.Decoder(list[wire.Entity])
_forward_decoder = msgspec.json.Decoder(wire.ForwardFrom)
_counts_decoder = msgspec.json.Decoder(dict[str, int])
_tags_decoder = msgspec.json.Decoder(list[str])
_object_decoder = msgspec.json.Decoder(dict[str, Any])


class Meta(msgspec.Struct, frozen=True, omit_defaults=True):
    """The server's own data about a message beyond its text, one JSON column
    (``attributes`` is the user's, see ``message.set_attributes``)."""

    location: wire.Location | None = None
    system: dict[str, Any] | None = None


_meta_decoder = msgspec.json.Decoder(Meta)


def _json(value: Any) -> str | None:
    return None if not value else wire.encode(value).decode()


def encode_meta(meta: Meta) -> str | None:
    if meta.location is None and meta.system is None:
        return None
    return wire.encode(meta).decode()


class StoredMessage(msgspec.Struct, frozen=True):
    """A row with what the wire message does not carry."""

    message: wire.Message
    deleted_at: int | None


def stored_from_row(r: Row) -> StoredMessage:
    meta = _meta_decoder.decode(r[12]) if r[12] else Meta()
    message = wire.Message(
        chat_id=int(r[0]), msg_id=int(r[1]), sender_id=int(r[2]), date=int(r[3]), kind=r[4],
        text=r[5], entities=_entities_decoder.decode(r[6]) if r[6] else None,
        reply_to=r[7], file_id=r[8], local_id=r[9], recalled_at=r[10], recalled_by=r[11],
        location=meta.location, system=meta.system,
        forward_from=_forward_decoder.decode(r[13]) if r[13] else None,
        reply_count=int(r[14]), reactions=_counts_decoder.decode(r[15]) if r[15] else {},
        attributes=_object_decoder.decode(r[16]) if r[16] else None,
        tags=_tags_decoder.decode(r[17]) if r[17] else [],
        ttl_expires_at=r[18], burn_after_seconds=r[19],
    )
    return StoredMessage(message, r[20])


def message_from_row(r: Row) -> wire.Message:
    return stored_from_row(r).message


def message_row_values(m: wire.Message) -> tuple[Any, ...]:
    return (
        m.chat_id, m.msg_id, m.sender_id, m.date, m.kind, m.text, _json(m.entities),
        m.reply_to, m.file_id, m.local_id, m.recalled_at, m.recalled_by,
        encode_meta(Meta(location=m.location, system=m.system)), _json(m.forward_from),
        m.reply_count, _json(m.reactions), _json(m.attributes), _json(m.tags),
        m.ttl_expires_at, m.burn_after_seconds,
    )


_INSERT = (
    f"INSERT INTO messages ({', '.join(_INSERT_COLUMNS)})"
    f" VALUES ({', '.join(f'${i + 1}' for i in range(len(_INSERT_COLUMNS)))})"
)
_LIVE = "deleted_at IS NULL"


async def insert_messages_txn(txn: Txn, messages: list[wire.Message]) -> None:
    if len(messages) == 1:
        await txn.execute(_INSERT, *message_row_values(messages[0]))
    else:
        await txn.insert_rows("messages", _INSERT_COLUMNS,
                              [message_row_values(m) for m in messages])


async def get_messages_txn(txn: Txn, chat_id: int, msg_ids: list[int]) -> list[wire.Message]:
    """The live (not deleted) messages among ``msg_ids``, ascending."""
    return [s.message for s in await get_stored_txn(txn, chat_id, msg_ids)
            if s.deleted_at is None]


async def get_stored_txn(txn: Txn, chat_id: int, msg_ids: list[int]) -> list[StoredMessage]:
    """Rows of ``msg_ids``, tombstones included, ascending."""
    if not msg_ids:
        return []
    cond, args = txn.engine.any_of("msg_id", 2, msg_ids)
    rows = await txn.fetch(
        f"SELECT {_COLS} FROM messages WHERE chat_id = $1 AND {cond} ORDER BY msg_id",
        chat_id, *args,
    )
    return [stored_from_row(r) for r in rows]


def _not_hidden(param: int) -> str:
    return (" AND NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.user_id = "
            f"${param} AND h.chat_id = messages.chat_id AND h.msg_id = messages.msg_id)")


async def messages_range_txn(txn: Txn, chat_id: int, after: int, upto: int, *,
                             hidden_for: int | None = None) -> list[wire.Message]:
    """Live messages with ``after < msg_id <= upto``, ascending; ``hidden_for`` leaves
    out what that user deleted for themselves."""
    hidden = _not_hidden(4) if hidden_for is not None else ""
    rows = await txn.fetch(
        f"SELECT {_COLS} FROM messages WHERE chat_id = $1 AND msg_id > $2 AND msg_id <= $3"
        f" AND {_LIVE}{hidden} ORDER BY msg_id",
        chat_id, after, upto, *(() if hidden_for is None else (hidden_for,)),
    )
    return [message_from_row(r) for r in rows]


async def newest_before_txn(txn: Txn, chat_id: int, after: int, before: int, limit: int, *,
                            hidden_for: int | None = None) -> list[wire.Message]:
    """The newest ``limit`` live messages with ``after < msg_id < before``, ascending."""
    hidden = _not_hidden(5) if hidden_for is not None else ""
    rows = await txn.fetch(
        f"SELECT {_COLS} FROM messages WHERE chat_id = $1 AND msg_id > $2 AND msg_id < $3"
        f" AND {_LIVE}{hidden} ORDER BY msg_id DESC LIMIT $4",
        chat_id, after, before, limit, *(() if hidden_for is None else (hidden_for,)),
    )
    rows.reverse()
    return [message_from_row(r) for r in rows]


async def oldest_after_txn(txn: Txn, chat_id: int, after: int, upto: int, limit: int, *,
                           hidden_for: int | None = None) -> list[wire.Message]:
    hidden = _not_hidden(5) if hidden_for is not None else ""
    rows = await txn.fetch(
        f"SELECT {_COLS} FROM messages WHERE chat_id = $1 AND msg_id > $2 AND msg_id <= $3"
        f" AND {_LIVE}{hidden} ORDER BY msg_id LIMIT $4",
        chat_id, after, upto, limit, *(() if hidden_for is None else (hidden_for,)),
    )
    return [message_from_row(r) for r in rows]


async def hidden_among_txn(txn: Txn, user_id: int, chat_id: int, msg_ids: list[int]
                           ) -> set[int]:
    if not msg_ids:
        return set()
    cond, args = txn.engine.any_of("msg_id", 3, msg_ids)
    rows = await txn.fetch(
        f"SELECT msg_id FROM hidden_messages WHERE user_id = $1 AND chat_id = $2 AND {cond}",
        user_id, chat_id, *args)
    return {int(r[0]) for r in rows}


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
        f"SELECT msg_id FROM messages WHERE chat_id = $1 AND {cond} AND {_LIVE}",
        chat_id, *args
    )
    return {int(r[0]) for r in rows}


async def count_unread_txn(txn: Txn, chat_id: int, after: int, upto: int, user_id: int) -> int:
    value = await txn.fetchval(
        "SELECT COUNT(*) FROM messages WHERE chat_id = $1 AND msg_id > $2 AND msg_id <= $3"
        f" AND sender_id <> $4 AND kind <> 'system' AND {_LIVE}",
        chat_id, after, upto, user_id,
    )
    return int(value or 0)


async def mark_recalled_txn(txn: Txn, chat_id: int, msg_id: int, by: int, now: int) -> None:
    await txn.execute(
        "UPDATE messages SET recalled_at = $3, recalled_by = $4, text = NULL, entities = NULL,"
        " meta = NULL, attributes = NULL, tags = NULL WHERE chat_id = $1 AND msg_id = $2",
        chat_id, msg_id, now, by,
    )
