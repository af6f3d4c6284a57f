"""A message's own attributes and tags: ``message.set_attributes`` and
``message.list_tags``.

``attributes`` is a JSON object the sender (or an owner/admin) attaches to a
message: at most ``max_attributes_bytes`` encoded, nested at most
``max_attributes_depth`` levels, every string free of NUL and lone surrogates
and every integer within 64 bits. It never mixes with the server's own data
about a message (location, system payload), which lives apart in
``messages.meta``. ``tags`` are short labels, normalised (whitespace trimmed
and collapsed, NFC, lower case) and deduplicated in the order given. A change
replaces the whole object and/or the whole tag list and writes one chat update
``message.attributes`` carrying both; a call that changes nothing writes none.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import msgspec

from tidings import wire
from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, forbidden, invalid
from tidings.services import access, permissions
from tidings.services.message_targets import load_target_txn
from tidings.services.notify import publish_chat_on_commit
from tidings.store import tags as tag_store
from tidings.store import updates

_SAFE_TEXT = re.compile(wire.SAFE_TEXT_PATTERN)

Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


class AttributesState(msgspec.Struct, frozen=True):
    msg_id: int
    attributes: dict[str, Any] | None
    tags: list[str]
    pts: int | None  # the update written; null when nothing changed


def _bad(path: str, what: str) -> TidingsError:
    return invalid(f"attributes{path}: {what}", field="attributes")


def _check_value(value: Any, path: str, depth: int, max_depth: int) -> None:
    if isinstance(value, dict | list):
        if depth > max_depth:
            raise _bad(path, f"nested deeper than {max_depth} levels")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str):
                _check_text(key, path)
                _check_value(item, f"{path}.{key}", depth + 1, max_depth)
            else:
                _check_value(item, f"{path}[{key}]", depth + 1, max_depth)
    elif isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not wire.INT64_MIN <= value <= wire.INT64_MAX:
            raise _bad(path, "integers must fit in 64 bits")
    elif not isinstance(value, float):
        raise _bad(path, "values must be JSON")


def _check_text(value: str, path: str) -> None:
    if _SAFE_TEXT.match(value) is None:
        raise _bad(path, f"a string {wire.SAFE_TEXT_RULE}")


def check_attributes(value: dict[str, Any] | None, settings: Settings
                     ) -> dict[str, Any] | None:
    """The attributes to store (None for null or ``{}``), or the error."""
    if not value:
        return None
    _check_value(value, "", 1, settings.max_attributes_depth)
    size = len(wire.encode(value))
    if size > settings.max_attributes_bytes:
        raise TidingsError(ErrorCode.TOO_LARGE,
                           f"attributes take {size} bytes encoded; at most "
                           f"{settings.max_attributes_bytes}", field="attributes",
                           limit=settings.max_attributes_bytes)
    return value


def normalize_tag(raw: str) -> str:
    return unicodedata.normalize("NFC", " ".join(raw.split())).lower()


def normalize_tags(raw: list[str] | None, settings: Settings) -> list[str]:
    """Trimmed, whitespace collapsed, NFC, lower case, deduplicated (first kept)."""
    if not raw:
        return []
    most, longest = settings.max_tags_per_message, settings.max_tag_length
    if len(raw) > most:
        raise invalid(f"at most {most} tags per message", field="tags", limit=most)
    found: list[str] = []
    for item in raw:
        tag = normalize_tag(item)
        if not 1 <= len(tag) <= longest:
            raise invalid(f"a tag is 1 to {longest} characters (after trimming)",
                          field="tags", limit=longest)
        if any(unicodedata.category(c) == "Cc" for c in tag):
            raise invalid("a tag must not contain control characters", field="tags")
        if tag not in found:
            found.append(tag)
    return found


def _same(a: Any, b: Any) -> bool:
    # Compared as JSON: in Python 1 == 1.0 == True, on the wire they differ.
    return wire.encode(a) == wire.encode(b)


class MessageAttributeService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings

    async def set(self, user_id: int, chat_id: int, msg_id: int,
                  attributes: dict[str, Any] | Unset | None = UNSET,
                  tags: list[str] | Unset | None = UNSET) -> AttributesState:
        """Replace the attributes, the tags, or both (an omitted one stays)."""
        if attributes is UNSET and tags is UNSET:
            raise invalid("give attributes, tags or both", field="attributes")
        new_attributes = (UNSET if isinstance(attributes, Unset)
                          else check_attributes(attributes, self._settings))
        new_tags = UNSET if isinstance(tags, Unset) else normalize_tags(tags, self._settings)

        async def set_txn(txn: Txn) -> AttributesState:
            now = self._clock.now()
            target = await load_target_txn(txn, chat_id, user_id, msg_id, now,
                                           action="take attributes or tags")
            old = target.message
            if old.sender_id != user_id and not permissions.allows(
                    target.chat, target.member, "moderate_messages"):
                raise forbidden("only the sender, the owner or an admin may set a message's "
                                "attributes and tags")
            attrs = old.attributes if isinstance(new_attributes, Unset) else new_attributes
            tag_list = old.tags if isinstance(new_tags, Unset) else new_tags
            if _same(attrs, old.attributes) and tag_list == old.tags:
                return AttributesState(msg_id, old.attributes, old.tags, None)
            await tag_store.set_txn(txn, chat_id, msg_id, attrs, old.tags, tag_list)
            payload = {"msg_id": msg_id, "attributes": attrs, "tags": tag_list, "by": user_id}
            ups = await updates.append_chat_updates_txn(
                txn, chat_id, now, [("message.attributes", payload)])
            publish_chat_on_commit(txn, self._bus, chat_id, ups)
            return AttributesState(msg_id, attrs, tag_list, int(ups[-1]["pts"]))

        return await self._db.write("set_message_attributes", set_txn)

    async def list_tags(self, user_id: int, chat_id: int) -> list[tag_store.TagCount]:
        """Tags over the messages the caller may read (their spans above the
        cleared floor), most used first."""
        async def list_txn(txn: Txn) -> list[tag_store.TagCount]:
            chat, member = await access.load_membership_txn(txn, chat_id, user_id, active=False)
            return await tag_store.counts_txn(txn, chat_id, access.message_spans(chat, member),
                                              self._settings.max_listed_tags)

        return await self._db.read("list_tags", list_txn)
