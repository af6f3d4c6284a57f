"""System messages: the timeline's record of what happened to a chat.

Chat created, members added, removed or left, TTL changed, expiry set, a
message pinned: each is written as a ``kind: "system"`` message with a
structured payload, in the same transaction as the fact, so every client
renders the same timeline from the same log. Like any message it takes a pts
(its ``message.new`` entry), but it never counts as unread and cannot be
recalled or deleted for everyone.

    {"kind": "system", "system": {"action": "member.added", "user_ids": [3], "by": 1}, ...}
"""

from __future__ import annotations

from typing import Any, Literal

from tidings import wire
from tidings.db.engine import Txn
from tidings.store import messages, updates

Action = Literal[
    "chat.created", "member.added", "member.removed", "member.left", "title.changed",
    "ttl.changed", "expiry.set", "chat.expired", "message.pinned", "history.cleared",
    "storage.changed", "member.joined", "member.banned", "role.changed", "info.changed",
    "mute_all.changed", "chat.disbanded", "operator.notice",
]


async def write_txn(txn: Txn, chat_id: int, by: int | None, action: Action, now: int,
                    **details: Any) -> dict[str, Any]:
    """Write one system message at the chat's next pts; return its ``message.new``
    update for the caller to publish with its other updates (one push frame)."""
    first = (await updates.allocate_message_pts_txn(txn, {chat_id: 1}, now))[chat_id]
    payload: dict[str, Any] = {"action": action, **details, "by": by}
    message = wire.Message(chat_id=chat_id, msg_id=first, sender_id=by or 0, date=now,
                           kind="system", text=None, reply_to=None, local_id=None,
                           system=payload)
    await messages.insert_messages_txn(txn, [message])
    return wire.message_update(message)
