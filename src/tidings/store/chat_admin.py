"""Chats as operators list them (``/admin/chats``): filtered by expiry, kind and
title, in keyset pages by ``chat_id``."""

from __future__ import annotations

from typing import Any

from tidings.db.engine import Txn


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_chat_ids_txn(txn: Txn, now: int, *, expired: bool | None, kind: str | None,
                            query: str | None, after: int, limit: int) -> list[int]:
    """Up to ``limit`` chat ids above ``after``, ascending."""
    conds = ["chat_id > $1"]
    args: list[Any] = [after]
    if expired is not None:
        args.append(now)
        n = len(args)
        conds.append(f"(expire_at IS NOT NULL AND expire_at <= ${n})" if expired
                     else f"(expire_at IS NULL OR expire_at > ${n})")
    if kind is not None:
        args.append(kind)
        conds.append(f"kind = ${len(args)}")
    if query is not None:
        args.append(_like_pattern(query))
        conds.append(f"LOWER(title) LIKE ${len(args)} ESCAPE '\\'")
    args.append(limit)
    rows = await txn.fetch(
        f"SELECT chat_id FROM chats WHERE {' AND '.join(conds)} ORDER BY chat_id"
        f" LIMIT ${len(args)}", *args)
    return [int(r[0]) for r in rows]
