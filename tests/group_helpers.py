"""What the group tests share: reading exactly which updates a call wrote, and
a snapshot of every table a group call could write, to prove a refused call
wrote nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.store import messages

# Every table a group method writes (and what the send path writes).
TABLES = {
    "chats": "chat_id", "members": "chat_id, user_id", "chat_updates": "chat_id, pts",
    "user_updates": "user_id, seq", "messages": "chat_id, msg_id", "chat_bans": "chat_id, user_id",
    "chat_invites": "token", "join_requests": "chat_id, user_id",
    "chat_announcements": "chat_id, pts", "users": "user_id",
}

KINDS = frozenset({"text", "image", "audio", "video", "file", "location"})  # message rows
Snapshot = dict[str, list[tuple[Any, ...]]]


async def snapshot(sv: Services) -> Snapshot:
    async def read_txn(txn: Txn) -> Snapshot:
        out: Snapshot = {}
        for table, order in TABLES.items():
            rows = await txn.fetch(f"SELECT * FROM {table} ORDER BY {order}")
            out[table] = [tuple(r) for r in rows]
        return out

    return await sv.db.read("test_snapshot", read_txn)


class Log:
    """The chat and user logs' positions, to list what a call appended."""

    def __init__(self, chats: dict[int, int], users: dict[int, int]) -> None:
        self.chats = chats
        self.users = users


async def log_position(sv: Services) -> Log:
    async def read_txn(txn: Txn) -> Log:
        chats = {int(r[0]): int(r[1]) for r in await txn.fetch("SELECT chat_id, pts FROM chats")}
        users = {int(r[0]): int(r[1]) for r in await txn.fetch("SELECT user_id, seq FROM users")}
        return Log(chats, users)

    return await sv.db.read("test_log_position", read_txn)


async def written_since(sv: Services, before: Log) -> dict[str, list[str]]:
    """``{"chat:<id>": [kind, ...], "user:<id>": [kind, ...]}`` of everything
    appended since ``before``, in log order; a system message shows as
    ``system:<action>``. Logs that did not move are left out."""
    async def read_txn(txn: Txn) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for chat_id, pts in before.chats.items():
            rows = await txn.fetch(
                "SELECT pts, kind FROM chat_updates WHERE chat_id = $1 AND pts > $2"
                " UNION ALL SELECT msg_id, kind FROM messages"
                " WHERE chat_id = $1 AND msg_id > $2 ORDER BY 1", chat_id, pts)
            if rows:
                out[f"chat:{chat_id}"] = [str(r[1]) for r in rows]
        new_chats = await txn.fetch("SELECT chat_id FROM chats")
        assert {int(r[0]) for r in new_chats} == set(before.chats), "a chat was created"
        for user_id, seq in before.users.items():
            rows = await txn.fetch("SELECT kind FROM user_updates WHERE user_id = $1"
                                   " AND seq > $2 ORDER BY seq", user_id, seq)
            if rows:
                out[f"user:{user_id}"] = [str(r[0]) for r in rows]
        return out

    found = await sv.db.read("test_written", read_txn)
    # name system messages by their action, from the stored message
    for key, kinds in found.items():
        if key.startswith("chat:") and "system" in kinds:
            chat_id = int(key[5:])
            actions = await _system_actions(sv, chat_id, before.chats[chat_id])
            found[key] = [f"system:{actions.pop(0)}" if k == "system" else
                          "message.new" if k in KINDS else k for k in kinds]
    return found


async def _system_actions(sv: Services, chat_id: int, after: int) -> list[str]:
    async def read_txn(txn: Txn) -> list[str]:
        rows = await txn.fetch("SELECT msg_id FROM messages WHERE chat_id = $1"
                               " AND msg_id > $2 AND kind = 'system' ORDER BY msg_id",
                               chat_id, after)
        found = await messages.get_messages_txn(txn, chat_id, [int(r[0]) for r in rows])
        return [str((m.system or {}).get("action")) for m in found]

    return await sv.db.read("test_system_actions", read_txn)


async def refused(call: Any, code: ErrorCode, sv: Services, **data: Any) -> TidingsError:
    """``call`` fails with ``code`` (and the given ``data`` entries) and writes nothing."""
    before = await snapshot(sv)
    with pytest.raises(TidingsError) as info:
        await call
    err = info.value
    assert err.code == code, (err.code, err.message)
    for key, value in data.items():
        assert err.data.get(key) == value, (key, err.data)
    assert await snapshot(sv) == before, "a refused call wrote something"
    return err
