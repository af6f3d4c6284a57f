"""Finding the message a reaction, pin or attribute change is about.

Every such change runs in one write transaction that first locks the chat row
(as a send does, and as the pts allocation would anyway), so changes to one
chat's messages are serialised and a read-modify-write of a message's derived
data (``reaction_counts``, ``tags``) cannot lose an update on PostgreSQL.
"""

from __future__ import annotations

import msgspec

from tidings import wire
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError, forbidden
from tidings.services import access
from tidings.store import chats, messages


class Target(msgspec.Struct, frozen=True):
    chat: chats.ChatRow
    member: chats.MemberRow
    message: wire.Message


def message_missing(msg_id: int) -> TidingsError:
    return TidingsError(ErrorCode.MESSAGE_NOT_FOUND, f"no message {msg_id} in this chat",
                        field="msg_id")


async def lock_membership_txn(txn: Txn, chat_id: int, user_id: int, *, now: int | None
                              ) -> tuple[chats.ChatRow, chats.MemberRow]:
    """The chat, locked until commit, and the caller's current membership. The
    membership is checked first, so a non-member never takes the lock.

    This is where writes into a chat refuse an expired one (``CHAT_EXPIRED``):
    pass ``now`` for a write into the chat, None only for what stays the
    caller's own (taking a file into custody)."""
    _, member = await access.load_membership_txn(txn, chat_id, user_id, active=True)
    chat = (await chats.get_chats_txn(txn, [chat_id], lock=True)).get(chat_id)
    if chat is None:  # pragma: no cover - chats are never deleted
        raise access.chat_missing(chat_id)
    if now is not None:
        access.check_not_expired(chat, now)
    return chat, member


async def visible_message_txn(txn: Txn, chat: chats.ChatRow, member: chats.MemberRow,
                              msg_id: int) -> wire.Message | None:
    """The live message if this member may read it: inside their spans, above the
    cleared floor, and not deleted for them alone."""
    if not access.can_see(access.message_spans(chat, member), msg_id):
        return None
    found = await messages.get_messages_txn(txn, chat.chat_id, [msg_id])
    if not found:
        return None
    if member.has_hidden and await messages.hidden_among_txn(
            txn, member.user_id, chat.chat_id, [msg_id]):
        return None
    return found[0]


async def load_target_txn(txn: Txn, chat_id: int, user_id: int, msg_id: int, now: int, *,
                          action: str) -> Target:
    """The locked chat, the caller (a current member) and a message they can see
    that can still change: not recalled, not a system message, chat not expired.
    ``action`` completes "a recalled message cannot ..." in the error."""
    chat, member = await lock_membership_txn(txn, chat_id, user_id, now=now)
    message = await visible_message_txn(txn, chat, member, msg_id)
    if message is None:
        raise message_missing(msg_id)
    if message.recalled_at is not None:
        raise forbidden(f"a recalled message cannot {action}", msg_id=msg_id)
    if message.kind == "system":
        raise forbidden(f"a system message cannot {action}", msg_id=msg_id)
    return Target(chat, member, message)
