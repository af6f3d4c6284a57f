"""Contacts: ``contact.request|accept|reject|remove|list|pending``.

A request names how the requester found the other user, and the server
verifies it: ``search`` and ``qr`` need the other's ``find_me`` to let the
requester find them, ``group`` a group or channel both are members of now,
``card`` a contact card of the other user that someone else shared in a chat
the requester is a member of now (``user.share_card``). A user who blocks the
requester refuses the request (``BLOCKED``). A request to someone who already
asked you accepts theirs.

Every step is a user update to both sides, in the same transaction:

    contact.requested   user_id (the other side), direction (incoming | outgoing),
                        source, message
    contact.added       user_id, source, since
    contact.rejected    user_id, direction (of the request, as that side sees it)
    contact.removed     user_id
    contact.cancelled   user_id, direction (the requester withdrew it: contact.remove)

A repeated request, or removing someone who is neither a contact nor asked,
writes nothing."""

from __future__ import annotations

import secrets
from typing import Any

from tidings import wire
from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, forbidden, invalid
from tidings.services import privacy
from tidings.services.messages import MessageService, SendRequest
from tidings.services.notify import publish_user_on_commit
from tidings.store import contacts, profiles, updates
from tidings.store import privacy as privacy_store

SOURCES = ("search", "qr", "group", "card")


async def _tell_both_txn(txn: Txn, bus: Bus, now: int, kind: str,
                         payloads: dict[int, dict[str, Any]]) -> None:
    for user_id, payload in sorted(payloads.items()):
        update = await updates.append_user_update_txn(txn, user_id, now, kind, payload)
        publish_user_on_commit(txn, bus, user_id, [update])


async def drop_request_txn(txn: Txn, bus: Bus, from_id: int, to_id: int, now: int) -> None:
    """Refuse a pending request (``contact.reject``, or its target blocking the
    requester): gone, and both sides told. Nothing when there is none."""
    if await contacts.delete_request_txn(txn, from_id, to_id):
        await _tell_both_txn(txn, bus, now, "contact.rejected", {
            to_id: {"user_id": from_id, "direction": "incoming"},
            from_id: {"user_id": to_id, "direction": "outgoing"}})


def _request_view(r: contacts.Request, other: int, *, date: bool = True) -> dict[str, Any]:
    """A request as one side sees it (an update carries its date already)."""
    view = {"user_id": other, "source": r.source, "message": r.message}
    return {**view, "date": r.created_at} if date else view


class ContactService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings,
                 messages: MessageService) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._messages = messages

    async def share_card(self, user_id: int, card_user_id: int, chat_id: int,
                         local_id: str | None) -> wire.Message:
        """Send a ``card`` message showing ``card_user_id`` into a chat (a send,
        under the chat's rules, retried safely with the same ``local_id``).
        You may share yourself, your contacts, and anyone whose ``find_me``
        lets you find them, unless they block you."""
        async def card_txn(txn: Txn) -> wire.Card:
            found = (await profiles.get_txn(txn, [card_user_id])).get(card_user_id)
            if found is None:
                raise TidingsError(ErrorCode.USER_NOT_FOUND, f"no user {card_user_id}",
                                   user_id=card_user_id)
            if card_user_id != user_id:
                rels = await privacy_store.relations_txn(txn, [(card_user_id, user_id)])
                rel = rels[(card_user_id, user_id)]
                if not rel.contact:
                    privacy.check(rel, "find_me", card_user_id)
                elif rel.blocks:
                    raise privacy.blocked(card_user_id)
            return wire.Card(found.user_id, found.username, found.display_name)

        card = await self._db.read("share_card", card_txn)
        return await self._messages.send(SendRequest(
            user_id=user_id, chat_id=chat_id, local_id=local_id or f"card:{secrets.token_hex(8)}",
            kind="card", card=card))

    async def request(self, user_id: int, other_id: int, source: str, message: str | None
                      ) -> dict[str, Any]:
        """Returns ``{"state": "pending" | "contact"}``."""
        if other_id == user_id:
            raise invalid("you cannot add yourself as a contact", field="user_id")
        if source not in SOURCES:
            raise invalid(f"source must be one of {list(SOURCES)}", field="source")
        text = (message or "").strip()
        limit = self._settings.max_contact_message_length
        if len(text) > limit:
            raise TidingsError(ErrorCode.TOO_LARGE, f"message is longer than {limit} "
                               "characters", field="message", limit=limit)

        async def request_txn(txn: Txn) -> str:
            await privacy.require_user_txn(txn, other_id)
            rels = await privacy_store.relations_txn(txn, [(other_id, user_id)])
            rel = rels[(other_id, user_id)]
            if rel.blocks:
                raise privacy.blocked(other_id)
            if await contacts.is_contact_txn(txn, user_id, other_id):
                return "contact"
            if await contacts.get_request_txn(txn, user_id, other_id) is not None:
                return "pending"
            now = self._clock.now()
            theirs = await contacts.get_request_txn(txn, other_id, user_id)
            if theirs is not None:
                await self._accept_txn(txn, theirs, now)
                return "contact"
            await self._verify_source_txn(txn, user_id, other_id, source, rel)
            r = contacts.Request(user_id, other_id, source, text, now)
            await contacts.insert_request_txn(txn, r)
            await _tell_both_txn(txn, self._bus, now, "contact.requested", {
                user_id: {"direction": "outgoing", **_request_view(r, other_id, date=False)},
                other_id: {"direction": "incoming", **_request_view(r, user_id, date=False)}})
            return "pending"

        return {"state": await self._db.write("contact_request", request_txn)}

    async def _verify_source_txn(self, txn: Txn, user_id: int, other_id: int, source: str,
                                 rel: privacy_store.Relation) -> None:
        if source in ("search", "qr"):
            privacy.check(rel, "find_me", other_id)
        elif source == "group":
            if not await contacts.share_a_group_txn(txn, user_id, other_id):
                raise forbidden(f"source group: you share no group with user {other_id}",
                                source=source, user_id=other_id)
        elif not await contacts.card_seen_txn(txn, user_id, other_id):
            raise forbidden(f"source card: nobody shared user {other_id}'s card with you",
                            source=source, user_id=other_id)

    async def _accept_txn(self, txn: Txn, r: contacts.Request, now: int) -> None:
        await contacts.delete_request_txn(txn, r.from_id, r.to_id)
        await contacts.add_pair_txn(txn, r.from_id, r.to_id, r.source, now)
        await _tell_both_txn(txn, self._bus, now, "contact.added", {
            r.from_id: {"user_id": r.to_id, "source": r.source, "since": now},
            r.to_id: {"user_id": r.from_id, "source": r.source, "since": now}})

    def _no_request(self, other_id: int) -> TidingsError:
        return TidingsError(ErrorCode.NOT_FOUND, f"no contact request from user {other_id}",
                            user_id=other_id)

    async def accept(self, user_id: int, other_id: int) -> dict[str, Any]:
        async def accept_txn(txn: Txn) -> None:
            r = await contacts.get_request_txn(txn, other_id, user_id)
            if r is None:
                if await contacts.is_contact_txn(txn, user_id, other_id):
                    return  # accepted already (another device, or a retry)
                raise self._no_request(other_id)
            await self._accept_txn(txn, r, self._clock.now())

        await self._db.write("contact_accept", accept_txn)
        return {"state": "contact"}

    async def reject(self, user_id: int, other_id: int) -> dict[str, Any]:
        async def reject_txn(txn: Txn) -> None:
            if await contacts.get_request_txn(txn, other_id, user_id) is None:
                raise self._no_request(other_id)
            await drop_request_txn(txn, self._bus, other_id, user_id, self._clock.now())

        await self._db.write("contact_reject", reject_txn)
        return {"state": "none"}

    async def remove(self, user_id: int, other_id: int) -> dict[str, Any]:
        """End a contact, or withdraw my pending request to them."""
        async def remove_txn(txn: Txn) -> None:
            now = self._clock.now()
            if await contacts.remove_pair_txn(txn, user_id, other_id):
                await _tell_both_txn(txn, self._bus, now, "contact.removed", {
                    user_id: {"user_id": other_id}, other_id: {"user_id": user_id}})
            elif await contacts.delete_request_txn(txn, user_id, other_id):
                await _tell_both_txn(txn, self._bus, now, "contact.cancelled", {
                    user_id: {"user_id": other_id, "direction": "outgoing"},
                    other_id: {"user_id": user_id, "direction": "incoming"}})

        await self._db.write("contact_remove", remove_txn)
        return {"state": "none"}

    async def list(self, user_id: int) -> dict[str, Any]:
        async def list_txn(txn: Txn) -> list[tuple[int, str, int]]:
            return await contacts.list_txn(txn, user_id)

        rows = await self._db.read("contact_list", list_txn)
        return {"contacts": [{"user_id": u, "source": s, "since": t} for u, s, t in rows]}

    async def pending(self, user_id: int) -> dict[str, Any]:
        async def pending_txn(txn: Txn) -> tuple[list[contacts.Request],
                                                 list[contacts.Request]]:
            return await contacts.pending_txn(txn, user_id)

        incoming, outgoing = await self._db.read("contact_pending", pending_txn)
        return {"incoming": [_request_view(r, r.from_id) for r in incoming],
                "outgoing": [_request_view(r, r.to_id) for r in outgoing]}
