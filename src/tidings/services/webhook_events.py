"""Webhook events, written to the outbox (``store.webhooks``) in the
transaction of the fact they report; ``tidings.jobs.webhooks`` delivers them.

Exists only when ``webhook_url`` is set: services hold ``None`` otherwise and
skip every step, so a node without a webhook does no extra work on a send.

Kinds (``webhook_events`` chooses which are recorded):

- ``message.sent``: a message a user sent (``message.send``, ``message.forward``,
  ``user.share_card``), written by the group-commit batch that stores it, one
  bulk insert per batch. System messages are not reported.
- ``message.undelivered``: the members of the chat, sender excluded, who had no
  device connected to any node when the message committed and have not muted
  the chat (``dialog.mute``), for an app backend to notify them itself (APNs,
  FCM). "Connected" is presence's view, which each
  node keeps for the whole cluster over the bus; chats with more than
  ``webhook_offline_max_members`` members are skipped. Written in the same
  transaction, after the chat's ``message.sent`` events.
- ``user.online`` / ``user.offline``: a user's first device connected to the
  cluster, or their last one left (``last_seen``). Written by the node that saw
  the change, when no other node has a device of the user.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from tidings import wire
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.store import chats
from tidings.store import webhooks as outbox

log = logging.getLogger(__name__)


def _payload(kind: str, date: int, fields: dict[str, Any]) -> str:
    """The event's JSON object, kind and date first (the deliverer adds ``id``)."""
    return wire.encode({"kind": kind, "date": date, **fields}).decode()


class WebhookEvents:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._wanted = frozenset(settings.webhook_events)
        self._offline_max = settings.webhook_offline_max_members
        # Who is connected anywhere: presence, set by the container once built.
        self.is_online: Callable[[int], bool] = lambda _user_id: False
        # Called after a commit that wrote events (the deliverer wakes up).
        self.listeners: list[Callable[[], None]] = []
        self._presence_lock = asyncio.Lock()  # one node's presence events in order

    def wants(self, kind: str) -> bool:
        return kind in self._wanted

    def _written(self, txn: Txn) -> None:
        for listener in self.listeners:
            txn.call_after(listener)

    async def messages_sent_txn(self, txn: Txn, written: list[wire.Message],
                                chat_rows: dict[int, chats.ChatRow]) -> None:
        """``message.sent`` for each message of a batch, then ``message.undelivered``."""
        rows = []
        if self.wants("message.sent"):
            rows = [(m.chat_id, "message.sent",
                     _payload("message.sent", m.date, {"chat_id": m.chat_id, "message": m}),
                     m.date) for m in written]
        if self.wants("message.undelivered"):
            rows += await self._undelivered_txn(txn, written, chat_rows)
        if rows:
            # One stream per chat: its undelivered events after its sent ones.
            rows.sort(key=lambda r: r[0])
            await outbox.insert_txn(txn, rows)
            self._written(txn)

    async def _undelivered_txn(self, txn: Txn, written: list[wire.Message],
                               chat_rows: dict[int, chats.ChatRow]
                               ) -> list[tuple[int, str, str, int]]:
        small = sorted({m.chat_id for m in written
                        if chat_rows[m.chat_id].member_count <= self._offline_max})
        if not small:
            return []
        # One query per batch; muted_until is compared with the messages' date.
        members = await chats.unmuted_members_of_txn(txn, small, written[0].date)
        rows = []
        for m in written:
            if m.chat_id not in members:
                continue
            offline = [u for u in members[m.chat_id]
                       if u != m.sender_id and not self.is_online(u)]
            if offline:
                body = {"chat_id": m.chat_id, "msg_id": m.msg_id, "sender_id": m.sender_id,
                        "user_ids": offline}
                rows.append((m.chat_id, "message.undelivered",
                             _payload("message.undelivered", m.date, body),
                             m.date))
        return rows

    async def presence_changed(self, user_id: int, online: bool, now: int) -> None:
        """``user.online`` / ``user.offline``, in a transaction of its own (presence
        has no fact of its own to share one with), in the order this node saw them."""
        kind = "user.online" if online else "user.offline"
        if not self.wants(kind):
            return
        body = {"user_id": user_id} if online else {"user_id": user_id, "last_seen": now}
        row = (outbox.user_stream(user_id), kind, _payload(kind, now, body), now)

        async def write_txn(txn: Txn) -> None:
            await outbox.insert_txn(txn, [row])
            self._written(txn)

        async with self._presence_lock:
            try:
                await self._db.write("webhook_presence_event", write_txn)
            except Exception:
                log.exception("webhooks: could not record %s of user %d", kind, user_id)
