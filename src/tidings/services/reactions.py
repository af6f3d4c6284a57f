"""Reactions: ``message.react``, ``message.unreact`` and ``message.reactions``.

A reaction is one emoji grapheme (validated against the Unicode emoji data of
the ``emoji`` package, and brought to its fully-qualified form so "❤" and
"❤️" count as one). Each change writes the ``reactions`` row, the message's
derived ``reaction_counts`` and one chat update ``message.reactions`` carrying
the absolute counts after the change, in one transaction. Reacting twice with
the same emoji, or removing one that is not there, changes nothing and
writes no update.
"""

from __future__ import annotations

import emoji as emoji_data
import msgspec

from tidings.bus.base import Bus
from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.database import Database
from tidings.db.engine import Txn
from tidings.errors import forbidden, invalid
from tidings.services import access, permissions
from tidings.services.message_targets import (
    load_target_txn,
    message_missing,
    visible_message_txn,
)
from tidings.services.notify import publish_chat_on_commit
from tidings.store import chats, reactions, updates

_FULLY_QUALIFIED = emoji_data.STATUS["fully_qualified"]
_COMPONENT = emoji_data.STATUS["component"]
_VS16 = "\ufe0f"
_MAX_EMOJI_CHARS = 32  # the longest RGI sequences are 10 code points


class ReactionState(msgspec.Struct, frozen=True):
    """A message's reactions after a react/unreact; ``pts`` is the update written,
    null when the call changed nothing."""

    msg_id: int
    reactions: dict[str, int]
    my_reactions: list[str]
    pts: int | None


class ReactionPage(msgspec.Struct, frozen=True):
    reactions: list[reactions.Reaction]
    next_cursor: str | None


def normalize_emoji(value: str) -> str:
    """The fully-qualified form of one emoji, or ``INVALID_PARAMS`` (field emoji)."""
    if len(value) <= _MAX_EMOJI_CHARS and not emoji_data.is_emoji(value) \
            and value.endswith(_VS16) and emoji_data.is_emoji(value[:-1]):
        value = value[:-1]  # a stray variation selector after an emoji
    data = emoji_data.EMOJI_DATA.get(value) if len(value) <= _MAX_EMOJI_CHARS else None
    if data is None or data["status"] == _COMPONENT:
        raise invalid("emoji must be a single emoji", field="emoji")
    if data["status"] != _FULLY_QUALIFIED:
        qualified = emoji_data.emojize(emoji_data.demojize(value))
        found = emoji_data.EMOJI_DATA.get(qualified)
        if found is not None and found["status"] == _FULLY_QUALIFIED:
            return qualified
    return value


def encode_cursor(r: reactions.Reaction) -> str:
    return f"{r.date}:{r.user_id}:{r.emoji}"


def decode_cursor(cursor: str) -> tuple[int, int, str]:
    parts = cursor.split(":", 2)
    try:
        if len(parts) == 3 and parts[2]:
            date, user_id = int(parts[0]), int(parts[1])
            if 0 <= date < 2**63 and 0 <= user_id < 2**63:
                return date, user_id, parts[2]
    except ValueError:
        pass
    raise invalid("cursor: pass back a next_cursor as it was returned", field="cursor")


class ReactionService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings

    async def react(self, user_id: int, chat_id: int, msg_id: int, emoji: str
                    ) -> ReactionState:
        return await self._change(user_id, chat_id, msg_id, normalize_emoji(emoji), add=True)

    async def unreact(self, user_id: int, chat_id: int, msg_id: int, emoji: str
                      ) -> ReactionState:
        return await self._change(user_id, chat_id, msg_id, normalize_emoji(emoji), add=False)

    async def _change(self, user_id: int, chat_id: int, msg_id: int, emoji: str, *, add: bool
                      ) -> ReactionState:
        async def change_txn(txn: Txn) -> ReactionState:
            now = self._clock.now()
            target = await load_target_txn(txn, chat_id, user_id, msg_id, now,
                                           action="take reactions")
            permissions.require(target.chat, target.member, "react")
            mine = await reactions.of_user_txn(txn, chat_id, msg_id, user_id)
            counts = dict(target.message.reactions)
            if (emoji in mine) == add:
                return ReactionState(msg_id, counts, mine, None)
            if add:
                self._check_caps(counts, mine, emoji)
                await reactions.add_txn(txn, chat_id, msg_id, user_id, emoji, now)
                counts[emoji] = counts.get(emoji, 0) + 1
                mine = [*mine, emoji]
            else:
                await reactions.remove_txn(txn, chat_id, msg_id, user_id, emoji)
                if counts.get(emoji, 0) > 1:
                    counts[emoji] -= 1
                else:
                    counts.pop(emoji, None)
                mine = [e for e in mine if e != emoji]
            await reactions.set_counts_txn(txn, chat_id, msg_id, counts)
            payload = {"msg_id": msg_id, "reactions": counts, "user_id": user_id,
                       "emoji": emoji, "op": "add" if add else "remove",
                       "user_reactions": mine}
            ups = await updates.append_chat_updates_txn(
                txn, chat_id, now, [("message.reactions", payload)])
            publish_chat_on_commit(txn, self._bus, chat_id, ups)
            return ReactionState(msg_id, counts, mine, int(ups[-1]["pts"]))

        return await self._db.write("react" if add else "unreact", change_txn)

    def _check_caps(self, counts: dict[str, int], mine: list[str], emoji: str) -> None:
        s = self._settings
        if emoji not in counts and len(counts) >= s.max_reaction_kinds_per_message:
            raise forbidden(f"a message carries at most {s.max_reaction_kinds_per_message} "
                            "different emoji", field="emoji",
                            limit=s.max_reaction_kinds_per_message)
        if len(mine) >= s.max_reactions_per_user:
            raise forbidden(f"you can put at most {s.max_reactions_per_user} reactions on "
                            "one message", field="emoji", limit=s.max_reactions_per_user)

    async def list(self, user_id: int, chat_id: int, msg_id: int, emoji: str | None,
                   limit: int | None, cursor: str | None) -> ReactionPage:
        """Who reacted with what, newest first, a page at a time."""
        top = self._settings.reactions_max_limit
        count = top if limit is None else limit
        if not 1 <= count <= top:
            raise invalid(f"limit must be 1 to {top}", field="limit")
        wanted = None if emoji is None else normalize_emoji(emoji)
        before = None if cursor is None else decode_cursor(cursor)

        async def list_txn(txn: Txn) -> ReactionPage:
            chat, member = await access.load_membership_txn(txn, chat_id, user_id, active=False)
            if await visible_message_txn(txn, chat, member, msg_id) is None:
                raise message_missing(msg_id)
            page = await reactions.page_txn(txn, chat_id, msg_id, wanted, count + 1, before)
            more = len(page) > count
            page = page[:count]
            return ReactionPage(page, encode_cursor(page[-1]) if more else None)

        return await self._db.read("list_reactions", list_txn)

    async def recompute(self, chat_id: int) -> int:
        """Rebuild the chat's derived ``reaction_counts`` from the ``reactions``
        rows; returns how many messages were wrong (DESIGN §1.3)."""
        async def recompute_txn(txn: Txn) -> int:
            # The chat lock keeps reactions written meanwhile out of the way.
            if not await chats.get_chats_txn(txn, [chat_id], lock=True):
                raise access.chat_missing(chat_id)
            return await reactions.recompute_counts_txn(txn, chat_id)

        return await self._db.write("recompute_reaction_counts", recompute_txn)
