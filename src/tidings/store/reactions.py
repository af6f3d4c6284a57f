"""Reactions: who reacted to which message with which emoji, and when.

The ``reactions`` rows are the facts. ``messages.reaction_counts`` (a JSON
object ``{emoji: count}``) is derived from them and kept with the message so a
history page needs no extra query; the writer updates it in the same
transaction as the fact, and ``recompute_counts_txn`` rebuilds it from the
facts at any time.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tidings import wire
from tidings.db.engine import Txn

_counts_decoder = msgspec.json.Decoder(dict[str, int])


class Reaction(msgspec.Struct, frozen=True):
    user_id: int
    emoji: str
    date: int


def encode_counts(counts: dict[str, int]) -> str | None:
    return wire.encode(counts).decode() if counts else None


async def of_user_txn(txn: Txn, chat_id: int, msg_id: int, user_id: int) -> list[str]:
    """One user's emoji on one message, oldest first."""
    rows = await txn.fetch(
        "SELECT emoji FROM reactions WHERE chat_id = $1 AND msg_id = $2 AND user_id = $3"
        " ORDER BY date, emoji",
        chat_id, msg_id, user_id,
    )
    return [r[0] for r in rows]


async def mine_txn(txn: Txn, user_id: int, chat_id: int, msg_ids: list[int]
                   ) -> dict[int, list[str]]:
    """The viewer's own emoji per message (messages without any are left out),
    for the read path's ``my_reactions``."""
    if not msg_ids:
        return {}
    cond, args = txn.engine.any_of("msg_id", 3, sorted(set(msg_ids)))
    rows = await txn.fetch(
        "SELECT msg_id, emoji FROM reactions WHERE chat_id = $1 AND user_id = $2"
        f" AND {cond} ORDER BY msg_id, date, emoji",
        chat_id, user_id, *args,
    )
    mine: dict[int, list[str]] = {}
    for r in rows:
        mine.setdefault(int(r[0]), []).append(r[1])
    return mine


async def add_txn(txn: Txn, chat_id: int, msg_id: int, user_id: int, emoji: str, now: int
                  ) -> None:
    await txn.execute(
        "INSERT INTO reactions (chat_id, msg_id, user_id, emoji, date)"
        " VALUES ($1, $2, $3, $4, $5)",
        chat_id, msg_id, user_id, emoji, now,
    )


async def remove_txn(txn: Txn, chat_id: int, msg_id: int, user_id: int, emoji: str) -> None:
    await txn.execute(
        "DELETE FROM reactions WHERE chat_id = $1 AND msg_id = $2 AND user_id = $3"
        " AND emoji = $4",
        chat_id, msg_id, user_id, emoji,
    )


async def set_counts_txn(txn: Txn, chat_id: int, msg_id: int, counts: dict[str, int]) -> None:
    await txn.execute(
        "UPDATE messages SET reaction_counts = $3 WHERE chat_id = $1 AND msg_id = $2",
        chat_id, msg_id, encode_counts(counts),
    )


async def page_txn(txn: Txn, chat_id: int, msg_id: int, emoji: str | None, limit: int,
                   before: tuple[int, int, str] | None) -> list[Reaction]:
    """Reactions to one message, newest first (date, then user_id, then emoji,
    all descending), strictly after the ``before`` key when given."""
    where = ["chat_id = $1", "msg_id = $2"]
    args: list[Any] = [chat_id, msg_id]
    if emoji is not None:
        args.append(emoji)
        where.append(f"emoji = ${len(args)}")
    if before is not None:
        args += before
        n = len(args)
        where.append(f"(date, user_id, emoji) < (${n - 2}, ${n - 1}, ${n})")
    args.append(limit)
    rows = await txn.fetch(
        f"SELECT user_id, emoji, date FROM reactions WHERE {' AND '.join(where)}"
        f" ORDER BY date DESC, user_id DESC, emoji DESC LIMIT ${len(args)}",
        *args,
    )
    return [Reaction(int(r[0]), r[1], int(r[2])) for r in rows]


async def counts_from_facts_txn(txn: Txn, chat_id: int, msg_ids: list[int] | None = None
                                ) -> dict[int, dict[str, int]]:
    """``{msg_id: {emoji: count}}`` counted from the rows (all messages of the chat
    that have reactions when ``msg_ids`` is None); emoji in order of their first
    reaction, as the writer appends them."""
    cond, args = ("", []) if msg_ids is None else txn.engine.any_of("msg_id", 2, msg_ids)
    rows = await txn.fetch(
        "SELECT msg_id, emoji, COUNT(*), MIN(date) FROM reactions WHERE chat_id = $1"
        f"{' AND ' + cond if cond else ''} GROUP BY msg_id, emoji"
        " ORDER BY msg_id, MIN(date), emoji",
        chat_id, *args,
    )
    counts: dict[int, dict[str, int]] = {}
    for r in rows:
        counts.setdefault(int(r[0]), {})[r[1]] = int(r[2])
    return counts


async def stored_counts_txn(txn: Txn, chat_id: int) -> dict[int, dict[str, int]]:
    """``messages.reaction_counts`` of every live message of the chat that has any."""
    rows = await txn.fetch(
        "SELECT msg_id, reaction_counts FROM messages WHERE chat_id = $1"
        " AND reaction_counts IS NOT NULL AND deleted_at IS NULL",
        chat_id,
    )
    return {int(r[0]): _counts_decoder.decode(r[1]) for r in rows}


async def recompute_counts_txn(txn: Txn, chat_id: int) -> int:
    """Rewrite the chat's ``reaction_counts`` from the facts; returns how many
    messages held a value that disagreed (0 when the derived data was right)."""
    truth = await counts_from_facts_txn(txn, chat_id)
    stored = await stored_counts_txn(txn, chat_id)
    wrong = sorted(m for m in set(truth) | set(stored) if truth.get(m) != stored.get(m))
    for msg_id in wrong:
        await set_counts_txn(txn, chat_id, msg_id, truth.get(msg_id, {}))
    return len(wrong)
