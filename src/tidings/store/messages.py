"""Messages. A row here is also the chat's ``message.new`` log entry at pts
``msg_id``, so a send writes one row, whatever the size of the group.

A message deleted for everyone stays as a tombstone (``deleted_at`` set, its
content gone) so its pts keeps its place; every read here leaves tombstones
out unless it asks for them (``with_deleted``)."""

from __future__ import annotations

from functools import lru_cache
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
INSERT_COLUMNS = _INSERT_COLUMNS  # what the ingest floor bench copies

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
    card: wire.Card | None = None


_meta_decoder = msgspec.json.Decoder(Meta)
_NO_META = Meta()


def _json(value: Any) -> str | None:
    return None if not value else wire.encode(value).decode()


def encode_meta(meta: Meta) -> str | None:
    if meta.location is None and meta.system is None and meta.card is None:
        return None
    return wire.encode(meta).decode()


class StoredMessage(msgspec.Struct, frozen=True):
    """A row with what the wire message does not carry."""

    message: wire.Message
    deleted_at: int | None


def message_from_row(r: Row) -> wire.Message:
    """The hot path of every read: positional construction, and JSON columns
    decoded only when set (most are NULL for most messages)."""
    meta = _meta_decoder.decode(r[12]) if r[12] else _NO_META
    return wire.Message(
        int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4], r[5], r[7], r[9],
        _entities_decoder.decode(r[6]) if r[6] else None, meta.location, r[8], r[10], r[11],
        meta.system, _forward_decoder.decode(r[13]) if r[13] else None, None, int(r[14]),
        _counts_decoder.decode(r[15]) if r[15] else wire.NO_REACTIONS, wire.NO_STRINGS,
        _object_decoder.decode(r[16]) if r[16] else None,
        _tags_decoder.decode(r[17]) if r[17] else wire.NO_STRINGS, r[18], r[19], None,
        meta.card,
    )


# A history page reads the columns every message has, and the rest packed into
# one JSON array that is NULL while they all hold their default: the sqlite3
# module pays per cell (measured on SQLite: 175 -> 103 µs for the SQL of a
# 50-message page), and most messages set none of them.
_RARE = ("entities", "reply_to", "file_id", "recalled_at", "recalled_by", "meta",
         "forward_from", "reply_count", "reaction_counts", "attributes", "tags",
         "ttl_expires_at", "burn_after_seconds")
_RARE_DEFAULT = " AND ".join(f"{c} IS NULL" for c in _RARE if c != "reply_count") + (
    " AND reply_count = 0")
_rare_decoder = msgspec.json.Decoder(tuple[
    str | None, int | None, int | None, int | None, int | None, str | None, str | None, int,
    str | None, str | None, str | None, int | None, int | None])


@lru_cache(maxsize=4)
def _page_cols(json_array: str) -> str:
    return ("chat_id, msg_id, sender_id, date, kind, text, local_id,"
            f" CASE WHEN {_RARE_DEFAULT} THEN NULL ELSE {json_array}({', '.join(_RARE)}) END")


def message_from_page_row(r: Row) -> wire.Message:
    """A row of ``_page_cols``: built directly when the packed columns are all
    at their defaults, through ``message_from_row`` otherwise."""
    if r[7] is None:
        return wire.Message(
            int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4], r[5], None, r[6], None, None,
            None, None, None, None, None, None, 0, wire.NO_REACTIONS, wire.NO_STRINGS, None,
            wire.NO_STRINGS, None, None, None, None)
    (entities, reply_to, file_id, recalled_at, recalled_by, meta, forward, reply_count,
     reactions, attributes, tags, ttl, burn) = _rare_decoder.decode(r[7])
    return message_from_row((r[0], r[1], r[2], r[3], r[4], r[5], entities, reply_to, file_id,
                             r[6], recalled_at, recalled_by, meta, forward, reply_count,
                             reactions, attributes, tags, ttl, burn))


def stored_from_row(r: Row) -> StoredMessage:
    return StoredMessage(message_from_row(r), r[20])


def message_row_values(m: wire.Message) -> tuple[Any, ...]:
    """The send hot path: a fresh message has its JSON columns unset, so each is
    tested before anything is built or encoded."""
    meta = (encode_meta(Meta(m.location, m.system, m.card))
            if m.location is not None or m.system is not None or m.card is not None else None)
    return (
        m.chat_id, m.msg_id, m.sender_id, m.date, m.kind, m.text,
        _json(m.entities) if m.entities else None, m.reply_to, m.file_id, m.local_id,
        m.recalled_at, m.recalled_by, meta,
        _json(m.forward_from) if m.forward_from is not None else None, m.reply_count,
        _json(m.reactions) if m.reactions else None,
        _json(m.attributes) if m.attributes else None, _json(m.tags) if m.tags else None,
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


def _filters(first: int, hidden_for: int | None, tag: str | None) -> tuple[str, list[Any]]:
    """The optional conditions of a history page, with placeholders from ``$first``."""
    sql = ""
    args: list[Any] = []
    if hidden_for is not None:
        sql += _not_hidden(first + len(args))
        args.append(hidden_for)
    if tag is not None:
        sql += (" AND EXISTS (SELECT 1 FROM message_tags t WHERE t.chat_id = messages.chat_id"
                f" AND t.tag = ${first + len(args)} AND t.msg_id = messages.msg_id)")
        args.append(tag)
    return sql, args


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
                            hidden_for: int | None = None, tag: str | None = None
                            ) -> list[wire.Message]:
    """The newest ``limit`` live messages with ``after < msg_id < before``, ascending;
    ``hidden_for`` leaves out what that user hid, ``tag`` keeps only tagged ones."""
    extra, args = _filters(5, hidden_for, tag)
    rows = await txn.fetch(
        f"SELECT {_page_cols(txn.engine.json_array)} FROM messages WHERE chat_id = $1"
        f" AND msg_id > $2 AND msg_id < $3 AND {_LIVE}{extra} ORDER BY msg_id DESC LIMIT $4",
        chat_id, after, before, limit, *args,
    )
    rows.reverse()
    return [message_from_page_row(r) for r in rows]


async def oldest_after_txn(txn: Txn, chat_id: int, after: int, upto: int, limit: int, *,
                           hidden_for: int | None = None, tag: str | None = None
                           ) -> list[wire.Message]:
    extra, args = _filters(5, hidden_for, tag)
    rows = await txn.fetch(
        f"SELECT {_page_cols(txn.engine.json_array)} FROM messages WHERE chat_id = $1"
        f" AND msg_id > $2 AND msg_id <= $3 AND {_LIVE}{extra} ORDER BY msg_id LIMIT $4",
        chat_id, after, upto, limit, *args,
    )
    return [message_from_page_row(r) for r in rows]


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
                                ) -> dict[tuple[int, int, str], StoredMessage]:
    """Messages already stored under these (chat_id, sender_id, local_id) keys,
    tombstones included (a retry of a deleted send must not send it again)."""
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
        stored = stored_from_row(r)
        m = stored.message
        assert m.local_id is not None
        found[(m.chat_id, m.sender_id, m.local_id)] = stored
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
    """Erase what a recall takes away: the content (its file included: the
    message no longer shows it), and the facts hanging off the message
    (reactions, pin, tags, mentions); the marker stays."""
    await txn.execute(
        "UPDATE messages SET recalled_at = $3, recalled_by = $4, text = NULL, entities = NULL,"
        " meta = NULL, attributes = NULL, tags = NULL, reaction_counts = NULL, file_id = NULL"
        " WHERE chat_id = $1 AND msg_id = $2",
        chat_id, msg_id, now, by,
    )
    await _drop_hanging_facts_txn(txn, chat_id, [msg_id])


async def _drop_hanging_facts_txn(txn: Txn, chat_id: int, msg_ids: list[int]) -> None:
    cond, args = txn.engine.any_of("msg_id", 2, msg_ids)
    for table in ("reactions", "pinned_messages", "message_tags", "mentions", "contact_cards"):
        await txn.execute(f"DELETE FROM {table} WHERE chat_id = $1 AND {cond}", chat_id, *args)


async def mark_deleted_txn(txn: Txn, chat_id: int, msg_ids: list[int], now: int
                           ) -> list[tuple[int, int | None]]:
    """Turn live messages into tombstones: content gone, ``deleted_at`` set, the
    row (and so its pts) kept. Returns (msg_id, reply_to) of those it deleted."""
    if not msg_ids:
        return []
    cond, args = txn.engine.any_of("msg_id", 3, msg_ids)
    rows = await txn.fetch(
        "UPDATE messages SET deleted_at = $2, text = NULL, entities = NULL, meta = NULL,"
        " attributes = NULL, tags = NULL, reaction_counts = NULL, reply_count = 0"
        f" WHERE chat_id = $1 AND {cond} AND {_LIVE} RETURNING msg_id, reply_to",
        chat_id, now, *args,
    )
    found = sorted((int(r[0]), r[1]) for r in rows)
    if found:  # the facts that hang off a message go with it
        await _drop_hanging_facts_txn(txn, chat_id, [m for m, _ in found])
    return found


async def add_reply_counts_txn(txn: Txn, chat_id: int, deltas: dict[int, int]) -> None:
    """Adjust the derived ``reply_count`` of parent messages."""
    for parent, delta in sorted(deltas.items()):
        await txn.execute(
            "UPDATE messages SET reply_count = reply_count + $3"
            " WHERE chat_id = $1 AND msg_id = $2", chat_id, parent, delta)


async def replies_txn(txn: Txn, chat_id: int, msg_id: int, lo: int, hi: int, limit: int
                      ) -> list[wire.Message]:
    """Live replies to ``msg_id`` with ``lo <= msg_id <= hi``, newest first."""
    rows = await txn.fetch(
        f"SELECT {_COLS} FROM messages WHERE chat_id = $1 AND reply_to = $2"
        f" AND msg_id >= $3 AND msg_id <= $4 AND {_LIVE} ORDER BY msg_id DESC LIMIT $5",
        chat_id, msg_id, lo, hi, limit,
    )
    return [message_from_row(r) for r in rows]


async def reply_edges_txn(txn: Txn, chat_id: int, lo: int, hi: int, since: int, until: int
                          ) -> list[tuple[int, int, int]]:
    """Who answered whom: (replier, replied-to sender, count) over live replies with
    ``lo <= msg_id <= hi`` and ``since <= date < until``, grouped in the database."""
    rows = await txn.fetch(
        "SELECT m.sender_id, p.sender_id, COUNT(*) FROM messages m"
        " JOIN messages p ON p.chat_id = m.chat_id AND p.msg_id = m.reply_to"
        " WHERE m.chat_id = $1 AND m.reply_to IS NOT NULL AND m.msg_id >= $2"
        " AND m.msg_id <= $3 AND m.date >= $4 AND m.date < $5 AND m.deleted_at IS NULL"
        " GROUP BY m.sender_id, p.sender_id",
        chat_id, lo, hi, since, until,
    )
    return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]


async def insert_mentions_txn(txn: Txn, rows: list[tuple[int, int, int]]) -> None:
    """(user_id, chat_id, msg_id) rows; ``chat.list`` counts them as unread mentions."""
    await txn.executemany(
        "INSERT INTO mentions (user_id, chat_id, msg_id) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING", rows)


async def insert_recall_audit_txn(txn: Txn, m: wire.Message, recalled_by: int, now: int
                                  ) -> None:
    """Keep what a recall erases, for operators (``recall_audit`` setting)."""
    await txn.execute(
        "INSERT INTO recall_audit (chat_id, msg_id, sender_id, sent_at, recalled_by,"
        " recalled_at, kind, text, entities, meta, file_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        m.chat_id, m.msg_id, m.sender_id, m.date, recalled_by, now, m.kind, m.text,
        _json(m.entities), encode_meta(Meta(location=m.location, system=m.system, card=m.card)),
        m.file_id,
    )


async def recall_audit_txn(txn: Txn, chat_id: int) -> list[dict[str, Any]]:
    rows = await txn.fetch(
        "SELECT msg_id, sender_id, sent_at, recalled_by, recalled_at, kind, text"
        " FROM recall_audit WHERE chat_id = $1 ORDER BY msg_id", chat_id)
    keys = ("msg_id", "sender_id", "sent_at", "recalled_by", "recalled_at", "kind", "text")
    return [dict(zip(keys, tuple(r), strict=True)) for r in rows]


async def hide_messages_txn(txn: Txn, user_id: int, chat_id: int, msg_ids: list[int]) -> None:
    """Delete for me: the rows, and the member's flag that makes reads look them up."""
    await txn.executemany(
        "INSERT INTO hidden_messages (user_id, chat_id, msg_id) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING", [(user_id, chat_id, m) for m in msg_ids])
    await txn.execute("UPDATE members SET has_hidden = 1 WHERE chat_id = $1 AND user_id = $2",
                      chat_id, user_id)
