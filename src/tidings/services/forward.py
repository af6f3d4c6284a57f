"""Forwarding: copies of messages the caller can read, sent into another chat.

A forward is a send (group commit, the target chat's rules, one message per
source in order) whose messages carry ``forward_from``: the original source,
also when the source was itself a forward. It shares the source's file
reference (no blob or lifecycle copy) and notifies nobody of the mentions in
its text, which belong to the source chat.
"""

from __future__ import annotations

import asyncio
import uuid

from tidings import wire
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, forbidden, invalid
from tidings.services import access
from tidings.services.messages import MessageService, SendRequest
from tidings.services.visibility import VisibilityCache
from tidings.store import messages


class ForwardService:
    def __init__(self, db: Database, settings: Settings, visibility: VisibilityCache,
                 sender: MessageService) -> None:
        self._db = db
        self._settings = settings
        self._visibility = visibility
        self._sender = sender

    async def forward(self, user_id: int, from_chat_id: int, msg_ids: list[int],
                      to_chat_id: int, local_id: str | None) -> list[wire.Message]:
        limit = self._settings.max_ids_per_call
        if not 1 <= len(msg_ids) <= limit:
            raise invalid(f"msg_ids must hold 1 to {limit} ids", field="msg_ids", limit=limit)
        if len(set(msg_ids)) != len(msg_ids):
            raise invalid("msg_ids must not repeat", field="msg_ids")
        # Each copy's idempotency key is the caller's local_id and its position, so
        # a retried forward returns the same messages; without one, retries repeat.
        room = self._settings.max_local_id_length - len(f":{limit}")
        if local_id is not None and not 1 <= len(local_id) <= room:
            raise invalid(f"local_id must be 1 to {room} characters", field="local_id")
        base = local_id if local_id is not None else f"fwd-{uuid.uuid4().hex}"

        async def sources_txn(txn: Txn) -> list[wire.Message]:
            view = await self._visibility.view_txn(txn, from_chat_id, user_id)
            wanted = [m for m in msg_ids if access.can_see(view.spans, m)]
            if view.has_hidden:
                hidden = await messages.hidden_among_txn(txn, user_id, from_chat_id, wanted)
                wanted = [m for m in wanted if m not in hidden]
            return await messages.get_messages_txn(txn, from_chat_id, wanted)

        found = {m.msg_id: m for m in await self._db.read("forward_sources", sources_txn)}
        missing = [m for m in msg_ids if m not in found]
        if missing:
            raise TidingsError(ErrorCode.MESSAGE_NOT_FOUND,
                               f"no message {missing[0]} in chat {from_chat_id}",
                               msg_ids=missing)
        requests = [self._copy(user_id, found[m], to_chat_id, f"{base}:{i}")
                    for i, m in enumerate(msg_ids)]
        for request in requests:
            self._sender.check_send(request)
        # Submitted in order to the target chat's lane: they commit in one batch
        # where load allows, with consecutive pts in the order given.
        return list(await asyncio.gather(*(self._sender.send(r) for r in requests)))

    @staticmethod
    def _copy(user_id: int, m: wire.Message, to_chat_id: int, local_id: str) -> SendRequest:
        if m.kind == "system":
            raise forbidden("system messages cannot be forwarded", msg_id=m.msg_id)
        if m.recalled_at is not None:
            raise TidingsError(ErrorCode.MESSAGE_NOT_FOUND, f"message {m.msg_id} was recalled",
                               msg_ids=[m.msg_id])
        source = m.forward_from or wire.ForwardFrom(m.chat_id, m.msg_id, m.sender_id, m.date)
        return SendRequest(user_id=user_id, chat_id=to_chat_id, local_id=local_id,
                           kind=m.kind, text=m.text, entities=m.entities, location=m.location,
                           file_id=m.file_id, forward_from=source, card=m.card)
